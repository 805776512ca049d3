variable "project_id" {
  description = "Google Cloud project of this environment."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a valid Google Cloud project id."
  }
}

variable "region" {
  description = "Region of the regional cluster."
  type        = string
  default     = "europe-west1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a Google Cloud region such as europe-west1."
  }
}

variable "backup_location" {
  description = "Multi- or dual-region of the backup bucket (must contain var.region), for example EU."
  type        = string
  default     = "EU"

  validation {
    condition     = length(var.backup_location) >= 2
    error_message = "backup_location must be a GCS location."
  }
}

variable "enable_private_endpoint" {
  description = "Private control-plane endpoint only (run Terraform and kubectl from inside the VPC)."
  type        = bool
  default     = false
}

variable "master_authorized_networks" {
  description = "Operator/CI networks allowed to reach the control plane."
  type        = list(object({ cidr_block = string, display_name = string }))
  default     = []

  validation {
    condition     = alltrue([for n in var.master_authorized_networks : can(cidrhost(n.cidr_block, 0)) && n.cidr_block != "0.0.0.0/0"])
    error_message = "master_authorized_networks must be valid CIDRs other than 0.0.0.0/0."
  }
}

variable "domain_filters" {
  description = "DNS domains (Cloud DNS zones in this project) External DNS manages."
  type        = list(string)

  validation {
    condition     = length(var.domain_filters) > 0 && alltrue([for d in var.domain_filters : can(regex("^[a-z0-9.-]+\\.[a-z]{2,}$", d))])
    error_message = "Give at least one DNS domain."
  }
}
