output "addon_service_accounts" {
  description = "GSA per add-on controller (Workload Identity)."
  value       = { for name, sa in google_service_account.addon : name => sa.email }
}

output "helm_releases" {
  description = "Installed add-on charts and versions."
  value       = module.platform_addons.helm_releases
}
