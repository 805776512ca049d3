# One repository for the one leadgen image (every target runs the same image).
resource "aws_ecr_repository" "leadgen" {
  name                 = "leadgen-${var.environment}/leadgen"
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.data.arn
  }

  tags = var.tags
}

resource "aws_ecr_lifecycle_policy" "leadgen" {
  repository = aws_ecr_repository.leadgen.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Keep the newest 100 images"
      selection = {
        tagStatus   = "any"
        countType   = "imageCountMoreThan"
        countNumber = 100
      }
      action = { type = "expire" }
    }]
  })
}
