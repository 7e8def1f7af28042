"""The IaC readers: each tool's project (SAM's template, the synthesized CDK
app, Terraform's configuration, osls's packaged template) read into one notation, so the tests can ask
that the same answers give the same settings whichever tool is chosen; and the
projects the IaC checks run on."""

from __future__ import annotations

import ast
import json
import operator
import os
import re
import shlex
import shutil
import tomllib
from pathlib import Path

import hcl2
import pytest
import yaml
from hcl2 import SerializationOptions

from conftest import COPIER, FREE_TEXT, MATRIX, ROOT, cdk_node_modules, combo_id, hostile_answer, one_per, run
from support.choices import TRIGGERS, output_name, trigger_outputs

IACS = sorted({c["iac"] for c in MATRIX})
# The rule for the trigger's IaC: one project per IaC and trigger (the first in
# MATRIX's order: Go, arm64, provided.al2023; the language and base image do
# not change the IaC, and the architecture only its one value, which the
# equivalence test checks for both), plus the public Function URL, whose
# resources differ from the default AWS_IAM one, and which any origin may call
# (CORS's *; the default one has no CORS, the HTTP API a list of origins).
ONE_PER_IAC_TRIGGER = one_per("iac", "trigger") + [
    {**c, "function_url_auth": "NONE", "cors_allow_origins": "*"}
    for c in one_per("iac", "trigger") if c["trigger"] == "function-url"]
DIGEST = "sha256:" + "0" * 64

# Answers that differ from every default, so a setting that ignores the
# answers cannot pass the equivalence test by accident; each trigger's own
# come from its data file (tests/data/triggers/<trigger>.yaml's custom).
# The free-text answers are hostile (test_free_text reads them back from these
# projects, so every check here runs on them too).
CUSTOM = {"memory_size": 512, "timeout": 25, "log_retention_days": 30, "log_level": "DEBUG",
          "alarm_email": "alarms@example.com",
          **{question: hostile_answer(question) for question in FREE_TEXT}}
# The projects every IaC check runs on: ONE_PER_IAC_TRIGGER with those answers.
IAC_PROJECTS = [{**c, **CUSTOM, **TRIGGERS[c["trigger"]]["custom"]} for c in ONE_PER_IAC_TRIGGER]


def iac_projects(iac: str | None = None) -> list:
    return [pytest.param(c, id=combo_id(c) + ("-public" if c.get("function_url_auth") == "NONE" else ""))
            for c in IAC_PROJECTS if iac in (None, c["iac"])]



def terraform_binary() -> str | None:
    return shutil.which("terraform") or shutil.which("tofu")


def aws_provider_mirror() -> Path | None:
    """A local filesystem mirror holding the hashicorp/aws provider, if any."""
    candidates = [os.environ.get("TF_PLUGIN_DIR"), "/opt/tf-plugins",
                  str(Path.home() / ".terraform.d" / "plugins")]
    for c in filter(None, candidates):
        if (Path(c) / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
            return Path(c)
    return None


# --- SAM --------------------------------------------------------------------

class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (!Ref, !Sub, !GetAtt) as plain values."""


CfnLoader.add_multi_constructor(
    "!", lambda loader, suffix, node: {suffix: loader.construct_scalar(node)
                                       if isinstance(node, yaml.ScalarNode) else loader.construct_sequence(node)})


def sam_settings(project: Path) -> dict:
    template = yaml.load((project / "sam" / "template.yaml").read_text(), Loader=CfnLoader)
    resources = template["Resources"]
    fn = resources["Function"]["Properties"]
    routes = sorted(f'{e["Properties"]["Method"]} {e["Properties"]["Path"]}'
                    for e in fn.get("Events", {}).values() if e["Type"] == "HttpApi")
    log_group = resources[fn["LoggingConfig"]["LogGroup"]["Ref"]]["Properties"]
    return {
        "architecture": fn["Architectures"][0],
        "memory_size": fn["MemorySize"],
        "timeout": fn["Timeout"],
        "routes": routes,
        "log_retention_days": log_group["RetentionInDays"],
        "log_group": log_group["LogGroupName"],
        "function_name": fn["FunctionName"],
        "image": _sam_image_by_digest(template),
        "log_format": fn["LoggingConfig"]["LogFormat"],
        "reserved_concurrency": fn.get("ReservedConcurrentExecutions", -1),
        "log_levels": (fn["LoggingConfig"]["ApplicationLogLevel"], fn["LoggingConfig"]["SystemLogLevel"]),
        "throttling": (_throttling(resources["HttpApi"]["Properties"]["DefaultRouteSettings"])
                       if "HttpApi" in resources else None),
        "role": _sam_role(resources, fn),
        "access_log": (json.loads(resources["HttpApi"]["Properties"]["AccessLogSettings"]["Format"])
                       if "HttpApi" in resources else None),
        "cors": (cfn_cors(resources["HttpApi"]["Properties"].get("CorsConfiguration"))
                 if "HttpApi" in resources else None),
        "tags": _sam_tags(project),
    }


def _sam_tags(project: Path) -> dict:
    """The stack's tags, which `sam deploy` reads from samconfig.toml."""
    config = tomllib.loads((project / "sam" / "samconfig.toml").read_text())
    return dict(pair.split("=", 1) for pair in shlex.split(config["default"]["deploy"]["parameters"]["tags"]))


def _throttling(route_settings: dict) -> dict:
    """An HTTP API stage's default route throttling (CloudFormation's names)."""
    return {"burst": route_settings["ThrottlingBurstLimit"], "rate": route_settings["ThrottlingRateLimit"]}


def _sam_role(resources, fn) -> set:
    role = resources[fn["Role"]["GetAtt"].split(".")[0]]["Properties"]
    assert "ManagedPolicyArns" not in role and "Policies" not in fn, "no managed policies"
    own_log_group = json.dumps(
        {"Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${FunctionLogGroup}:*"})
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    queues = {json.dumps({"GetAtt": f"{name}.Arn"}): "queue " + r["Properties"]["QueueName"]
              for name, r in resources.items() if r["Type"] == "AWS::SQS::Queue"}
    return permissions(statements, {own_log_group: OWN_LOG_GROUP, **queues}, "Action", "Resource")


def _sam_image_by_digest(template) -> str:
    """SAM takes the image as a parameter that only a digest URI satisfies."""
    pattern = template["Parameters"]["ImageUri"]["AllowedPattern"]
    return "digest" if pattern.endswith("@sha256:[0-9a-f]{64}$") else pattern


# --- Terraform --------------------------------------------------------------

HCL = SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)


