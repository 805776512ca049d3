output "kubeconfig_command" {
  description = "Command that writes the kubeconfig entry for this cluster."
  value       = "gcloud container clusters get-credentials ${module.platform.cluster_name} --region ${var.region} --project ${var.project_id}"
}

output "cluster_name" {
  description = "GKE cluster name."
  value       = module.platform.cluster_name
}

output "node_pools" {
  description = "Node pools with their labels and taints (the k8s/ scheduling contract)."
  value       = module.platform.node_pools
}

output "registry_url" {
  description = "Artifact Registry repository of the leadgen image (kustomize images: newName)."
  value       = module.platform.registry_url
}

output "registry_host" {
  description = "Registry host: gcloud auth configure-docker <this>."
  value       = module.platform.registry_host
}

output "workload_service_accounts" {
  description = "iam.gke.io/gcp-service-account value per ServiceAccount in the application namespace."
  value       = module.platform.service_account_emails
}

output "secret_store_name_prefix" {
  description = "Secret Manager name prefix the ClusterSecretStore can read."
  value       = module.platform.secret_name_prefix
}

output "postgres_backup_bucket" {
  description = "GCS bucket for PostgreSQL backups."
  value       = module.platform.postgres_backup_bucket
}

output "managed_datastores" {
  description = "Cloud SQL and Memorystore endpoints for an overlay that uses the managed alternatives."
  value       = module.platform.managed_datastores
}

output "security_policy_name" {
  description = "Cloud Armor policy for GCPBackendPolicy."
  value       = module.platform.security_policy_name
}

output "gateway_address_name" {
  description = "Reserved global address name for the Gateway."
  value       = module.platform.gateway_address_name
}

output "gateway_ip" {
  description = "Gateway IP for DNS."
  value       = module.platform.gateway_ip
}
