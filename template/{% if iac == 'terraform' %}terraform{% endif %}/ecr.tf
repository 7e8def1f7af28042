# ---------------------------------------------------------------------------
# ECR repository
#
# Workflow contract: the `publish` script (AWS CLI + docker) runs BEFORE
# Terraform. It creates the repository if it is missing and pushes the image,
# then hands the image digest to Terraform (var.image_digest). So at plan time
# the repository already exists and a plain `resource` would fail with
# RepositoryAlreadyExistsException. The import block below adopts the existing
# repository into state on the first plan/apply; afterwards it is a no-op.
#
# The publish script MUST create the repository with settings that match this
# resource, in particular the encryption configuration, which cannot be changed
# after creation (a mismatch would plan a destroy/re-create of the repository):
#
#   aws ecr create-repository --repository-name "$ECR_REPOSITORY" \
#     --image-tag-mutability IMMUTABLE \
#     --image-scanning-configuration scanOnPush=true \
#     --encryption-configuration encryptionType=KMS
#
# Import blocks are only valid in the root module, so this configuration must
# be applied as a root module (not called as a child module).
# ---------------------------------------------------------------------------

import {
  to = aws_ecr_repository.this
  id = var.ecr_repository
}

resource "aws_ecr_repository" "this" {
  name                 = var.ecr_repository
  image_tag_mutability = "IMMUTABLE"

  # Keep the default (false): never delete a repository that still holds images.
  force_delete = false

  image_scanning_configuration {
    scan_on_push = true
  }

  # KMS with the AWS managed key (aws/ecr): no key to manage, no key cost.
  # Set kms_key to a customer managed key ARN if required (the publish script
  # must then pass the same key when creating the repository).
  encryption_configuration {
    encryption_type = "KMS"
  }
}

# The rule of every IaC choice, in one file: it keeps the images that
# `mise run deploy` tagged deployed-<stack>-<time> (the ones a function runs,
# also after a rollback), the last 10 pushed, and untagged images 7 days.
resource "aws_ecr_lifecycle_policy" "this" {
  repository = aws_ecr_repository.this.name
  policy     = file("${path.module}/../ecr-lifecycle-policy.json")
}

# Lambda pulls the image with its service principal. If the repository policy
# lacks pull permissions Lambda silently adds a statement itself at function
# create/update time (which needs ecr:SetRepositoryPolicy on the deployer and
# leaves an unmanaged policy behind). Managing it here keeps it explicit and
# scoped to this one function.
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

data "aws_iam_policy_document" "ecr_lambda_pull" {
  statement {
    sid    = "LambdaECRImageRetrievalPolicy"
    effect = "Allow"
    actions = [
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
    ]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    condition {
      test     = "StringLike"
      variable = "aws:sourceArn"
      values   = ["arn:${data.aws_partition.current.partition}:lambda:${var.aws_region}:${data.aws_caller_identity.current.account_id}:function:${var.function_name}"]
    }
  }
}

resource "aws_ecr_repository_policy" "lambda_pull" {
  repository = aws_ecr_repository.this.name
  policy     = data.aws_iam_policy_document.ecr_lambda_pull.json
}
