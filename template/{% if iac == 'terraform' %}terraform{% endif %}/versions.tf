terraform {
  # >= 1.6 (not 1.5) because the import block in ecr.tf uses a variable in its
  # `id`; Terraform 1.5 only accepted literal import ids. OpenTofu 1.6+ supports
  # this too. No newer-than-1.6 language features are used.
  required_version = ">= 1.6.0"

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
}
