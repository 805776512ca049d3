output "security_policy_name" {
  description = "Cloud Armor policy name for GCPBackendPolicy spec.default.securityPolicy."
  value       = google_compute_security_policy.edge.name
}

output "gateway_address_name" {
  description = "Name of the reserved global IP for the Gateway (NamedAddress)."
  value       = google_compute_global_address.gateway.name
}

output "gateway_ip" {
  description = "Reserved global IP of the Gateway (for DNS)."
  value       = google_compute_global_address.gateway.address
}
