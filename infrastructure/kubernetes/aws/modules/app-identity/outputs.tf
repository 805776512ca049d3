output "namespace" {
  description = "Application namespace the IRSA roles trust."
  value       = local.namespace
}

output "role_arns" {
  description = "IRSA role ARN per application ServiceAccount (value of eks.amazonaws.com/role-arn)."
  value       = { for key, identity in local.identities : identity.service_account => aws_iam_role.workload[key].arn }
}

output "external_secrets_role_arn" {
  description = "Role of ServiceAccount leadgen-external-secrets (ClusterSecretStore)."
  value       = aws_iam_role.workload["external-secrets"].arn
}

output "postgres_backup_role_arn" {
  description = "Role of ServiceAccount leadgen-postgres-backup."
  value       = aws_iam_role.workload["postgres-backup"].arn
}

output "secrets_manager_arn_prefix" {
  description = "ARN prefix of the Secrets Manager secrets the ClusterSecretStore may read (leadgen/<environment>/...)."
  value       = local.secrets_arn_prefix
}

output "secrets_manager_name_prefix" {
  description = "Name prefix for this environment's secrets in Secrets Manager."
  value       = local.secrets_prefix
}

output "secrets_kms_key_arn" {
  description = "KMS key to create the Secrets Manager secrets with (aws secretsmanager create-secret --kms-key-id)."
  value       = aws_kms_key.data.arn
}

output "postgres_backup_bucket" {
  description = "S3 bucket for PostgreSQL backups."
  value       = module.backup_bucket.id
}

output "postgres_backup_replica_bucket" {
  description = "Replica of the backup bucket in the DR region."
  value       = module.backup_replica_bucket.id
}

output "dr_region" {
  description = "Region holding the backup replica."
  value       = data.aws_region.replica.region
}

output "ecr_registry_url" {
  description = "ECR registry host (docker login target)."
  value       = split("/", aws_ecr_repository.leadgen.repository_url)[0]
}

output "ecr_repository_url" {
  description = "Full repository URL of the leadgen image."
  value       = aws_ecr_repository.leadgen.repository_url
}
