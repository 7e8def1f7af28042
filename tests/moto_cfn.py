"""moto_server with the CloudFormation support that SAM and CDK stacks need.

Run it as moto_server is run: `python tests/moto_cfn.py -p PORT`.

Stock moto (5.2.1, pinned in requirements.txt) accepts such stacks and
reports CREATE_COMPLETE, but creates almost nothing of them:
- it has no AWS::Serverless transform, so a SAM template's
  AWS::Serverless::Function and ::HttpApi are skipped as unknown types;
- it has no CloudFormation models for AWS::ApiGatewayV2::Api, ::Stage,
  ::Integration and ::Route (its ApiGatewayV2 API itself works), so an HTTP
  API from CDK or SAM never exists;
- its AWS::Lambda::Function model passes only some properties to Lambda and
  drops PackageType, Architectures and TracingConfig, so an arm64 image
  function with active tracing becomes an x86_64 Zip function without it;
- it has no models for AWS::Lambda::Url, AWS::Lambda::EventInvokeConfig,
  AWS::Scheduler::Schedule, AWS::SQS::QueuePolicy, AWS::CloudWatch::Alarm,
  AWS::SNS::Subscription and AWS::SNS::TopicPolicy (its Lambda, Scheduler,
  SQS, CloudWatch and SNS APIs have them), so a Function URL, a function's
  asynchronous retry settings, a schedule, a queue's policy, an alarm, a
  topic's subscription and its policy from a template are skipped (its SQS Queue and EventSourceMapping models
  work: redrive policy, encryption, batching and FunctionResponseTypes);
- it cannot invoke a function whose PackageType is Image (and runs the
  others only in Docker), so neither Invoke nor an SQS event source mapping
  reaches an image function's handler.
Five smaller defects show up on the way: ValidateTemplate refuses a
template over a cfn-lint warning (osls's templates have some); a stack
created through a change set (as `sam deploy`, `cdk deploy` and `osls deploy`
do) never gets its Outputs, because executing the change set does not re-read
the stack's template; a change
set that changes nothing is refused with "No updates are to be performed"
(UpdateStack's answer), where CloudFormation creates it with status FAILED
and the reason "The submitted information didn't contain changes", which is
what deploy tools wait for; inline IAM policies from a template (a role's
Policies, AWS::IAM::Policy) are stored as the Python repr of a dict, so
GetRolePolicy returns no JSON; and a log group's Fn::GetAtt Arn lacks the
":*" that CloudFormation's ends with, so a policy granting it (as CDK's
LogGroup.grantWrite does) would not cover the group's log streams.

This module fills those gaps, and nothing else:
- templates whose Transform names AWS::Serverless-2016-10-31 are expanded with
  samtranslator (aws-sam-translator, as CloudFormation itself does) wherever
  moto parses a stack's or change set's template;
- the four ApiGatewayV2 resource types get models that call moto's own
  ApiGatewayV2 backend (an Api with an OpenAPI `Body`, as SAM writes it, is
  imported through moto's import_api);
- the Lambda function model also passes PackageType, Architectures,
  TracingConfig, ImageConfig, EphemeralStorage and Layers;
- executing a change set re-reads the stack's template and outputs;
- ValidateTemplate fails on cfn-lint's errors only, not its warnings;
- CreateChangeSet leaves an unchanged stack to the backend, which marks the
  change set FAILED with CloudFormation's reason;
- a change set's Modify changes name the properties that change (moto's
  name only the resource), as CloudFormation's Details do: Target Name, and
  with DescribeChangeSet's IncludePropertyValues the BeforeValue and
  AfterValue (as strings); whether a change replaces the resource is left
  out (moto cannot know it);
- every CreateChangeSet, DescribeChangeSet, DeleteChangeSet and
  ExecuteChangeSet is recorded (action, stack, change set name and, for
  DescribeChangeSet, whether property values were asked), and GET
  /_standin/change-set-calls answers the list: `mise run diff`'s tests check
  that a preview's change set is described and deleted, never executed;
- inline policy documents given as dicts are stored as JSON;
- SetQueueAttributes keeps a queue's Policy unless it sets one (moto's
  clears it on any other attribute, so a queue's policy vanished when its
  redrive policy changed), and a queue's Policy and RedrivePolicy come back
  compact, as SQS returns them (moto's spacing made Terraform see a change
  on every deploy, and wait out SQS's propagation checks for it);
- a log group's Arn attribute ends with ":*", as CloudFormation's does;
- AWS::Lambda::Url, AWS::Lambda::EventInvokeConfig, AWS::Scheduler::Schedule,
  AWS::SQS::QueuePolicy, AWS::CloudWatch::Alarm, AWS::SNS::Subscription and
  AWS::SNS::TopicPolicy get models that call moto's own Lambda, Scheduler,
  SQS, CloudWatch and SNS backends;
- where the environment variable MOTO_LAMBDA_EMULATOR names a Lambda Runtime
  Interface Emulator running the function's own code, Invoke of an Image
  function is sent to it (a stand-in for Lambda's execution only: moto
  records the call, the real handler answers it).

- CloudWatch Logs' JSON filter patterns (`{ $.level = "WARN" || ... }`),
  which moto's FilterLogEvents ignores (it returns every event): equality
  terms joined by `||` are applied to each event's JSON message, any other
  JSON pattern is refused; every JSON pattern asked is recorded, and GET
  /_standin/log-filter-patterns answers the list (`mise run logs --level`'s
  test checks it).

- ECR's GetDownloadUrlForLayer, which moto lacks (it stores an image's
  manifest, never its blobs): the stand-ins that push (tests/standins/docker,
  tests/standins/podman-ecr) PUT each image's config blob to
  /_standin/ecr-blobs/<digest> on this server, and GetDownloadUrlForLayer
  answers, as ECR does with a pre-signed S3 URL, a URL here to read it back,
  for a blob an image of that repository references.

What moto's Lambda cannot store at all (LoggingConfig) is not faked here; the
tests check it on the templates instead.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from typing import Any

# samtranslator builds ARNs for the region of its boto3 session.
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from moto.apigatewayv2.models import apigatewayv2_backends
from moto.awslambda.models import LambdaFunction, lambda_backends
from moto.cloudformation import models as cfn_models
from moto.cloudformation.responses import CloudFormationResponse
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.common_models import CloudFormationModel
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.ecr.responses import ECRResponse
from moto.iam.models import Group, Role, User, iam_backends
from moto.logs.models import LogGroup
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.sqs.models import Queue

SERVERLESS = "AWS::Serverless-2016-10-31"


# --- The AWS::Serverless transform ---------------------------------------------

class _MotoManagedPolicies:
    """samtranslator's managed-policy lookup, answered from moto's IAM."""

    def load(self) -> dict[str, str]:
        backend = iam_backends[DEFAULT_ACCOUNT_ID]["aws"]
        return {p.name: p.arn for p in backend.aws_managed_policies}


def expand_serverless(template: Any) -> Any:
    """The template with its SAM resources translated to CloudFormation."""
    if not isinstance(template, dict):
        return template
    transforms = template.get("Transform", [])
    transforms = [transforms] if isinstance(transforms, str) else transforms
    if SERVERLESS not in transforms:
        return template
    from samtranslator.translator.transform import transform

    expanded = transform(copy.deepcopy(template), {}, _MotoManagedPolicies())
    rest = [t for t in transforms if t != SERVERLESS]
    if rest:
        expanded["Transform"] = rest
    else:
        expanded.pop("Transform", None)
    return expanded


_parse_stack_template = cfn_models.Stack.parse_template


def _stack_parse_template(template: str) -> dict[str, Any]:
    return expand_serverless(_parse_stack_template(template))


_parse_change_set_template = cfn_models.ChangeSet._parse_template


def _change_set_parse_template(self) -> None:
    _parse_change_set_template(self)
    self.template_dict = expand_serverless(self.template_dict)


# --- ApiGatewayV2 models ------------------------------------------------------

def _camel(value: Any) -> Any:
    """CloudFormation's PascalCase keys in the API's camelCase, recursively."""
    if isinstance(value, dict):
        return {k[:1].lower() + k[1:]: _camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


# moto files every model under the service named by its module.
MODULE = "moto.apigatewayv2.cloudformation"


class _ApiChild:
    """A CloudFormation resource that is one object of an HTTP or WebSocket API.
    (A mixin: moto finds models among CloudFormationModel's direct subclasses.)"""

    def __init__(self, api_id: str, physical_id: str, region: str, account_id: str):
        self.api_id, self.physical_id = api_id, physical_id
        self.region, self.account_id = region, account_id

    @property
    def physical_resource_id(self) -> str:
        return self.physical_id

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json,
                                        account_id, region_name):
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json,
                                                   account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        pass  # deleted through delete() below, which knows the API

    def backend(self):
        return apigatewayv2_backends[self.account_id][self.region]

    def api_exists(self) -> bool:
        """False once the API is deleted, with everything in it (moto deletes
        a stack's resources in no particular order)."""
        return self.api_id in self.backend().apis