def terraform_config(project: Path) -> dict:
    """Every .tf file parsed and merged: {"resource": {type: {name: body}}, "variable": {...}, ...}."""
    merged: dict = {}
    for tf in sorted((project / "terraform").glob("*.tf")):
        with open(tf) as f:
            parsed = hcl2.load(f, serialization_options=HCL)
        for kind, items in parsed.items():
            target = merged.setdefault(kind, {})
            for item in items if isinstance(items, list) else [items]:
                for key, value in item.items():
                    if isinstance(value, dict) and kind in ("resource", "data"):
                        target.setdefault(key, {}).update(value)
                    else:
                        target[key] = value
    return merged


def tf_defaults(config: dict) -> dict:
    """Each variable's default: the answers, as the rendered project holds them."""
    return {name: body.get("default") for name, body in config["variable"].items()}


def terraform_settings(project: Path) -> dict:
    config = terraform_config(project)
    defaults = tf_defaults(config)

    def resolve(value):
        if isinstance(value, str) and value.startswith("${var.") and value.endswith("}"):
            return defaults[value[len("${var."):-1]]
        return value

    fn = config["resource"]["aws_lambda_function"]["this"]
    log_group = config["resource"]["aws_cloudwatch_log_group"]["lambda"]
    routes = sorted(r["route_key"] for r in config["resource"].get("aws_apigatewayv2_route", {}).values())
    stage = config["resource"].get("aws_apigatewayv2_stage", {}).get("default")
    throttle = stage["default_route_settings"][0] if stage else None
    return {
        "architecture": resolve(fn["architectures"][0]),
        "memory_size": resolve(fn["memory_size"]),
        "timeout": resolve(fn["timeout"]),
        "routes": routes,
        "log_retention_days": resolve(log_group["retention_in_days"]),
        "log_group": "/aws/lambda/" + defaults["function_name"],
        "function_name": resolve(fn["function_name"]),
        "image": "digest" if config["locals"]["image_uri"].endswith("@${var.image_digest}") else "tag",
        "log_format": fn["logging_config"][0]["log_format"],
        "reserved_concurrency": resolve(fn["reserved_concurrent_executions"]),
        "log_levels": (resolve(fn["logging_config"][0]["application_log_level"]),
                       tf_choice(fn["logging_config"][0]["system_log_level"], defaults)),
        "throttling": {"burst": resolve(throttle["throttling_burst_limit"]),
                       "rate": resolve(throttle["throttling_rate_limit"])} if throttle else None,
        "role": _terraform_role(config, defaults),
        "access_log": json.loads(stage["access_log_settings"][0]["format"]) if stage else None,
        "cors": (tf_cors(config["resource"]["aws_apigatewayv2_api"]["this"], "cors_configuration", config, defaults)
                 if stage else None),
        "tags": _terraform_tags(config, defaults),
    }


def _terraform_tags(config, defaults) -> dict:
    """The provider's default_tags: the template's, then var.tags."""
    (provider,) = config["provider"] if isinstance(config["provider"], list) else [config["provider"]]
    assert provider["aws"]["default_tags"][0]["tags"] == "${merge(local.template_tags, var.tags)}"
    return {**{k.strip('"'): v for k, v in config["locals"]["template_tags"].items()}, **defaults["tags"]}


def _terraform_role(config, defaults) -> set:
    assert "aws_iam_role_policy_attachment" not in config["resource"], "no managed policies"
    (policy,) = [p for p in config["resource"]["aws_iam_role_policy"].values()
                 if p["role"] == "${aws_iam_role.lambda.id}"]
    assert policy["policy"] == "${data.aws_iam_policy_document.lambda_permissions.json}"
    document = config["data"]["aws_iam_policy_document"]["lambda_permissions"]
    statements = list(document["statement"])
    for block in document.get("dynamic", []):  # X-Ray, when tracing is Active (the default)
        assert block["statement"]["for_each"] == '${var.tracing_mode == "Active" ? [1] : []}'
        if defaults["tracing_mode"] == "Active":
            statements += block["statement"]["content"]
    own_log_group = "${aws_cloudwatch_log_group.lambda.arn}:*"
    queues = {f"${{aws_sqs_queue.{name}.arn}}": "queue " + tf_string(q["name"], defaults)
              for name, q in config["resource"].get("aws_sqs_queue", {}).items()}
    return permissions(statements, {own_log_group: OWN_LOG_GROUP, **queues}, "actions", "resources")


def tf_string(value: str, defaults: dict) -> str:
    """A string with its ${var.x} parts replaced by the variables' defaults."""
    return re.sub(r"\$\{var\.(\w+)\}", lambda m: str(defaults[m.group(1)]), value)


# --- CORS -------------------------------------------------------------------
# An HTTP API's CorsConfiguration or a Function URL's Cors in one notation
# (None without one); CloudFormation's AllowCredentials defaults to false.

def cors_origins(answer: str) -> list[str]:
    """cors_allow_origins's origins: comma-separated, spaces around them allowed."""
    return [o.strip() for o in answer.split(",") if o.strip()]


