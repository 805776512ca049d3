terraform {
  required_version = "~> 1.11"

  # State of staging only. Partial configuration: terraform init -backend-config="bucket=<state bucket>"
  # -backend-config="region=<region>" (cluster-setup.md); S3-native locking, no DynamoDB table.
  backend "s3" {
    key          = "leadgen/staging/eks.tfstate"
    encrypt      = true
    use_lockfile = true
  }

  required_providers {
    aws  = { source = "hashicorp/aws", version = "~> 6.28" }
    helm = { source = "hashicorp/helm", version = "~> 3.0" }
  }
}
