locals {
  # A bucket's CMEK must be in the bucket's location, and Cloud KMS names the Cloud Storage
  # multi-regions differently (there is no KMS location "eu"); a region has the same name in both.
  backup_kms_locations = {
    EU   = "europe"
    US   = "us"
    ASIA = "asia"
  }
  backup_kms_location = lookup(local.backup_kms_locations, upper(var.backup_location), lower(var.backup_location))
}

resource "google_kms_key_ring" "data" {
  project  = var.project_id
  name     = "leadgen-${var.environment}-data"
  location = local.backup_kms_location
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

# Cloud Storage writes the usage logs of postgres_backups as this group; without the grant no
# access log is ever written.
resource "google_storage_bucket_iam_member" "backup_access_log_writer" {
  bucket = google_storage_bucket.backup_access_logs.name
  role   = "roles/storage.objectCreator"
  member = "group:cloud-storage-analytics@google.com"
}

resource "google_storage_bucket_iam_member" "postgres_backup_writer" {
  bucket = google_storage_bucket.postgres_backups.name
  role   = "roles/storage.objectUser"
  member = google_service_account.workload["postgres-backup"].member
}