# A SigV4 signature's headers, which a browser signing its calls to a
# Function URL with AWS_IAM sends.
SIGV4_HEADERS = ["authorization", "x-amz-content-sha256", "x-amz-date", "x-amz-security-token"]


def expected_cors(answers: dict) -> dict | None:
    """The CORS settings every IaC must give for these answers (cors_allow_origins's)."""
    origins = cors_origins(answers.get("cors_allow_origins", ""))
    if not origins:
        return None
    signed = answers["trigger"] == "function-url" and answers.get("function_url_auth", "AWS_IAM") == "AWS_IAM"
    return {"origins": sorted(origins),
            "methods": sorted({r.split(" ", 1)[0] for r in yaml.safe_load(COPIER["http_routes"]["default"])}),
            "headers": sorted(["content-type", *(SIGV4_HEADERS if signed else [])]), "max_age": 300,
            "credentials": False}


def cfn_cors(cors: dict | None) -> dict | None:
    if cors is None:
        return None
    return {"origins": sorted(cors["AllowOrigins"]), "methods": sorted(cors["AllowMethods"]),
            "headers": sorted(cors["AllowHeaders"]), "max_age": cors["MaxAge"],
            "credentials": cors.get("AllowCredentials", False)}


# The list the answer becomes in Terraform (variables.tf's locals), which
# tf_cors evaluates on the variable's default as Terraform would.
TF_CORS_ORIGINS = '${[for origin in split(",", var.cors_allow_origins) : trimspace(origin) if trimspace(origin) != ""]}'


def tf_cors(resource: dict, block: str, config: dict, defaults: dict) -> dict | None:
    """A resource's dynamic CORS block, present when the origins list is not empty."""
    assert config["locals"]["cors_allow_origins"] == TF_CORS_ORIGINS, config["locals"]["cors_allow_origins"]
    origins = cors_origins(defaults["cors_allow_origins"])
    (dynamic,) = [d[block] for d in resource.get("dynamic", []) if block in d]
    assert dynamic["for_each"] == "${length(local.cors_allow_origins) > 0 ? [1] : []}", dynamic["for_each"]
    if not origins:
        return None
    (content,) = dynamic["content"]
    assert content["allow_origins"] == "${local.cors_allow_origins}", content
    return {"origins": sorted(origins), "methods": sorted(content["allow_methods"]),
            "headers": sorted(content["allow_headers"]), "max_age": content["max_age"],
            "credentials": content.get("allow_credentials", False)}


# --- The ECR lifecycle rule -------------------------------------------------

def lifecycle_rule(project: Path, iac: str) -> dict:
    """The ECR lifecycle policy the IaC choice applies: Terraform's
    aws_ecr_lifecycle_policy, or what `mise run deploy` puts (SAM, CDK, osls,
    whose stacks do not own the repository), read from the file each names."""
    if iac == "terraform":
        policy = terraform_config(project)["resource"]["aws_ecr_lifecycle_policy"]["this"]["policy"]
        match = re.fullmatch(r'\$\{file\("\$\{path\.module\}/\.\./([\w.-]+)"\)\}', policy)
    else:
        # deploy calls scripts/deployed-image's put_lifecycle_rule, which puts the file.
        deploy = (project / ".config" / "mise" / "tasks" / "deploy").read_text()
        assert re.search(r"^put_lifecycle_rule$", deploy, re.M), iac
        script = (project / "scripts" / "deployed-image").read_text()
        match = re.search(r"put-lifecycle-policy .*\\\n\s*--lifecycle-policy-text file://([\w.-]+)", script)
    assert match, iac
    return json.loads((project / match.group(1)).read_text())


# --- CDK --------------------------------------------------------------------

_synthesized: dict[Path, dict] = {}


def cdk_synth(project: Path) -> dict:
    """npm ci and cdk synth once per rendered project; the synthesized template."""
    if project not in _synthesized:
        cdk = project / "cdk"
        cdk_node_modules(cdk)  # npm ci, once per lock file (conftest)
        run(["npx", "cdk", "synth", "--quiet", "-c", f"imageDigest={DIGEST}"], cdk, timeout=900)
        (template,) = (cdk / "cdk.out").glob("*.template.json")
        _synthesized[project] = json.loads(template.read_text())
    return _synthesized[project]


def tf_choice(value: str, defaults: dict) -> str:
    """A `contains([...], var.x) ? "A" : "B"` expression, evaluated on the
    variables' defaults."""
    match = re.fullmatch(r'\$\{contains\((\[[^]]*\]), var\.(\w+)\) \? "(\w+)" : "(\w+)"\}', value)
    assert match, f"not a contains() choice: {value}"
    listed, variable, yes, no = match.groups()
    return yes if defaults[variable] in json.loads(listed) else no


def _cfn_settings(resources: dict, fn: dict, log_group: dict) -> dict:
    """The settings of a synthesized CloudFormation template (CDK's, osls's),
    whose HTTP API is plain AWS::ApiGatewayV2 resources; each tool adds its
    role and tags."""
    def of_type(kind):
        return [r["Properties"] for r in resources.values() if r["Type"] == kind]

    stages = of_type("AWS::ApiGatewayV2::Stage")
    image = json.dumps(fn["Code"]["ImageUri"])
    return {
        "architecture": fn["Architectures"][0],
        "memory_size": fn["MemorySize"],
        "timeout": fn["Timeout"],
        "routes": sorted(r["RouteKey"] for r in of_type("AWS::ApiGatewayV2::Route")),
        "log_retention_days": log_group["RetentionInDays"],
        "log_group": log_group["LogGroupName"],
        "function_name": fn["FunctionName"],
        "image": "digest" if f"@{DIGEST}" in image else image,
        "log_format": fn["LoggingConfig"]["LogFormat"],
        "reserved_concurrency": fn.get("ReservedConcurrentExecutions", -1),
        "log_levels": (fn["LoggingConfig"]["ApplicationLogLevel"], fn["LoggingConfig"]["SystemLogLevel"]),
        "throttling": _throttling(stages[0]["DefaultRouteSettings"]) if stages else None,
        "access_log": json.loads(stages[0]["AccessLogSettings"]["Format"]) if stages else None,
        "cors": cfn_cors(of_type("AWS::ApiGatewayV2::Api")[0].get("CorsConfiguration")) if stages else None,
    }


