locals {
  environment = "staging"

  labels = {
    "leadgen-io-environment" = local.environment
    "leadgen-io-managed-by"  = "terraform"
    "leadgen-io-stack"       = "gke"
  }

  # Node pool sizing for staging (counts per zone, three zones). Labels and taints are fixed by
  # the gke-cluster module.
  node_pools = {
    system      = { machine_type = "e2-standard-2", min_count = 1, max_count = 2 }
    application = { machine_type = "n2-standard-4", min_count = 1, max_count = 2 }
    database    = { machine_type = "n2-highmem-4", min_count = 1, max_count = 1, disk_type = "pd-ssd" }
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
    subnet_cidr   = "10.120.0.0/20"
    pods_cidr     = "10.121.0.0/16"
    services_cidr = "10.122.0.0/20"
    master_cidr   = "172.16.120.0/28"
  }
  enable_private_endpoint    = var.enable_private_endpoint
  master_authorized_networks = var.master_authorized_networks
  node_pools                 = local.node_pools
  domain_filters             = var.domain_filters
  managed_datastores = {
    postgres_tier              = "db-custom-2-8192"
    postgres_high_availability = false
    postgres_disk_size_gb      = 50
    redis_memory_size_gb       = 2
  }
  backup_location       = var.backup_location
  backup_retention_days = 14
  deletion_protection   = true
  labels                = local.labels
}
