variable "project_id" {
  description = "Google Cloud project."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a valid Google Cloud project id."
  }
}

variable "environment" {
  description = "Deployment environment: dev, staging or prod."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of dev, staging, prod."
  }
}

variable "region" {
  description = "Region of the cluster and the managed datastores."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a Google Cloud region."
  }
}

variable "network" {
  description = "Address plan: node subnet, pod and service secondary ranges, control-plane /28."
  type = object({
    subnet_cidr   = string
    pods_cidr     = string
    services_cidr = string
    master_cidr   = string
  })

  validation {
    condition     = alltrue([for c in values(var.network) : can(cidrhost(c, 0))])
    error_message = "Every network range must be a valid CIDR."
  }
}

variable "enable_private_endpoint" {
  description = "Private control-plane endpoint only."
  type        = bool
  default     = false
}

variable "master_authorized_networks" {
  description = "Networks allowed to reach the control plane."
  type        = list(object({ cidr_block = string, display_name = string }))
  default     = []

  validation {
    condition     = alltrue([for n in var.master_authorized_networks : n.cidr_block != "0.0.0.0/0"])
    error_message = "The control plane must not be open to 0.0.0.0/0."
  }
}

variable "node_pools" {
  description = "Sizing per node pool (system, application, database, ai), counts per zone."
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
}

variable "domain_filters" {
  description = "Domains External DNS manages."
  type        = list(string)

  validation {
    condition     = length(var.domain_filters) > 0
    error_message = "At least one domain is needed."
  }
}

variable "managed_datastores" {
  description = "Create Cloud SQL for PostgreSQL 16 and Memorystore for Redis 7 (null = keep the in-cluster StatefulSets only)."
  type = object({
    postgres_tier              = string
    postgres_high_availability = bool
    postgres_disk_size_gb      = number
    redis_memory_size_gb       = number
  })
  default = null

  validation {
    condition     = var.managed_datastores == null || try(startswith(var.managed_datastores.postgres_tier, "db-") && var.managed_datastores.redis_memory_size_gb >= 1, false)
    error_message = "managed_datastores needs a Cloud SQL tier (db-...) and at least 1 GB of Redis."
  }
}

variable "backup_location" {
  description = "Dual/multi-region location of the backup bucket."
  type        = string
  default     = "EU"

  validation {
    condition     = length(var.backup_location) >= 2
    error_message = "backup_location must be a GCS location."
  }
}

variable "backup_retention_days" {
  description = "Retention of PostgreSQL backups in GCS."
  type        = number
  default     = 35

  validation {
    condition     = var.backup_retention_days >= 7
    error_message = "Keep backups at least 7 days."
  }
}

variable "deletion_protection" {
  description = "Protect the cluster and databases from deletion."
  type        = bool
  default     = true
}

variable "labels" {
  description = "Resource labels."
  type        = map(string)
  default     = {}
}
