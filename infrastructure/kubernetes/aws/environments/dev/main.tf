locals {
  environment = "dev"

  tags = {
    "leadgen.io/environment" = local.environment
    "leadgen.io/managed-by"  = "terraform"
    "leadgen.io/stack"       = "eks"
  }

  # Node pool sizing for dev. Labels and taints are fixed by the eks-cluster module.
  node_groups = {
    system      = { instance_types = ["m7i.large"], min_size = 1, max_size = 2, desired_size = 1 }
    application = { instance_types = ["m7i.xlarge", "m6i.xlarge"], min_size = 1, max_size = 4, desired_size = 1, capacity_type = "SPOT" }
    database    = { instance_types = ["r7i.large"], min_size = 1, max_size = 2, desired_size = 1 }
    ai          = { instance_types = ["g5.xlarge"], min_size = 0, max_size = 1, desired_size = 0 }
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
  vpc_cidr                     = "10.10.0.0/16"
  single_nat_gateway           = true
  endpoint_public_access       = var.endpoint_public_access
  endpoint_public_access_cidrs = var.endpoint_public_access_cidrs
  cluster_admin_principal_arns = var.cluster_admin_principal_arns
  node_groups                  = local.node_groups
  route53_zone_arns            = var.route53_zone_arns
  domain_filters               = var.domain_filters
  log_retention_days           = 30
  backup_retention_days        = 14
  deletion_protection          = false
  tags                         = local.tags
}
