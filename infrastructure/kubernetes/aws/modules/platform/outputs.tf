# The environment roots re-export all of these as one output, `platform`
# (terraform output -json platform), so the names here are the ones the docs use.

output "tags" {
  description = "Tags of every resource; the roots' providers use them as default_tags."
  value       = local.tags
}

output "kubernetes" {
  description = "Connection of the root's Helm provider: API endpoint, CA certificate, aws eks get-token."
  value = {
    host                   = module.cluster.cluster_endpoint
    cluster_ca_certificate = base64decode(module.cluster.cluster_certificate_authority_data)
    exec = {
      api_version = "client.authentication.k8s.io/v1beta1"
      command     = "aws"
      args        = ["eks", "get-token", "--cluster-name", module.cluster.cluster_name, "--region", module.cluster.region]
    }
  }
}

output "kubeconfig_command" {
  description = "Command that writes the kubeconfig entry (context leadgen-<environment>) for this cluster."
  value       = "aws eks update-kubeconfig --region ${module.cluster.region} --name ${module.cluster.cluster_name} --alias ${module.cluster.cluster_name}"
}

output "cluster_name" {
  description = "EKS cluster name."
  value       = module.cluster.cluster_name
}

output "region" {
  description = "AWS region of the cluster."
  value       = module.cluster.region
}

output "node_pools" {
  description = "Node pools with their labels and taints (the k8s/ scheduling contract)."
  value       = module.cluster.node_pools
}

output "efs_file_system_id" {
  description = "fileSystemId parameter of the efs StorageClass."
  value       = module.cluster.efs_file_system_id
}

output "storage_provisioners" {
  description = "CSI provisioners installed."
  value       = module.addons.storage_provisioners
}

output "ecr_registry_url" {
  description = "ECR registry host: aws ecr get-login-password | docker login --username AWS --password-stdin <this>."
  value       = module.app_identity.ecr_registry_url
}

output "ecr_repository_url" {
  description = "Repository of the leadgen image (kustomize images: newName)."
  value       = module.app_identity.ecr_repository_url
}

output "workload_role_arns" {
  description = "IRSA role ARN per ServiceAccount in the application namespace."
  value       = module.app_identity.role_arns
}

output "external_secrets_role_arn" {
  description = "eks.amazonaws.com/role-arn of ServiceAccount leadgen-external-secrets."
  value       = module.app_identity.external_secrets_role_arn
}

output "postgres_backup_role_arn" {
  description = "eks.amazonaws.com/role-arn of ServiceAccount leadgen-postgres-backup."
  value       = module.app_identity.postgres_backup_role_arn
}

output "secret_store_arn_prefix" {
  description = "Secrets Manager ARN prefix the ClusterSecretStore can read."
  value       = module.app_identity.secrets_manager_arn_prefix
}

output "secret_store_name_prefix" {
  description = "Name prefix of the secrets to create in Secrets Manager."
  value       = module.app_identity.secrets_manager_name_prefix
}

output "secrets_kms_key_arn" {
  description = "KMS key to encrypt the Secrets Manager secrets with."
  value       = module.app_identity.secrets_kms_key_arn
}

output "postgres_backup_bucket" {
  description = "S3 bucket for PostgreSQL backups (WAL archive and base backups)."
  value       = module.app_identity.postgres_backup_bucket
}

output "postgres_backup_replica_bucket" {
  description = "Cross-region replica of the backup bucket (in installation.dr_region)."
  value       = module.app_identity.postgres_backup_replica_bucket
}
