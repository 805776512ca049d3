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
  description = "Networks allowed to reach the control plane; at least one while the public endpoint is on, since GKE opens a public endpoint without any to every address. Never a /0, no IPv4 range wider than /8 or IPv6 range wider than /32, and together no more than two /8s (IPv4) or two /32s (IPv6)."
  type        = list(object({ cidr_block = string, display_name = string }))
  default     = []

  validation {
    condition     = alltrue([for n in var.master_authorized_networks : can(cidrhost(n.cidr_block, 0)) && try(tonumber(split("/", n.cidr_block)[1]) > 0, false)])
    error_message = "master_authorized_networks must hold valid CIDRs, none of them a /0 (every address)."
  }

  # An allow-list names operators' networks, not the internet. IANA hands IPv4 to the regional
  # registries in /8s and no one organisation holds a wider block; an IPv6 /32 is a registry's
  # standard allocation to a whole ISP (a site gets a /48). A wider entry is a way of writing much of
  # the internet: 0.0.0.0/1 and 128.0.0.0/1 are all of it. (Terraform 1.11's || does not short-circuit,
  # hence try() on entries the validation above refuses.)
  validation {
    condition     = alltrue([for n in var.master_authorized_networks : !can(cidrhost(n.cidr_block, 0)) || try(tonumber(split("/", n.cidr_block)[1]) >= (strcontains(n.cidr_block, ":") ? 32 : 8), false)])
    error_message = "master_authorized_networks must not hold an IPv4 range wider than /8 or an IPv6 range wider than /32 (0.0.0.0/1 and 128.0.0.0/1 are every address)."
  }

  # Nor many narrower entries that add up to a large part of it. Two /8s leave room for every
  # private range (10/8, 172.16/12, 192.168/16 and 100.64/10 are 21.9 million addresses) and the
  # operators' own.
  validation {
    condition = (
      sum(concat([0], [for n in var.master_authorized_networks : try(pow(2, 32 - tonumber(split("/", n.cidr_block)[1])), 0) if !strcontains(n.cidr_block, ":")])) <= pow(2, 25) &&
      sum(concat([0], [for n in var.master_authorized_networks : try(pow(2, 128 - tonumber(split("/", n.cidr_block)[1])), 0) if strcontains(n.cidr_block, ":")])) <= pow(2, 97)
    )
    error_message = "master_authorized_networks together must cover no more than two /8s of IPv4 (33,554,432 addresses) and two /32s of IPv6."
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

variable "backup_retain_days" {
  description = "Backup for GKE deletes the daily backups of the application namespace (and their volume snapshots) after this many days."
  type        = number
  default     = 14

  validation {
    condition     = var.backup_retain_days >= 1 && var.backup_retain_days <= 365
    error_message = "backup_retain_days must be between 1 and 365 (the Backup for GKE limit)."
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
