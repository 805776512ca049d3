variable "project_id" {
  description = "Project of the managed datastores."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a valid Google Cloud project id."
  }
}

variable "environment" {
  description = "Deployment environment."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of dev, staging, prod."
  }
}

variable "region" {
  description = "Region of Cloud SQL and Memorystore (same as the cluster)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a Google Cloud region."
  }
}

variable "network_id" {
  description = "VPC network id; both services get private IPs in it through private service access."
  type        = string

  validation {
    condition     = startswith(var.network_id, "projects/")
    error_message = "network_id must be a network self id (projects/.../global/networks/...)."
  }
}

variable "private_service_range_prefix" {
  description = "Prefix length of the range reserved for Google-managed services."
  type        = number
  default     = 20

  validation {
    condition     = var.private_service_range_prefix >= 16 && var.private_service_range_prefix <= 24
    error_message = "private_service_range_prefix must be between 16 and 24."
  }
}

variable "postgres_tier" {
  description = "Cloud SQL machine tier, for example db-custom-4-16384."
  type        = string

  validation {
    condition     = can(regex("^db-", var.postgres_tier))
    error_message = "postgres_tier must be a Cloud SQL tier (db-...)."
  }
}

variable "postgres_high_availability" {
  description = "REGIONAL (synchronous standby in a second zone, automatic failover) instead of ZONAL."
  type        = bool
  default     = true
}

variable "postgres_disk_size_gb" {
  description = "Initial Cloud SQL disk size; it grows automatically."
  type        = number
  default     = 100

  validation {
    condition     = var.postgres_disk_size_gb >= 10
    error_message = "postgres_disk_size_gb must be at least 10."
  }
}

variable "redis_memory_size_gb" {
  description = "Memorystore for Redis capacity."
  type        = number
  default     = 5

  validation {
    condition     = var.redis_memory_size_gb >= 1 && var.redis_memory_size_gb <= 300
    error_message = "redis_memory_size_gb must be between 1 and 300."
  }
}

variable "deletion_protection" {
  description = "Protect the Cloud SQL instance from deletion."
  type        = bool
  default     = true
}

variable "labels" {
  description = "Resource labels."
  type        = map(string)
  default     = {}
}
