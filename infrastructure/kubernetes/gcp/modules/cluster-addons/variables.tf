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

variable "domain_filters" {
  description = "DNS domains External DNS manages in Cloud DNS (validated by modules/platform-addons)."
  type        = list(string)
}
