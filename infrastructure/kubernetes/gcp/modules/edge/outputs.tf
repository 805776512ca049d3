output "security_policy_name" {
  description = "Cloud Armor policy name for GCPBackendPolicy spec.default.securityPolicy."
  value       = google_compute_security_policy.edge.name
}