class CfnApi(_ApiChild, CloudFormationModel):
    __module__ = MODULE

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApiGatewayV2::Api"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("ApiId", "ApiEndpoint")

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name,
                                        **kwargs):
        props = cloudformation_json["Properties"]
        backend = apigatewayv2_backends[account_id][region_name]
        api = backend.create_api(
            api_key_selection_expression=props.get("ApiKeySelectionExpression"),
            cors_configuration=_camel(props.get("CorsConfiguration")),
            description=props.get("Description"),
            disable_schema_validation=props.get("DisableSchemaValidation"),
            disable_execute_api_endpoint=props.get("DisableExecuteApiEndpoint"),
            name=props.get("Name", resource_name),
            protocol_type=props.get("ProtocolType", "HTTP"),
            route_selection_expression=props.get("RouteSelectionExpression"),
            tags=props.get("Tags", {}),
            version=props.get("Version"),
        )
        if "Body" in props:  # an OpenAPI definition, as SAM's HttpApi writes it
            api.import_api(json.dumps(props["Body"]), fail_on_warnings=False)
            for integration in api.integrations.values():
                # OpenAPI allows "aws_proxy"; the API answers "AWS_PROXY".
                integration.integration_type = (integration.integration_type or "").upper()
        return cls(api.api_id, api.api_id, region_name, account_id)

    def get_cfn_attribute(self, attribute_name: str) -> str:
        api = self.backend().get_api(self.api_id)
        return {"ApiId": api.api_id, "ApiEndpoint": api.api_endpoint}[attribute_name]

    def delete(self, account_id: str, region_name: str) -> None:
        self.backend().delete_api(self.api_id)


