locals {
  environment = "prod"

  tags = {
    "leadgen.io/environment" = local.environment
    "leadgen.io/managed-by"  = "terraform"
    "leadgen.io/stack"       = "eks"
  }

  # Node pool sizing for prod. Labels and taints are fixed by the eks-cluster module.
  node_groups = {
    system      = { instance_types = ["m7i.large"], min_size = 3, max_size = 6, desired_size = 3 }
    application = { instance_types = ["m7i.2xlarge", "m6i.2xlarge"], min_size = 3, max_size = 15, desired_size = 3 }
    database    = { instance_types = ["r7i.2xlarge"], min_size = 3, max_size = 6, desired_size = 3, disk_size_gb = 200 }
    ai          = { instance_types = ["g5.2xlarge"], min_size = 0, max_size = 4, desired_size = 0 }
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
  vpc_cidr                     = "10.30.0.0/16"
  single_nat_gateway           = false
  endpoint_public_access       = var.endpoint_public_access
  endpoint_public_access_cidrs = var.endpoint_public_access_cidrs
  cluster_admin_principal_arns = var.cluster_admin_principal_arns
  node_groups                  = local.node_groups
  route53_zone_arns            = var.route53_zone_arns
  domain_filters               = var.domain_filters
  log_retention_days           = 365
  backup_retention_days        = 35
  deletion_protection          = true
  tags                         = local.tags
}
