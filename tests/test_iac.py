"""The infrastructure code: each tool's own validation, checkov over all of
them, and the same answers giving the same settings whichever tool is chosen."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import hcl2
import pytest
import yaml
from hcl2 import SerializationOptions

from conftest import MATRIX, ROOT, cdk_node_modules, one_per, params, run

IACS = sorted({c["iac"] for c in MATRIX})
# One project per IaC (architecture and language do not change the IaC beyond
# the answers checked in test_equivalent_settings).
ONE_PER_IAC = one_per("iac")
CHECKOV_FRAMEWORK = {"sam": "cloudformation", "cdk": "cloudformation", "terraform": "terraform"}
DIGEST = "sha256:" + "0" * 64

# Answers that differ from every default, so a setting that ignores the
# answers cannot pass the equivalence test by accident.
CUSTOM = {"memory_size": 512, "timeout": 25, "log_retention_days": 30}


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
    routes = sorted(f'{e["Properties"]["Method"]} {e["Properties"]["Path"]}' for e in fn["Events"].values())
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
        "throttling": _throttling(resources["HttpApi"]["Properties"]["DefaultRouteSettings"]),
        "role": _sam_role(resources, fn),
    }


def _throttling(route_settings: dict) -> dict:
    """An HTTP API stage's default route throttling (CloudFormation's names)."""
    return {"burst": route_settings["ThrottlingBurstLimit"], "rate": route_settings["ThrottlingRateLimit"]}


def _sam_role(resources, fn) -> set:
    role = resources[fn["Role"]["GetAtt"].split(".")[0]]["Properties"]
    assert "ManagedPolicyArns" not in role and "Policies" not in fn, "no managed policies"
    own_log_group = json.dumps(
        {"Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${FunctionLogGroup}:*"})
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    return permissions(statements, {own_log_group: OWN_LOG_GROUP}, "Action", "Resource")


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


def terraform_settings(project: Path) -> dict:
    config = terraform_config(project)
    defaults = {name: body.get("default") for name, body in config["variable"].items()}

    def resolve(value):
        if isinstance(value, str) and value.startswith("${var.") and value.endswith("}"):
            return defaults[value[len("${var."):-1]]
        return value

    fn = config["resource"]["aws_lambda_function"]["this"]
    log_group = config["resource"]["aws_cloudwatch_log_group"]["lambda"]
    routes = sorted(r["route_key"] for r in config["resource"]["aws_apigatewayv2_route"].values())
    (throttle,) = config["resource"]["aws_apigatewayv2_stage"]["default"]["default_route_settings"]
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
        "throttling": {"burst": resolve(throttle["throttling_burst_limit"]),
                       "rate": resolve(throttle["throttling_rate_limit"])},
        "role": _terraform_role(config, defaults),
    }


def _terraform_role(config, defaults) -> set:
    assert "aws_iam_role_policy_attachment" not in config["resource"], "no managed policies"
    (policy,) = config["resource"]["aws_iam_role_policy"].values()
    assert policy["policy"] == "${data.aws_iam_policy_document.lambda_permissions.json}"
    document = config["data"]["aws_iam_policy_document"]["lambda_permissions"]
    statements = list(document["statement"])
    for block in document.get("dynamic", []):  # X-Ray, when tracing is Active (the default)
        assert block["statement"]["for_each"] == '${var.tracing_mode == "Active" ? [1] : []}'
        if defaults["tracing_mode"] == "Active":
            statements += block["statement"]["content"]
    own_log_group = "${aws_cloudwatch_log_group.lambda.arn}:*"
    return permissions(statements, {own_log_group: OWN_LOG_GROUP}, "actions", "resources")


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


def cdk_settings(project: Path) -> dict:
    resources = cdk_synth(project)["Resources"]

    def of_type(kind):
        return [r["Properties"] for r in resources.values() if r["Type"] == kind]

    (fn,) = of_type("AWS::Lambda::Function")
    log_group = next(g for g in of_type("AWS::Logs::LogGroup") if "LogGroupName" in g)
    image = json.dumps(fn["Code"]["ImageUri"])
    (stage,) = of_type("AWS::ApiGatewayV2::Stage")
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
        "throttling": _throttling(stage["DefaultRouteSettings"]),
        "role": _cdk_role(resources, fn),
    }


def _cdk_role(resources, fn) -> set:
    role_id = fn["Role"]["Fn::GetAtt"][0]
    assert "ManagedPolicyArns" not in resources[role_id]["Properties"], "no managed policies"
    statements = [s for r in resources.values() if r["Type"] == "AWS::IAM::Policy"
                  and {"Ref": role_id} in r["Properties"]["Roles"]
                  for s in r["Properties"]["PolicyDocument"]["Statement"]]
    log_group_id = fn["LoggingConfig"]["LogGroup"]["Ref"]
    own_log_group = json.dumps({"Fn::GetAtt": [log_group_id, "Arn"]})  # the ARN ends in :*
    return permissions(statements, {own_log_group: OWN_LOG_GROUP}, "Action", "Resource")


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


SETTINGS = {"sam": sam_settings, "terraform": terraform_settings, "cdk": cdk_settings}


# --- Tests ------------------------------------------------------------------

@pytest.mark.parametrize("answers", params([c for c in MATRIX if c["iac"] == "sam"]))
def test_cfn_lint_sam(render, answers):
    project = render(answers).path
    run(["cfn-lint", "sam/template.yaml"], project)


@pytest.mark.parametrize("answers", params([c for c in ONE_PER_IAC if c["iac"] == "terraform"]))
def test_terraform_fmt(render, answers):
    binary = terraform_binary()
    assert binary, "terraform (or tofu) is missing: script/bootstrap installs it"
    run([binary, "fmt", "-check", "-recursive", "-diff"], render(answers).path / "terraform")


@pytest.mark.parametrize("answers", params([c for c in ONE_PER_IAC if c["iac"] == "terraform"]))
def test_terraform_validate_and_test(render, answers, tmp_path):
    mirror = aws_provider_mirror()
    if mirror is None:
        pytest.skip("the Terraform AWS provider (hashicorp/aws) cannot be downloaded here "
                    "(the Terraform registry does not answer) and no local mirror was found "
                    "in TF_PLUGIN_DIR, /opt/tf-plugins or ~/.terraform.d/plugins")
    work = tmp_path / "terraform"
    shutil.copytree(render(answers).path / "terraform", work)
    binary = terraform_binary()
    run([binary, "init", "-backend=false", "-input=false", f"-plugin-dir={mirror}"], work)
    run([binary, "validate"], work)
    result = run([binary, "test", "-test-directory=tftest", "-no-color"], work)
    assert "0 failed" in result.stdout or "Success!" in result.stdout, result.stdout


@pytest.mark.parametrize("answers", params([c for c in ONE_PER_IAC if c["iac"] == "terraform"]))
def test_terraform_manages_a_secure_repository_and_adopts_it(render, answers):
    config = terraform_config(render(answers).path)
    repo = config["resource"]["aws_ecr_repository"]["this"]
    assert repo["image_tag_mutability"] == "IMMUTABLE"
    assert repo["image_scanning_configuration"][0]["scan_on_push"] is True
    assert "aws_ecr_lifecycle_policy" in config["resource"]
    # publish creates the repository before the first apply: it is adopted.
    assert config["import"] == {"to": "${aws_ecr_repository.this}", "id": "${var.ecr_repository}"}
    fn = config["resource"]["aws_lambda_function"]["this"]
    assert fn["package_type"] == "Image"
    permissions = config["resource"]["aws_lambda_permission"].values()
    assert all("execution_arn" in p["source_arn"] for p in permissions)
    versions = config["terraform"]
    assert "hashicorp/aws" in json.dumps(versions["required_providers"])
    assert versions["required_version"].startswith(">=")


@pytest.mark.parametrize("answers", params([c for c in ONE_PER_IAC if c["iac"] == "cdk"]))
def test_cdk_synth_passes_cdk_nag_and_cfn_lint(render, answers):
    project = render(answers).path
    # The app runs cdk-nag's AwsSolutions checks: synth fails on any finding
    # that is not acknowledged with a reason.
    template = cdk_synth(project)
    assert "AwsSolutionsChecks" in (project / "cdk" / "bin" / "app.ts").read_text()
    permissions = [r["Properties"] for r in template["Resources"].values()
                   if r["Type"] == "AWS::Lambda::Permission"]
    assert len(permissions) == 2 and all("SourceArn" in p for p in permissions)
    assert {"HelloUrl", "GoodbyeUrl", "FunctionName"} <= set(template["Outputs"])
    (synthesized,) = (project / "cdk" / "cdk.out").glob("*.template.json")
    run(["cfn-lint", str(synthesized)], project)


@pytest.mark.parametrize("answers", params([c for c in ONE_PER_IAC if c["iac"] == "cdk"]))
def test_cdk_refuses_a_tag_instead_of_a_digest(render, answers):
    project = render(answers).path
    cdk_synth(project)  # node_modules in place
    result = run(["npx", "cdk", "synth", "--quiet", "-c", "imageDigest=latest"], project / "cdk", check=False)
    assert result.returncode != 0
    assert 'Invalid CDK context "imageDigest"' in result.stdout + result.stderr


@pytest.mark.parametrize("answers", params(ONE_PER_IAC))
def test_checkov_finds_nothing_unexplained(render, answers):
    project = render(answers).path
    if answers["iac"] == "cdk":
        cdk_synth(project)
    folder = {"sam": "sam", "terraform": "terraform", "cdk": "cdk/cdk.out"}[answers["iac"]]
    result = run([str(ROOT / ".tools" / "bin" / "checkov"), "-d", folder,
                  "--framework", CHECKOV_FRAMEWORK[answers["iac"]],
                  "--skip-download", "--quiet", "--compact", "-o", "json"], project, check=False)
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    summary = [r["summary"] for r in reports]
    assert sum(s["failed"] for s in summary) == 0, result.stdout[:4000]
    assert sum(s["passed"] for s in summary) > 0
    assert result.returncode == 0
    # Every skipped check carries a written reason.
    for r in reports:
        for check in r["results"].get("skipped_checks", []):
            assert len((check.get("check_result") or {}).get("suppress_comment", "")) > 20, check


@pytest.mark.parametrize("architecture", ["arm64", "x86_64"])
def test_equivalent_settings_in_every_iac(render, architecture):
    """The same answers give the same function and API whichever IaC is chosen."""
    seen = {}
    for iac in IACS:
        language = next(c["language"] for c in MATRIX if c["iac"] == iac)
        answers = {"language": language, "architecture": architecture, "iac": iac, **CUSTOM}
        seen[iac] = SETTINGS[iac](render(answers).path)
    expected = {
        "architecture": architecture,
        "memory_size": CUSTOM["memory_size"],
        "timeout": CUSTOM["timeout"],
        "routes": ["GET /goodbye", "GET /hello"],
        "log_retention_days": CUSTOM["log_retention_days"],
        "log_group": "/aws/lambda/hello-fn",
        "function_name": "hello-fn",
        "image": "digest",
        "log_format": "JSON",
        "throttling": {"burst": 100, "rate": 50},
        # Least privilege: its own log group, and X-Ray (which has no
        # resource-level permissions); no managed policies.
        "role": {
            ("logs:CreateLogStream", OWN_LOG_GROUP),
            ("logs:PutLogEvents", OWN_LOG_GROUP),
            ("xray:PutTelemetryRecords", "*"),
            ("xray:PutTraceSegments", "*"),
        },
    }
    for iac, settings in seen.items():
        assert settings == expected, iac
