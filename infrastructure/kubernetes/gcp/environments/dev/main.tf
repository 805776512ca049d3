# leadgen dev on GKE: only what makes dev differ (small machines, Spot application nodes).
# Everything else, with its validation and outputs, lives in ../../modules/platform.

variable "installation" {
  description = "Project-level settings from terraform.tfvars (see terraform.tfvars.example): typed, documented and validated by the installation variable of modules/platform."
  type        = any
}

module "platform" {
  source = "../../modules/platform"

  environment  = "dev"
  installation = var.installation
  network = {
    subnet_cidr   = "10.110.0.0/20"
    pods_cidr     = "10.111.0.0/16"
    services_cidr = "10.112.0.0/20"
    master_cidr   = "172.16.110.0/28"
  }
  node_pools = { # counts per zone, three zones
    system      = { machine_type = "e2-standard-2", min_count = 1, max_count = 1 }
    application = { machine_type = "e2-standard-4", min_count = 1, max_count = 2, spot = true }
    database    = { machine_type = "n2-highmem-2", min_count = 1, max_count = 1, disk_type = "pd-ssd" }
    ai          = { machine_type = "g2-standard-4", min_count = 0, max_count = 1, accelerator_type = "nvidia-l4", accelerator_count = 1 }
  }
  managed_datastores    = null
  backup_retention_days = 14
  deletion_protection   = false
}

provider "google" {
  project               = var.installation.project_id
  region                = var.installation.region
  default_labels        = module.platform.labels
  user_project_override = true
}

provider "helm" {
  kubernetes = module.platform.kubernetes
}

output "platform" {
  description = "Every output of modules/platform except the Helm credentials; one value: terraform output -json platform | jq -r .registry_url"
  value       = { for name, value in module.platform : name => value if name != "kubernetes" }
}

output "kubeconfig_command" {
  description = "gcloud get-credentials for this cluster: eval \"$(terraform output -raw kubeconfig_command)\"."
  value       = module.platform.kubeconfig_command
}
