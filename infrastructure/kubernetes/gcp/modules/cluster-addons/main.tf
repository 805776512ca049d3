# GKE provides the PD and Filestore CSI drivers, the standard Gateway API CRDs, the cluster
# autoscaler and the NVIDIA device plugin itself (see the gke-cluster module). Helm adds the rest.
locals {
  system_pool = {
    nodeSelector = { "leadgen.io/node-pool" = "system" }
    tolerations  = [{ key = "CriticalAddonsOnly", operator = "Equal", value = "true", effect = "NoSchedule" }]
  }

  gsa_env_labels = { dev = "dev", staging = "stg", prod = "prod" }

  # Add-on controllers that call Google APIs, through Workload Identity.
  addon_identities = {
    external-dns = { namespace = "external-dns", service_account = "external-dns", role = "roles/dns.admin" }
    cert-manager = { namespace = "cert-manager", service_account = "cert-manager", role = "roles/dns.admin" }
  }
}

resource "google_service_account" "addon" {
  for_each = local.addon_identities

  project      = var.project_id
  account_id   = "leadgen-${local.gsa_env_labels[var.environment]}-${each.key}"
  display_name = "${each.value.namespace}/${each.value.service_account}"
}

resource "google_service_account_iam_member" "addon_workload_identity" {
  for_each = local.addon_identities

  service_account_id = google_service_account.addon[each.key].name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.project_id}.svc.id.goog[${each.value.namespace}/${each.value.service_account}]"
}

resource "google_project_iam_member" "addon" {
  for_each = local.addon_identities

  project = var.project_id
  role    = each.value.role
  member  = google_service_account.addon[each.key].member
}

# Envoy Gateway's own CRDs (the standard Gateway API CRDs are GKE-managed through
# gateway_api_channel), managed here so that chart upgrades also upgrade them.
resource "helm_release" "envoy_gateway_crds" {
  name       = "envoy-gateway-crds"
  repository = "oci://docker.io/envoyproxy"
  chart      = "gateway-crds-helm"
  version    = var.chart_versions["envoy-gateway"]
  namespace  = "kube-system"
  atomic     = true
  timeout    = 600

  values = [yamlencode({
    crds = {
      gatewayAPI   = { enabled = false }
      envoyGateway = { enabled = true }
    }
  })]
}

locals {
  helm_releases = {
    # Gateway API implementation of the k8s/ layer (GatewayClass "envoy").
    envoy-gateway = {
      repository = "oci://docker.io/envoyproxy"
      chart      = "gateway-helm"
      namespace  = "envoy-gateway-system"
      values = yamlencode({
        deployment = { pod = local.system_pool, replicas = 2 }
      })
      skip_crds = true
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
        crds = { enabled = true }
        serviceAccount = {
          create      = true
          name        = "cert-manager"
          annotations = { "iam.gke.io/gcp-service-account" = google_service_account.addon["cert-manager"].email }
        }
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
    external-dns = {
      repository = "https://kubernetes-sigs.github.io/external-dns/"
      chart      = "external-dns"
      namespace  = "external-dns"
      values = yamlencode(merge(local.system_pool, {
        provider = { name = "google" }
        serviceAccount = {
          create      = true
          name        = "external-dns"
          annotations = { "iam.gke.io/gcp-service-account" = google_service_account.addon["external-dns"].email }
        }
        sources       = ["gateway-httproute", "service"]
        domainFilters = var.domain_filters
        policy        = "upsert-only"
        txtOwnerId    = "leadgen-${var.environment}"
        extraArgs     = ["--google-project=${var.project_id}"]
      }))
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

  depends_on = [helm_release.envoy_gateway_crds, google_service_account_iam_member.addon_workload_identity]
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
