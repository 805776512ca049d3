variable "environment" {
  description = "Deployment environment; becomes part of every name (cluster leadgen-<environment>)."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of dev, staging, prod."
  }
}

variable "kubernetes_version" {
  description = "EKS Kubernetes minor version, for example 1.33. Upgrade one minor at a time (see cluster-setup.md)."
  type        = string

  validation {
    condition     = can(regex("^1\\.[0-9]{2}$", var.kubernetes_version))
    error_message = "kubernetes_version must look like 1.33."
  }
}

variable "availability_zones" {
  description = "Exactly three availability zones of the region (named explicitly so a new AZ never changes the layout)."
  type        = list(string)

  validation {
    condition     = length(var.availability_zones) == 3 && length(distinct(var.availability_zones)) == 3
    error_message = "Give exactly three distinct availability zones."
  }
}

variable "vpc_cidr" {
  description = "IPv4 CIDR of the cluster VPC; /16 or larger. Private node subnets get a quarter each of the first three sixteenths."
  type        = string

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && try(tonumber(split("/", var.vpc_cidr)[1]) <= 16, false)
    error_message = "vpc_cidr must be a valid IPv4 CIDR with a prefix of /16 or shorter."
  }
}

variable "single_nat_gateway" {
  description = "Use one NAT gateway for all AZs (cheaper, not zone-redundant). Prod sets false: one NAT gateway per AZ."
  type        = bool
  default     = false
}

variable "endpoint_public_access" {
  description = "Expose the Kubernetes API endpoint publicly (restricted to endpoint_public_access_cidrs). false = private endpoint only; run Terraform and kubectl from inside the VPC."
  type        = bool
  default     = false
}

variable "endpoint_public_access_cidrs" {
  description = "CIDRs allowed to reach the public API endpoint; at least one when endpoint_public_access is true, since EKS opens a public endpoint without any to 0.0.0.0/0. Never a /0, no IPv4 range wider than /8 or IPv6 range wider than /32, and together no more than two /8s (IPv4) or two /32s (IPv6)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.endpoint_public_access_cidrs : can(cidrhost(c, 0)) && try(tonumber(split("/", c)[1]) > 0, false)])
    error_message = "endpoint_public_access_cidrs must be valid CIDRs, none of them a /0 (every address)."
  }

  # An allow-list names operators' networks, not the internet. IANA hands IPv4 to the regional
  # registries in /8s and no one organisation holds a wider block; an IPv6 /32 is a registry's
  # standard allocation to a whole ISP (a site gets a /48). A wider entry is a way of writing much of
  # the internet: 0.0.0.0/1 and 128.0.0.0/1 are all of it. (Terraform 1.11's || does not short-circuit,
  # hence try() on entries the validation above refuses.)
  validation {
    condition     = alltrue([for c in var.endpoint_public_access_cidrs : !can(cidrhost(c, 0)) || try(tonumber(split("/", c)[1]) >= (strcontains(c, ":") ? 32 : 8), false)])
    error_message = "endpoint_public_access_cidrs must not hold an IPv4 range wider than /8 or an IPv6 range wider than /32 (0.0.0.0/1 and 128.0.0.0/1 are every address)."
  }

  # Nor many narrower entries that add up to a large part of it. Two /8s leave room for every
  # private range (10/8, 172.16/12, 192.168/16 and 100.64/10 are 21.9 million addresses) and the
  # operators' own.
  validation {
    condition = (
      sum(concat([0], [for c in var.endpoint_public_access_cidrs : try(pow(2, 32 - tonumber(split("/", c)[1])), 0) if !strcontains(c, ":")])) <= pow(2, 25) &&
      sum(concat([0], [for c in var.endpoint_public_access_cidrs : try(pow(2, 128 - tonumber(split("/", c)[1])), 0) if strcontains(c, ":")])) <= pow(2, 97)
    )
    error_message = "endpoint_public_access_cidrs together must cover no more than two /8s of IPv4 (33,554,432 addresses) and two /32s of IPv6."
  }

  validation {
    condition     = !var.endpoint_public_access || length(var.endpoint_public_access_cidrs) > 0
    error_message = "endpoint_public_access = true needs at least one CIDR in endpoint_public_access_cidrs; without any EKS opens the endpoint to 0.0.0.0/0."
  }
}

variable "cluster_admin_principal_arns" {
  description = "IAM role/user ARNs that get cluster-admin through EKS access entries (platform engineers, CI deploy role)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.cluster_admin_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/", a))])
    error_message = "cluster_admin_principal_arns must be IAM role or user ARNs."
  }

  # Each ARN keys its access entry; EKS allows one entry per principal.
  validation {
    condition     = length(distinct(var.cluster_admin_principal_arns)) == length(var.cluster_admin_principal_arns)
    error_message = "cluster_admin_principal_arns lists an ARN twice."
  }
}

variable "node_groups" {
  description = "Sizing per node pool. Keys must be pools from the label/taint contract (system, application, database, ai); labels and taints come from local.node_pool_profiles, never from here."
  type = map(object({
    instance_types = list(string)
    min_size       = number
    max_size       = number
    desired_size   = number
    capacity_type  = optional(string, "ON_DEMAND")
    disk_size_gb   = optional(number, 100)
  }))

  validation {
    condition     = alltrue([for k in keys(var.node_groups) : contains(["system", "application", "database", "ai"], k)])
    error_message = "node_groups keys must be among system, application, database, ai."
  }

  validation {
    condition     = contains(keys(var.node_groups), "system") && contains(keys(var.node_groups), "application")
    error_message = "node_groups must define at least the system and application pools."
  }

  validation {
    condition     = alltrue([for g in values(var.node_groups) : g.min_size <= g.desired_size && g.desired_size <= g.max_size && g.max_size > 0])
    error_message = "Each node group needs min_size <= desired_size <= max_size and max_size > 0."
  }

  validation {
    condition     = alltrue([for g in values(var.node_groups) : contains(["ON_DEMAND", "SPOT"], g.capacity_type)])
    error_message = "capacity_type must be ON_DEMAND or SPOT."
  }
}

variable "log_retention_days" {
  description = "Retention of control-plane and VPC flow logs in CloudWatch, in days."
  type        = number
  default     = 90

  validation {
    condition     = contains([30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch retention value of at least 30 days."
  }
}

variable "deletion_protection" {
  description = "EKS deletion protection: the cluster cannot be deleted until this is switched off."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
