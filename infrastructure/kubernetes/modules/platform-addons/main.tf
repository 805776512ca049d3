# Cloud-agnostic add-ons that EKS and GKE install the same way, called by both clouds'
# cluster-addons modules. Terraform installs the cluster's add-ons only; the application is
# deployed from k8s/ by scripts/k8s/deploy.sh, never from Terraform. What differs per cloud
# (provider, identity annotations, extra arguments) is passed in as extra values documents
# (var.cloud_values), which Helm deep-merges over the values below.
locals {
  # Every add-on controller runs on the tainted system pool (node pool contract of k8s/).
  system_pool = {
    nodeSelector = { "leadgen.io/node-pool" = "system" }
    tolerations  = [{ key = "CriticalAddonsOnly", operator = "Equal", value = "true", effect = "NoSchedule" }]
  }

  # Versions are pinned here; bump one chart per change (var.chart_versions overrides).
  helm_releases = {
    # Gateway API implementation of the k8s/ layer (GatewayClass "envoy").
    envoy-gateway = {
      repository = "oci://docker.io/envoyproxy"
      chart      = "gateway-helm"
      version    = "v1.5.0"
      namespace  = "envoy-gateway-system"
      values = yamlencode({
        deployment = { pod = local.system_pool, replicas = 2 }
      })
      skip_crds = true # from helm_release.gateway_crds, so that upgrades also upgrade them
    }
    external-dns = {
      repository = "https://kubernetes-sigs.github.io/external-dns/"
      chart      = "external-dns"
      version    = "1.18.0"
      namespace  = "external-dns"
      values = yamlencode(merge(local.system_pool, {
        serviceAccount = { create = true, name = "external-dns" }
        sources        = ["gateway-httproute", "ingress", "service"] # HTTPRoutes; k8s/components/ingress
        domainFilters  = var.domain_filters
        policy         = "upsert-only"
        txtOwnerId     = var.cluster_name
      }))
      skip_crds = false
    }
    external-secrets = {
      repository = "https://charts.external-secrets.io"
      chart      = "external-secrets"
      version    = "0.19.2"
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
      version    = "v1.18.2"
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
      version    = "0.28.0"
      namespace  = "cnpg-system"
      values     = yamlencode(local.system_pool)
      skip_crds  = false
    }
    # Prometheus Operator, Prometheus and Alertmanager; selects every ServiceMonitor and
    # PrometheusRule of k8s/ (the chart's default selects only its own release's).
    kube-prometheus-stack = {
      repository = "https://prometheus-community.github.io/helm-charts"
      chart      = "kube-prometheus-stack"
      version    = "77.6.2"
      namespace  = "monitoring"
      values = yamlencode({
        prometheusOperator = local.system_pool
        prometheus = {
          prometheusSpec = merge(local.system_pool, {
            serviceMonitorSelectorNilUsesHelmValues = false
            podMonitorSelectorNilUsesHelmValues     = false
            ruleSelectorNilUsesHelmValues           = false
            retention                               = "15d"
          })
        }
        alertmanager = { alertmanagerSpec = local.system_pool }
        grafana      = { enabled = false }
      })
      skip_crds = false
    }
  }

  # Add-ons that need another add-on's CRDs or webhooks first: the Barman Cloud plugin of
  # CloudNativePG (WAL archive and base backups to the object store) needs cert-manager and CNPG.
  dependent_releases = {
    plugin-barman-cloud = {
      repository = "https://cloudnative-pg.github.io/charts"
      chart      = "plugin-barman-cloud"
      version    = "0.6.0"
      namespace  = "cnpg-system"
      values     = yamlencode(local.system_pool)
    }
  }

  pinned_versions = { for name, release in merge(local.helm_releases, local.dependent_releases) : name => release.version }
  chart_versions  = merge(local.pinned_versions, var.chart_versions)
}

# CRDs of the edge from the Envoy Gateway project's CRD chart (same version as the controller):
# Envoy Gateway's own and, unless the cloud manages them (GKE: gateway_api_channel), the
# standard-channel Gateway API CRDs (Gateway, HTTPRoute, ...). Managed here, not by the
# controller chart's crds/ directory, so that chart upgrades also upgrade the CRDs. The release
# name says what it holds; renaming it would uninstall the CRDs and every Gateway with them.
resource "helm_release" "gateway_crds" {
  name             = var.gateway_api_crds ? "gateway-api-crds" : "envoy-gateway-crds"
  repository       = local.helm_releases["envoy-gateway"].repository
  chart            = "gateway-crds-helm"
  version          = local.chart_versions["envoy-gateway"]
  namespace        = "kube-system"
  create_namespace = false
  atomic           = true
  timeout          = 600

  values = [yamlencode({
    crds = {
      gatewayAPI   = { enabled = var.gateway_api_crds, channel = "standard" }
      envoyGateway = { enabled = true }
    }
  })]
}

resource "helm_release" "addon" {
  for_each = local.helm_releases

  name             = each.key
  repository       = each.value.repository
  chart            = each.value.chart
  version          = local.chart_versions[each.key]
  namespace        = each.value.namespace
  create_namespace = true
  atomic           = true
  timeout          = 600
  values           = compact([each.value.values, lookup(var.cloud_values, each.key, "")])
  skip_crds        = each.value.skip_crds

  depends_on = [helm_release.gateway_crds]
}

resource "helm_release" "dependent" {
  for_each = local.dependent_releases

  name             = each.key
  repository       = each.value.repository
  chart            = each.value.chart
  version          = local.chart_versions[each.key]
  namespace        = each.value.namespace
  create_namespace = true
  atomic           = true
  timeout          = 600
  values           = [each.value.values]

  depends_on = [helm_release.addon]
}
