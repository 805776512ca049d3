variable "environment" {
  description = "Deployment environment: dev, staging or prod."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of dev, staging, prod."
  }
}

variable "kubernetes_version" {
  description = "EKS Kubernetes minor version."
  type        = string

  validation {
    condition     = can(regex("^1\\.[0-9]{2}$", var.kubernetes_version))
    error_message = "kubernetes_version must look like 1.33."
  }
}

variable "availability_zones" {
  description = "The three availability zones to spread subnets and node groups over."
  type        = list(string)

  validation {
    condition     = length(var.availability_zones) == 3
    error_message = "Give exactly three availability zones."
  }
}

variable "vpc_cidr" {
  description = "VPC CIDR (/16 or larger)."
  type        = string

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0))
    error_message = "vpc_cidr must be a valid IPv4 CIDR."
  }
}

variable "single_nat_gateway" {
  description = "One shared NAT gateway instead of one per AZ."
  type        = bool
  default     = false
}

variable "endpoint_public_access" {
  description = "Expose the API endpoint publicly (restricted by CIDR)."
  type        = bool
  default     = false
}

variable "endpoint_public_access_cidrs" {
  description = "CIDRs allowed to reach a public API endpoint."
  type        = list(string)
  default     = []

  validation {
    condition     = !contains(var.endpoint_public_access_cidrs, "0.0.0.0/0")
    error_message = "The API endpoint must not be open to 0.0.0.0/0."
  }
}

variable "cluster_admin_principal_arns" {
  description = "IAM principals that get cluster-admin access entries."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.cluster_admin_principal_arns : startswith(a, "arn:")])
    error_message = "cluster_admin_principal_arns must be ARNs."
  }
}

variable "node_groups" {
  description = "Sizing per node pool (system, application, database, ai)."
  type = map(object({
    instance_types = list(string)
    min_size       = number
    max_size       = number
    desired_size   = number
    capacity_type  = optional(string, "ON_DEMAND")
    disk_size_gb   = optional(number, 100)
  }))

  validation {
    condition     = alltrue([for k in keys(var.node_groups) : contains(["system", "application", "database", "ai"], k)])
    error_message = "node_groups keys must be among system, application, database, ai."
  }
}

variable "route53_zone_arns" {
  description = "Hosted zones for External DNS and cert-manager DNS-01."
  type        = list(string)

  validation {
    condition     = length(var.route53_zone_arns) > 0
    error_message = "At least one hosted zone is needed."
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

variable "log_retention_days" {
  description = "CloudWatch retention of control-plane and flow logs."
  type        = number
  default     = 90

  validation {
    condition     = var.log_retention_days >= 30
    error_message = "Keep logs at least 30 days."
  }
}

variable "backup_retention_days" {
  description = "Retention of PostgreSQL backups in S3."
  type        = number
  default     = 35

  validation {
    condition     = var.backup_retention_days >= 7
    error_message = "Keep backups at least 7 days."
  }
}

variable "deletion_protection" {
  description = "Protect the cluster and refuse to empty buckets on destroy."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