class CfnStage(_ApiChild, CloudFormationModel):
    __module__ = MODULE

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApiGatewayV2::Stage"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name,
                                        **kwargs):
        props = dict(cloudformation_json["Properties"])
        api_id = props.pop("ApiId")
        stage = apigatewayv2_backends[account_id][region_name].create_stage(api_id, _camel(props))
        return cls(api_id, stage.name, region_name, account_id)

    def delete(self, account_id: str, region_name: str) -> None:
        if self.api_exists():
            self.backend().delete_stage(self.api_id, self.physical_id)


class CfnIntegration(_ApiChild, CloudFormationModel):
    __module__ = MODULE

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApiGatewayV2::Integration"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name,
                                        **kwargs):
        p = cloudformation_json["Properties"]
        integration = apigatewayv2_backends[account_id][region_name].create_integration(
            api_id=p["ApiId"],
            connection_id=p.get("ConnectionId"),
            connection_type=p.get("ConnectionType"),
            content_handling_strategy=p.get("ContentHandlingStrategy"),
            credentials_arn=p.get("CredentialsArn"),
            description=p.get("Description"),
            integration_method=p.get("IntegrationMethod"),
            integration_subtype=p.get("IntegrationSubtype"),
            integration_type=p["IntegrationType"],
            integration_uri=p.get("IntegrationUri"),
            passthrough_behavior=p.get("PassthroughBehavior"),
            payload_format_version=p.get("PayloadFormatVersion"),
            request_parameters=p.get("RequestParameters"),
            request_templates=p.get("RequestTemplates"),
            response_parameters=p.get("ResponseParameters"),
            template_selection_expression=p.get("TemplateSelectionExpression"),
            timeout_in_millis=p.get("TimeoutInMillis"),
            tls_config=_camel(p.get("TlsConfig")),
        )
        return cls(p["ApiId"], integration.id, region_name, account_id)

    def delete(self, account_id: str, region_name: str) -> None:
        if self.api_exists():
            self.backend().delete_integration(self.api_id, self.physical_id)


class CfnRoute(_ApiChild, CloudFormationModel):
    __module__ = MODULE

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApiGatewayV2::Route"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name,
                                        **kwargs):
        p = cloudformation_json["Properties"]
        route = apigatewayv2_backends[account_id][region_name].create_route(
            api_id=p["ApiId"],
            api_key_required=p.get("ApiKeyRequired", False),
            authorization_scopes=p.get("AuthorizationScopes", []),
            authorization_type=p.get("AuthorizationType", "NONE"),
            authorizer_id=p.get("AuthorizerId"),
            model_selection_expression=p.get("ModelSelectionExpression"),
            operation_name=p.get("OperationName"),
            request_models=p.get("RequestModels"),
            request_parameters=p.get("RequestParameters"),
            route_key=p["RouteKey"],
            route_response_selection_expression=p.get("RouteResponseSelectionExpression"),
            target=p.get("Target"),
        )
        return cls(p["ApiId"], route.route_id, region_name, account_id)

    def delete(self, account_id: str, region_name: str) -> None:
        if self.api_exists():
            self.backend().delete_route(self.api_id, self.physical_id)


