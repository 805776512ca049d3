# GKE provides the PD and Filestore CSI drivers, the standard Gateway API CRDs, the cluster
# autoscaler and the NVIDIA device plugin itself (see the gke-cluster module). What is left is
# cloud-agnostic and shared with EKS (modules/platform-addons); this module adds Workload
# Identity for the add-ons that call Google APIs and their GKE-specific values.
locals {
  gsa_env_labels = { dev = "dev", staging = "stg", prod = "prod" }

  # Add-on controllers that call Google APIs, through Workload Identity. cert-manager calls none:
  # every Issuer answers HTTP-01 challenges through the Gateway, never DNS-01.
  addon_identities = {
    external-dns = { namespace = "external-dns", service_account = "external-dns" }
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

# External DNS lists the project's zones to find the ones matching domain_filters, and changes
# records only in the zones named in managed_zones (on AWS: route53_zone_arns).
resource "google_project_iam_member" "external_dns_reader" {
  project = var.project_id
  role    = "roles/dns.reader"
  member  = google_service_account.addon["external-dns"].member
}

resource "google_dns_managed_zone_iam_member" "external_dns" {
  for_each = toset(var.managed_zones)

  project      = var.project_id
  managed_zone = each.value
  role         = "roles/dns.admin"
  member       = google_service_account.addon["external-dns"].member
}

module "platform_addons" {
  source = "../../../modules/platform-addons"

  cluster_name     = "leadgen-${var.environment}"
  domain_filters   = var.domain_filters
  gateway_api_crds = false # GKE-managed through gateway_api_channel
  cloud_values = {
    external-dns = yamlencode({
      provider       = { name = "google" }
      serviceAccount = { annotations = { "iam.gke.io/gcp-service-account" = google_service_account.addon["external-dns"].email } }
      extraArgs      = ["--google-project=${var.project_id}"]
    })
  }

  depends_on = [google_service_account_iam_member.addon_workload_identity]
}

