# Values that only pass through to a wrapped module are typed and validated there, once; the
# description names that module. What the environment roots choose per environment is required
# here (no defaults), so each root states its sizes and flags explicitly.

variable "environment" {
  description = "Deployment environment: dev, staging or prod (validated by eks-cluster); names the cluster leadgen-<environment> and tags every resource."
  type        = string
}

variable "installation" {
  description = "Account-level settings of this installation, from the root's terraform.tfvars: region and dr_region (replica of the backups), the three availability_zones of region, cluster_admin_principal_arns (EKS access entries), route53_zone_arns and domain_filters (External DNS), endpoint_public_access and endpoint_public_access_cidrs (API endpoint)."
  type = object({
    region                       = string
    dr_region                    = string
    availability_zones           = list(string)
    cluster_admin_principal_arns = list(string)
    route53_zone_arns            = list(string)
    domain_filters               = list(string)
    endpoint_public_access       = optional(bool, false)
    endpoint_public_access_cidrs = optional(list(string), [])
  })

  validation {
    condition     = alltrue([for r in [var.installation.region, var.installation.dr_region] : can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", r))]) && var.installation.region != var.installation.dr_region
    error_message = "installation.region and installation.dr_region must be two different AWS regions, such as eu-west-1 and eu-central-1."
  }

  validation {
    condition     = alltrue([for az in var.installation.availability_zones : startswith(az, var.installation.region)])
    error_message = "installation.availability_zones must be zones of installation.region."
  }

  validation {
    condition     = length(var.installation.cluster_admin_principal_arns) > 0
    error_message = "installation.cluster_admin_principal_arns needs at least one IAM role or user, or nobody can administer the cluster."
  }

  validation {
    condition     = alltrue([for d in var.installation.domain_filters : can(regex("^[a-z0-9.-]+\\.[a-z]{2,}$", d))])
    error_message = "installation.domain_filters must be DNS domains such as leadgen.example.com."
  }
}

variable "kubernetes_version" {
  description = "EKS Kubernetes minor version, for example 1.33 (validated by eks-cluster). Upgrade one environment at a time (cluster-setup.md)."
  type        = string
}

variable "vpc_cidr" {
  description = "IPv4 CIDR of the cluster VPC, /16 or larger (validated by eks-cluster)."
  type        = string
}

variable "single_nat_gateway" {
  description = "One shared NAT gateway instead of one per availability zone (cheaper, not zone-redundant)."
  type        = bool
}

variable "node_groups" {
  description = "Sizing per node pool (system, application, database, ai): instance_types, min_size, max_size, desired_size, optional capacity_type and disk_size_gb. Typed, defaulted and validated by eks-cluster; labels and taints are fixed there."
  type        = any
}

variable "log_retention_days" {
  description = "CloudWatch retention of control-plane and VPC flow logs, in days (validated by eks-cluster)."
  type        = number
}

variable "backup_retention_days" {
  description = "Retention of PostgreSQL backups in S3, in days (validated by app-identity)."
  type        = number
}

variable "deletion_protection" {
  description = "Protect the cluster from deletion and refuse to empty the backup buckets on destroy."
  type        = bool
}
