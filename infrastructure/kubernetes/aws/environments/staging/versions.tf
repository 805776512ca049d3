terraform {
  required_version = "~> 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.28"
    }
    helm = {
      source  = "hashicorp/helm"
      version = "~> 3.0"
    }
  }

  # Partial configuration: terraform init -backend-config="bucket=<state bucket>" -backend-config="region=<region>"
  # (see cluster-setup.md). S3-native locking through a lock file; no DynamoDB table needed.
  backend "s3" {
    key          = "leadgen/staging/eks.tfstate"
    encrypt      = true
    use_lockfile = true
  }
}
