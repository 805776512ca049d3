variable "region" {
  description = "AWS region of the cluster."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "dr_region" {
  description = "Region that receives the replica of the PostgreSQL backups (disaster recovery)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.dr_region))
    error_message = "dr_region must be an AWS region name such as eu-central-1."
  }
}

variable "availability_zones" {
  description = "Three availability zones of var.region, for example [\"eu-west-1a\", \"eu-west-1b\", \"eu-west-1c\"]."
  type        = list(string)

  validation {
    condition     = length(var.availability_zones) == 3 && alltrue([for az in var.availability_zones : startswith(az, var.region)])
    error_message = "Give exactly three availability zones of var.region."
  }
}

variable "kubernetes_version" {
  description = "EKS Kubernetes minor version."
  type        = string
  default     = "1.33"

  validation {
    condition     = can(regex("^1\\.[0-9]{2}$", var.kubernetes_version))
    error_message = "kubernetes_version must look like 1.33."
  }
}

variable "endpoint_public_access" {
  description = "Expose the Kubernetes API publicly (CIDR-restricted). false: private endpoint only, run Terraform and kubectl from inside the VPC."
  type        = bool
  default     = false
}

variable "endpoint_public_access_cidrs" {
  description = "Operator/CI CIDRs allowed to reach a public API endpoint."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.endpoint_public_access_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "endpoint_public_access_cidrs must be valid CIDRs other than 0.0.0.0/0."
  }
}

variable "cluster_admin_principal_arns" {
  description = "IAM roles (platform engineers, CI deploy role) that get cluster-admin through EKS access entries."
  type        = list(string)

  validation {
    condition     = length(var.cluster_admin_principal_arns) > 0 && alltrue([for a in var.cluster_admin_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/", a))])
    error_message = "Give at least one IAM role or user ARN."
  }
}

variable "route53_zone_arns" {
  description = "Route 53 hosted zones External DNS and cert-manager may manage."
  type        = list(string)

  validation {
    condition     = length(var.route53_zone_arns) > 0 && alltrue([for z in var.route53_zone_arns : can(regex("^arn:aws[a-z-]*:route53:::hostedzone/", z))])
    error_message = "Give at least one Route 53 hosted zone ARN."
  }
}

variable "domain_filters" {
  description = "DNS domains External DNS manages, for example leadgen.example.com."
  type        = list(string)

  validation {
    condition     = length(var.domain_filters) > 0 && alltrue([for d in var.domain_filters : can(regex("^[a-z0-9.-]+\\.[a-z]{2,}$", d))])
    error_message = "Give at least one DNS domain."
  }
}
