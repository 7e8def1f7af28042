# With the $default stage the invoke URL has no stage path segment, so the
# route URLs are built from the API endpoint (no trailing slash).
output "hello_url" {
  description = "URL of the GET /hello route."
  value       = "${aws_apigatewayv2_api.this.api_endpoint}/hello"
}

output "goodbye_url" {
  description = "URL of the GET /goodbye route."
  value       = "${aws_apigatewayv2_api.this.api_endpoint}/goodbye"
}

output "function_name" {
  description = "Name of the Lambda function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the Lambda function."
  value       = aws_lambda_function.this.arn
}

output "ecr_repository_url" {
  description = "URL of the ECR repository (<account>.dkr.ecr.<region>.amazonaws.com/<name>)."
  value       = aws_ecr_repository.this.repository_url
}
