resource "google_kms_key_ring" "data" {
  project  = var.project_id
  name     = "leadgen-${var.environment}-data"
  location = lower(var.backup_location)
}

resource "google_kms_crypto_key" "backups" {
  name            = "leadgen-${var.environment}-backups"
  key_ring        = google_kms_key_ring.data.id
  rotation_period = "7776000s"

  lifecycle {
    prevent_destroy = true
  }
}

resource "google_kms_crypto_key_iam_member" "gcs_backups" {
  crypto_key_id = google_kms_crypto_key.backups.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:service-${data.google_project.this.number}@gs-project-accounts.iam.gserviceaccount.com"
}

resource "google_storage_bucket" "backup_access_logs" {
  #checkov:skip=CKV_GCP_62: This is the access-log target; logging it into itself would loop.
  project                     = var.project_id
  name                        = "leadgen-${var.environment}-backup-logs-${data.google_project.this.number}"
  location                    = var.backup_location
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy_buckets
  labels                      = var.labels

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      age = 365
    }
    action {
      type = "Delete"
    }
  }
}

# Multi-region bucket for PostgreSQL base backups and the WAL archive.
resource "google_storage_bucket" "postgres_backups" {
  project                     = var.project_id
  name                        = "leadgen-${var.environment}-postgres-backups-${data.google_project.this.number}"
  location                    = var.backup_location
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy_buckets
  labels                      = var.labels

  versioning {
    enabled = true
  }

  encryption {
    default_kms_key_name = google_kms_crypto_key.backups.id
  }

  logging {
    log_bucket = google_storage_bucket.backup_access_logs.name
  }

  lifecycle_rule {
    condition {
      age = var.backup_retention_days
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 7
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_kms_crypto_key_iam_member.gcs_backups]
}

resource "google_storage_bucket_iam_member" "postgres_backup_writer" {
  bucket = google_storage_bucket.postgres_backups.name
  role   = "roles/storage.objectUser"
  member = google_service_account.workload["postgres-backup"].member
}
