resource "google_kms_crypto_key" "registry" {
  name            = "leadgen-${var.environment}-registry"
  key_ring        = google_kms_key_ring.registry.id
  rotation_period = "7776000s"

  lifecycle {
    prevent_destroy = true
  }
}

resource "google_kms_key_ring" "registry" {
  project  = var.project_id
  name     = "leadgen-${var.environment}-registry"
  location = var.region
}

resource "google_kms_crypto_key_iam_member" "registry" {
  crypto_key_id = google_kms_crypto_key.registry.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-artifactregistry.iam.gserviceaccount.com"
}

# One Docker repository for the one leadgen image.
resource "google_artifact_registry_repository" "leadgen" {
  project       = var.project_id
  location      = var.region
  repository_id = "leadgen-${var.environment}"
  format        = "DOCKER"
  description   = "leadgen images (${var.environment})"
  kms_key_name  = google_kms_crypto_key.registry.id
  labels        = var.labels

  docker_config {
    immutable_tags = true
  }

  cleanup_policies {
    id     = "keep-newest-100"
    action = "KEEP"
    most_recent_versions {
      keep_count = 100
    }
  }

  depends_on = [google_kms_crypto_key_iam_member.registry]
}
