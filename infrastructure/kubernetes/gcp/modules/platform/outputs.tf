# The environment roots re-export these as one output, `platform` (terraform output -json
# platform), without `kubernetes` (it holds an access token), so the names here are the ones the
# docs use.

output "labels" {
  description = "Labels of every resource; the root's google provider uses them as default_labels."
  value       = local.labels
}

output "kubernetes" {
  description = "Connection of the root's Helm provider: API endpoint, CA certificate and the caller's access token."
  sensitive   = true
  value = {
    host                   = "https://${module.cluster.endpoint}"
    cluster_ca_certificate = base64decode(module.cluster.ca_certificate)
    token                  = data.google_client_config.current.access_token
  }
}

output "kubeconfig_command" {
  description = "Command that writes the kubeconfig entry for this cluster."
  value       = "gcloud container clusters get-credentials ${module.cluster.cluster_name} --region ${var.installation.region} --project ${var.installation.project_id}"
}

output "cluster_name" {
  description = "GKE cluster name."
  value       = module.cluster.cluster_name
}

output "location" {
  description = "Cluster location."
  value       = module.cluster.location
}

output "node_pools" {
  description = "Node pools with their labels and taints (the k8s/ scheduling contract)."
  value       = module.cluster.node_pools
}

output "workload_service_accounts" {
  description = "iam.gke.io/gcp-service-account value per ServiceAccount in the application namespace."
  value       = module.workload_identity.service_account_emails
}

output "secret_store_name_prefix" {
  description = "Secret Manager name prefix the ClusterSecretStore can read."
  value       = module.workload_identity.secret_name_prefix
}

output "postgres_backup_bucket" {
  description = "GCS bucket for PostgreSQL backups."
  value       = module.workload_identity.postgres_backup_bucket
}

output "registry_url" {
  description = "Artifact Registry repository of the leadgen image (kustomize images: newName)."
  value       = module.workload_identity.registry_url
}

output "registry_host" {
  description = "Registry host: gcloud auth configure-docker <this>."
  value       = module.workload_identity.registry_host
}

output "managed_datastores" {
  description = "Cloud SQL / Memorystore endpoints and credential secrets for an overlay that uses the managed alternatives (null when not enabled)."
  value = var.managed_datastores == null ? null : {
    postgres_host            = module.managed_data[0].postgres_host
    postgres_connection_name = module.managed_data[0].postgres_connection_name
    redis_host               = module.managed_data[0].redis_host
    redis_port               = module.managed_data[0].redis_port
    secret_ids               = module.managed_data[0].secret_ids
  }
}

output "security_policy_name" {
  description = "Cloud Armor policy for GCPBackendPolicy."
  value       = module.edge.security_policy_name
}
