data "google_project" "this" {
  project_id = var.project_id
}

locals {
  name = "leadgen-${var.environment}"
  labels = merge(var.labels, {
    "leadgen-io-environment" = var.environment
    "leadgen-io-managed-by"  = "terraform"
  })
}

resource "google_compute_network" "this" {
  project                 = var.project_id
  name                    = local.name
  auto_create_subnetworks = false
  routing_mode            = "REGIONAL"
}

# Explicit, logged deny of any ingress GKE has not opened itself (GKE adds its own
# higher-priority rules for the control plane, health checks and load balancers).
resource "google_compute_firewall" "deny_ingress" {
  project   = var.project_id
  name      = "${local.name}-deny-ingress"
  network   = google_compute_network.this.id
  direction = "INGRESS"
  priority  = 65534

  deny {
    protocol = "all"
  }

  source_ranges = ["0.0.0.0/0"]

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_subnetwork" "nodes" {
  project                  = var.project_id
  name                     = "${local.name}-nodes"
  region                   = var.region
  network                  = google_compute_network.this.id
  ip_cidr_range            = var.subnet_cidr
  private_ip_google_access = true

  secondary_ip_range {
    range_name    = "pods"
    ip_cidr_range = var.pods_cidr
  }

  secondary_ip_range {
    range_name    = "services"
    ip_cidr_range = var.services_cidr
  }

  log_config {
    aggregation_interval = "INTERVAL_1_MIN"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

# Private nodes reach image registries and APIs through Cloud NAT.
resource "google_compute_router" "this" {
  project = var.project_id
  name    = "${local.name}-router"
  region  = var.region
  network = google_compute_network.this.id
}

resource "google_compute_router_nat" "this" {
  project                            = var.project_id
  name                               = "${local.name}-nat"
  router                             = google_compute_router.this.name
  region                             = var.region
  nat_ip_allocate_option             = "AUTO_ONLY"
  source_subnetwork_ip_ranges_to_nat = "ALL_SUBNETWORKS_ALL_IP_RANGES"

  log_config {
    enable = true
    filter = "ERRORS_ONLY"
  }
}

# The cluster's keys, regional like the cluster, each used by one Google service agent: the
# application-layer encryption of Kubernetes Secrets in etcd (GKE's), and Backup for GKE's (below).
locals {
  crypto_key_users = {
    etcd-secrets = "container-engine-robot"
    gke-backups  = "gcp-sa-gkebackup"
  }
}

resource "google_kms_key_ring" "this" {
  project  = var.project_id
  name     = "${local.name}-gke"
  location = var.region
}

resource "google_kms_crypto_key" "this" {
  for_each        = local.crypto_key_users
  name            = "${local.name}-${each.key}"
  key_ring        = google_kms_key_ring.this.id
  rotation_period = "7776000s"

  lifecycle {
    prevent_destroy = true
  }
}

resource "google_kms_crypto_key_iam_member" "service_agent" {
  for_each      = local.crypto_key_users
  crypto_key_id = google_kms_crypto_key.this[each.key].id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:service-${data.google_project.this.number}@${each.value}.iam.gserviceaccount.com"
}

# The etcd key and its grant had addresses of their own before the backups' key joined them.
moved {
  from = google_kms_crypto_key.secrets
  to   = google_kms_crypto_key.this["etcd-secrets"]
}

moved {
  from = google_kms_crypto_key_iam_member.gke_secrets
  to   = google_kms_crypto_key_iam_member.service_agent["etcd-secrets"]
}

resource "google_pubsub_topic" "cluster_notifications" {
  #checkov:skip=CKV_GCP_83: Upgrade notifications carry no customer data; Google-managed encryption is enough.
  project = var.project_id
  name    = "${local.name}-gke-notifications"
  labels  = local.labels
}

module "gke" {
  #checkov:skip=CKV_TF_1: Registry module pinned to an exact version; its inputs are checked against tests/fixtures/terraform.
  source  = "terraform-google-modules/kubernetes-engine/google//modules/private-cluster"
  version = "37.1.0"

  project_id = var.project_id
  name       = local.name
  regional   = true
  region     = var.region

  network           = google_compute_network.this.name
  subnetwork        = google_compute_subnetwork.nodes.name
  ip_range_pods     = "pods"
  ip_range_services = "services"

  release_channel    = var.release_channel
  kubernetes_version = "latest"

  # Private nodes, private or CIDR-restricted control plane.
  enable_private_nodes         = true
  enable_private_endpoint      = var.enable_private_endpoint
  master_ipv4_cidr_block       = var.master_ipv4_cidr_block
  master_authorized_networks   = var.master_authorized_networks
  master_global_access_enabled = false

  # Workload Identity and node hardening.
  identity_namespace                = "enabled"
  node_metadata                     = "GKE_METADATA"
  enable_shielded_nodes             = true
  disable_legacy_metadata_endpoints = true
  enable_binary_authorization       = true
  security_posture_mode             = "BASIC"
  database_encryption               = [{ state = "ENCRYPTED", key_name = google_kms_crypto_key.this["etcd-secrets"].id }]

  # Dataplane V2 enforces NetworkPolicy (the network_policy add-on stays off with it).
  datapath_provider = "ADVANCED_DATAPATH"
  network_policy    = false

  # Storage drivers behind k8s/infrastructure/storage-classes/gcp, Gateway API for the edge,
  # Backup for GKE for disaster recovery.
  gce_pd_csi_driver       = true
  filestore_csi_driver    = true
  gateway_api_channel     = "CHANNEL_STANDARD"
  http_load_balancing     = true
  gke_backup_agent_config = true
  dns_cache               = true

  horizontal_pod_autoscaling      = true
  enable_vertical_pod_autoscaling = true

  logging_enabled_components    = ["SYSTEM_COMPONENTS", "APISERVER", "CONTROLLER_MANAGER", "SCHEDULER", "WORKLOADS"]
  monitoring_enabled_components = ["SYSTEM_COMPONENTS", "APISERVER", "SCHEDULER", "CONTROLLER_MANAGER", "STORAGE", "HPA", "POD", "DEPLOYMENT", "STATEFULSET"]

  maintenance_start_time    = "2025-01-04T02:00:00Z"
  maintenance_end_time      = "2025-01-04T08:00:00Z"
  maintenance_recurrence    = "FREQ=WEEKLY;BYDAY=SA,SU"
  notification_config_topic = google_pubsub_topic.cluster_notifications.id

  remove_default_node_pool = true
  create_service_account   = true
  grant_registry_access    = true
  deletion_protection      = var.deletion_protection

  node_pools        = local.gke_node_pools
  node_pools_labels = local.gke_node_pools_labels
  node_pools_taints = local.gke_node_pools_taints
  node_pools_oauth_scopes = {
    all = ["https://www.googleapis.com/auth/cloud-platform"]
  }
  node_pools_tags = {
    all = ["${local.name}-node"]
  }

  cluster_resource_labels = local.labels

  depends_on = [google_kms_crypto_key_iam_member.service_agent, google_compute_router_nat.this]
}

# Backup for GKE: daily backups of the application namespace with its volumes (PVC snapshots of
# PostgreSQL, Redis, Qdrant and Neo4j), the Kubernetes resources encrypted with the cluster's
# gke-backups key (the plan needs a key in its own region).
resource "google_gke_backup_backup_plan" "this" {
  project     = var.project_id
  name        = "${local.name}-daily"
  cluster     = module.gke.cluster_id
  location    = var.region
  description = "Daily backup of namespace ${local.name} with its volume data"
  labels      = local.labels

  backup_schedule {
    cron_schedule = "0 3 * * *"
  }

  retention_policy {
    backup_retain_days = var.backup_retain_days
  }

  backup_config {
    include_volume_data = true
    include_secrets     = true

    selected_namespaces {
      namespaces = ["leadgen-${var.environment}"]
    }

    encryption_key {
      gcp_kms_encryption_key = google_kms_crypto_key.this["gke-backups"].id
    }
  }

  depends_on = [google_kms_crypto_key_iam_member.service_agent]
}
