output "kubeconfig_command" {
  description = "Command that writes the kubeconfig entry for this cluster."
  value       = "aws eks update-kubeconfig --region ${var.region} --name ${module.platform.cluster_name} --alias ${module.platform.cluster_name}"
}

output "cluster_name" {
  description = "EKS cluster name."
  value       = module.platform.cluster_name
}

output "node_pools" {
  description = "Node pools with their labels and taints (the k8s/ scheduling contract)."
  value       = module.platform.node_pools
}

output "ecr_registry_url" {
  description = "ECR registry host: aws ecr get-login-password | docker login --username AWS --password-stdin <this>."
  value       = module.platform.ecr_registry_url
}

output "ecr_repository_url" {
  description = "Repository of the leadgen image (kustomize images: newName)."
  value       = module.platform.ecr_repository_url
}

output "workload_role_arns" {
  description = "IRSA role ARN per ServiceAccount in the application namespace."
  value       = module.platform.workload_role_arns
}

output "external_secrets_role_arn" {
  description = "eks.amazonaws.com/role-arn of ServiceAccount leadgen-external-secrets."
  value       = module.platform.external_secrets_role_arn
}

output "postgres_backup_role_arn" {
  description = "eks.amazonaws.com/role-arn of ServiceAccount leadgen-postgres-backup."
  value       = module.platform.postgres_backup_role_arn
}

output "secret_store_arn_prefix" {
  description = "Secrets Manager ARN prefix the ClusterSecretStore can read."
  value       = module.platform.secrets_manager_arn_prefix
}

output "secret_store_name_prefix" {
  description = "Name prefix of the secrets to create in Secrets Manager."
  value       = module.platform.secrets_manager_name_prefix
}

output "secrets_kms_key_arn" {
  description = "KMS key to encrypt the Secrets Manager secrets with."
  value       = module.platform.secrets_kms_key_arn
}

output "postgres_backup_bucket" {
  description = "S3 bucket for PostgreSQL backups (WAL archive and base backups)."
  value       = module.platform.postgres_backup_bucket
}

output "postgres_backup_replica_bucket" {
  description = "Cross-region replica of the backup bucket."
  value       = module.platform.postgres_backup_replica_bucket
}

output "efs_file_system_id" {
  description = "fileSystemId parameter of the efs StorageClass."
  value       = module.platform.efs_file_system_id
}
