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
  description = "DNS domains External DNS manages in Cloud DNS."
  type        = list(string)

  validation {
    condition     = length(var.domain_filters) > 0
    error_message = "Give External DNS at least one domain."
  }
}

variable "chart_versions" {
  description = "Pinned Helm chart version per add-on."
  type        = map(string)
  default = {
    envoy-gateway         = "v1.5.0"
    external-dns          = "1.18.0"
    external-secrets      = "0.19.2"
    cert-manager          = "v1.18.2"
    cloudnative-pg        = "0.28.0"
    plugin-barman-cloud   = "0.6.0"
    kube-prometheus-stack = "77.6.2"
  }

  validation {
    condition     = alltrue([for chart in ["envoy-gateway", "external-dns", "external-secrets", "cert-manager", "cloudnative-pg", "plugin-barman-cloud", "kube-prometheus-stack"] : contains(keys(var.chart_versions), chart)])
    error_message = "chart_versions needs a version for every add-on chart."
  }
}
