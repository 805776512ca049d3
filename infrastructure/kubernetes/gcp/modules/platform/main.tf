locals {
  # Also the default_labels of the root's google provider (output labels).
  labels = {
    "leadgen-io-environment" = var.environment
    "leadgen-io-managed-by"  = "terraform"
    "leadgen-io-stack"       = "gke"
  }
}

module "cluster" {
  source = "../gke-cluster"

  project_id                 = var.installation.project_id
  environment                = var.environment
  region                     = var.installation.region
  subnet_cidr                = var.network.subnet_cidr
  pods_cidr                  = var.network.pods_cidr
  services_cidr              = var.network.services_cidr
  master_ipv4_cidr_block     = var.network.master_cidr
  enable_private_endpoint    = var.installation.enable_private_endpoint
  master_authorized_networks = var.installation.master_authorized_networks
  node_pools                 = var.node_pools
  deletion_protection        = var.deletion_protection
  labels                     = local.labels
}

module "addons" {
  source = "../cluster-addons"

  project_id     = var.installation.project_id
  environment    = var.environment
  managed_zones  = var.installation.managed_zones
  domain_filters = var.installation.domain_filters

  depends_on = [module.cluster]
}

module "workload_identity" {
  source = "../workload-identity"

  project_id            = var.installation.project_id
  environment           = var.environment
  region                = var.installation.region
  backup_location       = var.installation.backup_location
  backup_retention_days = var.backup_retention_days
  force_destroy_buckets = !var.deletion_protection
  labels                = local.labels
}

module "managed_data" {
  source = "../managed-data"
  count  = var.managed_datastores == null ? 0 : 1

  project_id                 = var.installation.project_id
  environment                = var.environment
  region                     = var.installation.region
  network_id                 = module.cluster.network_id
  postgres_tier              = var.managed_datastores.postgres_tier
  postgres_high_availability = var.managed_datastores.postgres_high_availability
  postgres_disk_size_gb      = var.managed_datastores.postgres_disk_size_gb
  redis_memory_size_gb       = var.managed_datastores.redis_memory_size_gb
  deletion_protection        = var.deletion_protection
  labels                     = local.labels
}

module "edge" {
  source = "../edge"

  project_id  = var.installation.project_id
  environment = var.environment
}

# Short-lived access token of whoever runs Terraform, for the root's Helm provider.
data "google_client_config" "current" {}
