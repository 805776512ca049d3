# Shared file system behind the `efs` StorageClass (provisioner efs.csi.aws.com, access-point
# mode). The StorageClass needs this file system id: see the efs_file_system_id output.
resource "aws_kms_key" "efs" {
  description             = "${local.name} EFS encryption"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.efs_kms.json
  tags                    = local.tags
}

data "aws_iam_policy_document" "efs_kms" {
  #checkov:skip=CKV_AWS_109: A KMS key policy applies to its own key only; "*" here means this key.
  #checkov:skip=CKV_AWS_111: A KMS key policy applies to its own key only; "*" here means this key.
  #checkov:skip=CKV_AWS_356: A KMS key policy applies to its own key only; "*" here means this key.
  statement {
    sid       = "AccountAdministration"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  statement {
    sid       = "EfsServiceUse"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["elasticfilesystem.${data.aws_region.current.region}.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:CallerAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_efs_file_system" "shared" {
  creation_token   = "${local.name}-shared"
  encrypted        = true
  kms_key_id       = aws_kms_key.efs.arn
  performance_mode = "generalPurpose"
  throughput_mode  = "elastic"

  lifecycle_policy {
    transition_to_ia = "AFTER_30_DAYS"
  }

  tags = merge(local.tags, { Name = "${local.name}-shared" })
}

# Daily AWS Backup of the file system (the EFS default backup plan, 35 days).
resource "aws_efs_backup_policy" "shared" {
  file_system_id = aws_efs_file_system.shared.id

  backup_policy {
    status = "ENABLED"
  }
}

resource "aws_security_group" "efs" {
  name_prefix = "${local.name}-efs-"
  description = "NFS from EKS nodes to the shared EFS file system"
  vpc_id      = module.vpc.vpc_id
  tags        = local.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "efs_from_nodes" {
  security_group_id            = aws_security_group.efs.id
  description                  = "NFS from EKS nodes"
  ip_protocol                  = "tcp"
  from_port                    = 2049
  to_port                      = 2049
  referenced_security_group_id = module.eks.node_security_group_id
}

resource "aws_efs_mount_target" "shared" {
  for_each = { for index, az in local.azs : az => index }

  file_system_id  = aws_efs_file_system.shared.id
  subnet_id       = module.vpc.private_subnets[each.value]
  security_groups = [aws_security_group.efs.id]
}
