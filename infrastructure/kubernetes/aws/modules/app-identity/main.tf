data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

data "aws_region" "replica" {
  provider = aws.replica
}

locals {
  namespace  = "leadgen-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region

  # Secrets Manager secrets the ClusterSecretStore may read: leadgen/<environment>/<name>.
  secrets_prefix     = "leadgen/${var.environment}/"
  secrets_arn_prefix = "arn:${local.partition}:secretsmanager:${local.region}:${local.account_id}:secret:${local.secrets_prefix}"

  backup_bucket_name = "leadgen-${var.environment}-postgres-backups-${local.account_id}"

  # Cloud identities of the application ServiceAccounts in namespace leadgen-<environment>.
  # IAM role leadgen-<environment>-<key> is assumable only by ServiceAccount
  # <service_account> of that namespace (annotation eks.amazonaws.com/role-arn).
  identities = {
    external-secrets = {
      service_account = "leadgen-external-secrets"
      description     = "External Secrets ClusterSecretStore: read leadgen/${var.environment}/* from Secrets Manager"
    }
    postgres-backup = {
      service_account = "leadgen-postgres-backup"
      description     = "PostgreSQL base backups and WAL archive to S3"
    }
  }

  identity_policies = {
    external-secrets = data.aws_iam_policy_document.external_secrets.json
    postgres-backup  = data.aws_iam_policy_document.postgres_backup.json
  }
}

data "aws_iam_policy_document" "irsa_trust" {
  for_each = local.identities

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${var.oidc_provider}:sub"
      values   = ["system:serviceaccount:${local.namespace}:${each.value.service_account}"]
    }

    condition {
      test     = "StringEquals"
      variable = "${var.oidc_provider}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "workload" {
  for_each = local.identities

  name                 = "leadgen-${var.environment}-${each.key}"
  description          = each.value.description
  assume_role_policy   = data.aws_iam_policy_document.irsa_trust[each.key].json
  max_session_duration = 3600
  tags                 = merge(var.tags, { "leadgen.io/service-account" = "${local.namespace}/${each.value.service_account}" })
}

resource "aws_iam_role_policy" "workload" {
  for_each = local.identities

  name   = "leadgen-${var.environment}-${each.key}"
  role   = aws_iam_role.workload[each.key].id
  policy = local.identity_policies[each.key]
}

data "aws_iam_policy_document" "external_secrets" {
  statement {
    sid = "ReadLeadgenSecrets"
    actions = [
      "secretsmanager:GetSecretValue",
      "secretsmanager:DescribeSecret",
      "secretsmanager:ListSecretVersionIds",
      "secretsmanager:GetResourcePolicy",
    ]
    resources = ["${local.secrets_arn_prefix}*"]
  }

  statement {
    sid       = "DecryptLeadgenSecrets"
    actions   = ["kms:Decrypt", "kms:DescribeKey"]
    resources = [aws_kms_key.data.arn]
  }
}

data "aws_iam_policy_document" "postgres_backup" {
  statement {
    sid       = "ListBackupBucket"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [module.backup_bucket.arn]
  }

  statement {
    sid       = "ReadWriteBackups"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    resources = ["${module.backup_bucket.arn}/*"]
  }

  statement {
    sid       = "UseBackupKey"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [aws_kms_key.data.arn]
  }
}