def _function(resources: dict) -> dict:
    (fn,) = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Function"]
    return fn


def cdk_settings(project: Path) -> dict:
    resources = cdk_synth(project)["Resources"]
    fn = _function(resources)
    log_group = resources[fn["LoggingConfig"]["LogGroup"]["Ref"]]["Properties"]
    return {**_cfn_settings(resources, fn, log_group), "role": _cdk_role(resources, fn),
            "tags": _cdk_tags(resources)}


def _cdk_tags(resources) -> dict:
    """Tags.of(app): the same tags on every resource that takes tags."""
    tagged = [{t["Key"]: t["Value"] for t in r["Properties"]["Tags"]} for r in resources.values()
              if isinstance(r.get("Properties", {}).get("Tags"), list)]
    assert tagged and all(t == tagged[0] for t in tagged), tagged
    return tagged[0]


def _cdk_role(resources, fn) -> set:
    role_id = fn["Role"]["Fn::GetAtt"][0]
    assert "ManagedPolicyArns" not in resources[role_id]["Properties"], "no managed policies"
    statements = [s for r in resources.values() if r["Type"] == "AWS::IAM::Policy"
                  and {"Ref": role_id} in r["Properties"]["Roles"]
                  for s in r["Properties"]["PolicyDocument"]["Statement"]]
    log_group_id = fn["LoggingConfig"]["LogGroup"]["Ref"]
    own_log_group = json.dumps({"Fn::GetAtt": [log_group_id, "Arn"]})  # the ARN ends in :*
    queues = {json.dumps({"Fn::GetAtt": [name, "Arn"]}): "queue " + r["Properties"]["QueueName"]
              for name, r in resources.items() if r["Type"] == "AWS::SQS::Queue"}
    return permissions(statements, {own_log_group: OWN_LOG_GROUP, **queues}, "Action", "Resource")


# --- Serverless Framework (osls) ---------------------------------------------

OSLS = ROOT / ".tools" / "bin" / "osls"
OSLS_TEMPLATE = ".serverless/cloudformation-template-update-stack.json"
_packaged: dict[Path, dict] = {}


def osls_package(project: Path) -> dict:
    """`osls package` once per rendered project, with the osls script/bootstrap
    installs (the version projects pin); the CloudFormation template it writes
    to serverless/.serverless/, the one `osls deploy` sends."""
    if project not in _packaged:
        folder = project / "serverless"
        # The image as deploy passes it; a region, which any will do.
        env = {"IMAGE_URI": f"123456789012.dkr.ecr.us-east-1.amazonaws.com/hello-fn@{DIGEST}",
               "AWS_REGION": "us-east-1", "SLS_TELEMETRY_DISABLED": "1", "SLS_NOTIFICATIONS_MODE": "off"}
        run([str(OSLS), "package"], folder, env=env, timeout=300)
        _packaged[project] = json.loads((folder / OSLS_TEMPLATE).read_text())
    return _packaged[project]


def serverless_settings(project: Path) -> dict:
    resources = osls_package(project)["Resources"]
    fn = _function(resources)
    # osls names the log group in LoggingConfig; the stack's own resource holds it.
    (log_group_id,) = [name for name, r in resources.items() if r["Type"] == "AWS::Logs::LogGroup"
                       and r["Properties"].get("LogGroupName") == fn["LoggingConfig"]["LogGroup"]]
    return {**_cfn_settings(resources, fn, resources[log_group_id]["Properties"]),
            "role": _serverless_role(resources, fn, log_group_id), "tags": _serverless_tags(project)}


def _serverless_tags(project: Path) -> dict:
    """The stack's tags (provider.stackTags), as osls resolved them when it
    packaged the service; `osls deploy` gives them to the stack."""
    state = json.loads((project / "serverless" / ".serverless" / "serverless-state.json").read_text())
    return state["service"]["provider"]["stackTags"]


def _serverless_role(resources, fn, log_group_id) -> set:
    role_id = fn["Role"]["Fn::Sub"].removeprefix("${").removesuffix(".Arn}")
    role = resources[role_id]["Properties"]
    assert "ManagedPolicyArns" not in role, "no managed policies"
    assert "IamRoleLambdaExecution" not in resources, "the function's own role, not osls's default one"
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    statements += [s for r in resources.values() if r["Type"] == "AWS::IAM::Policy"
                   and {"Ref": role_id} in r["Properties"]["Roles"]
                   for s in r["Properties"]["PolicyDocument"]["Statement"]]
    own_log_group = json.dumps({"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${"
                                + log_group_id + "}:*"})
    queues = {json.dumps({"Fn::GetAtt": [name, "Arn"]}): "queue " + r["Properties"]["QueueName"]
              for name, r in resources.items() if r["Type"] == "AWS::SQS::Queue"}
    return permissions(statements, {own_log_group: OWN_LOG_GROUP, **queues}, "Action", "Resource")


# --- The execution role -----------------------------------------------------

OWN_LOG_GROUP = "the function's log group, its streams"


