output "cluster_name" {
  description = "GKE cluster name."
  value       = module.cluster.cluster_name
}

output "endpoint" {
  description = "Control-plane endpoint."
  value       = module.cluster.endpoint
  sensitive   = true
}

output "ca_certificate" {
  description = "Base64 cluster CA certificate."
  value       = module.cluster.ca_certificate
  sensitive   = true
}

output "location" {
  description = "Cluster location."
  value       = module.cluster.location
}

output "node_pools" {
  description = "Node pools with labels and taints."
  value       = module.cluster.node_pools
}

output "service_account_emails" {
  description = "GSA per application ServiceAccount."
  value       = module.workload_identity.service_account_emails
}

output "secret_name_prefix" {
  description = "Secret Manager name prefix readable by the ClusterSecretStore."
  value       = module.workload_identity.secret_name_prefix
}

output "postgres_backup_bucket" {
  description = "GCS backup bucket."
  value       = module.workload_identity.postgres_backup_bucket
}

output "registry_url" {
  description = "Artifact Registry repository of the leadgen image."
  value       = module.workload_identity.registry_url
}

output "registry_host" {
  description = "Registry host."
  value       = module.workload_identity.registry_host
}

output "managed_datastores" {
  description = "Cloud SQL / Memorystore endpoints and credential secrets (null when not enabled)."
  value = var.managed_datastores == null ? null : {
    postgres_host            = module.managed_data[0].postgres_host
    postgres_connection_name = module.managed_data[0].postgres_connection_name
    redis_host               = module.managed_data[0].redis_host
    redis_port               = module.managed_data[0].redis_port
    secret_ids               = module.managed_data[0].secret_ids
  }
}

output "security_policy_name" {
  description = "Cloud Armor policy for the Gateway backends."
  value       = module.edge.security_policy_name
}

output "gateway_address_name" {
  description = "Reserved global address for the Gateway."
  value       = module.edge.gateway_address_name
}

output "gateway_ip" {
  description = "Gateway IP for DNS."
  value       = module.edge.gateway_ip
}
