terraform {
  required_version = "~> 1.11"

  # State of staging only. Partial configuration: terraform init -backend-config="bucket=<state bucket>"
  # (cluster-setup.md); GCS locks the state natively.
  backend "gcs" {
    prefix = "leadgen/staging/gke"
  }

  required_providers {
    google = { source = "hashicorp/google", version = "~> 6.40" }
    helm   = { source = "hashicorp/helm", version = "~> 3.0" }
    random = { source = "hashicorp/random", version = "~> 3.6" }
  }
}
