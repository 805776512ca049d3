# Values that only pass through to a wrapped module are typed and validated there, once; the
# description names that module. What the environment roots choose per environment is required
# here (no defaults), so each root states its sizes and flags explicitly.

variable "environment" {
  description = "Deployment environment: dev, staging or prod (validated by gke-cluster); names the cluster leadgen-<environment> and labels every resource."
  type        = string
}

variable "installation" {
  description = "Project-level settings of this installation, from the root's terraform.tfvars: project_id, region, managed_zones (Cloud DNS zone names External DNS may change) and domain_filters (DNS domains it manages), backup_location (multi-region EU, US or ASIA containing region, or a region; validated by workload-identity), enable_private_endpoint and master_authorized_networks (control-plane access)."
  type = object({
    project_id                 = string
    region                     = string
    managed_zones              = list(string)
    domain_filters             = list(string)
    backup_location            = optional(string, "EU")
    enable_private_endpoint    = optional(bool, false)
    master_authorized_networks = optional(list(object({ cidr_block = string, display_name = string })), [])
  })

  validation {
    condition     = alltrue([for d in var.installation.domain_filters : can(regex("^[a-z0-9.-]+\\.[a-z]{2,}$", d))])
    error_message = "installation.domain_filters must be DNS domains such as leadgen.example.com."
  }
}

variable "network" {
  description = "Address plan: node subnet, pod and service secondary ranges, control-plane /28 (each validated by gke-cluster)."
  type = object({
    subnet_cidr   = string
    pods_cidr     = string
    services_cidr = string
    master_cidr   = string
  })

  validation {
    condition     = length(distinct(values(var.network))) == 4
    error_message = "The four network ranges must differ from each other."
  }
}

variable "node_pools" {
  description = "Sizing per node pool (system, application, database, ai), counts per zone: machine_type, min_count, max_count, optional disk_size_gb, disk_type, spot, accelerator_type, accelerator_count. Typed, defaulted and validated by gke-cluster; labels and taints are fixed there."
  type        = any
}

variable "managed_datastores" {
  description = "Create Cloud SQL for PostgreSQL 16 and Memorystore for Redis 7; null = none, the manifests' in-cluster PostgreSQL and Redis only (every environment today: nothing would connect to them; cluster-setup.md, managed datastores, says when and how to switch). Each value is validated by managed-data."
  type = object({
    postgres_tier              = string
    postgres_high_availability = bool
    postgres_disk_size_gb      = number
    redis_memory_size_gb       = number
  })

  validation {
    condition     = var.managed_datastores == null || try(startswith(var.managed_datastores.postgres_tier, "db-"), false)
    error_message = "managed_datastores needs a Cloud SQL tier (db-...)."
  }
}

variable "backup_retention_days" {
  description = "Retention of PostgreSQL backups in GCS, in days (validated by workload-identity)."
  type        = number
}

variable "deletion_protection" {
  description = "Protect the cluster and databases from deletion and refuse to empty the backup bucket on destroy."
  type        = bool
}
