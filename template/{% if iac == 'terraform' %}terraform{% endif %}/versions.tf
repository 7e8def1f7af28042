terraform {
  # >= 1.10 for the S3 backend's own locking (use_lockfile below); the import
  # block in ecr.tf (a variable in its `id`) needs 1.6. OpenTofu 1.10+ has both.
  required_version = ">= 1.10.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # Pinned to the 5.x major: the template is tested against 5.100.0, the
      # final 5.x release, the line most terraform-aws-modules consumers still
      # run. Moving to 6.x is a separate, deliberate upgrade (its upgrade
      # guide lists the breaking changes). >= 5.40 for aws_lambda_function
      # logging_config.
      version = "~> 5.40"
    }
  }

  # Remote state in S3, so every deploy (a laptop's, CI's, a fresh clone's)
  # sees what the last one created. The deploy task passes the bucket, key and
  # region with -backend-config (scripts/terraform-backend); the bucket is made
  # once per account and region by `mise run state-bucket`. use_lockfile locks
  # with a lock object next to the state: no DynamoDB table.
  backend "s3" {
    use_lockfile = true
    encrypt      = true
  }
}