# --- Lambda functions keep their image, architecture and tracing ---------------

# What moto's own model passes from the template to Lambda, and what it leaves
# out although Lambda's API (and moto's Lambda) takes it.
LAMBDA_PROPERTIES = ("Description", "MemorySize", "Publish", "Timeout", "VpcConfig", "Environment",
                     "ReservedConcurrentExecutions", "Handler", "Runtime")
LAMBDA_PROPERTIES_ADDED = ("PackageType", "Architectures", "TracingConfig", "ImageConfig",
                           "EphemeralStorage", "Layers")

_create_zip_function = LambdaFunction.create_from_cloudformation_json.__func__


def _create_function(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    props = cloudformation_json["Properties"]
    if "ZipFile" in props["Code"]:  # moto's model zips inline code: leave that to it
        fn = _create_zip_function(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        fn.architectures = props.get("Architectures", fn.architectures)
        fn.tracing_config = props.get("TracingConfig", fn.tracing_config)
        return fn
    spec = {"Code": props["Code"], "FunctionName": resource_name, "Role": props["Role"]}
    spec.update({k: props[k] for k in LAMBDA_PROPERTIES + LAMBDA_PROPERTIES_ADDED if k in props})
    return lambda_backends[account_id][region_name].create_function(spec)


_update_function = LambdaFunction.update_from_cloudformation_json.__func__


def _update_function_with_all_properties(cls, original_resource, new_resource_name, cloudformation_json,
                                         account_id, region_name):
    fn = _update_function(cls, original_resource, new_resource_name, cloudformation_json,
                          account_id, region_name)
    props = cloudformation_json["Properties"]
    fn.architectures = props.get("Architectures", fn.architectures)
    fn.tracing_config = props.get("TracingConfig", fn.tracing_config)
    return fn


# --- Trigger models: Function URL, async invoke settings, schedules -----------

class _CfnModel:
    """The parts every model below shares (a mixin, as _ApiChild is)."""

    def __init__(self, physical_id: str, region: str, account_id: str):
        self.physical_id, self.region, self.account_id = physical_id, region, account_id

    @property
    def physical_resource_id(self) -> str:
        return self.physical_id

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json,
                                        account_id, region_name):
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json,
                                                   account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        pass  # deleted through delete(), which knows the physical id


def _function_missing(account_id: str, region: str, name: str) -> bool:
    """True once the function is gone (moto deletes a stack's resources in no
    particular order, and a function takes its URL and settings with it)."""
    try:
        lambda_backends[account_id][region].get_function(name)
        return False
    except Exception:  # moto's UnknownFunctionException
        return True


class CfnFunctionUrl(_CfnModel, CloudFormationModel):
    """AWS::Lambda::Url, through moto's CreateFunctionUrlConfig."""

    __module__ = "moto.awslambda.cloudformation"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::Url"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("FunctionArn", "FunctionUrl")

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name,
                                        **kwargs):
        props = cloudformation_json["Properties"]
        config = {k: props[k] for k in ("AuthType", "Cors", "InvokeMode") if k in props}
        url = lambda_backends[account_id][region_name].create_function_url_config(
            props["TargetFunctionArn"], config)
        return cls(url.function.function_arn, region_name, account_id)

    def get_cfn_attribute(self, attribute_name: str) -> str:
        url = lambda_backends[self.account_id][self.region].get_function_url_config(self.physical_id)
        # Lambda's URL ends with a slash; moto's lacks it.
        return {"FunctionArn": url.function.function_arn, "FunctionUrl": url.url.rstrip("/") + "/"}[
            attribute_name]

    def delete(self, account_id: str, region_name: str) -> None:
        if not _function_missing(self.account_id, self.region, self.physical_id):
            lambda_backends[self.account_id][self.region].delete_function_url_config(self.physical_id)


