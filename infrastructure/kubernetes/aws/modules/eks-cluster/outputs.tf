output "cluster_name" {
  description = "EKS cluster name."
  value       = module.eks.cluster_name
}

output "cluster_endpoint" {
  description = "Kubernetes API endpoint."
  value       = module.eks.cluster_endpoint
}

output "cluster_certificate_authority_data" {
  description = "Base64 cluster CA certificate."
  value       = module.eks.cluster_certificate_authority_data
}

output "oidc_provider_arn" {
  description = "ARN of the cluster OIDC provider (IRSA trust)."
  value       = module.eks.oidc_provider_arn
}

output "oidc_provider" {
  description = "OIDC issuer host and path without https:// (IRSA condition key prefix)."
  value       = module.eks.oidc_provider
}

output "region" {
  description = "AWS region of the cluster."
  value       = data.aws_region.current.region
}

output "vpc_id" {
  description = "VPC id."
  value       = module.vpc.vpc_id
}

output "private_subnet_ids" {
  description = "Private subnet ids (nodes and pods)."
  value       = module.vpc.private_subnets
}

output "node_security_group_id" {
  description = "Security group shared by the nodes."
  value       = module.eks.node_security_group_id
}

output "efs_file_system_id" {
  description = "Id of the shared EFS file system: the fileSystemId parameter of the efs StorageClass."
  value       = aws_efs_file_system.shared.id
}

output "node_pools" {
  description = "Node pools created, with their Kubernetes labels and taints."
  value = {
    for pool in keys(var.node_groups) : pool => {
      labels = local.node_pool_profiles[pool].labels
      taints = [for t in values(local.node_pool_profiles[pool].taints) : "${t.key}=${t.value}:${local.taint_effects[t.effect]}"]
    }
  }
}
