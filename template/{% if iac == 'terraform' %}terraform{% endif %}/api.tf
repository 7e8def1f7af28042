# ---------------------------------------------------------------------------
# HTTP API (API Gateway v2) -> Lambda proxy integration, payload format 2.0
# ---------------------------------------------------------------------------
locals {
  api_name             = "${var.function_name}-http-api"
  api_access_log_group = "/aws/apigateway/${local.api_name}/access"
}

resource "aws_apigatewayv2_api" "this" {
  name          = local.api_name
  description   = "HTTP API for the ${var.function_name} Lambda function"
  protocol_type = "HTTP"
}

resource "aws_apigatewayv2_integration" "lambda" {
  api_id                 = aws_apigatewayv2_api.this.id
  integration_type       = "AWS_PROXY"
  integration_method     = "POST"
  integration_uri        = aws_lambda_function.this.invoke_arn
  payload_format_version = "2.0"

  # HTTP APIs allow at most 30 s; never wait longer than the function may run.
  timeout_milliseconds = min(var.timeout * 1000, 30000)
}

# Public, unauthenticated hello-world routes. Any other method/path gets the
# API Gateway 404 without invoking the function.
resource "aws_apigatewayv2_route" "hello" {
  #checkov:skip=CKV_AWS_309:Intentionally public, unauthenticated hello-world endpoint; abuse is bounded by stage throttling. Add a JWT/IAM/Lambda authorizer when the API serves non-public data.
  api_id             = aws_apigatewayv2_api.this.id
  route_key          = "GET /hello"
  authorization_type = "NONE"
  target             = "integrations/${aws_apigatewayv2_integration.lambda.id}"
}

resource "aws_apigatewayv2_route" "goodbye" {
  #checkov:skip=CKV_AWS_309:Intentionally public, unauthenticated hello-world endpoint; abuse is bounded by stage throttling. Add a JWT/IAM/Lambda authorizer when the API serves non-public data.
  api_id             = aws_apigatewayv2_api.this.id
  route_key          = "GET /goodbye"
  authorization_type = "NONE"
  target             = "integrations/${aws_apigatewayv2_integration.lambda.id}"
}

resource "aws_cloudwatch_log_group" "api_access" {
  #checkov:skip=CKV_AWS_158:Access logs are encrypted at rest by CloudWatch Logs with AWS-owned keys; a customer managed KMS key is not warranted for this template's default.
  #checkov:skip=CKV_AWS_338:Retention is a user input (var.log_retention_days, validated against CloudWatch values); its default (the answer given at generation, 14 days unless changed) is a deliberate cost trade-off. Set 365+ where compliance requires it.
  name              = local.api_access_log_group
  retention_in_days = var.log_retention_days
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.this.id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_burst_limit = var.throttling_burst_limit
    throttling_rate_limit  = var.throttling_rate_limit
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api_access.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      requestTime        = "$context.requestTime"
      sourceIp           = "$context.identity.sourceIp"
      httpMethod         = "$context.httpMethod"
      path               = "$context.path"
      routeKey           = "$context.routeKey"
      protocol           = "$context.protocol"
      status             = "$context.status"
      responseLength     = "$context.responseLength"
      responseLatency    = "$context.responseLatency"
      integrationStatus  = "$context.integrationStatus"
      integrationLatency = "$context.integrationLatency"
      integrationError   = "$context.integrationErrorMessage"
      errorMessage       = "$context.error.message"
      userAgent          = "$context.identity.userAgent"
    })
  }
}

# One permission per route, scoped to that method and path on this API
# (any stage): arn:...:execute-api:<region>:<acct>:<api-id>/<stage>/<METHOD>/<path>
resource "aws_lambda_permission" "api_hello" {
  statement_id  = "AllowHttpApiInvokeGetHello"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.this.execution_arn}/*/GET/hello"
}

resource "aws_lambda_permission" "api_goodbye" {
  statement_id  = "AllowHttpApiInvokeGetGoodbye"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.this.execution_arn}/*/GET/goodbye"
}
