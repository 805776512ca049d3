variable "project_id" {
  description = "Project of the cluster and of the Cloud DNS zone."
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

variable "managed_zones" {
  description = "Cloud DNS managed zones (zone names, not DNS names) External DNS may change."
  type        = list(string)

  validation {
    condition     = length(var.managed_zones) > 0 && alltrue([for z in var.managed_zones : can(regex("^[a-z][a-z0-9-]{0,62}$", z))])
    error_message = "managed_zones must hold at least one Cloud DNS zone name such as leadgen-example-com."
  }
}

variable "domain_filters" {
  description = "DNS domains External DNS manages in Cloud DNS (validated by modules/platform-addons)."
  type        = list(string)
}
