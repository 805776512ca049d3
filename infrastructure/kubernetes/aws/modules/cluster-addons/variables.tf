variable "cluster_name" {
  description = "EKS cluster the add-ons are installed into (validated by modules/platform-addons)."
  type        = string
}

variable "kubernetes_version" {
  description = "Cluster Kubernetes minor version; selects compatible EKS add-on versions."
  type        = string

  validation {
    condition     = can(regex("^1\\.[0-9]{2}$", var.kubernetes_version))
    error_message = "kubernetes_version must look like 1.33."
  }
}

variable "region" {
  description = "AWS region of the cluster (pods cannot read it from IMDS: hop limit 1)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "vpc_id" {
  description = "VPC of the cluster (the load balancer controller cannot read it from IMDS)."
  type        = string

  validation {
    condition     = startswith(var.vpc_id, "vpc-")
    error_message = "vpc_id must be a VPC id."
  }
}

variable "route53_zone_arns" {
  description = "Route 53 hosted zones External DNS may change."
  type        = list(string)

  validation {
    condition     = length(var.route53_zone_arns) > 0 && alltrue([for z in var.route53_zone_arns : can(regex("^arn:aws[a-z-]*:route53:::hostedzone/", z))])
    error_message = "route53_zone_arns must hold at least one hosted zone ARN."
  }
}

variable "domain_filters" {
  description = "DNS domains External DNS manages (validated by modules/platform-addons)."
  type        = list(string)
}

variable "ebs_kms_key_arns" {
  description = "KMS keys the EBS CSI driver may use for encrypted volumes (besides the AWS-managed key)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for k in var.ebs_kms_key_arns : can(regex("^arn:aws[a-z-]*:kms:", k))])
    error_message = "ebs_kms_key_arns must be KMS key ARNs."
  }
}

variable "chart_versions" {
  description = "Overrides of the chart versions pinned in helm.tf for the AWS-only add-ons (release => version); the shared add-ons are pinned in modules/platform-addons. Bump deliberately (see cluster-setup.md, upgrades)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for name, version in var.chart_versions : contains(keys(local.helm_releases), name) && length(version) > 0])
    error_message = "chart_versions keys must be AWS-only add-ons of helm.tf, each with a version."
  }
}

variable "tags" {
  description = "Tags added to every AWS resource."
  type        = map(string)
  default     = {}
}
