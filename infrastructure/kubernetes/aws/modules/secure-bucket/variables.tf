variable "name" {
  description = "Globally unique bucket name. A companion access-log bucket <name>-logs is created too."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,56}[a-z0-9]$", var.name))
    error_message = "name must be a valid S3 bucket name of at most 58 characters (the -logs suffix must still fit)."
  }
}

variable "kms_key_arn" {
  description = "KMS key that encrypts every object (SSE-KMS with S3 bucket keys)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "noncurrent_version_retention_days" {
  description = "How long overwritten or deleted object versions are kept before they expire."
  type        = number
  default     = 35

  validation {
    condition     = var.noncurrent_version_retention_days >= 7
    error_message = "Keep noncurrent versions for at least 7 days."
  }
}

variable "object_retention_days" {
  description = "Current objects older than this expire (0 = never). Backups use it to bound storage."
  type        = number
  default     = 0

  validation {
    condition     = var.object_retention_days == 0 || var.object_retention_days >= 7
    error_message = "object_retention_days must be 0 (never) or at least 7."
  }
}

variable "force_destroy" {
  description = "Allow terraform destroy to delete a bucket that still holds objects (dev only)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to both buckets."
  type        = map(string)
  default     = {}
}
