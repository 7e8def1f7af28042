provider "aws" {
  region = var.aws_region

  default_tags {
    tags = merge(local.template_tags, var.tags)
  }
}
