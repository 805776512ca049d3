output "addon_service_accounts" {
  description = "GSA per add-on controller (Workload Identity)."
  value       = { for name, sa in google_service_account.addon : name => sa.email }
}

output "helm_releases" {
  description = "Installed add-on charts and versions."
  value       = merge({ envoy-gateway-crds = helm_release.envoy_gateway_crds.version }, { for name, release in helm_release.addon : name => release.version }, { for name, release in helm_release.dependent : name => release.version })
}