def permissions(statements, names: dict, action_key: str, resource_key: str) -> set:
    """(action, resource) pairs a role's statements allow, each resource by
    the name given in `names` (its own notation per tool), or as written."""
    pairs = set()
    for statement in statements:
        assert statement.get("Effect", statement.get("effect")) == "Allow", statement
        actions, resources = statement[action_key], statement[resource_key]
        for action in actions if isinstance(actions, list) else [actions]:
            for resource in resources if isinstance(resources, list) else [resources]:
                key = resource if isinstance(resource, str) else json.dumps(resource)
                pairs.add((action, names.get(key, key)))
    return pairs


SETTINGS = {"sam": sam_settings, "terraform": terraform_settings, "cdk": cdk_settings,
            "serverless": serverless_settings}


# --- The trigger's resources ------------------------------------------------
# SAM (after its own transform, as CloudFormation gets it), CDK (as
# synthesized), osls (as packaged) and Terraform, each read into one notation: a queue by its
# name ("queue <name>"), the function as "function", the stack's account and
# region as ACCOUNT and REGION.

DEFAULT_RETENTION = 345600  # SQS's 4 days, when a queue does not say
DEFAULT_VISIBILITY = 30


def sam_transformed(project: Path) -> dict:
    """The SAM template as plain CloudFormation, by SAM's own translator."""
    import boto3
    from cfnlint.decode import decode_str
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    template, errors = decode_str((project / "sam" / "template.yaml").read_text())
    assert not errors, errors
    # The pseudo parameters SAM fills in need a region: any will do.
    session = boto3.session.Session(region_name="us-east-1")
    translator = Translator(managed_policy_map={}, sam_parser=Parser(), boto_session=session)
    return translator.translate(sam_template=json.loads(json.dumps(template)), parameter_values={})


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def cfn_trigger_settings(template: dict) -> dict:
    resources = template["Resources"]

    def of_type(kind):
        return [r["Properties"] for r in resources.values() if r["Type"] == kind]

    def name(value):
        if isinstance(value, dict) and "Ref" in value:
            target = value["Ref"]
        elif isinstance(value, dict) and "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"][0]
        else:
            return value
        pseudo = {"AWS::AccountId": "ACCOUNT", "AWS::Region": "REGION"}
        if target in pseudo:
            return pseudo[target]
        kind = resources[target]["Type"]
        if kind == "AWS::SQS::Queue":
            return "queue " + resources[target]["Properties"]["QueueName"]
        return {"AWS::Lambda::Function": "function"}.get(kind, json.dumps(value))

    def text(value) -> str:
        """A string built with Fn::Sub (SAM) or Fn::Join (CDK) of ACCOUNT and REGION."""
        if "Fn::Sub" in value:
            return value["Fn::Sub"].replace("${AWS::AccountId}", "ACCOUNT").replace("${AWS::Region}", "REGION")
        separator, parts = value["Fn::Join"]
        return separator.join(part if isinstance(part, str) else name(part) for part in parts)

    def role(value):
        role_id = value["Fn::GetAtt"][0]
        properties = resources[role_id]["Properties"]
        assert "ManagedPolicyArns" not in properties, "no managed policies"
        statements = [s for p in properties.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]
        statements += [s for p in of_type("AWS::IAM::Policy") if {"Ref": role_id} in p["Roles"]
                       for s in p["PolicyDocument"]["Statement"]]
        (trust,) = properties["AssumeRolePolicyDocument"]["Statement"]
        ((test, condition),) = trust["Condition"].items()
        ((key, value),) = condition.items()
        return {"trusts": [trust["Principal"]["Service"], test, key, name(value)],
                "allows": sorted({(a, name(r)) for s in statements if s["Effect"] == "Allow"
                                  for a in _as_list(s["Action"]) for r in _as_list(s["Resource"])})}

    queues = {}
    for queue in of_type("AWS::SQS::Queue"):
        redrive = queue.get("RedrivePolicy")
        queues[queue["QueueName"]] = {
            "sse_sqs": queue.get("SqsManagedSseEnabled", False),
            "visibility_timeout": queue.get("VisibilityTimeout", DEFAULT_VISIBILITY),
            "retention": queue.get("MessageRetentionPeriod", DEFAULT_RETENTION),
            "redrive": [name(redrive["deadLetterTargetArn"]), redrive["maxReceiveCount"]] if redrive else None,
        }
    return {
        "outputs": sorted(set(template.get("Outputs", {})) & trigger_outputs()),
        "url_auth": [u["AuthType"] for u in of_type("AWS::Lambda::Url")],
        "url_cors": [cfn_cors(u.get("Cors")) for u in of_type("AWS::Lambda::Url")],
        "public_permissions": sorted(
            (p["Action"], p.get("FunctionUrlAuthType"), p.get("InvokedViaFunctionUrl", False))
            for p in of_type("AWS::Lambda::Permission") if p["Principal"] == "*"),
        "queues": queues,
        "tls_only": sorted(
            name(r) for p in of_type("AWS::SQS::QueuePolicy") for s in p["PolicyDocument"]["Statement"]
            if s["Effect"] == "Deny" and s["Action"] == "sqs:*" and s["Principal"] in ("*", {"AWS": "*"})
            and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for r in _as_list(s["Resource"])),
        "mappings": [{"source": name(m["EventSourceArn"]), "target": name(m["FunctionName"]),
                      "batch_size": m["BatchSize"], "batching_window": m.get("MaximumBatchingWindowInSeconds", 0),
                      "response_types": m.get("FunctionResponseTypes", [])}
                     for m in of_type("AWS::Lambda::EventSourceMapping")],
        "schedules": [{"name": x["Name"], "expression": x["ScheduleExpression"],
                       "timezone": x.get("ScheduleExpressionTimezone", "Etc/UTC"), "state": x.get("State", "ENABLED"),
                       "time_window": x["FlexibleTimeWindow"]["Mode"], "target": name(x["Target"]["Arn"]),
                       "input": json.loads(text(x["Target"]["Input"])),
                       "retries": x["Target"]["RetryPolicy"]["MaximumRetryAttempts"],
                       "max_event_age": x["Target"]["RetryPolicy"]["MaximumEventAgeInSeconds"],
                       "dead_letter": name(x["Target"]["DeadLetterConfig"]["Arn"]),
                       "role": role(x["Target"]["RoleArn"])}
                      for x in of_type("AWS::Scheduler::Schedule")],
        "async": [{"qualifier": c["Qualifier"], "retries": c["MaximumRetryAttempts"],
                   "max_event_age": c["MaximumEventAgeInSeconds"],
                   "on_failure": name(c["DestinationConfig"]["OnFailure"]["Destination"])}
                  for c in of_type("AWS::Lambda::EventInvokeConfig")],
    }