class CfnEventInvokeConfig(_CfnModel, CloudFormationModel):
    """AWS::Lambda::EventInvokeConfig (retries and destinations of
    asynchronous invocations), through moto's PutFunctionEventInvokeConfig."""

    __module__ = "moto.awslambda.cloudformation"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::EventInvokeConfig"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name,
                                        **kwargs):
        props = cloudformation_json["Properties"]
        config = {k: props[k] for k in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds",
                                        "DestinationConfig") if k in props}
        backend = lambda_backends[account_id][region_name]
        backend.put_function_event_invoke_config(props["FunctionName"], config)
        return cls(props["FunctionName"], region_name, account_id)

    def delete(self, account_id: str, region_name: str) -> None:
        if not _function_missing(self.account_id, self.region, self.physical_id):
            lambda_backends[self.account_id][self.region].delete_function_event_invoke_config(
                self.physical_id)


class CfnSchedule(_CfnModel, CloudFormationModel):
    """AWS::Scheduler::Schedule, through moto's EventBridge Scheduler."""

    __module__ = "moto.scheduler.cloudformation"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Scheduler::Schedule"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name,
                                        **kwargs):
        from moto.scheduler.models import scheduler_backends

        p = cloudformation_json["Properties"]
        schedule = scheduler_backends[account_id][region_name].create_schedule(
            description=p.get("Description"),
            end_date=p.get("EndDate"),
            flexible_time_window=p["FlexibleTimeWindow"],
            group_name=p.get("GroupName"),
            kms_key_arn=p.get("KmsKeyArn"),
            name=p.get("Name", resource_name),
            schedule_expression=p["ScheduleExpression"],
            schedule_expression_timezone=p.get("ScheduleExpressionTimezone"),
            start_date=p.get("StartDate"),
            state=p.get("State"),
            target=copy.deepcopy(p["Target"]),
            action_after_completion=None,
        )
        model = cls(schedule.name, region_name, account_id)
        model.group_name, model.arn = schedule.group_name, schedule.arn
        return model

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return {"Arn": self.arn}[attribute_name]

    def delete(self, account_id: str, region_name: str) -> None:
        from moto.scheduler.models import scheduler_backends

        scheduler_backends[self.account_id][self.region].delete_schedule(self.group_name, self.physical_id)


class CfnQueuePolicy(_CfnModel, CloudFormationModel):
    """AWS::SQS::QueuePolicy: the queues' Policy attribute, through moto's SQS."""

    __module__ = "moto.sqs.cloudformation"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SQS::QueuePolicy"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name,
                                        **kwargs):
        from moto.sqs.models import sqs_backends

        props = cloudformation_json["Properties"]
        names = [url.rsplit("/", 1)[-1] for url in props["Queues"]]
        backend = sqs_backends[account_id][region_name]
        for name in names:
            backend.set_queue_attributes(name, {"Policy": json.dumps(props["PolicyDocument"])})
        model = cls(resource_name, region_name, account_id)
        model.queue_names = names
        return model

    def delete(self, account_id: str, region_name: str) -> None:
        from moto.sqs.models import sqs_backends

        backend = sqs_backends[self.account_id][self.region]
        for name in self.queue_names:
            if name in backend.queues:
                backend.set_queue_attributes(name, {"Policy": ""})


# --- Alarms and the SNS topic they notify -------------------------------------

class CfnAlarm(_CfnModel, CloudFormationModel):
    """AWS::CloudWatch::Alarm (a metric alarm), through moto's PutMetricAlarm."""

    __module__ = "moto.cloudwatch.cloudformation"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudWatch::Alarm"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "AlarmName"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name,
                                        **kwargs):
        from moto.cloudwatch.models import cloudwatch_backends

        props = cloudformation_json["Properties"]
        name = props.get("AlarmName", resource_name)
        alarm = cloudwatch_backends[account_id][region_name].put_metric_alarm(
            name=name, namespace=props["Namespace"], metric_name=props["MetricName"],
            comparison_operator=props["ComparisonOperator"], evaluation_periods=int(props["EvaluationPeriods"]),
            datapoints_to_alarm=int(props["DatapointsToAlarm"]) if "DatapointsToAlarm" in props else None,
            period=int(props["Period"]), threshold=float(props["Threshold"]), statistic=props["Statistic"],
            description=props.get("AlarmDescription", ""), dimensions=props.get("Dimensions", []),
            alarm_actions=props.get("AlarmActions", []), ok_actions=props.get("OKActions", []),
            treat_missing_data=props.get("TreatMissingData"), tags=props.get("Tags", []))
        model = cls(name, region_name, account_id)
        model.arn = alarm.alarm_arn
        return model

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.arn

    def delete(self, account_id: str, region_name: str) -> None:
        from moto.cloudwatch.models import cloudwatch_backends

        cloudwatch_backends[self.account_id][self.region].delete_alarms([self.physical_id])


