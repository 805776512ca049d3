locals {
  environment = "staging"

  tags = {
    "leadgen.io/environment" = local.environment
    "leadgen.io/managed-by"  = "terraform"
    "leadgen.io/stack"       = "eks"
  }

  # Node pool sizing for staging. Labels and taints are fixed by the eks-cluster module.
  node_groups = {
    system      = { instance_types = ["m7i.large"], min_size = 2, max_size = 3, desired_size = 2 }
    application = { instance_types = ["m7i.xlarge", "m6i.xlarge"], min_size = 2, max_size = 6, desired_size = 2 }
    database    = { instance_types = ["r7i.xlarge"], min_size = 2, max_size = 3, desired_size = 2 }
    ai          = { instance_types = ["g5.xlarge"], min_size = 0, max_size = 2, desired_size = 0 }
  }
}

module "platform" {
  source = "../../modules/platform"
  providers = {
    aws         = aws
    aws.replica = aws.replica
    helm        = helm
  }

  environment                  = local.environment
  kubernetes_version           = var.kubernetes_version
  availability_zones           = var.availability_zones
  vpc_cidr                     = "10.20.0.0/16"
  single_nat_gateway           = true
  endpoint_public_access       = var.endpoint_public_access
  endpoint_public_access_cidrs = var.endpoint_public_access_cidrs
  cluster_admin_principal_arns = var.cluster_admin_principal_arns
  node_groups                  = local.node_groups
  route53_zone_arns            = var.route53_zone_arns
  domain_filters               = var.domain_filters
  log_retention_days           = 90
  backup_retention_days        = 14
  deletion_protection          = true
  tags                         = local.tags
}
