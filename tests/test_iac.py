"""The infrastructure code: each tool's own validation, checkov over all of
them, and the same answers giving the same settings whichever tool is chosen
(tests/support/iac.py reads each tool's project)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml

from conftest import COPIER, ROOT, one_per, params, run
from support.choices import IAC_TOOLS, TRIGGERS
from support.iac import (ALARMS, CUSTOM, DEFAULT_RETENTION, DEFAULT_VISIBILITY, FUNCTION_ALARMS, IAC_PROJECTS, IACS,
                         OWN_LOG_GROUP, SETTINGS, OSLS_TEMPLATE, TRIGGER_SETTINGS, answers_arithmetic,
                         aws_provider_mirror, cdk_synth, expected_cors, iac_projects, lifecycle_rule, osls_package,
                         terraform_binary, terraform_config)


# The SAM template changes with the trigger and the architecture only (and
# the trigger's own answers, as the IaC checks give them).
@pytest.mark.parametrize("answers", params(
    [{**c, **TRIGGERS[c["trigger"]]["custom"]} for c in one_per("iac", "trigger", "architecture") if c["iac"] == "sam"]
    + [{**c, "function_url_auth": "NONE", "cors_allow_origins": "*"} for c in one_per("iac", "trigger", "architecture")
       if c["iac"] == "sam" and c["trigger"] == "function-url"]))
def test_cfn_lint_sam(render, answers):
    project = render(answers).path
    run(["cfn-lint", "sam/template.yaml"], project)


@pytest.mark.parametrize("answers", iac_projects("terraform"))
def test_terraform_fmt(render, answers):
    binary = terraform_binary()
    assert binary, "terraform (or tofu) is missing: script/bootstrap installs it"
    run([binary, "fmt", "-check", "-recursive", "-diff"], render(answers).path / "terraform")


@pytest.fixture(scope="module")
def terraform_init(tmp_path_factory):
    """work folder -> the same, initialised. `terraform init` copies the 700 MB
    provider out of the mirror, so it runs once per lock file and the other
    folders with that lock file link to its .terraform."""
    mirror = aws_provider_mirror()
    if mirror is None:
        pytest.skip("the Terraform AWS provider (hashicorp/aws) cannot be downloaded here "
                    "(the Terraform registry does not answer) and no local mirror was found "
                    "in TF_PLUGIN_DIR, /opt/tf-plugins or ~/.terraform.d/plugins")
    initialised: dict[str, Path] = {}

    def _init(work: Path) -> Path:
        lock = (work / ".terraform.lock.hcl").read_text()
        if lock not in initialised:
            run([terraform_binary(), "init", "-backend=false", "-input=false", f"-plugin-dir={mirror}"], work)
            initialised[lock] = work / ".terraform"
        elif not (work / ".terraform").exists():
            (work / ".terraform").symlink_to(initialised[lock])
        return work

    return _init


@pytest.mark.xdist_group("terraform")
@pytest.mark.parametrize("answers", iac_projects("terraform"))
def test_terraform_validate_and_test(render, answers, tmp_path_factory, terraform_init):
    # Kept for the module's lifetime: later folders link to the first's .terraform.
    work = tmp_path_factory.mktemp("terraform") / "terraform"
    shutil.copytree(render(answers).path / "terraform", work)
    # ecr.tf reads the lifecycle rule from the project's root.
    shutil.copy(render(answers).path / "ecr-lifecycle-policy.json", work.parent)
    terraform_init(work)
    binary = terraform_binary()
    run([binary, "validate"], work)
    result = run([binary, "test", "-test-directory=tftest", "-no-color"], work)
    assert "0 failed" in result.stdout or "Success!" in result.stdout, result.stdout


@pytest.mark.parametrize("answers", params([c for c in one_per("iac") if c["iac"] == "terraform"]))
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
    permissions = config["resource"]["aws_lambda_permission"].values()  # the HTTP API's routes
    assert all("execution_arn" in p["source_arn"] for p in permissions)
    versions = config["terraform"]
    assert "hashicorp/aws" in json.dumps(versions["required_providers"])
    assert versions["required_version"].startswith(">=")


@pytest.mark.parametrize("answers", iac_projects("cdk"))
def test_cdk_synth_passes_cdk_nag_and_cfn_lint(render, answers):
    project = render(answers).path
    # The app runs cdk-nag's AwsSolutions checks: synth fails on any finding
    # that is not acknowledged with a reason.
    template = cdk_synth(project)
    assert "AwsSolutionsChecks" in (project / "cdk" / "bin" / "app.ts").read_text()
    permissions = [r["Properties"] for r in template["Resources"].values()
                   if r["Type"] == "AWS::Lambda::Permission"]
    if answers.get("function_url_auth") == "NONE":
        assert len(permissions) == 2 and all(p["Principal"] == "*" for p in permissions)
    else:
        assert len(permissions) == TRIGGERS[answers["trigger"]]["lambda_permissions"]
        assert all("SourceArn" in p for p in permissions)
    assert set(template["Outputs"]) == set(TRIGGERS[answers["trigger"]]["outputs"]) | {"FunctionName"}
    (synthesized,) = (project / "cdk" / "cdk.out").glob("*.template.json")
    run(["cfn-lint", str(synthesized)], project)


@pytest.mark.parametrize("answers", params([c for c in IAC_PROJECTS if c["iac"] == "cdk"][:1]))
def test_cdk_refuses_a_tag_instead_of_a_digest(render, answers):
    project = render(answers).path
    cdk_synth(project)  # node_modules in place
    result = run(["npx", "cdk", "synth", "--quiet", "-c", "imageDigest=latest"], project / "cdk", check=False)
    assert result.returncode != 0
    assert 'Invalid CDK context "imageDigest"' in result.stdout + result.stderr


@pytest.mark.parametrize("answers", iac_projects("serverless"))
def test_osls_package_passes_cfn_lint(render, answers):
    """osls packages every trigger's service (its own role, no versions), and
    cfn-lint finds nothing in the template deploy sends but what `mise run
    validate` ignores with its reason (W3005, osls's DependsOn)."""
    project = render(answers).path
    template = osls_package(project)
    validate = (project / ".config" / "mise" / "tasks" / "validate").read_text()
    assert "cfn-lint --ignore-checks W3005 -- " in validate
    run(["cfn-lint", "--ignore-checks", "W3005", "--", OSLS_TEMPLATE], project / "serverless")
    kinds = {r["Type"] for r in template["Resources"].values()}
    assert "AWS::Lambda::Version" not in kinds and "AWS::IAM::Role" in kinds
    assert set(template["Outputs"]) >= set(TRIGGERS[answers["trigger"]]["outputs"]) | {"FunctionName"}
    # The deployment bucket osls adds to the stack: encrypted, private, TLS only.
    bucket = template["Resources"]["ServerlessDeploymentBucket"]["Properties"]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    (deny,) = template["Resources"]["ServerlessDeploymentBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert (deny["Effect"], deny["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": False}})
    assert template["Description"] == yaml.safe_load((project / ".copier-answers.yml").read_text())["description"]


class CheckovRun(NamedTuple):
    returncode: int
    reports: list  # one per framework
    checks: dict  # test id -> {"passed"|"failed"|"skipped": [check]}
    targets: dict  # test id -> its copy of the files checkov scanned


# A check's id, as the skips name it (checkov:skip=, a template's checkov metadata).
CHECK_ID = re.compile(r"\bCKV2?_[A-Z0-9]+_\d+")


@pytest.fixture(scope="module")
def checkov_run(request, render, tmp_path_factory) -> CheckovRun:
    """checkov once over every project test_checkov_finds_nothing_unexplained
    runs on in this session, all frameworks at once: loading its checks is
    most of a run (about 7 s per project, 20 projects). Each project's scan
    target is copied to <folder>/<test id>/<its name>, so a check's file_path
    names its project. Each project gets the same passed, failed and skipped
    checks as a run of its own (compared once; Terraform folders keep their
    own variables)."""
    root = tmp_path_factory.mktemp("checkov")
    frameworks, targets = set(), {}
    for item in request.session.items:
        if getattr(item, "function", None) is not test_checkov_finds_nothing_unexplained:
            continue
        answers = item.callspec.params["answers"]
        project = render(answers).path
        if answers["iac"] == "cdk":
            cdk_synth(project)
        elif answers["iac"] == "serverless":
            osls_package(project)
        checkov = IAC_TOOLS[answers["iac"]]["checkov"]
        frameworks.add(checkov["framework"])
        target = project / checkov["folder"]
        # A file lands outside its folder: checkov skips folders whose names start with a dot.
        copy = root / item.callspec.id / target.name
        copy.parent.mkdir()
        (shutil.copytree if target.is_dir() else shutil.copy)(target, copy)
        targets[item.callspec.id] = copy
    result = run([str(ROOT / ".tools" / "bin" / "checkov"), "-d", str(root), "--framework", *sorted(frameworks),
                  "--skip-download", "--compact", "-o", "json"], root, timeout=900, check=False)
    assert result.stdout.startswith(("{", "[")), result.stdout[:2000] + result.stderr[-4000:]
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    checks = {test_id: {"passed": [], "failed": [], "skipped": []} for test_id in targets}
    for r in reports:
        for kind in ("passed", "failed", "skipped"):
            for check in r["results"].get(f"{kind}_checks", []):
                checks[Path(check["file_path"]).parts[1]][kind].append(check)
    return CheckovRun(result.returncode, reports, checks, targets)


@pytest.mark.parametrize("answers", iac_projects())
def test_checkov_finds_nothing_unexplained(request, answers, checkov_run):
    test_id = request.node.callspec.id
    checks = checkov_run.checks[test_id]
    assert not checks["failed"], json.dumps(checks["failed"], indent=1)[:4000]
    assert checks["passed"]
    assert checkov_run.returncode == 0
    # The JSON lists every check its summaries count (with --quiet it holds
    # the failed ones only, and the skips below would go unread).
    for r in checkov_run.reports:
        assert {k: len(r["results"].get(f"{k}_checks", [])) for k in ("passed", "failed", "skipped")} \
            == {k: r["summary"][k] for k in ("passed", "failed", "skipped")}, r["check_type"]
    # Every skip the project writes (no other place names a check id) is
    # one checkov applies, and carries a written reason.
    target = checkov_run.targets[test_id]
    files = [target] if target.is_file() else sorted(f for f in target.rglob("*") if f.is_file())
    written = sorted(CHECK_ID.findall("".join(f.read_text(errors="replace") for f in files)))
    assert sorted(c["check_id"] for c in checks["skipped"]) == written, "a skip checkov does not apply, or lost"
    for check in checks["skipped"]:
        assert len((check.get("check_result") or {}).get("suppress_comment", "")) > 20, check


def test_same_image_lifecycle_rule_in_every_iac(render):
    """One rule, whichever IaC: it keeps what deploy tags deployed- (the image
    a function runs, after a rollback too) before it counts the last ten."""
    rules = {iac: lifecycle_rule(render(next(c for c in IAC_PROJECTS if c["iac"] == iac)).path, iac)
             for iac in IACS}
    assert all(r == rules["sam"] for r in rules.values()), rules
    first = min(rules["sam"]["rules"], key=lambda r: r["rulePriority"])
    assert first["selection"]["tagPrefixList"] == ["deployed-"], first
    for iac in IACS:
        project = render(next(c for c in IAC_PROJECTS if c["iac"] == iac)).path
        deploy = (project / ".config" / "mise" / "tasks" / "deploy").read_text()
        # Marked before the tool runs, released after it succeeded.
        assert deploy.index('mark_deployed "$digest"') < deploy.index('release_others "$digest"'), iac


@pytest.mark.parametrize("architecture", ["arm64", "x86_64"])
def test_equivalent_settings_in_every_iac(render, architecture):
    """The same answers give the same function and API whichever IaC is chosen."""
    seen = {}
    for iac in IACS:
        project = next(c for c in IAC_PROJECTS if c["iac"] == iac and c["trigger"] == "http-api")
        seen[iac] = SETTINGS[iac](render({**project, "architecture": architecture}).path)
    expected = {
        "architecture": architecture,
        "memory_size": CUSTOM["memory_size"],
        "timeout": CUSTOM["timeout"],
        "routes": sorted(yaml.safe_load(COPIER["http_routes"]["default"])),  # the one list of routes
        "log_retention_days": CUSTOM["log_retention_days"],
        "log_group": "/aws/lambda/hello-fn",
        "function_name": "hello-fn",
        "image": "digest",
        "log_format": "JSON",
        "reserved_concurrency": -1,  # the HTTP API's throttling bounds it
        # The answered level, and Lambda's own lines' (DEBUG when debugging).
        "log_levels": (CUSTOM["log_level"], "DEBUG"),
        "throttling": {"burst": 100, "rate": 50},
        # Browsers may call from the answered origins, with the routes'
        # methods, a JSON body's content-type, and no credentials.
        "cors": expected_cors({"trigger": "http-api", **TRIGGERS["http-api"]["custom"]}),
        # Least privilege: its own log group, and X-Ray (which has no
        # resource-level permissions); no managed policies.
        "role": {
            ("logs:CreateLogStream", OWN_LOG_GROUP),
            ("logs:PutLogEvents", OWN_LOG_GROUP),
            ("xray:PutTelemetryRecords", "*"),
            ("xray:PutTraceSegments", "*"),
        },
    }
    # One access log line and one tag set (includes/iac.jinja), the IaC tool
    # named in managed-by.
    (access_log,) = {json.dumps(s.pop("access_log"), sort_keys=True) for s in seen.values()}
    assert {"requestId", "routeKey", "status", "integrationError"} <= set(json.loads(access_log)), access_log
    versions = set()
    for iac, settings in seen.items():
        tags = settings.pop("tags")
        assert (tags["project"], tags["managed-by"]) == ("hello-fn", iac), tags
        versions.add(tags["template-version"])
    assert len(versions) == 1, versions
    for iac, settings in seen.items():
        assert settings == expected, iac


def expected_trigger_settings(answers: dict) -> dict:
    """What every IaC must create for the trigger, in cfn_trigger_settings' notation."""
    fn = "hello-fn"
    queue, dead_letter = f"queue {fn}", f"queue {fn}-dlq"
    dead_letter_queue = {"sse_sqs": True, "visibility_timeout": DEFAULT_VISIBILITY, "retention": 1209600,
                         "redrive": None}
    none = {"outputs": [], "url_auth": [], "url_cors": [], "public_permissions": [], "queues": {}, "tls_only": [],
            "mappings": [], "schedules": [], "async": []}
    trigger = answers["trigger"]
    if trigger == "function-url":
        public = answers.get("function_url_auth") == "NONE"
        return {**none, "outputs": sorted(TRIGGERS[trigger]["outputs"]),
                "url_auth": [answers.get("function_url_auth", "AWS_IAM")],
                "url_cors": [expected_cors(answers)],
                # Lambda's two statements for a public URL: the URL for auth
                # type NONE, and invoking, only through a Function URL.
                "public_permissions": sorted([("lambda:InvokeFunction", None, True),
                                              ("lambda:InvokeFunctionUrl", "NONE", False)]) if public else []}
    if trigger == "sqs":
        return {**none, "outputs": sorted(TRIGGERS[trigger]["outputs"]),
                "queues": {fn: {"sse_sqs": True, "retention": DEFAULT_RETENTION,
                                # 6 x the function's timeout + the batching window
                                "visibility_timeout": 6 * answers["timeout"] + answers["sqs_batching_window"],
                                "redrive": [dead_letter, 5]},
                           f"{fn}-dlq": dead_letter_queue},
                "tls_only": sorted([queue, dead_letter]),
                "mappings": [{"source": queue, "target": "function", "batch_size": answers["sqs_batch_size"],
                              "batching_window": answers["sqs_batching_window"],
                              "response_types": ["ReportBatchItemFailures"]}]}
    assert trigger == "schedule", trigger
    return {**none, "outputs": sorted(TRIGGERS[trigger]["outputs"]),
            "queues": {f"{fn}-dlq": dead_letter_queue}, "tls_only": [dead_letter],
            "schedules": [{
                "name": fn, "expression": answers["schedule_expression"],
                "timezone": answers["schedule_timezone"],
                "state": "ENABLED", "time_window": "OFF", "target": "function",
                # EventBridge's Scheduled Event, filled in by Scheduler.
                "input": {"version": "0", "id": "<aws.scheduler.execution-id>", "detail-type": "Scheduled Event",
                          "source": "aws.scheduler", "account": "ACCOUNT", "time": "<aws.scheduler.scheduled-time>",
                          "region": "REGION", "resources": ["<aws.scheduler.schedule-arn>"], "detail": {}},
                "retries": 3, "max_event_age": 3600, "dead_letter": dead_letter,
                "role": {"trusts": ["scheduler.amazonaws.com", "StringEquals", "aws:SourceAccount", "ACCOUNT"],
                         "allows": [("lambda:InvokeFunction", "function"), ("sqs:SendMessage", dead_letter)]}}],
            "async": [{"qualifier": "$LATEST", "retries": 2, "max_event_age": 3600, "on_failure": dead_letter}]}


@pytest.mark.parametrize("trigger_answers", [
    pytest.param(c, id=c["trigger"] + ("-public" if c.get("function_url_auth") == "NONE" else ""))
    for c in IAC_PROJECTS if c["iac"] == "sam" and c["trigger"] != "http-api"])
def test_equivalent_trigger_resources_in_every_iac(render, trigger_answers):
    """The same trigger answers give the same queue, mapping, schedule or URL,
    and the same permissions, whichever IaC is chosen."""
    trigger = trigger_answers["trigger"]
    expected = expected_trigger_settings(trigger_answers)
    for iac in IACS:
        answers = next(c for c in IAC_PROJECTS if c["iac"] == iac and c["trigger"] == trigger
                       and c.get("function_url_auth") == trigger_answers.get("function_url_auth"))
        project = render(answers).path
        assert TRIGGER_SETTINGS[iac](project) == expected, iac
        settings = SETTINGS[iac](project)
        assert settings["routes"] == [] and settings["throttling"] is None, iac  # no HTTP API
        assert settings["cors"] is None, iac
        assert settings["timeout"] == CUSTOM["timeout"]
        # A public Function URL has no throttle: a reservation by default caps it.
        public = trigger_answers.get("function_url_auth") == "NONE"
        assert settings["reserved_concurrency"] == (10 if public else -1), iac
        assert settings["role"] == {
            ("logs:CreateLogStream", OWN_LOG_GROUP), ("logs:PutLogEvents", OWN_LOG_GROUP),
            ("xray:PutTelemetryRecords", "*"), ("xray:PutTraceSegments", "*"),
            *map(tuple, TRIGGERS[trigger]["role"])}, iac


def expected_alarms(answers: dict) -> dict:
    """The function's alarms (errors, throttles) and the trigger's
    (tests/data/triggers/<trigger>.yaml), in cfn_alarms' notation, and the
    topic they notify when alarm_email is answered."""
    fn = "hello-fn"
    actions = ["topic"] if answers.get("alarm_email") else []

    def alarm(spec: dict) -> dict:
        return {"namespace": spec["namespace"], "metric": spec["metric"], "statistic": spec["statistic"],
                "dimensions": spec["dimensions"], "comparison": spec["comparison"],
                "threshold": answers_arithmetic(spec["threshold"], answers),
                # One period of 5 minutes, one datapoint of one; no data is no alarm.
                "period": 300, "evaluation_periods": 1, "datapoints": 1, "missing_data": "notBreaching",
                "actions": actions, "ok_actions": actions}

    specs = {**FUNCTION_ALARMS, **TRIGGERS[answers["trigger"]]["alarms"]}
    topic = {
        "name": f"{fn}-alarms",
        # No KMS key: CloudWatch cannot publish to a topic under the AWS
        # managed key (checkov's CKV_AWS_26 is skipped with that reason).
        "kms_key": None,
        "subscriptions": [("email", answers["alarm_email"])],
        # CloudWatch, for this account's alarms, may publish; no one without TLS.
        "policy": sorted([
            ("Allow", "cloudwatch.amazonaws.com", "sns:Publish", "topic",
             json.dumps({"StringEquals": {"aws:SourceAccount": "ACCOUNT"}})),
            ("Deny", "*", "sns:Publish", "topic", json.dumps({"Bool": {"aws:SecureTransport": "false"}}))]),
    } if answers.get("alarm_email") else None
    return {"alarms": {f"{fn}-{suffix}": alarm(spec) for suffix, spec in specs.items()}, "topic": topic}


@pytest.mark.parametrize("trigger_answers", [
    pytest.param(c, id=c["trigger"]) for c in IAC_PROJECTS
    if c["iac"] == "sam" and c.get("function_url_auth") != "NONE"] + [
    # Without an alarm_email: the same alarms, notifying no one, and no topic.
    pytest.param({**c, "alarm_email": ""}, id=c["trigger"] + "-no-email") for c in IAC_PROJECTS
    if c["iac"] == "sam" and c["trigger"] == "function-url" and c.get("function_url_auth") != "NONE"])
def test_equivalent_alarms_in_every_iac(render, trigger_answers):
    """The same alarms (metric, statistic, dimensions, threshold, period,
    evaluation) whichever IaC is chosen, and with an alarm_email the same
    topic, email subscription and topic policy."""
    expected = expected_alarms(trigger_answers)
    for iac in IACS:
        answers = next(c for c in IAC_PROJECTS if c["iac"] == iac and c["trigger"] == trigger_answers["trigger"]
                       and c.get("function_url_auth") == trigger_answers.get("function_url_auth"))
        project = render({**answers, "alarm_email": trigger_answers["alarm_email"]}).path
        assert ALARMS[iac](project) == expected, iac
