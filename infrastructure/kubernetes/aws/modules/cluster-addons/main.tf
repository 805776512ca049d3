locals {
  # Every add-on controller runs on the tainted system pool (defined once, in platform-addons).
  system_pool = module.platform_addons.system_pool

  # EKS add-ons that provide the StorageClass provisioners used by k8s/infrastructure/storage-classes/aws.
  storage_addons = {
    aws-ebs-csi-driver = { provisioner = "ebs.csi.aws.com" }
    aws-efs-csi-driver = { provisioner = "efs.csi.aws.com" }
  }

  # AWS permissions of the add-on controllers, granted through EKS Pod Identity. cert-manager needs
  # none: every Issuer answers HTTP-01 challenges through the Gateway, never DNS-01.
  pod_identities = {
    aws-ebs-csi-driver           = { namespace = "kube-system", service_account = "ebs-csi-controller-sa", policy = "ebs_csi" }
    aws-efs-csi-driver           = { namespace = "kube-system", service_account = "efs-csi-controller-sa", policy = "efs_csi" }
    aws-load-balancer-controller = { namespace = "kube-system", service_account = "aws-load-balancer-controller", policy = "lb_controller" }
    cluster-autoscaler           = { namespace = "kube-system", service_account = "cluster-autoscaler", policy = "cluster_autoscaler" }
    external-dns                 = { namespace = "external-dns", service_account = "external-dns", policy = "external_dns" }
  }
}

module "pod_identity" {
  #checkov:skip=CKV_TF_1: Registry module pinned by version; its inputs are checked against tests/fixtures/terraform.
  source   = "terraform-aws-modules/eks-pod-identity/aws"
  version  = "~> 2.0"
  for_each = local.pod_identities

  name            = "${var.cluster_name}-${each.key}"
  use_name_prefix = false

  attach_aws_ebs_csi_policy        = each.value.policy == "ebs_csi"
  aws_ebs_csi_kms_arns             = each.value.policy == "ebs_csi" ? var.ebs_kms_key_arns : []
  attach_aws_efs_csi_policy        = each.value.policy == "efs_csi"
  attach_aws_lb_controller_policy  = each.value.policy == "lb_controller"
  attach_cluster_autoscaler_policy = each.value.policy == "cluster_autoscaler"
  cluster_autoscaler_cluster_names = each.value.policy == "cluster_autoscaler" ? [var.cluster_name] : []
  attach_external_dns_policy       = each.value.policy == "external_dns"
  external_dns_hosted_zone_arns    = each.value.policy == "external_dns" ? var.route53_zone_arns : []

  associations = {
    (each.key) = {
      cluster_name    = var.cluster_name
      namespace       = each.value.namespace
      service_account = each.value.service_account
    }
  }

  tags = var.tags
}

data "aws_eks_addon_version" "storage" {
  for_each = local.storage_addons

  addon_name         = each.key
  kubernetes_version = var.kubernetes_version
  most_recent        = true
}

resource "aws_eks_addon" "storage" {
  for_each = local.storage_addons

  cluster_name                = var.cluster_name
  addon_name                  = each.key
  addon_version               = data.aws_eks_addon_version.storage[each.key].version
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"
  configuration_values        = jsonencode({ controller = local.system_pool })
  tags                        = var.tags

  depends_on = [module.pod_identity]
}