def tf_count(body: dict, defaults: dict) -> int:
    """A resource's count: none, or `var.x == "value" ? 1 : 0` (or !=)."""
    if "count" not in body:
        return 1
    match = re.fullmatch(r'\$\{var\.(\w+) (==|!=) "([^"]*)" \? 1 : 0\}', body["count"])
    assert match, body["count"]
    variable, test, value = match.groups()
    return int((defaults[variable] == value) == (test == "=="))


# The arithmetic a Terraform number may hold here, read by Python's own parser
# (HCL's + - * / and parentheses read alike).
_ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.FloorDiv: operator.floordiv}


def _arithmetic(node: ast.AST) -> int:
    if isinstance(node, ast.Expression):
        return _arithmetic(node.body)
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        return _ARITHMETIC[type(node.op)](_arithmetic(node.left), _arithmetic(node.right))
    raise AssertionError(f"not integer arithmetic: {ast.unparse(node)}")


def answers_arithmetic(value, answers: dict):
    """A number, or arithmetic on answers such as "5 * (6 * timeout + x)"."""
    if isinstance(value, (int, float)):
        return value
    expression = re.sub(r"[a-z_]+", lambda m: str(answers[m.group(0)]), value)
    return _arithmetic(ast.parse(expression, mode="eval"))


def tf_number(value, defaults: dict) -> int | float:
    """A number, or arithmetic on variables such as ${6 * var.timeout + var.x}."""
    if isinstance(value, (int, float)):
        return value
    assert value.startswith("${") and value.endswith("}"), value
    expression = re.sub(r"var\.(\w+)", lambda m: str(defaults[m.group(1)]), value[2:-1])
    return _arithmetic(ast.parse(expression, mode="eval"))


