locals {
  # Also the default_tags of the root's providers (output tags), so untagged resources get them too.
  tags = {
    "leadgen.io/environment" = var.environment
    "leadgen.io/managed-by"  = "terraform"
    "leadgen.io/stack"       = "eks"
  }
}

module "cluster" {
  source = "../eks-cluster"

  environment                  = var.environment
  kubernetes_version           = var.kubernetes_version
  availability_zones           = var.installation.availability_zones
  vpc_cidr                     = var.vpc_cidr
  single_nat_gateway           = var.single_nat_gateway
  endpoint_public_access       = var.installation.endpoint_public_access
  endpoint_public_access_cidrs = var.installation.endpoint_public_access_cidrs
  cluster_admin_principal_arns = var.installation.cluster_admin_principal_arns
  node_groups                  = var.node_groups
  log_retention_days           = var.log_retention_days
  deletion_protection          = var.deletion_protection
  tags                         = local.tags
}

module "addons" {
  source = "../cluster-addons"

  cluster_name       = module.cluster.cluster_name
  kubernetes_version = var.kubernetes_version
  region             = module.cluster.region
  vpc_id             = module.cluster.vpc_id
  route53_zone_arns  = var.installation.route53_zone_arns
  domain_filters     = var.installation.domain_filters
  tags               = local.tags
}

module "app_identity" {
  source = "../app-identity"
  providers = {
    aws         = aws
    aws.replica = aws.replica
  }

  environment           = var.environment
  oidc_provider_arn     = module.cluster.oidc_provider_arn
  oidc_provider         = module.cluster.oidc_provider
  backup_retention_days = var.backup_retention_days
  force_destroy_buckets = !var.deletion_protection
  tags                  = local.tags
}
