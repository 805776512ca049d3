# PostgreSQL backups (base backups + continuous WAL archive) and their replica in the DR region.
module "backup_bucket" {
  source = "../secure-bucket"

  name                              = local.backup_bucket_name
  kms_key_arn                       = aws_kms_key.data.arn
  object_retention_days             = var.backup_retention_days
  noncurrent_version_retention_days = 7
  force_destroy                     = var.force_destroy_buckets
  tags                              = var.tags
}

module "backup_replica_bucket" {
  source = "../secure-bucket"
  providers = {
    aws = aws.replica
  }

  name                              = "${local.backup_bucket_name}-dr"
  kms_key_arn                       = aws_kms_key.replica.arn
  object_retention_days             = var.backup_retention_days
  noncurrent_version_retention_days = 7
  force_destroy                     = var.force_destroy_buckets
  tags                              = var.tags
}

data "aws_iam_policy_document" "replication_trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "replication" {
  name               = "leadgen-${var.environment}-backup-replication"
  assume_role_policy = data.aws_iam_policy_document.replication_trust.json
  tags               = var.tags
}

data "aws_iam_policy_document" "replication" {
  statement {
    actions   = ["s3:GetReplicationConfiguration", "s3:ListBucket"]
    resources = [module.backup_bucket.arn]
  }

  statement {
    actions   = ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"]
    resources = ["${module.backup_bucket.arn}/*"]
  }

  statement {
    actions   = ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"]
    resources = ["${module.backup_replica_bucket.arn}/*"]
  }

  statement {
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.data.arn]
  }

  statement {
    actions   = ["kms:Encrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.replica.arn]
  }
}

resource "aws_iam_role_policy" "replication" {
  name   = "leadgen-${var.environment}-backup-replication"
  role   = aws_iam_role.replication.id
  policy = data.aws_iam_policy_document.replication.json
}

# Replication Time Control: 99.99 % of objects within 15 minutes, which bounds the RPO of a
# regional disaster to the WAL archive interval plus 15 minutes.
resource "aws_s3_bucket_replication_configuration" "backups" {
  bucket = module.backup_bucket.id
  role   = aws_iam_role.replication.arn

  rule {
    id     = "backups-to-dr-region"
    status = "Enabled"

    filter {}

    delete_marker_replication {
      status = "Disabled"
    }

    source_selection_criteria {
      sse_kms_encrypted_objects {
        status = "Enabled"
      }
    }

    destination {
      bucket        = module.backup_replica_bucket.arn
      storage_class = "STANDARD_IA"

      encryption_configuration {
        replica_kms_key_id = aws_kms_key.replica.arn
      }

      replication_time {
        status = "Enabled"
        time {
          minutes = 15
        }
      }

      metrics {
        status = "Enabled"
        event_threshold {
          minutes = 15
        }
      }
    }
  }

  depends_on = [module.backup_bucket, module.backup_replica_bucket]
}
