variable "project_id" {
  description = "Google Cloud project that hosts the cluster."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a valid Google Cloud project id."
  }
}

variable "environment" {
  description = "Deployment environment; the cluster is leadgen-<environment>."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of dev, staging, prod."
  }
}

variable "region" {
  description = "Region of the regional cluster (control plane and nodes in three zones)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a Google Cloud region such as europe-west1."
  }
}

variable "release_channel" {
  description = "GKE release channel; the control plane and nodes follow it inside the maintenance window."
  type        = string
  default     = "REGULAR"

  validation {
    condition     = contains(["RAPID", "REGULAR", "STABLE"], var.release_channel)
    error_message = "release_channel must be RAPID, REGULAR or STABLE."
  }
}

variable "subnet_cidr" {
  description = "Primary range of the node subnet."
  type        = string

  validation {
    condition     = can(cidrhost(var.subnet_cidr, 0))
    error_message = "subnet_cidr must be a valid CIDR."
  }
}

variable "pods_cidr" {
  description = "Secondary range for pods (VPC-native)."
  type        = string

  validation {
    condition     = can(cidrhost(var.pods_cidr, 0))
    error_message = "pods_cidr must be a valid CIDR."
  }
}

variable "services_cidr" {
  description = "Secondary range for Services."
  type        = string

  validation {
    condition     = can(cidrhost(var.services_cidr, 0))
    error_message = "services_cidr must be a valid CIDR."
  }
}

variable "master_ipv4_cidr_block" {
  description = "/28 for the private control plane endpoint."
  type        = string

  validation {
    condition     = can(cidrhost(var.master_ipv4_cidr_block, 0)) && endswith(var.master_ipv4_cidr_block, "/28")
    error_message = "master_ipv4_cidr_block must be a /28."
  }
}

variable "enable_private_endpoint" {
  description = "Only the private control-plane endpoint (run Terraform and kubectl from inside the VPC)."
  type        = bool
  default     = false
}

variable "master_authorized_networks" {
  description = "Networks allowed to reach the control plane; at least one while the public endpoint is on, since GKE opens a public endpoint without any to every address."
  type        = list(object({ cidr_block = string, display_name = string }))
  default     = []

  validation {
    condition     = alltrue([for n in var.master_authorized_networks : can(cidrhost(n.cidr_block, 0)) && try(tonumber(split("/", n.cidr_block)[1]) > 0, false)])
    error_message = "master_authorized_networks must hold valid CIDRs, none of them a /0 (every address)."
  }

  validation {
    condition     = var.enable_private_endpoint || length(var.master_authorized_networks) > 0
    error_message = "The public control-plane endpoint (enable_private_endpoint = false) needs at least one CIDR in master_authorized_networks; without any it is open to every address."
  }
}

variable "node_pools" {
  description = "Sizing per node pool (system, application, database, ai); counts are per zone. Labels and taints come from local.node_pool_profiles."
  type = map(object({
    machine_type      = string
    min_count         = number
    max_count         = number
    disk_size_gb      = optional(number, 100)
    disk_type         = optional(string, "pd-balanced")
    spot              = optional(bool, false)
    accelerator_type  = optional(string, "")
    accelerator_count = optional(number, 0)
  }))

  validation {
    condition     = alltrue([for k in keys(var.node_pools) : contains(["system", "application", "database", "ai"], k)])
    error_message = "node_pools keys must be among system, application, database, ai."
  }

  validation {
    condition     = contains(keys(var.node_pools), "system") && contains(keys(var.node_pools), "application")
    error_message = "node_pools must define at least system and application."
  }

  validation {
    condition     = alltrue([for p in values(var.node_pools) : p.min_count <= p.max_count && p.max_count > 0])
    error_message = "Each pool needs min_count <= max_count and max_count > 0."
  }
}

variable "deletion_protection" {
  description = "Refuse to delete the cluster from Terraform."
  type        = bool
  default     = true
}

variable "labels" {
  description = "Resource labels for every resource."
  type        = map(string)
  default     = {}
}
