locals {
  # IAM role names are limited to 64 characters (function names may be 64).
  lambda_role_name = "${substr(var.function_name, 0, 57)}-lambda"
  lambda_log_group = "/aws/lambda/${var.function_name}"

  # Deploy by digest, not tag: every publish yields a new digest, so every
  # publish changes image_uri and therefore updates the function.
  image_uri = "${aws_ecr_repository.this.repository_url}@${var.image_digest}"
}

# ---------------------------------------------------------------------------
# Log group (created before the function so Lambda never auto-creates it
# without retention).
# ---------------------------------------------------------------------------
resource "aws_cloudwatch_log_group" "lambda" {
  #checkov:skip=CKV_AWS_158:Log data is encrypted at rest by CloudWatch Logs with AWS-owned keys; a customer managed KMS key (cost + key policy management) is not warranted for this template's default.
  #checkov:skip=CKV_AWS_338:Retention is a user input (var.log_retention_days, validated against CloudWatch values); its default (the answer given at generation, 14 days unless changed) is a deliberate cost trade-off. Set 365+ where compliance requires it.
  name              = local.lambda_log_group
  retention_in_days = var.log_retention_days
}

# ---------------------------------------------------------------------------
# Execution role: least privilege, no managed policies.
# ---------------------------------------------------------------------------
data "aws_iam_policy_document" "lambda_assume_role" {
  statement {
    sid     = "LambdaAssumeRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "lambda" {
  name               = local.lambda_role_name
  description        = "Execution role for the ${var.function_name} Lambda function"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume_role.json
}

data "aws_iam_policy_document" "lambda_permissions" {
  # Write to this function's own log group only. No logs:CreateLogGroup:
  # Terraform owns the log group.
  statement {
    sid    = "WriteOwnLogGroup"
    effect = "Allow"
    actions = [
      "logs:CreateLogStream",
      "logs:PutLogEvents",
    ]
    resources = ["${aws_cloudwatch_log_group.lambda.arn}:*"]
  }

  # X-Ray trace upload. These actions do not support resource-level
  # permissions, so "*" is the only possible resource.
  dynamic "statement" {
    for_each = var.tracing_mode == "Active" ? [1] : []

    content {
      sid    = "XRayWrite"
      effect = "Allow"
      actions = [
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
      ]
      resources = ["*"]
    }
  }
}

resource "aws_iam_role_policy" "lambda" {
  name   = "${var.function_name}-logs-xray"
  role   = aws_iam_role.lambda.id
  policy = data.aws_iam_policy_document.lambda_permissions.json
}

# Image pull: the execution role needs no ECR permissions. The Lambda service
# pulls the image itself, authorised by the repository policy in ecr.tf.

# ---------------------------------------------------------------------------
# Function
# ---------------------------------------------------------------------------
resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:Invoked synchronously by API Gateway only; a dead-letter queue applies to asynchronous invocations and would never receive anything.
  #checkov:skip=CKV_AWS_117:The function calls no private resources; attaching it to a VPC would add NAT/endpoint cost and cold-start latency for no benefit. Add vpc_config when it needs private resources.
  #checkov:skip=CKV_AWS_272:Lambda code signing only supports .zip packages, not container images; image integrity comes from deploying by immutable digest from a scan-on-push ECR repository.
  function_name = var.function_name
  description   = "Container-image function behind an HTTP API"
  role          = aws_iam_role.lambda.arn

  package_type  = "Image"
  image_uri     = local.image_uri
  architectures = [var.architecture]
  memory_size   = var.memory_size
  timeout       = var.timeout

  # -1 = unreserved (default). A positive reservation fails on accounts whose
  # concurrency quota is at the 10-execution minimum (many new accounts).
  reserved_concurrent_executions = var.reserved_concurrency

  tracing_config {
    mode = var.tracing_mode
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.lambda.name
  }

  depends_on = [
    aws_cloudwatch_log_group.lambda,
    aws_iam_role_policy.lambda,
    aws_ecr_repository_policy.lambda_pull,
  ]
}
