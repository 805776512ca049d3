provider "google" {
  project               = var.project_id
  region                = var.region
  default_labels        = local.labels
  user_project_override = true
}

data "google_client_config" "current" {}

provider "helm" {
  kubernetes = {
    host                   = "https://${module.platform.endpoint}"
    cluster_ca_certificate = base64decode(module.platform.ca_certificate)
    token                  = data.google_client_config.current.access_token
  }
}