class CfnSubscription(_CfnModel, CloudFormationModel):
    """AWS::SNS::Subscription, through moto's Subscribe."""

    __module__ = "moto.sns.cloudformation"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::Subscription"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name,
                                        **kwargs):
        from moto.sns.models import sns_backends

        props = cloudformation_json["Properties"]
        subscription = sns_backends[account_id][region_name].subscribe(
            props["TopicArn"], props["Endpoint"], props["Protocol"])
        return cls(subscription.arn, region_name, account_id)

    def delete(self, account_id: str, region_name: str) -> None:
        from moto.sns.models import sns_backends

        sns_backends[self.account_id][self.region].unsubscribe(self.physical_id)


class CfnTopicPolicy(_CfnModel, CloudFormationModel):
    """AWS::SNS::TopicPolicy: the topics' Policy attribute, through moto's SNS."""

    __module__ = "moto.sns.cloudformation"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::TopicPolicy"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name,
                                        **kwargs):
        from moto.sns.models import sns_backends

        props = cloudformation_json["Properties"]
        backend = sns_backends[account_id][region_name]
        for arn in props["Topics"]:
            backend.get_topic(arn).policy = json.dumps(props["PolicyDocument"])
        model = cls(resource_name, region_name, account_id)
        model.topic_arns = list(props["Topics"])
        return model

    def delete(self, account_id: str, region_name: str) -> None:
        from moto.sns.models import sns_backends

        backend = sns_backends[self.account_id][self.region]
        for arn in self.topic_arns:
            if arn in backend.topics:  # the topic's default policy again
                topic = backend.topics[arn]
                topic._policy_json = topic._create_default_topic_policy(self.region, self.account_id, topic.name)


# --- Image functions run in an emulator, where one is given --------------------

# moto runs a function in Docker, and not at all when its PackageType is Image.
# Where MOTO_LAMBDA_EMULATOR names a Lambda Runtime Interface Emulator (the
# function's own code, run by the test), Invoke of an Image function is sent
# there instead: `aws lambda invoke`, and the batches moto's event source
# mappings deliver from SQS, reach the real handler.
EMULATOR = "MOTO_LAMBDA_EMULATOR"

_invoke_function = LambdaFunction.invoke


def _invoke_in_emulator(self, body, request_headers, response_headers):
    emulator = os.environ.get(EMULATOR)
    if self.package_type != "Image" or not emulator:
        return _invoke_function(self, body, request_headers, response_headers)
    import urllib.request

    request = urllib.request.Request(f"{emulator}/2015-03-31/functions/function/invocations",
                                     data=(body or "{}").encode(), method="POST")
    with urllib.request.urlopen(request, timeout=60) as answer:
        payload = answer.read()
    try:
        result = json.loads(payload)
        failed = isinstance(result, dict) and bool({"errorType", "errorMessage"} & result.keys())
    except ValueError:
        failed = False
    if failed:
        response_headers["x-amz-function-error"] = "Unhandled"
    return payload


# --- Change sets, inline policies, log group ARNs ------------------------------

_execute_change_set = cfn_models.CloudFormationBackend.execute_change_set


def _execute_change_set_with_outputs(self, change_set_name: str, stack_name: str | None = None) -> None:
    _execute_change_set(self, change_set_name, stack_name)
    change_set = self.change_sets.get(change_set_name) or next(
        cs for cs in self.change_sets.values() if cs.change_set_name == change_set_name)
    stack = self.stacks[change_set.stack_id]
    stack._parse_template()
    stack.description = stack.template_dict.get("Description")
    stack.output_map = stack._create_output_map()


_create_change_set = CloudFormationResponse.create_change_set


def _create_change_set_even_without_changes(self):
    # The refusal belongs to UpdateStack; for this request only, skip it.
    self._validate_different_update = lambda *args, **kwargs: None
    return _create_change_set(self)


def _json_policy(put_policy):
    def put(self, policy_name: str, policy_json: Any) -> None:
        if not isinstance(policy_json, str):
            policy_json = json.dumps(policy_json)
        put_policy(self, policy_name, policy_json)

    return put


def _set_queue_attributes_keeping_policy(set_attributes):
    def set_(self, attributes: dict[str, Any], now: float | None = None) -> None:
        policy = self.policy if hasattr(self, "_policy_json") else None  # None while created
        set_attributes(self, attributes, now)
        if "Policy" not in attributes:
            self.policy = policy

    return set_


