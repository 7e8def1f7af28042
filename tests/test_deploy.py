"""`mise run publish`, `deploy`, `invoke:remote` and `destroy` of a generated
project, with the real IaC tool (sam, cdk, terraform, osls) against a local AWS API.

The AWS API is moto_server, started through tests/moto_cfn.py, which adds
what stock moto's CloudFormation lacks for SAM and CDK stacks (see its
docstring). Everything is checked afterwards through the AWS CLI against the
same server. The container engine is still the docker stand-in
(tests/standins/docker): no engine runs here, so `publish` stores an image
manifest in moto's ECR instead of pushing a real image.

Which deploys (DEPLOYS): every trigger once, and every IaC tool, in four
deploys.

What moto cannot store is checked on the tool's own template instead, and says
so below: Lambda's LoggingConfig (moto's Lambda keeps no logging settings):
JSON, the function's own log group, the answered application log level.
`mise run diff` is checked twice per deploy: right after a deploy (nothing to
change), and after `copier update -d memory_size=256` (it names the memory,
and the deployed function keeps the old value). SAM's change set goes through
moto_cfn, which records the change-set calls: created, described, deleted,
never executed.
`invoke:remote` goes as far as moto answers:
- http-api: moto serves no execute-api endpoint, so the test checks that the
  task called the deployed API's URL;
- function-url: moto serves no lambda-url endpoint either. The task's real
  curl is pointed (--connect-to) at a recording HTTPS server standing in for
  the URL's endpoint, and the test checks the SigV4 signature it received;
- sqs and schedule: the message goes to moto's queue, whose event source
  mapping invokes the function, and `aws lambda invoke` goes to moto's
  Lambda. moto cannot run an image function (it would need Docker), so
  moto_cfn hands those invocations to the Runtime Interface Emulator running
  the project's own handler (`mise run start:native`): the function's real
  answer and log are checked. (moto deletes a batch's messages unless the
  function fails as a whole: it does not act on batchItemFailures, so the
  redrive to the dead-letter queue is not exercised here.)
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import threading
import time
import urllib.request
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from conftest import (COPIER, GIT_IDENTITY, ROOT, assert_case, aws, aws_env, cases_for, cdk_node_modules, mise_env,
                      moto_server, params, pick, reserve, rie_path, run, wait_for_port)
from support.choices import TRIGGERS, output_name, trigger_outputs
from support.iac import (FUNCTION_ALARMS, OSLS_TEMPLATE, CfnLoader, answers_arithmetic, cfn_cors, expected_cors,
                         terraform_config)
from support.releases import first_release

REGION = "eu-west-2"  # differs from the answered default, to show it is honoured
ACCOUNT = "123456789012"  # moto's account
ROUTES = sorted(yaml.safe_load(COPIER["http_routes"]["default"]))  # copier.yml's, which the IaC declares
# The answers these projects take by default (copier.yml).
DEFAULT = {q: COPIER[q]["default"] for q in ("memory_size", "timeout", "log_retention_days")}
LOG_LEVEL = COPIER["log_level"]["default"]


# Every trigger deployed once, and every IaC tool deploying one, in four
# deploys, not 12 (the IaC validation tests of test_iac cover every iac x
# trigger without deploying); copier.yml's defaults elsewhere.
DEPLOYS = pick(("trigger",), ("iac",))
# The first deploy (SAM) with a free-text description that YAML would cut at
# " #" or refuse at ": " unquoted: it must reach the stack and the function
# intact (test_free_text reads harder ones back from every file).
DEPLOYS[0] = {**DEPLOYS[0], "description": "Orders API: creates orders #1"}
# The HTTP triggers' deploys let browsers call from two origins (CORS), which
# assert_cors reads back from the deployed API or URL.
DEPLOYS = [{**c, "cors_allow_origins": "https://app.example.com, http://localhost:3000"}
           if c["trigger"] in ("http-api", "function-url") else c for c in DEPLOYS]
# The alarms notify an email's topic in every deploy but the Serverless
# Framework's, whose topic is the SAM template's CloudFormation (one macro):
# there they notify no one.
ALARM_EMAIL = "alarms@example.com"
DEPLOYS = [c if c["iac"] == "serverless" else {**c, "alarm_email": ALARM_EMAIL} for c in DEPLOYS]


@pytest.fixture(scope="module")
def emulator_ports() -> tuple[int, int]:
    """Where the function runs when moto invokes it (moto_cfn.EMULATOR): the
    emulator a test starts with `mise run start:native --port P --api-port Q`.
    Both ports it binds are reserved (tests/ports.py), the Runtime API's too."""
    port, api_port = reserve(2)
    return port, api_port


@pytest.fixture(scope="module")
def moto(tmp_path_factory, emulator_ports):
    yield from moto_server(tmp_path_factory.mktemp("moto"), REGION,
                           env={"MOTO_LAMBDA_EMULATOR": f"http://127.0.0.1:{emulator_ports[0]}"})


class Project:
    """A generated project in a git repository, with the environment its tasks
    run in: AWS pointed at moto, the docker stand-in, the real IaC tool."""

    def __init__(self, path: Path, env: dict):
        self.path, self.env = path, env

    def mise(self, *task, check=True):
        return run(["mise", "run", *task], self.path, env=self.env, check=check, timeout=1200)

    def aws(self, *args):
        # AWS CLI v1 (here) sends SQS calls to SQS's own host unless told the
        # endpoint on the command line.
        endpoint = ["--endpoint-url", self.env["AWS_ENDPOINT_URL"]] if args[0] == "sqs" else []
        out = aws([*args, *endpoint, "--region", REGION, "--output", "json"], self.env).stdout
        return json.loads(out) if out.strip() else {}

    def clone(self, dst: Path) -> Project:
        run(["git", "clone", "-q", str(self.path), str(dst)], self.path)
        return Project(dst, self.env)

    def git_status(self) -> str:
        return run(["git", "status", "--porcelain"], self.path).stdout

    def answers(self) -> dict:
        """The recorded answers, with the trigger's own (batch size, schedule...)."""
        return yaml.safe_load((self.path / ".copier-answers.yml").read_text())

    def outputs(self, iac: str) -> dict:
        """The deployment's outputs under their CloudFormation names."""
        if iac == "terraform":
            out = json.loads(run(["terraform", "-chdir=terraform", "output", "-json"], self.path,
                                 env=self.env).stdout)
            return {cfn: out[output_name(iac, cfn)]["value"] for cfn in trigger_outputs()
                    if output_name(iac, cfn) in out}
        (stack,) = self.aws("cloudformation", "describe-stacks", "--stack-name", "hello-fn")["Stacks"]
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


@pytest.fixture(scope="module")
def template_release(tmp_path_factory) -> Path:
    """A throwaway template repository holding this working tree's template as
    v1.0.0, for `copier update` (never a tag of this repository)."""
    return first_release(tmp_path_factory.mktemp("release"))


