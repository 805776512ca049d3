variable "environment" {
  description = "Deployment environment; the application namespace is leadgen-<environment>."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of dev, staging, prod."
  }
}

variable "oidc_provider_arn" {
  description = "ARN of the EKS cluster's IAM OIDC provider (trust principal of the IRSA roles)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/", var.oidc_provider_arn))
    error_message = "oidc_provider_arn must be an IAM OIDC provider ARN."
  }
}

variable "oidc_provider" {
  description = "OIDC issuer without https:// (oidc.eks.<region>.amazonaws.com/id/<id>), the prefix of the :sub and :aud condition keys."
  type        = string

  validation {
    condition     = !startswith(var.oidc_provider, "https://")
    error_message = "oidc_provider must not start with https://."
  }
}

variable "backup_retention_days" {
  description = "PostgreSQL base backups and WAL archives older than this expire from the backup bucket."
  type        = number
  default     = 35

  validation {
    condition     = var.backup_retention_days >= 7 && var.backup_retention_days <= 3650
    error_message = "backup_retention_days must be between 7 and 3650."
  }
}

variable "force_destroy_buckets" {
  description = "Let terraform destroy delete non-empty backup buckets (dev only)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
