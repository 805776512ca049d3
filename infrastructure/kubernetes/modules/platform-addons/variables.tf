variable "cluster_name" {
  description = "Cluster the add-ons are installed into; External DNS owns its records under this name (txtOwnerId)."
  type        = string

  validation {
    condition     = can(regex("^leadgen-(dev|staging|prod)$", var.cluster_name))
    error_message = "cluster_name must be leadgen-<environment>."
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

variable "gateway_api_crds" {
  description = "Install the standard-channel Gateway API CRDs with Envoy Gateway's; false where the cloud manages them (GKE gateway_api_channel)."
  type        = bool
}

variable "cloud_values" {
  description = "Cloud-specific Helm values per release (one YAML document each, from yamlencode), deep-merged by Helm over the shared values: provider, identity annotations, extra arguments."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for name, doc in var.cloud_values : contains(keys(local.helm_releases), name) && can(yamldecode(doc))])
    error_message = "cloud_values keys must be releases of local.helm_releases and each value a YAML document."
  }
}

variable "chart_versions" {
  description = "Overrides of the chart versions pinned in main.tf (release => version), to bump one chart deliberately (see cluster-setup.md, upgrades)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for name, version in var.chart_versions : contains(keys(local.pinned_versions), name) && length(version) > 0])
    error_message = "chart_versions keys must be releases of this module (envoy-gateway also versions the CRD chart), each with a version."
  }
}