@pytest.fixture
def project(render, tmp_path, moto):
    urllib.request.urlopen(urllib.request.Request(f"{moto}/moto-api/reset", method="POST")).read()

    def _make(answers) -> Project:
        path = tmp_path / "project"
        source = render(answers).path
        # The project without its build output and git folder (but with the
        # build tasks in .config/mise/tasks/build).
        shutil.copytree(source, path, ignore=lambda folder, names: [
            n for n in names if n == ".git" or (Path(folder) == source and n in ("build", "target"))])
        run(["git", "init", "-q", "-b", "main"], path)
        run(["git", "add", "-A"], path)
        run(["git", "commit", "-q", "-m", "init"], path, env=GIT_IDENTITY)
        if (path / "serverless").is_dir():
            preinstall_osls(path / "serverless")

        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        (bin_dir / "docker").symlink_to(ROOT / "tests" / "standins" / "docker")
        # The docker stand-in first; the IaC tools as installed.
        path_dirs = [str(bin_dir), str(ROOT / ".tools" / "bin"), os.environ["PATH"]]
        # Terraform installs the AWS provider from the local mirror (the
        # registry does not answer here).
        tf_config = tmp_path / "terraform.rc"
        tf_config.write_text('provider_installation {\n  filesystem_mirror {\n'
                             '    path    = "/opt/tf-plugins"\n'
                             '    include = ["registry.terraform.io/hashicorp/aws"]\n  }\n}\n')
        env = {
            **mise_env(Path("/")),
            **GIT_IDENTITY,
            "PATH": os.pathsep.join(path_dirs),
            "STANDIN_LOG": str(tmp_path / "calls.jsonl"),
            **aws_env(moto, REGION, tmp_path),
            "TF_CLI_CONFIG_FILE": str(tf_config),
            # moto serves S3 on one host name: the state bucket by path.
            "TF_CLI_ARGS_init": "-backend-config=use_path_style=true",
            "SAM_CLI_TELEMETRY": "0",
            "CDK_DISABLE_VERSION_CHECK": "1",
            "SLS_TELEMETRY_DISABLED": "1",
            "SLS_NOTIFICATIONS_MODE": "off",
        }
        return Project(path, env)

    return _make


def preinstall_osls(folder: Path) -> None:
    """serverless/node_modules as the project's own `npm ci` makes it (from
    the suite's cache of that install, conftest's cdk_node_modules), with the
    record scripts/serverless-dependencies writes after an install, so the
    tasks skip theirs: a deploy then spends no 20 s (or a registry's stall)
    on npm."""
    node_modules = cdk_node_modules(folder)
    node = run(["node", "--version"], folder).stdout.encode()
    (node_modules / ".installed-from").write_bytes(
        (folder / "package.json").read_bytes() + (folder / "package-lock.json").read_bytes() + node)


# --- What the deploy made, through the AWS CLI --------------------------------

def api_id(p: Project) -> str:
    (api,) = p.aws("apigatewayv2", "get-apis")["Items"]
    return api["ApiId"]


def queue_mappings(p: Project, queue_arn: str) -> list[dict]:
    """The event source mappings reading this queue. By the queue, not by
    --function-name: moto matches that against the string the IaC gave
    (Terraform gives the function's ARN, SAM and CDK its name), where AWS
    resolves either."""
    return p.aws("lambda", "list-event-source-mappings", "--event-source-arn", queue_arn)["EventSourceMappings"]


def queue_attributes(p: Project, url: str) -> dict:
    return p.aws("sqs", "get-queue-attributes", "--queue-url", url, "--attribute-names", "All")["Attributes"]


def identities(p: Project, answers: dict) -> dict:
    """Ids that change when a resource is replaced rather than updated."""
    fn = p.aws("lambda", "get-function", "--function-name", "hello-fn")["Configuration"]
    ids = {
        "role": p.aws("iam", "get-role", "--role-name", fn["Role"].rsplit("/", 1)[1])["Role"]["RoleId"],
        "log_groups": sorted((g["logGroupName"], g["creationTime"])
                             for g in p.aws("logs", "describe-log-groups")["logGroups"]),
    }
    trigger, outputs = answers["trigger"], p.outputs(answers["iac"])
    if trigger == "http-api":
        api = api_id(p)
        ids.update(api=api, routes=sorted(r["RouteId"] for r in p.aws("apigatewayv2", "get-routes",
                                                                       "--api-id", api)["Items"]),
                   integrations=sorted(i["IntegrationId"] for i in p.aws("apigatewayv2", "get-integrations",
                                                                         "--api-id", api)["Items"]))
    elif trigger == "function-url":
        url = p.aws("lambda", "get-function-url-config", "--function-name", "hello-fn")
        ids["url"] = (url["FunctionUrl"], url["CreationTime"])
    elif trigger == "sqs":
        ids["queues"] = [(a["QueueArn"], a["CreatedTimestamp"]) for a in (
            queue_attributes(p, outputs["QueueUrl"]), queue_attributes(p, outputs["DeadLetterQueueUrl"]))]
        ids["mappings"] = [m["UUID"] for m in queue_mappings(p, ids["queues"][0][0])]
    else:
        schedule = p.aws("scheduler", "get-schedule", "--name", outputs["ScheduleName"])
        ids["schedule"] = (schedule["Arn"], schedule["CreationDate"])
        ids["dead_letters"] = queue_attributes(p, outputs["DeadLetterQueueUrl"])["CreatedTimestamp"]
    return ids


def policy_statements(p: Project, role: str) -> list:
    """The statements of a role's inline policies; it has no managed ones."""
    assert p.aws("iam", "list-attached-role-policies", "--role-name", role)["AttachedPolicies"] == []
    statements = []
    for name in p.aws("iam", "list-role-policies", "--role-name", role)["PolicyNames"]:
        document = p.aws("iam", "get-role-policy", "--role-name", role, "--policy-name", name)["PolicyDocument"]
        statements += document["Statement"]
    return statements


