# The node pool contract shared with the Kubernetes manifests (k8s/) and with the EKS module:
# label leadgen.io/node-pool=<pool> on every node, and these taints. GKE adds its own
# nvidia.com/gpu taint to GPU nodes; ours is set explicitly so both clouds look the same.
# The cross-layer test reads this map.
locals {
  node_pool_profiles = {
    system = {
      labels = { "leadgen.io/node-pool" = "system" }
      taints = [{ key = "CriticalAddonsOnly", value = "true", effect = "NO_SCHEDULE" }]
    }
    application = {
      labels = { "leadgen.io/node-pool" = "application" }
      taints = []
    }
    database = {
      labels = { "leadgen.io/node-pool" = "database" }
      taints = [{ key = "leadgen.io/dedicated", value = "database", effect = "NO_SCHEDULE" }]
    }
    ai = {
      labels = { "leadgen.io/node-pool" = "ai" }
      taints = [{ key = "nvidia.com/gpu", value = "present", effect = "NO_SCHEDULE" }]
    }
  }

  # Shaped for terraform-google-kubernetes-engine: node_pools is list(map(any)),
  # labels and taints are maps keyed by pool name.
  gke_node_pools = [
    for pool, size in var.node_pools : {
      name                        = pool
      machine_type                = size.machine_type
      min_count                   = size.min_count
      max_count                   = size.max_count
      initial_node_count          = size.min_count
      location_policy             = "BALANCED"
      disk_size_gb                = size.disk_size_gb
      disk_type                   = size.disk_type
      image_type                  = "COS_CONTAINERD"
      spot                        = size.spot
      auto_repair                 = true
      auto_upgrade                = true
      enable_secure_boot          = true
      enable_integrity_monitoring = true
      enable_gvnic                = true
      accelerator_type            = size.accelerator_type
      accelerator_count           = size.accelerator_count
      gpu_driver_version          = size.accelerator_count > 0 ? "LATEST" : ""
      strategy                    = "SURGE"
      max_surge                   = 1
      max_unavailable             = 0
    }
  ]

  gke_node_pools_labels = merge({ all = {} }, { for pool in keys(var.node_pools) : pool => local.node_pool_profiles[pool].labels })
  gke_node_pools_taints = merge({ all = [] }, { for pool in keys(var.node_pools) : pool => local.node_pool_profiles[pool].taints })
}
