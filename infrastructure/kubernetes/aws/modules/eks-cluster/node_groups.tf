# The node pool contract shared with the Kubernetes manifests (k8s/) and with the GKE module:
# label leadgen.io/node-pool=<pool> on every node, and these taints. The cross-layer test reads
# this map and checks every nodeSelector, required node affinity and toleration of the rendered
# manifests against it, so change it only together with the manifests.
locals {
  node_pool_profiles = {
    system = {
      ami_type = "AL2023_x86_64_STANDARD"
      labels   = { "leadgen.io/node-pool" = "system" }
      taints = {
        critical-addons-only = { key = "CriticalAddonsOnly", value = "true", effect = "NO_SCHEDULE" }
      }
      extended_resources = {}
    }
    application = {
      ami_type           = "AL2023_x86_64_STANDARD"
      labels             = { "leadgen.io/node-pool" = "application" }
      taints             = {}
      extended_resources = {}
    }
    database = {
      ami_type = "AL2023_x86_64_STANDARD"
      labels   = { "leadgen.io/node-pool" = "database" }
      taints = {
        dedicated-database = { key = "leadgen.io/dedicated", value = "database", effect = "NO_SCHEDULE" }
      }
      extended_resources = {}
    }
    ai = {
      ami_type = "AL2023_x86_64_NVIDIA"
      labels   = { "leadgen.io/node-pool" = "ai" }
      taints = {
        gpu = { key = "nvidia.com/gpu", value = "present", effect = "NO_SCHEDULE" }
      }
      extended_resources = { "nvidia.com/gpu" = "1" }
    }
  }

  taint_effects = {
    NO_SCHEDULE        = "NoSchedule"
    NO_EXECUTE         = "NoExecute"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
  }

  # One EKS managed node group per entry of var.node_groups, shaped for terraform-aws-modules/eks.
  eks_managed_node_groups = {
    for pool, size in var.node_groups : pool => {
      name            = "${local.name}-${pool}"
      use_name_prefix = true
      ami_type        = local.node_pool_profiles[pool].ami_type
      instance_types  = size.instance_types
      capacity_type   = size.capacity_type
      min_size        = size.min_size
      max_size        = size.max_size
      desired_size    = size.desired_size
      labels          = local.node_pool_profiles[pool].labels
      taints          = local.node_pool_profiles[pool].taints

      # A fixed role name: the module's default is the name prefix "<name>-eks-node-group-", and
      # AWS caps role name prefixes at 38 characters ("leadgen-staging-application-..." is 43).
      iam_role_name            = "${local.name}-${pool}-nodes"
      iam_role_use_name_prefix = false

      block_device_mappings = {
        root = {
          device_name = "/dev/xvda"
          ebs = {
            volume_size           = size.disk_size_gb
            volume_type           = "gp3"
            encrypted             = true
            delete_on_termination = true
          }
        }
      }
      # IMDSv2 only and a hop limit of 1: pods cannot borrow the node role; they use
      # EKS Pod Identity (add-ons) or IRSA (application service accounts) instead.
      metadata_options = {
        http_endpoint               = "enabled"
        http_tokens                 = "required"
        http_put_response_hop_limit = 1
      }
      update_config = { max_unavailable_percentage = 33 }
      tags          = { "leadgen.io/node-pool" = pool }
    }
  }

  # Cluster Autoscaler scales a group from zero only if the ASG says which labels, taints and
  # extended resources its nodes will have. Managed node groups do not copy these to the ASG.
  autoscaler_node_template_tags = merge([
    for pool in keys(var.node_groups) : merge(
      {
        for key, value in local.node_pool_profiles[pool].labels :
        "${pool}/label/${key}" => { pool = pool, key = "k8s.io/cluster-autoscaler/node-template/label/${key}", value = value }
      },
      {
        for name, taint in local.node_pool_profiles[pool].taints :
        "${pool}/taint/${taint.key}" => {
          pool  = pool
          key   = "k8s.io/cluster-autoscaler/node-template/taint/${taint.key}"
          value = "${taint.value}:${local.taint_effects[taint.effect]}"
        }
      },
      {
        for resource, amount in local.node_pool_profiles[pool].extended_resources :
        "${pool}/resource/${resource}" => { pool = pool, key = "k8s.io/cluster-autoscaler/node-template/resources/${resource}", value = amount }
      },
    )
  ]...)
}

resource "aws_autoscaling_group_tag" "node_template" {
  for_each = local.autoscaler_node_template_tags

  autoscaling_group_name = one(module.eks.eks_managed_node_groups[each.value.pool].node_group_autoscaling_group_names)

  tag {
    key                 = each.value.key
    value               = each.value.value
    propagate_at_launch = false
  }
}
