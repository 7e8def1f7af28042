# ---------------------------------------------------------------------------
# Alarms on the function (the trigger's own are in its file): each judges one
# period of 5 minutes, and a period without data counts as fine. With an
# alarm_email they notify the topic below when they fire and when they clear;
# without one they notify no one.
# ---------------------------------------------------------------------------
locals {
  alarm_actions = aws_sns_topic.alarms[*].arn
}

# The function failed at least once in 5 minutes.
resource "aws_cloudwatch_metric_alarm" "errors" {
  alarm_name          = "${var.function_name}-errors"
  alarm_description   = "The function failed at least once in 5 minutes (Errors, Sum >= 1 over 300 s)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  datapoints_to_alarm = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  dimensions = {
    FunctionName = aws_lambda_function.this.function_name
  }
}

# Lambda throttled the function at least once in 5 minutes.
resource "aws_cloudwatch_metric_alarm" "throttles" {
  alarm_name          = "${var.function_name}-throttles"
  alarm_description   = "Lambda throttled the function at least once in 5 minutes (Throttles, Sum >= 1 over 300 s)."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  datapoints_to_alarm = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  dimensions = {
    FunctionName = aws_lambda_function.this.function_name
  }
}

# ---------------------------------------------------------------------------
# With an alarm_email: the topic the alarms notify, the email's subscription
# (SNS sends a confirmation email; nothing arrives until its owner confirms),
# and the topic's policy: CloudWatch (this account's alarms) may publish, over
# TLS only.
# ---------------------------------------------------------------------------
resource "aws_sns_topic" "alarms" {
  #checkov:skip=CKV_AWS_26:Not KMS-encrypted on purpose. CloudWatch alarms cannot publish to a topic under the AWS managed key alias/aws/sns (its key policy cannot let cloudwatch.amazonaws.com use it); a customer managed key would cost a monthly fee and key-policy upkeep for alarm notifications (names, states, metric values) that leave SNS as plain email anyway.
  count = var.alarm_email != "" ? 1 : 0
  name  = "${var.function_name}-alarms"
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count     = var.alarm_email != "" ? 1 : 0
  topic_arn = aws_sns_topic.alarms[0].arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

resource "aws_sns_topic_policy" "alarms" {
  count  = var.alarm_email != "" ? 1 : 0
  arn    = aws_sns_topic.alarms[0].arn
  policy = data.aws_iam_policy_document.alarm_topic[0].json
}

data "aws_iam_policy_document" "alarm_topic" {
  count = var.alarm_email != "" ? 1 : 0

  statement {
    sid       = "CloudWatchAlarmsPublish"
    effect    = "Allow"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms[0].arn]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms[0].arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}
