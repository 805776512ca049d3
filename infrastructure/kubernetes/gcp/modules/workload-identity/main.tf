data "google_project" "this" {
  project_id = var.project_id
}

locals {
  namespace = "leadgen-${var.environment}"

  # Service account ids are limited to 30 characters: "leadgen-staging-external-secrets"
  # would be 32, so staging is abbreviated. The GKE ServiceAccount annotations must use
  # leadgen-<label>-<identity>@<project>.iam.gserviceaccount.com with these labels.
  gsa_env_labels = {
    dev     = "dev"
    staging = "stg"
    prod    = "prod"
  }
  gsa_prefix = "leadgen-${local.gsa_env_labels[var.environment]}"

  # Cloud identities of the application ServiceAccounts in namespace leadgen-<environment>.
  identities = {
    external-secrets = {
      service_account = "leadgen-external-secrets"
      description     = "External Secrets ClusterSecretStore: reads leadgen-${var.environment}-* secrets"
    }
    postgres-backup = {
      service_account = "leadgen-postgres-backup"
      description     = "PostgreSQL base backups and WAL archive to GCS"
    }
  }

  # Secret Manager secrets of this environment are named leadgen-<environment>-<name>.
  secret_name_prefix = "leadgen-${var.environment}-"
}

resource "google_service_account" "workload" {
  for_each = local.identities

  project      = var.project_id
  account_id   = "${local.gsa_prefix}-${each.key}"
  display_name = "${local.namespace}/${each.value.service_account}"
  description  = each.value.description
}

# Workload Identity: only KSA <namespace>/<service_account> may act as the GSA.
resource "google_service_account_iam_member" "workload_identity" {
  for_each = local.identities

  service_account_id = google_service_account.workload[each.key].name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.project_id}.svc.id.goog[${local.namespace}/${each.value.service_account}]"
}

resource "google_project_iam_member" "external_secrets_accessor" {
  project = var.project_id
  role    = "roles/secretmanager.secretAccessor"
  member  = google_service_account.workload["external-secrets"].member

  condition {
    title       = "leadgen-${var.environment}-secrets-only"
    description = "Only this environment's secrets"
    expression  = "resource.name.startsWith(\"projects/${data.google_project.this.number}/secrets/${local.secret_name_prefix}\")"
  }
}

resource "google_project_iam_member" "external_secrets_viewer" {
  project = var.project_id
  role    = "roles/secretmanager.viewer"
  member  = google_service_account.workload["external-secrets"].member

  condition {
    title       = "leadgen-${var.environment}-secrets-metadata"
    description = "Only this environment's secrets"
    expression  = "resource.name.startsWith(\"projects/${data.google_project.this.number}/secrets/${local.secret_name_prefix}\")"
  }
}