def assert_deployed(p: Project, answers: dict, image: str) -> None:
    got = p.aws("lambda", "get-function", "--function-name", "hello-fn")
    fn = got["Configuration"]
    assert got["Code"]["ImageUri"] == image, "the function runs the published image, by digest"
    assert fn["PackageType"] == "Image"
    assert fn["Architectures"] == [answers["architecture"]]
    assert (fn["MemorySize"], fn["Timeout"]) == (DEFAULT["memory_size"], DEFAULT["timeout"]), fn
    assert fn["TracingConfig"] == {"Mode": "Active"}
    # The description as answered: the CloudFormation stack's (SAM, CDK, osls)
    # and the function's (SAM, osls; Terraform gives the function a text of its
    # own, CDK none).
    description = p.answers()["description"]
    if answers["iac"] != "terraform":
        (stack,) = p.aws("cloudformation", "describe-stacks", "--stack-name", "hello-fn")["Stacks"]
        assert stack["Description"] == description
    if answers["iac"] in ("sam", "serverless"):
        assert fn["Description"] == description

    # The execution role: its own log group and X-Ray, and what the trigger
    # needs on the trigger's own resources; nothing managed.
    own_logs = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/hello-fn:*"
    expected = {("logs:CreateLogStream", own_logs), ("logs:PutLogEvents", own_logs),
                ("xray:PutTelemetryRecords", "*"), ("xray:PutTraceSegments", "*")}
    trigger, outputs = answers["trigger"], p.outputs(answers["iac"])
    if trigger == "sqs":
        queue = queue_attributes(p, outputs["QueueUrl"])["QueueArn"]
        expected |= {(a, queue) for a in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")}
    elif trigger == "schedule":
        expected.add(("sqs:SendMessage", queue_attributes(p, outputs["DeadLetterQueueUrl"])["QueueArn"]))
    assert role_permissions(policy_statements(p, fn["Role"].rsplit("/", 1)[1])) == expected

    groups = p.aws("logs", "describe-log-groups")["logGroups"]
    assert "/aws/lambda/hello-fn" in {g["logGroupName"] for g in groups}, groups
    assert all(g.get("retentionInDays") == DEFAULT["log_retention_days"] for g in groups), groups
    # The HTTP API has an access log besides the function's log.
    assert len(groups) == (2 if trigger == "http-api" else 1), groups
    {"http-api": assert_http_api, "function-url": assert_function_url, "sqs": assert_queue,
     "schedule": assert_schedule}[trigger](p, p.answers(), fn, outputs)


def assert_http_api(p: Project, answers: dict, fn: dict, outputs: dict) -> None:
    api = api_id(p)
    routes = p.aws("apigatewayv2", "get-routes", "--api-id", api)["Items"]
    assert sorted(r["RouteKey"] for r in routes) == ROUTES
    # Lambda proxy integrations of this function (SAM makes one per route).
    integrations = p.aws("apigatewayv2", "get-integrations", "--api-id", api)["Items"]
    for integration in integrations:
        assert integration["IntegrationType"] == "AWS_PROXY"
        assert integration["PayloadFormatVersion"] == "2.0"
        assert fn["FunctionArn"] in integration["IntegrationUri"]
    assert {r["Target"] for r in routes} == {f"integrations/{i['IntegrationId']}" for i in integrations}
    (stage,) = p.aws("apigatewayv2", "get-stages", "--api-id", api)["Items"]
    assert stage["StageName"] == "$default" and stage["AutoDeploy"] is True
    assert_cors(p.aws("apigatewayv2", "get-api", "--api-id", api).get("CorsConfiguration"), answers)

    # One invoke permission per route, for this API only.
    policy = json.loads(p.aws("lambda", "get-policy", "--function-name", "hello-fn")["Policy"])
    sources = sorted(s["Condition"]["ArnLike"]["AWS:SourceArn"] for s in policy["Statement"])
    prefix = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api}/"
    assert len(sources) == 2 and all(s.startswith(prefix) for s in sources), sources
    assert [s.rsplit("/", 1)[1] for s in sources] == ["goodbye", "hello"], sources
    assert all(s["Principal"] == {"Service": "apigateway.amazonaws.com"} for s in policy["Statement"])

    groups = p.aws("logs", "describe-log-groups")["logGroups"]
    assert stage["AccessLogSettings"]["DestinationArn"].rstrip(":*") in {g["arn"].rstrip(":*") for g in groups}


def assert_cors(cors: dict | None, answers: dict) -> None:
    """The deployed CORS settings (an HTTP API's CorsConfiguration, a Function
    URL's Cors) are the ones every IaC must give for these answers (the
    origins, the routes' methods, the request headers, a 300 s preflight
    cache, no credentials); none without origins."""
    expected = expected_cors(answers)
    if expected is None:
        assert not cors, cors
        return
    assert cors, "no CORS settings deployed"
    assert cfn_cors({**cors, "AllowHeaders": [h.lower() for h in cors["AllowHeaders"]]}) == expected, cors


def function_policy(p: Project) -> list:
    """The function's resource policy statements ([] without one)."""
    got = aws(["lambda", "get-policy", "--function-name", "hello-fn", "--region", REGION, "--output", "json"],
              p.env, check=False)
    if got.returncode != 0:
        assert "ResourceNotFoundException" in got.stderr, got.stderr
        return []
    return json.loads(json.loads(got.stdout)["Policy"])["Statement"]


def assert_function_url(p: Project, answers: dict, fn: dict, outputs: dict) -> None:
    url = p.aws("lambda", "get-function-url-config", "--function-name", "hello-fn")
    assert url["AuthType"] == answers["function_url_auth"]
    assert url["FunctionUrl"].rstrip("/") == outputs["FunctionUrl"].rstrip("/")
    assert re.fullmatch(rf"https://[0-9a-z]+\.lambda-url\.{REGION}\.on\.aws/?", outputs["FunctionUrl"])
    assert url.get("InvokeMode", "BUFFERED").upper() == "BUFFERED"
    assert_cors(url.get("Cors"), answers)
    public = [s for s in function_policy(p) if s["Principal"] in ("*", {"AWS": "*"})]
    if answers["function_url_auth"] == "AWS_IAM":
        assert public == [], "with AWS_IAM only signed callers get in: no public permission"
    else:
        # AuthType NONE: the URL is public, and only through the URL.
        conditions = [s.get("Condition", {}) for s in public]
        assert public and all(c.get("StringEquals", {}).get("lambda:FunctionUrlAuthType") == "NONE"
                              or c.get("Bool", {}).get("lambda:InvokedViaFunctionUrl") == "true"
                              for c in conditions), public


