# Customer-managed keys for application data at rest: Secrets Manager secrets, PostgreSQL
# backups and the container registry (primary region), and the backup replica (DR region).
resource "aws_kms_key" "data" {
  description             = "leadgen-${var.environment} application data (secrets, backups, images)"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms_account_admin.json
  tags                    = var.tags
}

resource "aws_kms_alias" "data" {
  name          = "alias/leadgen-${var.environment}-data"
  target_key_id = aws_kms_key.data.key_id
}

resource "aws_kms_key" "replica" {
  provider = aws.replica

  description             = "leadgen-${var.environment} PostgreSQL backup replica"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms_account_admin.json
  tags                    = var.tags
}

data "aws_iam_policy_document" "kms_account_admin" {
  #checkov:skip=CKV_AWS_109: A KMS key policy applies to its own key only; "*" here means this key.
  #checkov:skip=CKV_AWS_111: A KMS key policy applies to its own key only; "*" here means this key.
  #checkov:skip=CKV_AWS_356: A KMS key policy applies to its own key only; "*" here means this key.
  statement {
    sid       = "AccountAdministration"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
}
