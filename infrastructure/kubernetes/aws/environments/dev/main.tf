# leadgen dev on EKS: only what makes dev differ (cheapest that still runs every pool: one NAT gateway, Spot for the application pool, single nodes).
# Everything else, with its validation and outputs, lives in ../../modules/platform.

variable "installation" {
  description = "Account-level settings from terraform.tfvars (see terraform.tfvars.example): typed, documented and validated by the installation variable of modules/platform."
  type        = any
}

module "platform" {
  source    = "../../modules/platform"
  providers = { aws = aws, aws.replica = aws.replica, helm = helm }

  environment           = "dev"
  installation          = var.installation
  kubernetes_version    = "1.33"
  vpc_cidr              = "10.10.0.0/16"
  single_nat_gateway    = true
  log_retention_days    = 30
  backup_retention_days = 14
  deletion_protection   = false
  node_groups = {
    system      = { instance_types = ["m7i.large"], min_size = 1, max_size = 2, desired_size = 1 }
    application = { instance_types = ["m7i.xlarge", "m6i.xlarge"], min_size = 1, max_size = 4, desired_size = 1, capacity_type = "SPOT" }
    database    = { instance_types = ["r7i.large"], min_size = 1, max_size = 2, desired_size = 1 }
    ai          = { instance_types = ["g5.xlarge"], min_size = 0, max_size = 1, desired_size = 0 }
  }
}

provider "aws" {
  region = var.installation.region
  default_tags { tags = module.platform.tags }
}

provider "aws" {
  alias  = "replica"
  region = var.installation.dr_region
  default_tags { tags = module.platform.tags }
}

provider "helm" {
  kubernetes = module.platform.kubernetes
}

output "platform" {
  description = "Every output of modules/platform; one value: terraform output -json platform | jq -r .ecr_repository_url"
  value       = module.platform
}

output "kubeconfig_command" {
  description = "aws eks update-kubeconfig for this cluster: eval \"$(terraform output -raw kubeconfig_command)\"."
  value       = module.platform.kubeconfig_command
}

output "efs_file_system_id" {
  description = "fileSystemId of the efs StorageClass (awsEfsFileSystemId in k8s/overlays/<env>/cluster-settings.yaml)."
  value       = module.platform.efs_file_system_id
}
