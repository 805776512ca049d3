# Cluster add-ons installed with Helm. Terraform installs the cluster's add-ons only; the
# application is deployed from k8s/ by scripts/k8s/deploy.sh, never from Terraform.

# CRDs of the edge: standard-channel Gateway API (Gateway, HTTPRoute, ...) and Envoy Gateway's
# own, from the Envoy Gateway project's CRD chart. Managed here (not by the controller chart's
# crds/ directory) so that chart upgrades also upgrade the CRDs.
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
      envoyGateway = { enabled = true }
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
      }))
      skip_crds = false
    }
    # Gateway API implementation of the k8s/ layer (GatewayClass "envoy"); its proxies are
    # exposed through an NLB that the load balancer controller provisions.
    envoy-gateway = {
      repository = "oci://docker.io/envoyproxy"
      chart      = "gateway-helm"
      namespace  = "envoy-gateway-system"
      values = yamlencode({
        deployment = { pod = local.system_pool, replicas = 2 }
      })
      skip_crds = true
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
      skip_crds = false
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
      skip_crds = false
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
      skip_crds = false
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
      skip_crds = false
    }
    # PostgreSQL operator of the k8s/ layer (components/cloudnative-pg).
    cloudnative-pg = {
      repository = "https://cloudnative-pg.github.io/charts"
      chart      = "cloudnative-pg"
      namespace  = "cnpg-system"
      values     = yamlencode(local.system_pool)
      skip_crds  = false
    }
    # Prometheus Operator, Prometheus and Alertmanager; selects every ServiceMonitor of k8s/.
    kube-prometheus-stack = {
      repository = "https://prometheus-community.github.io/helm-charts"
      chart      = "kube-prometheus-stack"
      namespace  = "monitoring"
      values = yamlencode({
        prometheusOperator = local.system_pool
        prometheus = {
          prometheusSpec = merge(local.system_pool, {
            serviceMonitorSelectorNilUsesHelmValues = false
            podMonitorSelectorNilUsesHelmValues     = false
            retention                               = "15d"
          })
        }
        alertmanager = { alertmanagerSpec = local.system_pool }
        grafana      = { enabled = false }
      })
      skip_crds = false
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
      skip_crds = false
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
  skip_crds        = each.value.skip_crds

  depends_on = [helm_release.gateway_api_crds, module.pod_identity, aws_eks_addon.storage]
}

# Add-ons that need another add-on's CRDs or webhooks first: the Barman Cloud plugin of
# CloudNativePG (WAL archive and base backups to the object store) needs cert-manager and CNPG.
resource "helm_release" "dependent" {
  for_each = {
    plugin-barman-cloud = {
      repository = "https://cloudnative-pg.github.io/charts"
      chart      = "plugin-barman-cloud"
      namespace  = "cnpg-system"
    }
  }

  name             = each.key
  repository       = each.value.repository
  chart            = each.value.chart
  version          = var.chart_versions[each.key]
  namespace        = each.value.namespace
  create_namespace = true
  atomic           = true
  timeout          = 600

  depends_on = [helm_release.addon]
}