def assert_queue(p: Project, answers: dict, fn: dict, outputs: dict) -> None:
    queue = queue_attributes(p, outputs["QueueUrl"])
    dead_letters = queue_attributes(p, outputs["DeadLetterQueueUrl"])
    for attributes in (queue, dead_letters):
        # Encrypted at rest (SSE-SQS or a KMS key), and only over TLS.
        assert attributes.get("SqsManagedSseEnabled") == "true" or attributes.get("KmsMasterKeyId"), attributes
        (statement,) = json.loads(attributes["Policy"])["Statement"]
        assert (statement["Effect"], statement["Condition"]) == (
            "Deny", {"Bool": {"aws:SecureTransport": "false"}}), statement
    redrive = json.loads(queue["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dead_letters["QueueArn"]
    assert int(redrive["maxReceiveCount"]) == 5
    # AWS's guidance: at least six times the function's timeout (plus the
    # batching window), so a batch is not retried while it still runs.
    assert int(queue["VisibilityTimeout"]) >= 6 * fn["Timeout"] + answers["sqs_batching_window"], queue
    # The dead letters are kept as long as SQS allows: 14 days.
    assert dead_letters["MessageRetentionPeriod"] == str(14 * 24 * 3600)

    (mapping,) = queue_mappings(p, queue["QueueArn"])
    assert mapping["EventSourceArn"] == queue["QueueArn"]
    assert mapping["FunctionArn"] == fn["FunctionArn"]
    assert mapping["State"] == "Enabled"
    assert mapping["BatchSize"] == answers["sqs_batch_size"]
    assert mapping.get("MaximumBatchingWindowInSeconds", 0) == answers["sqs_batching_window"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def assert_schedule(p: Project, answers: dict, fn: dict, outputs: dict) -> None:
    schedule = p.aws("scheduler", "get-schedule", "--name", outputs["ScheduleName"])
    dead_letters = queue_attributes(p, outputs["DeadLetterQueueUrl"])
    assert schedule["ScheduleExpression"] == answers["schedule_expression"]
    assert schedule["State"] == "ENABLED"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = schedule["Target"]
    assert target["Arn"] == fn["FunctionArn"]
    assert target["DeadLetterConfig"] == {"Arn": dead_letters["QueueArn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1, target
    # What the schedule sends: EventBridge's Scheduled Event, filled in by
    # the scheduler's context attributes.
    event = json.loads(target["Input"])
    assert event == {"version": "0", "id": "<aws.scheduler.execution-id>", "detail-type": "Scheduled Event",
                     "source": "aws.scheduler", "account": ACCOUNT, "time": "<aws.scheduler.scheduled-time>",
                     "region": REGION, "resources": ["<aws.scheduler.schedule-arn>"], "detail": {}}, event
    # The scheduler's role may invoke this function and dead-letter to this queue.
    role = target["RoleArn"].rsplit("/", 1)[1]
    assert role_permissions(policy_statements(p, role)) == {
        ("lambda:InvokeFunction", fn["FunctionArn"]), ("sqs:SendMessage", dead_letters["QueueArn"])}

    # The schedule invokes asynchronously: Lambda retries a failed run, then
    # sends it to the same dead-letter queue.
    config = p.aws("lambda", "get-function-event-invoke-config", "--function-name", "hello-fn")
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == dead_letters["QueueArn"]
    assert 0 <= config["MaximumRetryAttempts"] <= 2
    assert dead_letters.get("SqsManagedSseEnabled") == "true" or dead_letters.get("KmsMasterKeyId"), dead_letters


def assert_alarms(p: Project, answers: dict) -> None:
    """The function's alarms and the trigger's (tests/data/triggers/), as
    deployed: metric, statistic, dimensions (the deployed function, queue and
    API), period, evaluation, threshold; with an alarm_email, they notify its
    topic, which only CloudWatch may publish to, and which the email subscribes to."""
    recorded = p.answers()
    outputs = p.outputs(answers["iac"])
    email = recorded.get("alarm_email", "")
    topics = [t["TopicArn"] for t in p.aws("sns", "list-topics")["Topics"]]
    if email:
        (topic,) = topics
        assert topic == f"arn:aws:sns:{REGION}:{ACCOUNT}:hello-fn-alarms"
        subscriptions = p.aws("sns", "list-subscriptions-by-topic", "--topic-arn", topic)["Subscriptions"]
        assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", email)]
        policy = json.loads(p.aws("sns", "get-topic-attributes", "--topic-arn", topic)["Attributes"]["Policy"])
        statements = sorted((s["Effect"], json.dumps(s["Principal"]), s["Action"], s["Resource"],
                             json.dumps(s["Condition"], sort_keys=True)) for s in policy["Statement"])
        assert [s[:2] for s in statements] == [("Allow", '{"Service": "cloudwatch.amazonaws.com"}'),
                                               ("Deny", '"*"')], statements
        assert all(s[2:4] == ("sns:Publish", topic) for s in statements), statements
        assert json.loads(statements[0][4]) == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
        assert json.loads(statements[1][4]) == {"Bool": {"aws:SecureTransport": "false"}}
        actions = [topic]
    else:
        assert topics == [], "without an alarm_email, no topic"
        actions = []

    def deployed(meaning: str) -> str:
        """A dimension's value in the deployment, from what it names."""
        if meaning == "function":
            return "hello-fn"
        if meaning == "api":
            return api_id(p)
        if meaning.startswith("queue "):
            name = meaning.removeprefix("queue ")
            url = outputs["DeadLetterQueueUrl" if name.endswith("-dlq") else "QueueUrl"]
            assert url.rsplit("/", 1)[1] == name, url
            return name
        return meaning

    specs = {**FUNCTION_ALARMS, **TRIGGERS[answers["trigger"]]["alarms"]}
    alarms = {a["AlarmName"]: a for a in p.aws("cloudwatch", "describe-alarms")["MetricAlarms"]}
    assert set(alarms) == {f"hello-fn-{suffix}" for suffix in specs}, alarms
    for suffix, spec in specs.items():
        alarm = alarms[f"hello-fn-{suffix}"]
        assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
            spec["namespace"], spec["metric"], spec["statistic"]), alarm
        assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {
            name: deployed(meaning) for name, meaning in spec["dimensions"].items()}, alarm
        assert (alarm["Period"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (300, 1, 1), alarm
        assert alarm["ComparisonOperator"] == spec["comparison"], alarm
        assert alarm["Threshold"] == answers_arithmetic(spec["threshold"], recorded), alarm
        assert alarm["TreatMissingData"] == "notBreaching", alarm
        assert (alarm["AlarmActions"], alarm["OKActions"]) == (actions, actions), alarm


def role_permissions(statements: list) -> set:
    """(action, resource) pairs that a role's policy statements allow."""
    pairs = set()
    for s in statements:
        assert s["Effect"] == "Allow", s
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
        pairs |= {(a, r) for a in actions for r in resources}
    return pairs


def assert_only_the_repository_is_left(p: Project, answers: dict) -> None:
    assert p.aws("lambda", "list-functions")["Functions"] == []
    assert p.aws("lambda", "list-event-source-mappings")["EventSourceMappings"] == []
    assert p.aws("apigatewayv2", "get-apis")["Items"] == []
    assert p.aws("sqs", "list-queues").get("QueueUrls", []) == []
    assert p.aws("scheduler", "list-schedules")["Schedules"] == []
    assert p.aws("logs", "describe-log-groups")["logGroups"] == []
    assert p.aws("cloudwatch", "describe-alarms")["MetricAlarms"] == []
    assert p.aws("sns", "list-topics")["Topics"] == []
    assert p.aws("iam", "list-roles")["Roles"] == []
    assert p.aws("iam", "list-policies", "--scope", "Local")["Policies"] == []
    stacks = p.aws("cloudformation", "list-stacks")["StackSummaries"]
    assert all(s["StackStatus"] == "DELETE_COMPLETE" for s in stacks), stacks
    (repo,) = p.aws("ecr", "describe-repositories")["repositories"]
    assert repo["repositoryName"] == "hello-fn"
    assert p.aws("ecr", "list-images", "--repository-name", "hello-fn")["imageIds"]
    buckets = [b["Name"] for b in p.aws("s3api", "list-buckets")["Buckets"]]
    if answers["iac"] == "terraform":
        # The state bucket stays, with a state that holds nothing.
        assert buckets == [f"tfstate-{ACCOUNT}-{REGION}"]
        state = aws(["s3", "cp", f"s3://{buckets[0]}/hello-fn/terraform.tfstate", "-", "--region", REGION],
                    p.env).stdout
        assert json.loads(state)["resources"] == []
    else:
        assert buckets == []


# --- What moto cannot store, on the tool's own template -----------------------

def assert_json_logs_to_own_group(p: Project, iac: str) -> None:
    """moto's Lambda stores no LoggingConfig, so it is checked where each tool
    declares it: the SAM template, the synthesized CDK template, the Terraform
    configuration, the template osls packaged and deployed."""
    if iac == "sam":
        template = yaml.load((p.path / "sam" / "template.yaml").read_text(), Loader=CfnLoader)
        config = template["Resources"]["Function"]["Properties"]["LoggingConfig"]
        group = template["Resources"][config["LogGroup"]["Ref"]]["Properties"]["LogGroupName"]
        assert (config["LogFormat"], group) == ("JSON", "/aws/lambda/hello-fn")
        assert (config["ApplicationLogLevel"], config["SystemLogLevel"]) == (LOG_LEVEL, "INFO")
    elif iac == "cdk":
        (synthesized,) = (p.path / "cdk" / "cdk.out").glob("*.template.json")
        resources = json.loads(synthesized.read_text())["Resources"]
        (fn,) = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Function"]
        group = resources[fn["LoggingConfig"]["LogGroup"]["Ref"]]["Properties"]["LogGroupName"]
        assert (fn["LoggingConfig"]["LogFormat"], group) == ("JSON", "/aws/lambda/hello-fn")
        assert (fn["LoggingConfig"]["ApplicationLogLevel"], fn["LoggingConfig"]["SystemLogLevel"]) == (
            LOG_LEVEL, "INFO")
    elif iac == "serverless":
        resources = json.loads((p.path / "serverless" / OSLS_TEMPLATE).read_text())["Resources"]
        (fn,) = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Function"]
        groups = [r["Properties"]["LogGroupName"] for r in resources.values() if r["Type"] == "AWS::Logs::LogGroup"
                  and "LogGroupName" in r["Properties"]]
        assert fn["LoggingConfig"] == {"LogFormat": "JSON", "LogGroup": "/aws/lambda/hello-fn",
                                       "ApplicationLogLevel": LOG_LEVEL, "SystemLogLevel": "INFO"}
        assert groups == ["/aws/lambda/hello-fn"], "the stack owns the function's log group"
    else:
        fn = terraform_config(p.path)["resource"]["aws_lambda_function"]["this"]
        assert fn["logging_config"] == [{
            "log_format": "JSON", "log_group": "${aws_cloudwatch_log_group.lambda.name}",
            "application_log_level": "${var.log_level}",
            "system_log_level": '${contains(["TRACE", "DEBUG"], var.log_level) ? "DEBUG" : "INFO"}'}]
        assert terraform_config(p.path)["variable"]["log_level"]["default"] == LOG_LEVEL


# --- mise run diff: each tool's own preview -----------------------------------

# What each tool says when the deployment matches.
NO_CHANGES = {"sam": "No changes to deploy", "cdk": "There were no differences",
              "terraform": "No changes. Your infrastructure matches the configuration.",
              "serverless": "No changes to deploy"}
# The change sets a preview makes: sam's own, and the one the Serverless
# Framework's diff makes of osls's packaged template.
CHANGE_SET_PREFIX = {"sam": "samcli-deploy", "serverless": "preview-"}


def change_set_calls(p: Project) -> list[dict]:
    """The change-set calls moto_cfn has recorded so far."""
    with urllib.request.urlopen(f"{p.env['AWS_ENDPOINT_URL']}/_standin/change-set-calls") as answer:
        return json.loads(answer.read())


def assert_previewed_by_a_change_set(made: list[dict], described: bool, iac: str) -> None:
    """One change set (the tool's), created, described (the waiter and the
    table; with property values when it holds changes), deleted, never
    executed."""
    (name,) = {c["change_set"] for c in made}
    assert name.startswith(CHANGE_SET_PREFIX[iac]), made
    actions = [c["action"] for c in made]
    assert (actions[0], actions[-1]) == ("CreateChangeSet", "DeleteChangeSet"), made
    assert set(actions[1:-1]) == {"DescribeChangeSet"}, made
    assert any(c.get("include_property_values") for c in made) == described, made


def planned(output: str) -> set[str]:
    """What a Terraform plan (or apply) says it will do, one entry per resource
    (colors, which deploy's terminal-less apply still prints, taken out)."""
    output = re.sub(r"\x1b\[[0-9;]*m", "", output)
    return set(re.findall(r"# (\S+) will be (created|updated in-place|destroyed|replaced)", output)) | set(
        re.findall(r"# (\S+) must be (replaced)", output))


def assert_diff_says_no_changes(p: Project, iac: str) -> None:
    """`diff` right after a deploy."""
    calls = len(change_set_calls(p))
    diff = p.mise("diff")
    output = diff.stdout + diff.stderr
    if iac == "terraform" and NO_CHANGES[iac] not in output:
        # moto returns some settings otherwise than Terraform gave them (see
        # the second deploy's in-place updates above), so its plan is never
        # empty here: it redoes what is deployed already, and adds or
        # destroys nothing else.
        state = set(run(["terraform", "-chdir=terraform", "state", "list"], p.path, env=p.env).stdout.split())
        assert planned(output) and {address for address, _ in planned(output)} <= state, (output, state)
        assert re.search(r"Plan: \d+ to add, \d+ to change, 0 to destroy\.", output), output
        assert "memory_size" not in output, output
    elif iac == "serverless" and NO_CHANGES[iac] not in output:
        # moto's change set diffs against the resources it recorded for the
        # stack, and it records none for a stack osls made (CreateStack, then
        # UpdateStack), so every resource shows as an Add: still a preview
        # of the packaged template, made and deleted, never executed.
        assert re.search(r"Add\s*\|\s*\|\s*None\s*\|\s*FunctionLambdaFunction", output), output
        assert not re.search(r"\|\s*(Modify|Remove)\s*\|", output), output
    else:
        assert NO_CHANGES[iac] in output, output
    if iac in CHANGE_SET_PREFIX:
        # The change set, deleted, never executed (described with property
        # values only where it holds changes).
        made = change_set_calls(p)[calls:]
        assert_previewed_by_a_change_set(made, described=NO_CHANGES[iac] not in output, iac=iac)
    assert p.git_status() == ""


def assert_diff_previews_a_memory_update(p: Project, iac: str, release: Path) -> None:
    """`copier update -d memory_size=256`, as a user would after generating
    the project from a release; `diff` names the memory's change, and the
    deployed function keeps its memory."""
    answers_file = p.path / ".copier-answers.yml"
    recorded = yaml.safe_load(answers_file.read_text())
    # The project as generated from the release (the same template as the render).
    recorded.update(_src_path=str(release), _commit="v1.0.0")
    answers_file.write_text("# Changes here will be overwritten by Copier; NEVER EDIT MANUALLY\n"
                            + yaml.safe_dump(recorded, sort_keys=True))
    run(["git", "commit", "-q", "-am", "Generated from v1.0.0"], p.path, env=p.env)
    run(["copier", "update", "--trust", "--defaults", "--vcs-ref", "v1.0.0", "-d", "memory_size=256"],
        p.path, env=p.env)
    assert p.answers()["memory_size"] == 256
    run(["git", "commit", "-q", "-am", "memory_size 256"], p.path, env=p.env)

    calls = len(change_set_calls(p))
    diff = p.mise("diff")
    output = diff.stdout + diff.stderr
    old = DEFAULT["memory_size"]
    if iac == "terraform":
        assert re.search(rf"~ memory_size\s+= {old} -> 256", output), output
        # (What it adds is moto's: see assert_diff_says_no_changes.)
        assert re.search(r"Plan: \d+ to add, \d+ to change, 0 to destroy\.", output), output
    elif iac == "cdk":
        assert re.search(rf"\[~\] MemorySize\s*\n.*\[-\] {old}\s*\n.*\[\+\] 256", output), output
    elif iac == "serverless" and "Modify" not in output:
        # (moto's gap: see assert_diff_says_no_changes) the function is in
        # the preview, with the memory the update asked for in its template.
        assert re.search(r"Add\s*\|\s*\|\s*None\s*\|\s*FunctionLambdaFunction", output), output
        template = json.loads((p.path / "serverless" / OSLS_TEMPLATE).read_text())
        (fn,) = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
        assert fn["MemorySize"] == 256
        assert_previewed_by_a_change_set(change_set_calls(p)[calls:], described=True, iac=iac)
    else:
        assert re.search(r"Modify\s+\w+\s+AWS::Lambda::Function", output), output
        assert f"MemorySize: {old} -> 256" in output, output
        assert_previewed_by_a_change_set(change_set_calls(p)[calls:], described=True, iac=iac)
    fn = p.aws("lambda", "get-function-configuration", "--function-name", "hello-fn")
    assert fn["MemorySize"] == old, "diff deploys nothing"
    assert p.git_status() == ""


# --- invoke:remote, as far as this machine can serve it -----------------------

class Recorder(http.server.BaseHTTPRequestHandler):
    """Stands in for a Function URL's HTTPS endpoint (moto serves none): records
    each request in its server's `requests` (one list per server, not one shared
    by every server in the process) and answers 200."""

    def do_GET(self):
        self.server.requests.append({"method": "GET", "path": self.path, "headers": dict(self.headers.items())})
        body = b'{"recorded": true}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextmanager
def recording_endpoint(tmp_path: Path):
    """An HTTPS server on 127.0.0.1 with a throwaway certificate; yields it
    (server.server_address[1] is its port, server.requests what it received)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-keyout", str(key), "-out", str(cert)], tmp_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    server.requests = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def assert_signed_for_lambda(request: dict, url: str) -> None:
    """The request carries a valid SigV4 signature for the lambda service in
    REGION, by moto's test credentials: recomputed here with botocore."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    headers = {k.lower(): v for k, v in request["headers"].items()}
    match = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=testing/(\d{8})/" + REGION +
                         r"/lambda/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})",
                         headers.get("authorization", ""))
    assert match, headers
    day, signed, signature = match.groups()
    assert headers["x-amz-date"].startswith(day)
    aws_request = AWSRequest(method=request["method"], url=f"https://{url.split('/')[2]}{request['path']}",
                             headers={h: headers[h] for h in signed.split(";")})
    aws_request.context["timestamp"] = headers["x-amz-date"]
    auth = SigV4Auth(Credentials("testing", "testing"), "lambda", REGION)
    canonical = auth.canonical_request(aws_request)
    assert auth.signature(auth.string_to_sign(aws_request, canonical), aws_request) == signature, canonical


def stop_group(proc: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM to proc's process group (start_new_session made it its leader),
    SIGKILL if it outlives timeout. A group already gone (the task exited, or
    failed to start) is not an error: the teardown must not hide the test's."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            continue
    proc.wait(timeout=timeout)


@pytest.fixture
def function_emulator(tmp_path, emulator_ports):
    """Starts the project's own handler under the emulator, where moto_cfn
    sends the invocations of the deployed (image) function; yields its log."""
    procs = []
    port, api_port = emulator_ports

    def _start(p: Project) -> Path:
        log = tmp_path / "function.log"
        env = {**os.environ, **p.env, "PATH": f"{Path(rie_path()).parent}{os.pathsep}{p.env['PATH']}"}
        out = open(log, "w")
        proc = subprocess.Popen(["mise", "run", "start:native", "--port", str(port), "--api-port", str(api_port)],
                                cwd=p.path, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        procs.append((proc, out))
        wait_for_port(port, proc, timeout=600)
        return log

    yield _start
    for proc, out in procs:
        try:
            stop_group(proc)
        finally:
            out.close()


def call_function_url(p: Project, iac: str, tmp_path: Path) -> tuple[dict, str]:
    """`mise run invoke:remote goodbye --name Chris` with the task's real curl
    connected to the recording endpoint instead of the URL's host (trusting
    its throwaway certificate); the request it received, and the URL."""
    url = p.outputs(iac)["FunctionUrl"]
    bin_dir = tmp_path / "curl-bin"
    bin_dir.mkdir()
    with recording_endpoint(tmp_path) as server:
        port = server.server_address[1]
        curl = bin_dir / "curl"
        curl.write_text(f'#!/bin/sh\nexec {shutil.which("curl")} --insecure --connect-to ::127.0.0.1:{port} "$@"\n')
        curl.chmod(0o755)
        env = {**p.env, "PATH": f"{bin_dir}{os.pathsep}{p.env['PATH']}"}
        out = run(["mise", "run", "invoke:remote", "goodbye", "--name", "Chris"], p.path, env=env).stdout
    assert json.loads(out) == {"recorded": True}, "the endpoint's answer is printed"
    (request,) = server.requests
    assert request["path"] == "/goodbye?name=Chris"
    assert request["headers"]["Host"] == url.split("/")[2]
    return request, url


def invoke_remote(p: Project, answers: dict, tmp_path: Path, deployed: dict, start_function) -> None:
    trigger = answers["trigger"]
    if trigger == "http-api":
        # moto serves no execute-api endpoint: the call reaches curl with the
        # deployed API's URL and fails there.
        invoked = p.mise("invoke:remote", check=False)
        assert invoked.returncode != 0
        assert f"{deployed['api']}.execute-api.{REGION}.amazonaws.com" in invoked.stderr, invoked.stderr
    elif trigger == "function-url":
        request, url = call_function_url(p, answers["iac"], tmp_path)
        if p.answers()["function_url_auth"] == "AWS_IAM":
            assert_signed_for_lambda(request, url)
        else:
            assert "Authorization" not in request["headers"]
    elif trigger == "sqs":
        log = start_function(p)
        sent = p.mise("invoke:remote", "--name", "Chris")
        assert re.fullmatch(r"[0-9a-f-]{36}", json.loads(sent.stdout)["MessageId"])
        dead_letters = p.outputs(answers["iac"])["DeadLetterQueueUrl"]
        assert f"--queue-url {dead_letters}" in sent.stderr, "it says where failed messages go"
        # moto's event source mapping delivered it to the handler, which
        # logged it; the batch succeeded, so the queue is empty.
        assert "Hello, Chris" in log.read_text(), log.read_text()
        queue = queue_attributes(p, p.outputs(answers["iac"])["QueueUrl"])
        assert (queue["ApproximateNumberOfMessages"], queue["ApproximateNumberOfMessagesNotVisible"]) == ("0", "0")
    else:
        log = start_function(p)
        cases = {c["event"]: c for c in cases_for(answers)}
        out = p.mise("invoke:remote").stdout  # the sample Scheduled Event
        assert_case(cases["scheduled.json"], json.loads(out.strip().splitlines()[0]))
        assert all(line in log.read_text() for line in cases["scheduled.json"]["logs"]), log.read_text()
        failed = p.mise("invoke:remote", "not-scheduled", check=False)
        assert failed.returncode != 0
        assert_case(cases["not-scheduled.json"], json.loads(failed.stdout.strip().splitlines()[0]))
        assert "the function failed (Unhandled)" in failed.stderr, failed.stderr


# --- The test -----------------------------------------------------------------

@pytest.mark.parametrize("answers", params(DEPLOYS, group="deploy"))
def test_publish_deploy_invoke_destroy_with_the_real_tool(project, answers, tmp_path, function_emulator,
                                                          template_release):
    iac = answers["iac"]
    p = project(answers)
    p.mise("publish")
    image = (p.path / "build" / "published-image").read_text().strip()

    if iac == "terraform":
        # The state bucket, made before the deploy (which would make it
        # otherwise): reached over TLS only, and replaced states expire.
        bucket = f"tfstate-{ACCOUNT}-{REGION}"
        assert "Creating Terraform state bucket" in p.mise("state-bucket").stdout
        policy = json.loads(p.aws("s3api", "get-bucket-policy", "--bucket", bucket)["Policy"])
        assert [(s["Effect"], s["Principal"], s["Action"], sorted(s["Resource"]), s["Condition"])
                for s in policy["Statement"]] == [
            ("Deny", "*", "s3:*", [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
             {"Bool": {"aws:SecureTransport": "false"}})]
        lifecycle = p.aws("s3api", "get-bucket-lifecycle-configuration", "--bucket", bucket)["Rules"]
        assert [(r["Status"], r["NoncurrentVersionExpiration"]["NoncurrentDays"]) for r in lifecycle] == \
            [("Enabled", 90)], lifecycle
        # moto applies a Deny without evaluating its condition (so it denies
        # HTTPS too): the policy goes, for the deploy to run against it.
        p.aws("s3api", "delete-bucket-policy", "--bucket", bucket)

    first = p.mise("deploy")
    assert_deployed(p, answers, image)
    assert_alarms(p, answers)
    assert_json_logs_to_own_group(p, iac)
    deployed = identities(p, answers)

    # A second deploy of the same digest replaces nothing. For Terraform it
    # runs from a fresh clone (a CI runner's): the state is remote, so the
    # clone republishes the same commit (reused, not pushed) and its deploy
    # creates nothing again.
    again = p.clone(p.path.parent / "clone") if iac == "terraform" else p
    if iac == "terraform":
        assert "reusing it" in again.mise("publish").stdout
    second = again.mise("deploy")
    assert identities(p, answers) == deployed
    output = second.stdout + second.stderr
    if iac == "terraform":
        # The repository publish made is adopted, and gets the default tags.
        assert re.search(r"Resources: 1 imported, \d+ added, 1 changed, 0 destroyed\.", first.stdout), first.stdout
        # Nothing is added or replaced. The function is updated in place,
        # after what moto returns: no LoggingConfig and an empty ImageConfig.
        assert re.search(r"Resources: 0 added, [1-9]\d* changed, 0 destroyed\.", output), output
        assert "must be replaced" not in output
        # The queues and their policies read back as set: not updated (each
        # update costs SQS's propagation checks, some 30 s).
        assert not [a for a, _ in planned(output) if a.startswith("aws_sqs_queue")], output
    elif iac == "sam":
        assert "No changes to deploy" in output, output
    elif iac == "serverless":
        assert "No changes to deploy. Deployment skipped." in output, output
    else:
        assert "(no changes)" in output, output
    for tree in {p, again}:
        assert tree.git_status() == "", "deploy leaves the tree clean (so the next publish reuses the image)"
    assert_diff_says_no_changes(p, iac)

    if iac == "terraform":
        # The state bucket: versioned, encrypted, private; made once.
        bucket = f"tfstate-{ACCOUNT}-{REGION}"
        assert p.aws("s3api", "get-bucket-versioning", "--bucket", bucket)["Status"] == "Enabled"
        rules = p.aws("s3api", "get-bucket-encryption", "--bucket", bucket)[
            "ServerSideEncryptionConfiguration"]["Rules"]
        assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        block = p.aws("s3api", "get-public-access-block", "--bucket", bucket)["PublicAccessBlockConfiguration"]
        assert all(block.values()) and len(block) == 4, block
        assert "exists" in p.mise("state-bucket").stdout
        # Locked by S3 itself (the lock object is gone after the deploy).
        backend = terraform_config(p.path)["terraform"]["backend"]
        assert backend == [{"s3": {"use_lockfile": True, "encrypt": True}}]
        objects = p.aws("s3api", "list-objects-v2", "--bucket", bucket)["Contents"]
        assert [o["Key"] for o in objects] == ["hello-fn/terraform.tfstate"]

    invoke_remote(p, answers, tmp_path, deployed, function_emulator)
    assert p.git_status() == ""

    assert_diff_previews_a_memory_update(p, iac, template_release)

    p.mise("destroy")
    assert_only_the_repository_is_left(p, answers)
    assert p.git_status() == "", "a publish-deploy-destroy cycle leaves the tree clean"

    # With nothing deployed, invoke:remote names the output it looked for.
    gone = p.mise("invoke:remote", check=False)
    assert gone.returncode != 0
    trigger = TRIGGERS[answers["trigger"]]
    said = f"no deployed {trigger['remote_target']} found"
    if trigger["remote_output"]:
        said += f" (stack output {output_name(iac, trigger['remote_output'])})"
    assert f"{said}; run 'mise run deploy' first" in gone.stderr, gone.stderr

    # With nothing deployed, destroy still succeeds; --repository deletes the
    # repository and its images too.
    p.mise("destroy", "--repository")
    assert p.aws("ecr", "describe-repositories")["repositories"] == []
    assert not (p.path / "build" / "published-image").exists()
    assert p.git_status() == ""


def test_invoke_remote_calls_a_public_function_url_unsigned(project, tmp_path):
    """AuthType NONE (not among the deploys above): the task sends a plain
    request. The stack is a stand-in holding only the FunctionUrl output that
    invoke:remote reads (moto serves no Function URL endpoint anyway)."""
    answers = next(c for c in DEPLOYS if c["trigger"] == "function-url")
    p = project({**answers, "iac": "sam", "function_url_auth": "NONE"})
    assert p.answers()["function_url_auth"] == "NONE"
    url = "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-2.on.aws/"
    template = {"Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
                "Outputs": {"FunctionUrl": {"Value": url}}}
    p.aws("cloudformation", "create-stack", "--stack-name", "hello-fn", "--template-body", json.dumps(template))
    request, _ = call_function_url(p, "sam", tmp_path)
    assert not {"authorization", "x-amz-date", "x-amz-security-token"} & {h.lower() for h in request["headers"]}


# --- The image lifecycle rule through a rollback -------------------------------

def lifecycle_expired(policy: dict, images: list[dict], now) -> set[str]:
    """The digests ECR's lifecycle policy would expire (moto stores a policy
    but never applies it), by ECR's documented evaluation: rules in priority
    order; a rule selects tagged images by tag prefix (all prefixes, each
    matching one of the image's tags), untagged ones, or any; it expires
    what is beyond the newest countNumber pushed (imageCountMoreThan) or
    older than countNumber days (sinceImagePushed); an image that matches the
    tag selection of a higher priority rule is never expired by a lower one."""

    def selects(selection, image):
        tags = image.get("imageTags", [])
        if selection["tagStatus"] == "untagged":
            return not tags
        if selection["tagStatus"] == "tagged":
            return all(any(t.startswith(p) for t in tags) for p in selection["tagPrefixList"])
        return True

    matched, expired = set(), set()
    for rule in sorted(policy["rules"], key=lambda r: r["rulePriority"]):
        selection = rule["selection"]
        assert rule["action"] == {"type": "expire"}, rule
        selected = sorted((i for i in images if selects(selection, i)), key=lambda i: i["imagePushedAt"], reverse=True)
        if selection["countType"] == "imageCountMoreThan":
            candidates = selected[selection["countNumber"]:]
        else:
            assert (selection["countType"], selection["countUnit"]) == ("sinceImagePushed", "days"), selection
            candidates = [i for i in selected if (now - i["imagePushedAt"]).days > selection["countNumber"]]
        expired |= {i["imageDigest"] for i in candidates} - matched
        matched |= {i["imageDigest"] for i in selected}
    return expired


@pytest.mark.parametrize("answers", params([c for c in DEPLOYS if c["iac"] == "sam"][:1], group="deploy"))
def test_a_rolled_back_image_outlives_the_lifecycle_rule(project, answers):
    """Publish A, publish B, deploy B, deploy A (a rollback: the old commit
    checked out, republished, deployed), then ten newer images pushed: the
    repository's lifecycle rule, as deploy put it, keeps A, which the
    function runs, and lets B go. The deploy steps are the same shell for
    every IaC tool (scripts/deployed-image); test_iac checks that the rule
    is the same file in all three."""
    p = project(answers)
    p.mise("publish")
    image_a = (p.path / "build" / "published-image").read_text().strip()
    commit_a = run(["git", "rev-parse", "HEAD"], p.path).stdout.strip()
    (p.path / "CHANGES").write_text("B\n")
    run(["git", "add", "CHANGES"], p.path)
    run(["git", "commit", "-q", "-m", "B"], p.path, env=GIT_IDENTITY)
    p.mise("publish")
    image_b = (p.path / "build" / "published-image").read_text().strip()
    assert image_a != image_b

    p.mise("deploy")
    run(["git", "checkout", "-q", commit_a], p.path)
    assert "reusing it" in p.mise("publish").stdout
    assert (p.path / "build" / "published-image").read_text().strip() == image_a
    rolled_back = p.mise("deploy")
    assert "Untagged deployed-hello-fn-" in rolled_back.stdout, rolled_back.stdout
    fn = p.aws("lambda", "get-function", "--function-name", "hello-fn")
    assert fn["Code"]["ImageUri"] == image_a

    # Ten later publishes (other commits), never deployed.
    for n in range(10):
        manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                               "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": n,
                                          "digest": f"sha256:{n:064x}"}, "layers": []})
        p.aws("ecr", "put-image", "--repository-name", "hello-fn", "--image-tag", f"later-{n}",
              "--image-manifest", manifest, "--image-digest", "sha256:" + hashlib.sha256(manifest.encode()).hexdigest())
    images = p.aws("ecr", "describe-images", "--repository-name", "hello-fn")["imageDetails"]
    for image in images:
        pushed = image["imagePushedAt"]
        image["imagePushedAt"] = (datetime.fromtimestamp(pushed, UTC) if isinstance(pushed, (int, float))
                                  else datetime.fromisoformat(pushed))
    tags = {i["imageDigest"]: i.get("imageTags", []) for i in images}
    digest_a, digest_b = image_a.split("@")[1], image_b.split("@")[1]
    assert [t for t in tags[digest_a] if t.startswith("deployed-hello-fn-")], tags[digest_a]
    assert not [t for t in tags[digest_b] if t.startswith("deployed-")], "B's deployed- tag came off"
    assert len(tags[digest_b]) == 1, "B keeps its commit tag"

    policy = json.loads(p.aws("ecr", "get-lifecycle-policy", "--repository-name", "hello-fn")["lifecyclePolicyText"])
    assert policy == json.loads((p.path / "ecr-lifecycle-policy.json").read_text())
    now = datetime.now(UTC)
    expired = lifecycle_expired(policy, images, now)
    assert digest_a not in expired, "the image the function runs is kept"
    assert expired == {digest_b}, "B, older than the last ten and not deployed, goes"
    # Without the rule for deployed images (the last-ten rule alone, as
    # before), A would go too.
    unprotected = {"rules": [r for r in policy["rules"] if "tagPrefixList" not in r["selection"]]}
    assert lifecycle_expired(unprotected, images, now) == {digest_a, digest_b}


def test_logs_level_keeps_that_level_and_above(project):
    """`mise run logs --level warn --no-follow`: a CloudWatch Logs filter
    pattern on the JSON lines' "level" (moto_cfn applies and records it)
    keeps WARN, ERROR and FATAL; a level that is none is refused."""
    p = project(DEPLOYS[0])
    # AWS CLI v2's `logs tail` (v1, installed here, has none): a stand-in
    # that records its arguments and reads through FilterLogEvents.
    bin_dir = p.path.parent / "aws-v2"
    bin_dir.mkdir()
    (bin_dir / "aws").symlink_to(ROOT / "tests" / "standins" / "aws-v2")
    p.env = {**p.env, "STANDIN_REAL_AWS": shutil.which("aws", path=p.env["PATH"]),
             "PATH": f"{bin_dir}{os.pathsep}{p.env['PATH']}"}
    group, stream = "/aws/lambda/hello-fn", "2026/12/05/[$LATEST]0123"
    p.aws("logs", "create-log-group", "--log-group-name", group)
    p.aws("logs", "create-log-stream", "--log-group-name", group, "--log-stream-name", stream)
    levels = COPIER["log_level"]["choices"]
    now = int(time.time() * 1000)
    messages = [json.dumps({"level": level, "msg": f"line at {level}"}) for level in levels] + ["not JSON"]
    p.aws("logs", "put-log-events", "--log-group-name", group, "--log-stream-name", stream, "--log-events",
          json.dumps([{"timestamp": now + i, "message": m} for i, m in enumerate(messages)]))

    out = p.mise("logs", "--level", "warn", "--no-follow").stdout
    assert re.findall(r"line at (\w+)", out) == ["WARN", "ERROR", "FATAL"], out
    with urllib.request.urlopen(f"{p.env['AWS_ENDPOINT_URL']}/_standin/log-filter-patterns") as answer:
        assert json.loads(answer.read())[-1] == '{ $.level = "WARN" || $.level = "ERROR" || $.level = "FATAL" }'
    # Without --level, every line; without --no-follow, it follows.
    assert re.findall(r"line at (\w+)", p.mise("logs").stdout) == levels
    tails = [json.loads(line)["argv"] for line in Path(p.env["STANDIN_LOG"]).read_text().splitlines()
             if json.loads(line).get("tool") == "aws"]
    assert tails[-2:] == [
        ["logs", "tail", group, "--since", "10m", "--filter-pattern",
         '{ $.level = "WARN" || $.level = "ERROR" || $.level = "FATAL" }'],
        ["logs", "tail", group, "--since", "10m", "--follow"]], tails

    refused = p.mise("logs", "--level", "LOUD", "--no-follow", check=False)
    assert refused.returncode != 0
    assert "--level LOUD: not a level; use TRACE, DEBUG, INFO, WARN, ERROR or FATAL" in refused.stderr
