output "helm_releases" {
  description = "Installed shared add-on charts and versions."
  value       = merge({ (helm_release.gateway_crds.name) = helm_release.gateway_crds.version }, { for name, release in merge(helm_release.addon, helm_release.dependent) : name => release.version })
}

output "system_pool" {
  description = "nodeSelector and tolerations of the system pool, for the caller's cloud-specific add-on controllers."
  value       = local.system_pool
}
