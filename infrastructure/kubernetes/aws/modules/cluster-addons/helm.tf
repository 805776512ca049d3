# Cluster add-ons installed with Helm. Terraform installs the cluster's add-ons only; the
# application is deployed from k8s/ by scripts/k8s/deploy.sh, never from Terraform.

# Standard-channel Gateway API CRDs (Gateway, HTTPRoute, ...), packaged as a chart by the
# Envoy Gateway project; only the upstream Gateway API CRDs are enabled.
resource "helm_release" "gateway_api_crds" {
  name             = "gateway-api-crds"
  repository       = "oci://docker.io/envoyproxy"
  chart            = "gateway-crds-helm"
  version          = var.chart_versions["gateway-api-crds"]
  namespace        = "kube-system"
  create_namespace = false
  atomic           = true
  timeout          = 600

  values = [yamlencode({
    crds = {
      gatewayAPI   = { enabled = true, channel = "standard" }
      envoyGateway = { enabled = false }
    }
  })]
}

locals {
  helm_releases = {
    aws-load-balancer-controller = {
      repository = "https://aws.github.io/eks-charts"
      chart      = "aws-load-balancer-controller"
      namespace  = "kube-system"
      values = yamlencode(merge(local.system_pool, {
        clusterName    = var.cluster_name
        region         = var.region
        vpcId          = var.vpc_id
        replicaCount   = 2
        serviceAccount = { create = true, name = "aws-load-balancer-controller" }
        # The edge is Gateway API: ALB for HTTPRoute/GRPCRoute, NLB for L4 routes.
        controllerConfig = { featureGates = { ALBGatewayAPI = true, NLBGatewayAPI = true } }
      }))
    }
    cluster-autoscaler = {
      repository = "https://kubernetes.github.io/autoscaler"
      chart      = "cluster-autoscaler"
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
    external-dns = {
      repository = "https://kubernetes-sigs.github.io/external-dns/"
      chart      = "external-dns"
      namespace  = "external-dns"
      values = yamlencode(merge(local.system_pool, {
        provider       = { name = "aws" }
        serviceAccount = { create = true, name = "external-dns" }
        sources        = ["gateway-httproute", "service"]
        domainFilters  = var.domain_filters
        policy         = "upsert-only"
        txtOwnerId     = var.cluster_name
        env            = [{ name = "AWS_DEFAULT_REGION", value = var.region }]
      }))
    }
    external-secrets = {
      repository = "https://charts.external-secrets.io"
      chart      = "external-secrets"
      namespace  = "external-secrets"
      values = yamlencode(merge(local.system_pool, {
        installCRDs    = true
        webhook        = local.system_pool
        certController = local.system_pool
      }))
    }
    cert-manager = {
      repository = "https://charts.jetstack.io"
      chart      = "cert-manager"
      namespace  = "cert-manager"
      values = yamlencode(merge(local.system_pool, {
        crds           = { enabled = true }
        serviceAccount = { create = true, name = "cert-manager" }
        config = {
          apiVersion       = "controller.config.cert-manager.io/v1alpha1"
          kind             = "ControllerConfiguration"
          enableGatewayAPI = true
        }
        webhook         = local.system_pool
        cainjector      = local.system_pool
        startupapicheck = local.system_pool
      }))
    }
    # Exposes nvidia.com/gpu on the ai pool (the NVIDIA AMI ships the driver, not the plugin).
    nvidia-device-plugin = {
      repository = "https://nvidia.github.io/k8s-device-plugin"
      chart      = "nvidia-device-plugin"
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
  version          = var.chart_versions[each.key]
  namespace        = each.value.namespace
  create_namespace = true
  atomic           = true
  timeout          = 600
  values           = [each.value.values]

  depends_on = [helm_release.gateway_api_crds, module.pod_identity, aws_eks_addon.storage]
}
