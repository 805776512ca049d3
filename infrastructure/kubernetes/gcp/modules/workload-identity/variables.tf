variable "project_id" {
  description = "Project of the cluster and of the service accounts."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a valid Google Cloud project id."
  }
}

variable "environment" {
  description = "Deployment environment; the application namespace is leadgen-<environment>."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of dev, staging, prod."
  }
}

variable "region" {
  description = "Region of the registry and of the KMS keys."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a Google Cloud region such as europe-west1."
  }
}

variable "backup_location" {
  description = "Location of the backup bucket and of its KMS key: a multi-region (EU, US or ASIA) so a regional outage keeps the backups, or a single region such as europe-west1."
  type        = string
  default     = "EU"

  # Only locations whose Cloud KMS name local.backup_kms_locations knows (storage.tf).
  validation {
    condition     = contains(["EU", "US", "ASIA"], upper(var.backup_location)) || can(regex("^[a-z]+-[a-z]+[0-9]$", lower(var.backup_location)))
    error_message = "backup_location must be the multi-region EU, US or ASIA, or a region such as europe-west1."
  }
}

variable "backup_retention_days" {
  description = "PostgreSQL base backups and WAL archives older than this are deleted."
  type        = number
  default     = 35

  validation {
    condition     = var.backup_retention_days >= 7
    error_message = "Keep backups at least 7 days."
  }
}

variable "force_destroy_buckets" {
  description = "Let terraform destroy delete non-empty buckets (dev only)."
  type        = bool
  default     = false
}

variable "labels" {
  description = "Resource labels."
  type        = map(string)
  default     = {}
}
