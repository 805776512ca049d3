# Cluster add-ons installed with Helm. Terraform installs the cluster's add-ons only; the
# application is deployed from k8s/ by scripts/k8s/deploy.sh, never from Terraform.

# What EKS and GKE install the same way (Gateway API and Envoy Gateway CRDs, Envoy Gateway,
# External DNS, External Secrets, cert-manager, CloudNativePG and its Barman Cloud plugin,
# kube-prometheus-stack), with the AWS-specific values merged in.
module "platform_addons" {
  source = "../../../modules/platform-addons"

  cluster_name     = var.cluster_name
  domain_filters   = var.domain_filters
  gateway_api_crds = true # EKS has no managed Gateway API CRDs
  cloud_values = {
    external-dns = yamlencode({
      provider = { name = "aws" }
      env      = [{ name = "AWS_DEFAULT_REGION", value = var.region }]
    })
  }

  depends_on = [module.pod_identity]
}

# AWS-only add-ons. Envoy Gateway's proxies are exposed through an NLB that the load balancer
# controller provisions.
locals {
  helm_releases = {
    aws-load-balancer-controller = {
      repository = "https://aws.github.io/eks-charts"
      chart      = "aws-load-balancer-controller"
      version    = "1.14.0"
      namespace  = "kube-system"
      values = yamlencode(merge(local.system_pool, {
        clusterName    = var.cluster_name
        region         = var.region
        vpcId          = var.vpc_id
        replicaCount   = 2
        serviceAccount = { create = true, name = "aws-load-balancer-controller" }
      }))
    }
    cluster-autoscaler = {
      repository = "https://kubernetes.github.io/autoscaler"
      chart      = "cluster-autoscaler"
      version    = "9.46.6"
      namespace  = "kube-system"
      values = yamlencode(merge(local.system_pool, {
        cloudProvider = "aws"
        awsRegion     = var.region
        autoDiscovery = { clusterName = var.cluster_name }
        rbac          = { serviceAccount = { create = true, name = "cluster-autoscaler" } }
        extraArgs = {
          balance-similar-node-groups   = true
          skip-nodes-with-local-storage = false
          expander                      = "least-waste"
          scale-down-unneeded-time      = "10m"
        }
      }))
    }
    # Exposes nvidia.com/gpu on the ai pool (the NVIDIA AMI ships the driver, not the plugin).
    nvidia-device-plugin = {
      repository = "https://nvidia.github.io/k8s-device-plugin"
      chart      = "nvidia-device-plugin"
      version    = "0.17.1"
      namespace  = "kube-system"
      values = yamlencode({
        nodeSelector = { "leadgen.io/node-pool" = "ai" }
        tolerations  = [{ key = "nvidia.com/gpu", operator = "Exists", effect = "NoSchedule" }]
      })
    }
  }
}

resource "helm_release" "addon" {
  for_each = local.helm_releases

  name             = each.key
  repository       = each.value.repository
  chart            = each.value.chart
  version          = lookup(var.chart_versions, each.key, each.value.version)
  namespace        = each.value.namespace
  create_namespace = true
  atomic           = true
  timeout          = 600
  values           = [each.value.values]
  skip_crds        = false

  depends_on = [module.pod_identity, aws_eks_addon.storage]
}

