variable "cluster_name" {
  description = "EKS cluster the add-ons are installed into."
  type        = string

  validation {
    condition     = can(regex("^leadgen-(dev|staging|prod)$", var.cluster_name))
    error_message = "cluster_name must be leadgen-<environment>."
  }
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
  description = "Route 53 hosted zones External DNS and cert-manager (DNS-01) may change."
  type        = list(string)

  validation {
    condition     = length(var.route53_zone_arns) > 0 && alltrue([for z in var.route53_zone_arns : can(regex("^arn:aws[a-z-]*:route53:::hostedzone/", z))])
    error_message = "route53_zone_arns must hold at least one hosted zone ARN."
  }
}

variable "domain_filters" {
  description = "DNS domains External DNS manages (for example leadgen.example.com)."
  type        = list(string)

  validation {
    condition     = length(var.domain_filters) > 0
    error_message = "Give External DNS at least one domain to manage."
  }
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
  description = "Pinned Helm chart version per add-on. Bump deliberately (see cluster-setup.md, upgrades)."
  type        = map(string)
  default = {
    gateway-api-crds             = "v1.5.0"
    envoy-gateway                = "v1.5.0"
    aws-load-balancer-controller = "1.14.0"
    cluster-autoscaler           = "9.46.6"
    external-dns                 = "1.18.0"
    external-secrets             = "0.19.2"
    cert-manager                 = "v1.18.2"
    nvidia-device-plugin         = "0.17.1"
    cloudnative-pg               = "0.28.0"
    plugin-barman-cloud          = "0.6.0"
    kube-prometheus-stack        = "77.6.2"
  }

  validation {
    condition = alltrue([for chart in ["gateway-api-crds", "envoy-gateway", "aws-load-balancer-controller", "cluster-autoscaler", "external-dns", "external-secrets", "cert-manager", "nvidia-device-plugin", "cloudnative-pg", "plugin-barman-cloud", "kube-prometheus-stack"] :
    contains(keys(var.chart_versions), chart)])
    error_message = "chart_versions needs a version for every add-on chart."
  }
}

variable "tags" {
  description = "Tags added to every AWS resource."
  type        = map(string)
  default     = {}
}
