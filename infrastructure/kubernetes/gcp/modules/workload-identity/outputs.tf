output "namespace" {
  description = "Application namespace the Workload Identity bindings trust."
  value       = local.namespace
}

output "service_account_emails" {
  description = "GSA email per application ServiceAccount (value of iam.gke.io/gcp-service-account)."
  value       = { for key, identity in local.identities : identity.service_account => google_service_account.workload[key].email }
}

output "external_secrets_service_account" {
  description = "GSA of ServiceAccount leadgen-external-secrets."
  value       = google_service_account.workload["external-secrets"].email
}

output "postgres_backup_service_account" {
  description = "GSA of ServiceAccount leadgen-postgres-backup."
  value       = google_service_account.workload["postgres-backup"].email
}

output "secret_name_prefix" {
  description = "Secret Manager name prefix readable by the ClusterSecretStore."
  value       = local.secret_name_prefix
}

output "postgres_backup_bucket" {
  description = "GCS bucket for PostgreSQL backups."
  value       = google_storage_bucket.postgres_backups.name
}

output "registry_url" {
  description = "Artifact Registry repository URL of the leadgen image."
  value       = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.leadgen.repository_id}"
}

output "registry_host" {
  description = "Registry host for docker login (gcloud auth configure-docker <host>)."
  value       = "${var.region}-docker.pkg.dev"
}
