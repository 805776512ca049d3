locals {
  environment = "dev"

  labels = {
    "leadgen-io-environment" = local.environment
    "leadgen-io-managed-by"  = "terraform"
    "leadgen-io-stack"       = "gke"
  }

  # Node pool sizing for dev (counts per zone, three zones). Labels and taints are fixed by
  # the gke-cluster module.
  node_pools = {
    system      = { machine_type = "e2-standard-2", min_count = 1, max_count = 1 }
    application = { machine_type = "e2-standard-4", min_count = 1, max_count = 2, spot = true }
    database    = { machine_type = "n2-highmem-2", min_count = 1, max_count = 1, disk_type = "pd-ssd" }
    ai          = { machine_type = "g2-standard-4", min_count = 0, max_count = 1, accelerator_type = "nvidia-l4", accelerator_count = 1 }
  }
}

module "platform" {
  source = "../../modules/platform"
  providers = {
    google = google
    helm   = helm
  }

  project_id  = var.project_id
  environment = local.environment
  region      = var.region
  network = {
    subnet_cidr   = "10.110.0.0/20"
    pods_cidr     = "10.111.0.0/16"
    services_cidr = "10.112.0.0/20"
    master_cidr   = "172.16.110.0/28"
  }
  enable_private_endpoint    = var.enable_private_endpoint
  master_authorized_networks = var.master_authorized_networks
  node_pools                 = local.node_pools
  domain_filters             = var.domain_filters
  managed_datastores         = null
  backup_location            = var.backup_location
  backup_retention_days      = 14
  deletion_protection        = false
  labels                     = local.labels
}
