locals {
  environment = "prod"

  labels = {
    "leadgen-io-environment" = local.environment
    "leadgen-io-managed-by"  = "terraform"
    "leadgen-io-stack"       = "gke"
  }

  # Node pool sizing for prod (counts per zone, three zones). Labels and taints are fixed by
  # the gke-cluster module.
  node_pools = {
    system      = { machine_type = "n2-standard-2", min_count = 1, max_count = 2 }
    application = { machine_type = "n2-standard-8", min_count = 1, max_count = 5 }
    database    = { machine_type = "n2-highmem-8", min_count = 1, max_count = 2, disk_size_gb = 200, disk_type = "pd-ssd" }
    ai          = { machine_type = "g2-standard-8", min_count = 0, max_count = 2, accelerator_type = "nvidia-l4", accelerator_count = 1 }
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
    subnet_cidr   = "10.130.0.0/20"
    pods_cidr     = "10.131.0.0/16"
    services_cidr = "10.132.0.0/20"
    master_cidr   = "172.16.130.0/28"
  }
  enable_private_endpoint    = var.enable_private_endpoint
  master_authorized_networks = var.master_authorized_networks
  node_pools                 = local.node_pools
  domain_filters             = var.domain_filters
  managed_datastores = {
    postgres_tier              = "db-custom-8-32768"
    postgres_high_availability = true
    postgres_disk_size_gb      = 200
    redis_memory_size_gb       = 10
  }
  backup_location       = var.backup_location
  backup_retention_days = 35
  deletion_protection   = true
  labels                = local.labels
}
