data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  name = "leadgen-${var.environment}"
  azs  = var.availability_zones

  tags = merge(var.tags, {
    "leadgen.io/environment" = var.environment
    "leadgen.io/managed-by"  = "terraform"
  })

  # Configuration values of the EKS add-ons whose pods belong on the tainted system pool.
  system_pool_addon_configuration = jsonencode({
    nodeSelector = { "leadgen.io/node-pool" = "system" }
    tolerations  = [{ key = "CriticalAddonsOnly", operator = "Exists" }]
  })
}

# Three AZs. Nodes and pods live in the private /20s (VPC CNI gives pods VPC addresses), the
# control-plane ENIs in small intra subnets, load balancers in the public /24s.
module "vpc" {
  #checkov:skip=CKV_TF_1: Registry module pinned by version; its inputs are checked against tests/fixtures/terraform.
  source  = "terraform-aws-modules/vpc/aws"
  version = "~> 6.0"

  name = local.name
  cidr = var.vpc_cidr
  azs  = local.azs

  private_subnets = [for i, _ in local.azs : cidrsubnet(var.vpc_cidr, 4, i)]
  public_subnets  = [for i, _ in local.azs : cidrsubnet(var.vpc_cidr, 8, 48 + i)]
  intra_subnets   = [for i, _ in local.azs : cidrsubnet(var.vpc_cidr, 8, 52 + i)]

  enable_nat_gateway     = true
  single_nat_gateway     = var.single_nat_gateway
  one_nat_gateway_per_az = !var.single_nat_gateway
  enable_dns_hostnames   = true
  enable_dns_support     = true

  manage_default_security_group = true
  default_security_group_egress = []

  enable_flow_log                                 = true
  create_flow_log_cloudwatch_log_group            = true
  create_flow_log_cloudwatch_iam_role             = true
  flow_log_cloudwatch_log_group_retention_in_days = var.log_retention_days
  flow_log_max_aggregation_interval               = 60

  public_subnet_tags  = { "kubernetes.io/role/elb" = "1" }
  private_subnet_tags = { "kubernetes.io/role/internal-elb" = "1" }

  tags = local.tags
}

module "eks" {
  #checkov:skip=CKV_TF_1: Registry module pinned to an exact version; its inputs are checked against tests/fixtures/terraform.
  source  = "terraform-aws-modules/eks/aws"
  version = "21.15.1"

  name               = local.name
  kubernetes_version = var.kubernetes_version

  vpc_id                   = module.vpc.vpc_id
  subnet_ids               = module.vpc.private_subnets
  control_plane_subnet_ids = module.vpc.intra_subnets

  endpoint_private_access      = true
  endpoint_public_access       = var.endpoint_public_access
  endpoint_public_access_cidrs = var.endpoint_public_access_cidrs

  # All five control-plane log types go to CloudWatch.
  enabled_log_types                      = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
  cloudwatch_log_group_retention_in_days = var.log_retention_days

  # Envelope encryption of Kubernetes Secrets with a module-created, rotated KMS key.
  create_kms_key          = true
  enable_kms_key_rotation = true
  encryption_config       = { resources = ["secrets"] }

  # OIDC provider for IRSA (application service accounts); add-ons use EKS Pod Identity.
  enable_irsa         = true
  deletion_protection = var.deletion_protection
  authentication_mode = "API"

  # Keyed by the principal's ARN, never by its position in the list: with position keys,
  # removing one admin re-pointed every later entry at another principal (principal_arn forces
  # replacement, and EKS refuses an entry for a principal that still has one), so an apply could
  # leave the CI deploy role without access half way. State from before this change moves to the
  # new keys once, before the next plan: ../../move-access-entries-to-arn-keys.sh (cluster-setup.md).
  access_entries = {
    for arn in var.cluster_admin_principal_arns : arn => {
      principal_arn = arn
      policy_associations = {
        cluster-admin = {
          policy_arn   = "arn:${data.aws_partition.current.partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
          access_scope = { type = "cluster" }
        }
      }
    }
  }

  # Core EKS add-ons. The storage CSI drivers are EKS add-ons too, installed by the
  # cluster-addons module once their Pod Identity roles exist.
  addons = {
    vpc-cni = {
      before_compute = true
      # Without this the VPC CNI ignores NetworkPolicies, and k8s/ relies on them (default deny).
      configuration_values = jsonencode({ enableNetworkPolicy = "true" })
    }
    eks-pod-identity-agent = { before_compute = true }
    kube-proxy             = {}
    coredns                = { configuration_values = local.system_pool_addon_configuration }
    # The metrics API (metrics.k8s.io): every HPA of k8s/ scales on CPU and memory utilisation,
    # and EKS, unlike GKE, does not serve it by itself (a community add-on).
    metrics-server = { configuration_values = local.system_pool_addon_configuration }
  }

  eks_managed_node_groups = local.eks_managed_node_groups

  tags = local.tags
}