def _compact_queue_json(attributes):
    def read(self) -> dict[str, Any]:
        result = attributes.fget(self)
        for name in ("Policy", "RedrivePolicy"):
            if result.get(name):
                result[name] = json.dumps(json.loads(result[name]), separators=(",", ":"))
        return result

    return property(read)


_log_group_attribute = LogGroup.get_cfn_attribute


def _log_group_attribute_as_cloudformation(self, attribute_name: str) -> str:
    value = _log_group_attribute(self, attribute_name)
    return f"{value}:*" if attribute_name == "Arn" and not value.endswith(":*") else value


# --- Change sets: which properties change, and what was asked ----------------

# Every change-set call, in order (GET /_standin/change-set-calls reads it).
CHANGE_SET_CALLS_PATH = "/_standin/change-set-calls"
_change_set_calls: list[dict] = []


def _record_change_set_call(response: CloudFormationResponse, action: str, **extra: Any) -> None:
    name = response._get_param("ChangeSetName") or ""
    _change_set_calls.append({"action": action, "stack": response._get_param("StackName"),
                              # by name, also where an ARN was given
                              "change_set": name.split("/")[-2] if name.startswith("arn:") else name, **extra})


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


_change_set_diff = cfn_models.ChangeSet.diff


def _diff_with_details(self) -> list:
    """moto's changes, each Modify with a Detail per changed property."""
    changes = _change_set_diff(self)
    old = self.stack.resource_map._resource_json_map
    new = self.template_dict.get("Resources", {})
    for change in changes:
        change.property_changes = []
        if change.action != "Modify":
            continue
        before = old[change.logical_resource_id].get("Properties", {})
        after = new[change.logical_resource_id].get("Properties", {})
        for name in sorted(before.keys() | after.keys()):
            if before.get(name) != after.get(name):
                change.property_changes.append((name, before.get(name), after.get(name)))
    return changes


def _details(change, with_values: bool) -> list[dict]:
    details = []
    for name, before, after in getattr(change, "property_changes", []):
        target = {"Attribute": "Properties", "Name": name}
        if with_values:
            target.update({k: _as_text(v) for k, v in (("BeforeValue", before), ("AfterValue", after))
                           if v is not None})
        details.append({"Target": target, "Evaluation": "Static", "ChangeSource": "DirectModification"})
    return details


_describe_change_set = CloudFormationResponse.describe_change_set


def _describe_change_set_with_details(self):
    with_values = self._get_bool_param("IncludePropertyValues", False)
    _record_change_set_call(self, "DescribeChangeSet", include_property_values=with_values)
    change_set = self.cloudformation_backend.describe_change_set(
        change_set_name=self._get_param("ChangeSetName"))
    for change in change_set.changes:
        change.details = _details(change, with_values)
    return _describe_change_set(self)


def _recorded(action: str, call):
    def recorded(self):
        _record_change_set_call(self, action)
        return call(self)
    return recorded


def _serve_change_set_calls(call):
    def serve(self, environ, start_response):
        if environ.get("PATH_INFO", "") != CHANGE_SET_CALLS_PATH:
            return call(self, environ, start_response)
        body = json.dumps(_change_set_calls).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]
    return serve


# --- CloudWatch Logs' JSON filter patterns -------------------------------------

LOG_FILTER_PATTERNS_PATH = "/_standin/log-filter-patterns"
_log_filter_patterns: list[str] = []


class JsonFilterPattern:
    """`{ $.key = "value" || $.key = "other" }`: an event matches when its
    message is JSON and one of the terms holds."""

    def __init__(self, pattern: str):
        import re

        body = pattern.strip()
        self.terms = []
        for term in body[1:-1].split("||"):
            match = re.fullmatch(r'\s*\$\.([\w.]+)\s*=\s*"([^"]*)"\s*', term)
            if not body.endswith("}") or not match:
                raise ValueError(f"moto_cfn takes only equality terms joined by || in a JSON filter: {pattern}")
            self.terms.append((match[1].split("."), match[2]))

    def matches(self, message: str) -> bool:
        try:
            document = json.loads(message)
        except ValueError:
            return False
        for path, value in self.terms:
            node = document
            for key in path:
                node = node.get(key) if isinstance(node, dict) else None
            if node == value:
                return True
        return False


def _event_filter_with_json(init):
    def __init__(self, pattern: str) -> None:
        if pattern and pattern.strip().startswith("{"):
            _log_filter_patterns.append(pattern)
            self.filter_type = JsonFilterPattern(pattern)
        else:
            init(self, pattern)
    return __init__


