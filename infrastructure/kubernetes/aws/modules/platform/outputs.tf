output "cluster_name" {
  description = "EKS cluster name."
  value       = module.cluster.cluster_name
}

output "cluster_endpoint" {
  description = "Kubernetes API endpoint."
  value       = module.cluster.cluster_endpoint
}

output "cluster_certificate_authority_data" {
  description = "Base64 cluster CA certificate."
  value       = module.cluster.cluster_certificate_authority_data
}

output "region" {
  description = "AWS region."
  value       = module.cluster.region
}

output "node_pools" {
  description = "Node pools with their labels and taints."
  value       = module.cluster.node_pools
}

output "efs_file_system_id" {
  description = "fileSystemId for the efs StorageClass."
  value       = module.cluster.efs_file_system_id
}

output "ecr_registry_url" {
  description = "ECR registry host."
  value       = module.app_identity.ecr_registry_url
}

output "ecr_repository_url" {
  description = "Repository of the leadgen image."
  value       = module.app_identity.ecr_repository_url
}

output "workload_role_arns" {
  description = "IRSA role ARN per application ServiceAccount."
  value       = module.app_identity.role_arns
}

output "external_secrets_role_arn" {
  description = "Role for ServiceAccount leadgen-external-secrets."
  value       = module.app_identity.external_secrets_role_arn
}

output "postgres_backup_role_arn" {
  description = "Role for ServiceAccount leadgen-postgres-backup."
  value       = module.app_identity.postgres_backup_role_arn
}

output "secrets_manager_arn_prefix" {
  description = "ARN prefix of readable Secrets Manager secrets."
  value       = module.app_identity.secrets_manager_arn_prefix
}

output "secrets_manager_name_prefix" {
  description = "Name prefix of this environment's secrets."
  value       = module.app_identity.secrets_manager_name_prefix
}

output "secrets_kms_key_arn" {
  description = "KMS key for Secrets Manager secrets."
  value       = module.app_identity.secrets_kms_key_arn
}

output "postgres_backup_bucket" {
  description = "PostgreSQL backup bucket."
  value       = module.app_identity.postgres_backup_bucket
}

output "postgres_backup_replica_bucket" {
  description = "Cross-region replica of the backup bucket."
  value       = module.app_identity.postgres_backup_replica_bucket
}

output "storage_provisioners" {
  description = "CSI provisioners installed."
  value       = module.addons.storage_provisioners
}