def terraform_trigger_settings(project: Path) -> dict:
    config = terraform_config(project)
    defaults = tf_defaults(config)
    resources = config["resource"]
    documents = config.get("data", {}).get("aws_iam_policy_document", {})

    def of_type(kind):
        return [body for body in resources.get(kind, {}).values() if tf_count(body, defaults)]

    def ref(reference: str):
        """A bare reference (aws_sqs_queue.this.arn, var.aws_region, ...) in the common notation."""
        kind, _, rest = reference.partition(".")
        if kind == "var":
            return {"aws_region": "REGION"}.get(rest, defaults.get(rest))
        if kind == "data" and rest == "aws_caller_identity.current.account_id":
            return "ACCOUNT"
        if kind == "aws_sqs_queue":
            return "queue " + tf_string(resources["aws_sqs_queue"][rest.split(".")[0]]["name"], defaults)
        if kind == "aws_lambda_function":
            return "function"
        return reference

    def name(value):
        match = re.fullmatch(r"\$\{([\w.]+)\}", value) if isinstance(value, str) else None
        return ref(match.group(1)) if match else value

    def resolved(value):
        """A value hcl2 parsed, its ${reference}s and ${var.x}s in the common notation."""
        if isinstance(value, dict):
            return {key: resolved(v) for key, v in value.items()}
        if isinstance(value, list):
            return [resolved(v) for v in value]
        if isinstance(value, str) and re.fullmatch(r"\$\{[\w.]+\}", value):
            return name(value)
        return tf_string(value, defaults) if isinstance(value, str) else value

    def jsonencoded(value: str):
        """The object a ${jsonencode({...})} expression makes: its argument,
        an HCL object, parsed by hcl2, references resolved."""
        assert value.startswith("${jsonencode(") and value.endswith(")}"), value
        return resolved(hcl2.loads("value = " + value[len("${jsonencode("):-2], serialization_options=HCL)["value"])

    def statements(document: str):
        match = re.fullmatch(r"\$\{data\.aws_iam_policy_document\.(\w+)\.json\}", document)
        return documents[match.group(1)]["statement"]

    def role(value):
        (role_name,) = re.fullmatch(r"\$\{aws_iam_role\.(\w+)\.arn\}", value).groups()
        assert "aws_iam_role_policy_attachment" not in resources, "no managed policies"
        (trust,) = statements(resources["aws_iam_role"][role_name]["assume_role_policy"])
        (condition,) = trust["condition"]
        (principal,) = trust["principals"]
        allows = [s for p in resources["aws_iam_role_policy"].values()
                  if p["role"] == f"${{aws_iam_role.{role_name}.id}}" for s in statements(p["policy"])]
        return {"trusts": [principal["identifiers"][0], condition["test"], condition["variable"],
                           name(condition["values"][0])],
                "allows": sorted({(a, name(r)) for s in allows for a in s["actions"] for r in s["resources"]})}

    queues = {}
    for queue in of_type("aws_sqs_queue"):
        redrive = jsonencoded(queue["redrive_policy"]) if "redrive_policy" in queue else None
        queues[tf_string(queue["name"], defaults)] = {
            "sse_sqs": queue.get("sqs_managed_sse_enabled", False),
            "visibility_timeout": tf_number(queue.get("visibility_timeout_seconds", DEFAULT_VISIBILITY), defaults),
            "retention": tf_number(queue.get("message_retention_seconds", DEFAULT_RETENTION), defaults),
            "redrive": [redrive["deadLetterTargetArn"], redrive["maxReceiveCount"]] if redrive else None,
        }
    public = [(p["action"], p.get("function_url_auth_type"), False)
              for p in of_type("aws_lambda_permission") if p["principal"] == "*"]
    for stack in of_type("aws_cloudformation_stack"):  # permissions provider 5.x cannot express
        for resource in jsonencoded(stack["template_body"])["Resources"].values():
            assert resource["Type"] == "AWS::Lambda::Permission", resource
            p = resource["Properties"]
            if p["Principal"] == "*":
                public.append((p["Action"], p.get("FunctionUrlAuthType"), p.get("InvokedViaFunctionUrl", False)))
    tls_only = []
    for policy in of_type("aws_sqs_queue_policy"):
        for s in statements(policy["policy"]):
            if (s["effect"] == "Deny" and s["actions"] == ["sqs:*"]
                    and s["principals"] == [{"type": "*", "identifiers": ["*"]}]
                    and s["condition"] == [{"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]}]):
                tls_only += [name(r) for r in s["resources"]]
    schedules = []
    for x in of_type("aws_scheduler_schedule"):
        (target,) = x["target"]
        (retry,) = target["retry_policy"]
        (dead_letter,) = target["dead_letter_config"]
        schedules.append({
            "name": tf_string(x["name"], defaults), "expression": tf_string(x["schedule_expression"], defaults),
            "timezone": tf_string(x.get("schedule_expression_timezone", "Etc/UTC"), defaults),
            "state": x.get("state", "ENABLED"),
            "time_window": x["flexible_time_window"][0]["mode"], "target": name(target["arn"]),
            "input": jsonencoded(target["input"]), "retries": retry["maximum_retry_attempts"],
            "max_event_age": retry["maximum_event_age_in_seconds"], "dead_letter": name(dead_letter["arn"]),
            "role": role(target["role_arn"])})
    return {
        "outputs": sorted(o for o in trigger_outputs() if output_name("terraform", o) in config.get("output", {})),
        "url_auth": [tf_string(u["authorization_type"], defaults) for u in of_type("aws_lambda_function_url")],
        "url_cors": [tf_cors(u, "cors", config, defaults) for u in of_type("aws_lambda_function_url")],
        "public_permissions": sorted(public),
        "queues": queues,
        "tls_only": sorted(tls_only),
        "mappings": [{"source": name(m["event_source_arn"]), "target": name(m["function_name"]),
                      "batch_size": tf_number(m["batch_size"], defaults),
                      "batching_window": tf_number(m.get("maximum_batching_window_in_seconds", 0), defaults),
                      "response_types": m.get("function_response_types", [])}
                     for m in of_type("aws_lambda_event_source_mapping")],
        "schedules": schedules,
        "async": [{"qualifier": c.get("qualifier", "$LATEST"), "retries": c["maximum_retry_attempts"],
                   "max_event_age": c["maximum_event_age_in_seconds"],
                   "on_failure": name(c["destination_config"][0]["on_failure"][0]["destination"])}
                  for c in of_type("aws_lambda_function_event_invoke_config")],
    }


TRIGGER_SETTINGS = {
    "sam": lambda project: cfn_trigger_settings(sam_transformed(project)),
    "cdk": lambda project: cfn_trigger_settings(cdk_synth(project)),
    "terraform": terraform_trigger_settings,
    "serverless": lambda project: cfn_trigger_settings(osls_package(project)),
}


# --- The alarms and the topic they notify ------------------------------------
# Each tool's alarms by name, in one notation: a dimension by what it names
# ("function", "api", "queue <name>", a stage by its name), the topic as
# "topic", the account as ACCOUNT; the topic (None without an alarm_email)
# with its subscriptions and its policy's statements.

# The function's own alarms, whatever the trigger (the trigger's are in
# tests/data/triggers/<trigger>.yaml, in the same notation).
FUNCTION_ALARMS = {
    suffix: {"namespace": "AWS/Lambda", "metric": metric, "statistic": "Sum",
             "dimensions": {"FunctionName": "function"}, "comparison": "GreaterThanOrEqualToThreshold", "threshold": 1}
    for suffix, metric in (("errors", "Errors"), ("throttles", "Throttles"))}


def _statement(effect: str, principal: str, action: str, resource: str, condition: dict) -> tuple:
    return (effect, principal, action, resource, json.dumps(condition, sort_keys=True))


def cfn_alarms(template: dict) -> dict:
    resources = template["Resources"]

    def of_type(kind):
        return [r["Properties"] for r in resources.values() if r["Type"] == kind]

    def meaning(value):
        if isinstance(value, str):
            return value
        if "Ref" in value:
            target, attribute = value["Ref"], None
        else:
            target, attribute = _as_list(value["Fn::GetAtt"]) if isinstance(value["Fn::GetAtt"], list) else (
                value["Fn::GetAtt"].split(".", 1))
        if target == "AWS::AccountId":
            return "ACCOUNT"
        kind, properties = resources[target]["Type"], resources[target].get("Properties", {})
        if kind == "AWS::SQS::Queue" and attribute == "QueueName":
            return "queue " + properties["QueueName"]
        if kind == "AWS::ApiGatewayV2::Stage" and attribute is None:
            return properties["StageName"]
        return {("AWS::Lambda::Function", None): "function", ("AWS::ApiGatewayV2::Api", None): "api",
                ("AWS::SNS::Topic", None): "topic"}.get((kind, attribute), json.dumps(value))

    def principal(value):
        if value in ("*", {"AWS": "*"}):
            return "*"
        return value["Service"]

    alarms = {a["AlarmName"]: {
        "namespace": a["Namespace"], "metric": a["MetricName"], "statistic": a["Statistic"],
        "dimensions": {d["Name"]: meaning(d["Value"]) for d in a["Dimensions"]},
        "period": a["Period"], "evaluation_periods": a["EvaluationPeriods"],
        "datapoints": a.get("DatapointsToAlarm", a["EvaluationPeriods"]), "comparison": a["ComparisonOperator"],
        "threshold": a["Threshold"], "missing_data": a.get("TreatMissingData", "missing"),
        "actions": [meaning(x) for x in a.get("AlarmActions", [])],
        "ok_actions": [meaning(x) for x in a.get("OKActions", [])],
    } for a in of_type("AWS::CloudWatch::Alarm")}
    topics = of_type("AWS::SNS::Topic")
    if not topics:
        return {"alarms": alarms, "topic": None}
    (topic,) = topics
    return {"alarms": alarms, "topic": {
        "name": topic["TopicName"], "kms_key": topic.get("KmsMasterKeyId"),
        "subscriptions": sorted((s["Protocol"], s["Endpoint"]) for s in of_type("AWS::SNS::Subscription")
                                if meaning(s["TopicArn"]) == "topic"),
        "policy": sorted(_statement(s["Effect"], principal(s["Principal"]), s["Action"], meaning(s["Resource"]),
                                    {test: {key: meaning(v) for key, v in condition.items()}
                                     for test, condition in s.get("Condition", {}).items()})
                         for p in of_type("AWS::SNS::TopicPolicy") if [meaning(t) for t in p["Topics"]] == ["topic"]
                         for s in p["PolicyDocument"]["Statement"]),
    }}


def terraform_alarms(project: Path) -> dict:
    config = terraform_config(project)
    defaults = tf_defaults(config)
    resources = config["resource"]
    documents = config.get("data", {}).get("aws_iam_policy_document", {})
    topics = [name for name, body in resources.get("aws_sns_topic", {}).items() if tf_count(body, defaults)]

    def meaning(value):
        match = re.fullmatch(r"\$\{([\w.\[\]*]+)\}", value) if isinstance(value, str) else None
        if not match:
            return tf_string(value, defaults)
        reference = match.group(1)
        if reference == "data.aws_caller_identity.current.account_id":
            return "ACCOUNT"
        if reference == "aws_lambda_function.this.function_name":
            return "function"
        if re.fullmatch(r"aws_apigatewayv2_api\.\w+\.id", reference):
            return "api"
        if match := re.fullmatch(r"aws_apigatewayv2_stage\.(\w+)\.name", reference):
            return resources["aws_apigatewayv2_stage"][match.group(1)]["name"]
        if match := re.fullmatch(r"aws_sqs_queue\.(\w+)\.name", reference):
            return "queue " + tf_string(resources["aws_sqs_queue"][match.group(1)]["name"], defaults)
        if match := re.fullmatch(r"aws_sns_topic\.(\w+)\[0\]\.arn", reference):
            assert match.group(1) in topics, reference
            return "topic"
        return value

    def actions(value):
        """alarm_actions: local.alarm_actions, the topics' ARNs (aws_sns_topic.x[*].arn)."""
        assert value == "${local.alarm_actions}", value
        (local,) = re.fullmatch(r"\$\{aws_sns_topic\.(\w+)\[\*\]\.arn\}", config["locals"]["alarm_actions"]).groups()
        return ["topic"] if local in topics else []

    alarms = {tf_string(a["alarm_name"], defaults): {
        "namespace": a["namespace"], "metric": a["metric_name"], "statistic": a["statistic"],
        "dimensions": {key: meaning(v) for key, v in a["dimensions"].items()},
        "period": a["period"], "evaluation_periods": a["evaluation_periods"],
        "datapoints": a.get("datapoints_to_alarm", a["evaluation_periods"]), "comparison": a["comparison_operator"],
        "threshold": tf_number(a["threshold"], defaults), "missing_data": a.get("treat_missing_data", "missing"),
        "actions": actions(a["alarm_actions"]), "ok_actions": actions(a["ok_actions"]),
    } for a in resources.get("aws_cloudwatch_metric_alarm", {}).values()}
    if not topics:
        return {"alarms": alarms, "topic": None}
    (name,) = topics
    topic = resources["aws_sns_topic"][name]

    def principal(principals):
        ((kind, identifiers),) = [(p["type"], p["identifiers"]) for p in principals]
        return identifiers[0] if kind == "Service" else "*"

    policies = [p for p in resources.get("aws_sns_topic_policy", {}).values()
                if tf_count(p, defaults) and meaning(p["arn"]) == "topic"]
    statements = []
    for policy in policies:
        (document,) = re.fullmatch(r"\$\{data\.aws_iam_policy_document\.(\w+)\[0\]\.json\}", policy["policy"]).groups()
        for s in documents[document]["statement"]:
            ((action,), (resource,)) = (s["actions"], s["resources"])
            statements.append(_statement(s["effect"], principal(s["principals"]), action, meaning(resource),
                                         {c["test"]: {c["variable"]: meaning(c["values"][0])}
                                          for c in s.get("condition", [])}))
    return {"alarms": alarms, "topic": {
        "name": tf_string(topic["name"], defaults), "kms_key": topic.get("kms_master_key_id"),
        "subscriptions": sorted((s["protocol"], tf_string(s["endpoint"], defaults))
                                for s in resources.get("aws_sns_topic_subscription", {}).values()
                                if tf_count(s, defaults) and meaning(s["topic_arn"]) == "topic"),
        "policy": sorted(statements),
    }}


ALARMS = {
    "sam": lambda project: cfn_alarms(sam_transformed(project)),
    "cdk": lambda project: cfn_alarms(cdk_synth(project)),
    "terraform": terraform_alarms,
    "serverless": lambda project: cfn_alarms(osls_package(project)),
}