def _serve_json(path: str, read):
    """moto's WSGI app, and GET of path: read()'s answer as JSON."""
    def wrap(call):
        def serve(self, environ, start_response):
            if environ.get("PATH_INFO", "") != path:
                return call(self, environ, start_response)
            body = json.dumps(read()).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        return serve
    return wrap


_validate_template = cfn_models.CloudFormationBackend.validate_template


def _validate_template_errors_only(self, template: str) -> list:
    """ValidateTemplate refuses what CloudFormation refuses: moto runs
    cfn-lint and fails on any finding, a warning too (such as W3005, a
    DependsOn that a Ref already implies, which osls writes)."""
    return [m for m in _validate_template(self, template) if m.rule.id.startswith("E")]


# --- ECR layer downloads --------------------------------------------------------

BLOB_PATH = "/_standin/ecr-blobs/"
_blobs: dict[str, bytes] = {}  # digest -> the blob the stand-ins PUT


class LayersNotFoundException(ServiceException):
    code = "LayersNotFoundException"


def _serve_blobs(call):
    """moto's WSGI app, and PUT/GET of blobs under BLOB_PATH."""
    def serve(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not path.startswith(BLOB_PATH):
            return call(self, environ, start_response)
        digest = path[len(BLOB_PATH):]
        if environ["REQUEST_METHOD"] == "PUT":
            _blobs[digest] = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            start_response("201 Created", [("Content-Length", "0")])
            return [b""]
        if digest not in _blobs:
            start_response("404 Not Found", [("Content-Length", "0")])
            return [b""]
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(len(_blobs[digest])))])
        return [_blobs[digest]]
    return serve


def _get_download_url_for_layer(self) -> ActionResult:
    name, digest = self._get_param("repositoryName"), self._get_param("layerDigest")
    repository = self.ecr_backend._get_repository(name, self._get_param("registryId"))
    # ECR: "You can only get URLs for image layers that are referenced in an image."
    if digest not in _blobs or not any(digest in image.image_manifest for image in repository.images):
        raise LayersNotFoundException(f"The layer {digest} does not exist in the repository {name}")
    return ActionResult({"downloadUrl": f"http://{self.headers['Host']}{BLOB_PATH}{digest}", "layerDigest": digest})


def install() -> None:
    cfn_models.Stack.parse_template = staticmethod(_stack_parse_template)
    cfn_models.ChangeSet._parse_template = _change_set_parse_template
    LambdaFunction.create_from_cloudformation_json = classmethod(_create_function)
    LambdaFunction.update_from_cloudformation_json = classmethod(_update_function_with_all_properties)
    cfn_models.CloudFormationBackend.execute_change_set = _execute_change_set_with_outputs
    CloudFormationResponse.create_change_set = _recorded("CreateChangeSet", _create_change_set_even_without_changes)
    CloudFormationResponse.describe_change_set = _describe_change_set_with_details
    CloudFormationResponse.delete_change_set = _recorded("DeleteChangeSet", CloudFormationResponse.delete_change_set)
    CloudFormationResponse.execute_change_set = _recorded("ExecuteChangeSet", CloudFormationResponse.execute_change_set)
    cfn_models.ChangeSet.diff = _diff_with_details
    LogGroup.get_cfn_attribute = _log_group_attribute_as_cloudformation
    LambdaFunction.invoke = _invoke_in_emulator
    ECRResponse.get_download_url_for_layer = _get_download_url_for_layer
    DomainDispatcherApplication.__call__ = _serve_json(LOG_FILTER_PATTERNS_PATH, lambda: _log_filter_patterns)(
        _serve_change_set_calls(_serve_blobs(DomainDispatcherApplication.__call__)))
    from moto.logs.utils import EventMessageFilter

    EventMessageFilter.__init__ = _event_filter_with_json(EventMessageFilter.__init__)
    cfn_models.CloudFormationBackend.validate_template = _validate_template_errors_only
    for owner in (Role, User, Group):
        owner.put_policy = _json_policy(owner.put_policy)
    Queue._set_attributes = _set_queue_attributes_keeping_policy(Queue._set_attributes)
    Queue.attributes = _compact_queue_json(Queue.attributes)
    # The ApiGatewayV2 models register themselves by subclassing
    # CloudFormationModel; moto caches its model map on first use.
    from moto.cloudformation import parsing

    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()


if __name__ == "__main__":
    install()
    from moto.server import main

    main(sys.argv[1:])
