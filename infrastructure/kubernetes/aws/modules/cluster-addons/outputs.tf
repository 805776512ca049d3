output "storage_provisioners" {
  description = "CSI provisioners installed as EKS add-ons."
  value       = { for name, addon in local.storage_addons : addon.provisioner => aws_eks_addon.storage[name].addon_version }
}

output "pod_identity_role_arns" {
  description = "IAM role per add-on controller (EKS Pod Identity)."
  value       = { for name, identity in module.pod_identity : name => identity.iam_role_arn }
}

output "helm_releases" {
  description = "Installed add-on charts and versions."
  value       = merge(module.platform_addons.helm_releases, { for name, release in helm_release.addon : name => release.version })
}
