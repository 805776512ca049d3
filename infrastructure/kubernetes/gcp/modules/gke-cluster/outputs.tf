output "cluster_name" {
  description = "GKE cluster name."
  value       = module.gke.name
}

output "endpoint" {
  description = "Control-plane endpoint."
  value       = module.gke.endpoint
  sensitive   = true
}

output "ca_certificate" {
  description = "Base64 cluster CA certificate."
  value       = module.gke.ca_certificate
  sensitive   = true
}

output "location" {
  description = "Cluster location (the region)."
  value       = module.gke.location
}

output "network_id" {
  description = "VPC network id (private service access for Cloud SQL and Memorystore)."
  value       = google_compute_network.this.id
}

output "network_name" {
  description = "VPC network name."
  value       = google_compute_network.this.name
}

output "node_service_account" {
  description = "Service account the nodes run as."
  value       = module.gke.service_account
}

output "workload_identity_pool" {
  description = "Workload Identity pool (<project>.svc.id.goog)."
  value       = module.gke.identity_namespace
}

output "node_pools" {
  description = "Node pools with their labels and taints."
  value = {
    for pool in keys(var.node_pools) : pool => {
      labels = local.node_pool_profiles[pool].labels
      taints = [for t in local.node_pool_profiles[pool].taints : "${t.key}=${t.value}:${t.effect}"]
    }
  }
}

output "backup_plan" {
  description = "Backup for GKE plan of the application namespace (id for gcloud container backup-restore)."
  value       = google_gke_backup_backup_plan.this.id
}
