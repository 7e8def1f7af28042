"""The generated project's GitHub automation: valid workflows that match the answers."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request

import pytest
import yaml

from conftest import COPIER, GOARCH, MATRIX, ROOT, aws_env, combo_id, moto_server, one_per, params, run
from support.choices import IAC_TOOLS

# Checks of every combination: one xdist group, whose renders happen once (conftest).
pytestmark = pytest.mark.xdist_group("matrix")


def workflow(project, name):
    return yaml.safe_load((project / ".github" / "workflows" / name).read_text())


def steps(job):
    """A job's steps (a job that calls a reusable workflow has none)."""
    return job.get("steps", [])


def test_actionlint_template_ci():
    run(["actionlint", str(ROOT / ".github" / "workflows" / "test.yml")], ROOT)


@pytest.mark.parametrize("answers", params(MATRIX))
def test_actionlint(render, answers):
    project = render(answers).path
    result = run(["actionlint", "-verbose"], project)
    assert "ci.yml" in result.stdout + result.stderr and "deploy.yml" in result.stdout + result.stderr


@pytest.mark.parametrize("answers", params(MATRIX))
def test_ci_builds_and_smoke_tests_the_answered_platform(render, answers):
    project = render(answers).path
    ci = workflow(project, "ci.yml")
    platform = f"linux/{GOARCH[answers['architecture']]}"
    build = next(s for s in steps(ci["jobs"]["image"]) if s.get("uses", "").startswith("docker/build-push-action@"))
    assert build["with"]["platforms"] == platform
    assert build["with"]["provenance"] is False and build["with"]["sbom"] is False
    assert build["with"]["load"] is True
    # The smoke test runs the image as `mise run start` does: for a scratch
    # image, with the emulator mounted (it has none of its own).
    smoke = next(s for s in steps(ci["jobs"]["image"]) if "Smoke test" in s.get("name", ""))
    assert f"mise run start --tag {build['with']['tags']} " in smoke["run"]
    assert "docker run" not in smoke["run"]
    assert "2015-03-31/functions/function/invocations" in smoke["run"]
    runs = [s.get("run", "") for s in steps(ci["jobs"]["test"])]
    assert {"mise run lint", "mise run test", "mise run validate"} <= set(runs)


@pytest.mark.parametrize("answers", params(one_per("architecture")))
def test_ci_runs_on_native_runners_with_timeouts_and_cancels_superseded_runs(render, answers):
    """arm64 builds and tests on GitHub's arm64 runners, not under qemu; every
    job has a timeout; a newer push to a pull request cancels the older run,
    while a run Deploy calls is never cancelled."""
    project = render(answers).path
    ci = workflow(project, "ci.yml")
    runner = {"arm64": "ubuntu-24.04-arm", "x86_64": "ubuntu-24.04"}[answers["architecture"]]
    assert {job["runs-on"] for job in ci["jobs"].values()} == {runner}
    assert not any(s.get("uses", "").startswith("docker/setup-qemu-action@")
                   for job in ci["jobs"].values() for s in steps(job))
    deploy = workflow(project, "deploy.yml")
    for job in [*ci["jobs"].values(), deploy["jobs"]["deploy"]]:
        assert 0 < job["timeout-minutes"] <= 60, job
    group = ci["concurrency"]["group"]
    assert "github.event.pull_request.number" in group and "github.run_id" in group
    assert ci["concurrency"]["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"


@pytest.mark.parametrize("answers", params(one_per("iac")))
def test_deploy_pushes_the_image_ci_tested(render, answers):
    """One build per commit: CI's image job keeps the image it smoke-tested as
    an artifact (not on pull requests), and Deploy loads and pushes that image
    instead of building another (tests/test_workflows_act.py runs both)."""
    project = render(answers).path
    image = steps(workflow(project, "ci.yml")["jobs"]["image"])
    tag = next(s for s in image if s.get("uses", "").startswith("docker/build-push-action@"))["with"]["tags"]
    upload = next(s for s in image if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "github.event_name != 'pull_request'"
    deploy = steps(workflow(project, "deploy.yml")["jobs"]["deploy"])
    download = next(s for s in deploy if s.get("uses", "").startswith("actions/download-artifact@"))
    assert download["with"]["name"] == upload["with"]["name"]
    runs = [s["run"] for s in deploy if "run" in s]
    assert (runs[-3], runs[-1]) == (f"mise run publish --image {tag}", "mise run deploy")
    # Between them, the preview of the deploy, into the job summary.
    assert "mise run diff 2>&1" in runs[-2] and '| tee -a "$GITHUB_STEP_SUMMARY"' in runs[-2]
    assert not any(s.get("uses", "").startswith(("docker/setup-buildx-action@", "docker/setup-qemu-action@"))
                   for s in deploy), "Deploy builds nothing"


@pytest.mark.parametrize("answers", params(MATRIX))
def test_deploy_uses_oidc_and_deploys_by_digest(render, answers):
    project = render(answers).path
    deploy = workflow(project, "deploy.yml")
    job = deploy["jobs"]["deploy"]
    assert job["environment"] == "production"
    # Only the deploy job gets an OIDC token; the CI jobs it runs do not.
    assert deploy["permissions"] == {"contents": "read"}
    assert job["permissions"]["id-token"] == "write"
    creds = next(s for s in steps(job) if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@"))
    assert creds["with"]["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}"
    assert "aws-access-key-id" not in creds["with"]
    runs = [s.get("run") for s in steps(job) if s.get("run")]
    assert (runs[-3], runs[-1]) == (f"mise run publish --image {answers.get('project_name', 'hello-fn')}:ci",
                                    "mise run deploy")
    # deploy deploys what publish recorded: the image by digest.
    deploy_task = (project / ".config" / "mise" / "tasks" / "deploy").read_text()
    assert "PUBLISHED_IMAGE_FILE" in deploy_task and "@sha256:" in deploy_task


# owner/repo[/path]@<full commit SHA> # vX.Y.Z: a tag can be moved to other
# code, a commit cannot; the comment is the version Dependabot reads and bumps.
PINNED_ACTION = re.compile(r"[\w.-]+/[\w.-]+(?:/[\w./-]+)?@[0-9a-f]{40} # v\d+\.\d+\.\d+")


def assert_actions_pinned_by_commit(path):
    text = path.read_text()
    lines = [line.split("uses:", 1)[1].strip() for line in text.splitlines() if line.lstrip(" -").startswith("uses:")]
    assert lines, path
    for uses in lines:
        # A called workflow is this repository's own, checked here too.
        if not uses.startswith("./.github/workflows/"):
            assert PINNED_ACTION.fullmatch(uses), \
                f"{path.name}: {uses} is not pinned by commit SHA with a # vX.Y.Z comment"
    # Every step's action as YAML reads it is one of the lines checked above.
    for job in yaml.safe_load(text)["jobs"].values():
        for step in [job, *steps(job)]:
            if "uses" in step:
                assert any(uses.split(" #")[0] == step["uses"] for uses in lines), step["uses"]


def test_template_ci_actions_are_pinned_by_commit():
    assert_actions_pinned_by_commit(ROOT / ".github" / "workflows" / "test.yml")


@pytest.mark.parametrize("answers", params(one_per("language", "architecture")))
def test_actions_are_pinned_by_commit(render, answers):
    """Language and architecture choose the steps (caches, QEMU)."""
    project = render(answers).path
    for name in ("ci.yml", "deploy.yml"):
        assert_actions_pinned_by_commit(project / ".github" / "workflows" / name)


@pytest.mark.parametrize("answers", params(MATRIX))
def test_dependabot_covers_every_ecosystem(render, answers):
    project = render(answers).path
    config = yaml.safe_load((project / ".github" / "dependabot.yml").read_text())
    ecosystems = {u["package-ecosystem"]: u["directory"] for u in config["updates"]}
    language = {"go": "gomod", "rust": "cargo"}.get(answers["language"])
    if language:
        assert ecosystems[language] == "/"
    assert ecosystems["docker"] == "/"
    assert ecosystems["github-actions"] == "/"
    iac = IAC_TOOLS[answers["iac"]]["dependabot"]
    if iac:
        assert ecosystems[iac["ecosystem"]] == iac["directory"]


@pytest.mark.parametrize("answers", params(one_per("iac")))
def test_deploy_waits_for_ci_and_one_deploy_per_environment(render, answers):
    project = render(answers).path
    deploy = workflow(project, "deploy.yml")
    ci = workflow(project, "ci.yml")
    # The deploy needs the whole CI workflow, run on the same commit.
    assert deploy["jobs"]["ci"] == {"uses": "./.github/workflows/ci.yml"}
    assert deploy["jobs"]["deploy"]["needs"] == "ci"
    # yaml reads the key `on` as True.
    assert "workflow_call" in ci[True] and "pull_request" in ci[True]
    assert "push" not in ci[True], "main's CI runs inside Deploy; a push trigger would run it twice"
    # Grouped by environment, not by ref: a run from another branch queues
    # behind main's instead of deploying at the same time.
    job = deploy["jobs"]["deploy"]
    assert "concurrency" not in deploy
    assert job["concurrency"] == {"group": f"deploy-{job['environment']}", "cancel-in-progress": False}
    assert "github.ref" not in (project / ".github" / "workflows" / "deploy.yml").read_text()


# The deploy role (iam/, the README's "The deploy role"): who may assume it,
# and what it may do.

PARLIAMENT = ROOT / ".tools" / "bin" / "parliament"
ACCOUNT = "123456789012"

# Actions that name no resource type in IAM (or, for CreateEventSourceMapping,
# only a condition on the function): the only ones "Resource": "*" may hold.
NO_RESOURCE_LEVEL = {
    "ecr:GetAuthorizationToken", "cloudformation:GetTemplateSummary", "cloudformation:ValidateTemplate",
    "lambda:CreateEventSourceMapping", "lambda:ListEventSourceMappings", "logs:DescribeLogGroups",
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery", "logs:DescribeResourcePolicies", "logs:GetLogDelivery", "logs:ListLogDeliveries",
    "logs:PutResourcePolicy", "logs:UpdateLogDelivery",
    # An alarm topic's email subscription (with an alarm_email).
    "sns:GetSubscriptionAttributes", "sns:SetSubscriptionAttributes", "sns:Unsubscribe",
}


def deploy_policy(project) -> dict:
    return json.loads((project / "iam" / "deploy-policy.json").read_text().replace("ACCOUNT_ID", ACCOUNT))


def iac_services(project, iac) -> set[str]:
    """The AWS services whose resources the IaC declares, as IAM names them."""
    if iac == "terraform":
        # aws_cloudwatch_log_group is CloudWatch Logs' (logs), aws_cloudwatch_metric_alarm CloudWatch's.
        text = "".join(p.read_text() for p in (project / "terraform").glob("*.tf")).replace(
            'resource "aws_cloudwatch_log_', 'resource "aws_logs_')
        names = re.findall(r'^resource "aws_([a-z0-9]+)_', text, re.M)
        # alarms.tf counts its SNS topic only with an alarm_email.
        if re.search(r'^variable "alarm_email" \{\n(?:  .*\n|\n)*?  default += ""$', text, re.M):
            names = [n for n in names if n != "sns"]
    elif iac == "sam":
        text = (project / "sam" / "template.yaml").read_text()
        names = re.findall(r"Type: AWS::(\w+)::", text) + re.findall(r"^ +Type: (HttpApi|SQS|ScheduleV2)$", text, re.M)
    elif iac == "serverless":
        text = "".join((project / "serverless" / f).read_text()
                       for f in ("serverless.yml", "trigger.yml", "alarms.yml"))
        names = re.findall(r"Type: AWS::(\w+)::", text) + re.findall(r"^ +- (httpApi):$", text, re.M)
    else:
        # The stack and its trigger's module (cdk/lib/triggers/).
        text = "".join(p.read_text() for p in sorted((project / "cdk" / "lib").rglob("*.ts")))
        names = re.findall(r"from 'aws-cdk-lib/aws-([a-z0-9]+)", text)
        # lib/alarms.ts makes its SNS topic only with an alarmEmail.
        if not json.loads((project / "cdk" / "cdk.json").read_text())["context"]["alarmEmail"]:
            names = [n for n in names if n != "sns"]
    alias = {"serverless": "lambda", "httpapi": "apigateway", "apigatewayv2": "apigateway",
             "schedulev2": "scheduler"}
    return {alias.get(n.lower(), n.lower()) for n in names} - {"cloudformation"}


@pytest.mark.parametrize("answers", params(one_per("iac")))
def test_trust_policy_admits_only_this_repository_production_environment(render, answers):
    project = render(answers).path
    trust = json.loads((project / "iam" / "github-trust-policy.json").read_text())
    (statement,) = trust["Statement"]
    assert statement["Effect"] == "Allow" and statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"] == {
        "Federated": "arn:aws:iam::ACCOUNT_ID:oidc-provider/token.actions.githubusercontent.com"}
    # Exact matches only (StringEquals, no wildcard): the deploy job's environment.
    environment = workflow(project, "deploy.yml")["jobs"]["deploy"]["environment"]
    assert statement["Condition"] == {"StringEquals": {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": f"repo:OWNER/REPO:environment:{environment}"}}


@pytest.mark.skipif(not PARLIAMENT.exists(), reason=f"{PARLIAMENT} is missing: script/bootstrap installs parliament")
@pytest.mark.parametrize("answers", params(one_per("iac", "trigger")) + [
    pytest.param({**c, "alarm_email": "ops@example.com"}, id=combo_id(c) + "-alarm-email") for c in one_per("iac")])
def test_deploy_policy_is_least_privilege_and_valid(render, answers):
    """parliament (IAM's action, resource and condition definitions) finds
    nothing, resources are named wherever IAM allows, the roles go to the
    answered services only, and the services are exactly those the IaC and
    the tasks use."""
    project = render(answers).path
    policy = deploy_policy(project)
    result = subprocess.run([str(PARLIAMENT), "--string", json.dumps(policy), "--json", "--minimum_severity", "INFO"],
                            capture_output=True, text=True, stdin=subprocess.DEVNULL)
    findings = [json.loads(line) for line in result.stdout.splitlines()]
    # parliament takes an account for an ARN's fifth field; the SAM transform's
    # ARN, as AWS documents it for CreateChangeSet, has "aws" there.
    findings = [f for f in findings if f["location"].get("string") !=
                f"arn:aws:cloudformation:{answers.get('aws_region', 'us-east-1')}:aws:transform/Serverless-2016-10-31"]
    # Deploy creates Terraform's state bucket when it is missing, with its
    # TLS-only bucket policy and the lifecycle rule that expires replaced
    # states (scripts/terraform-backend): s3:PutBucketPolicy and
    # s3:PutLifecycleConfiguration on that one bucket, which parliament
    # counts as ways to reach its objects (the role may already write them).
    findings = [f for f in findings if not (
        answers["iac"] == "terraform" and f["issue"] == "RESOURCE_POLICY_PRIVILEGE_ESCALATION"
        and re.search(r"on arn:aws:s3:::tfstate-\d+-[a-z0-9-]+ .*allow s3:(PutBucketPolicy|PutLifecycleConfiguration)$",
                      f["detail"]))]
    assert findings == [], json.dumps(findings)
    assert result.returncode in (0, 1), result.stderr

    actions = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        names = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        assert all("*" not in name for name in names), names
        actions |= set(names)
        if statement["Resource"] == "*":
            assert set(names) <= NO_RESOURCE_LEVEL, names
        if "iam:PassRole" in names:
            assert names == ["iam:PassRole"]
            passed_to = statement["Condition"]["StringEquals"]["iam:PassedToService"]
            assert passed_to == ["lambda.amazonaws.com"] + (
                ["scheduler.amazonaws.com"] if answers["trigger"] == "schedule" else [])
            # The roles it may pass are the function's (and the schedule's), never the deploy role.
            assert all(":role/" in arn and ":role/github-deploy-" not in arn for arn in statement["Resource"])
    services = {a.split(":")[0] for a in actions}
    # Terraform keeps its state in S3, and adds a public Function URL's
    # permission in a one-resource CloudFormation stack.
    public_url = answers["trigger"] == "function-url" and answers.get(
        "function_url_auth", COPIER["function_url_auth"]["default"]) == "NONE"
    # osls uploads each template to the stack's own deployment bucket first.
    backend = {"terraform": {"s3"} | ({"cloudformation"} if public_url else set()),
               "serverless": {"cloudformation", "s3"}}
    expected = iac_services(project, answers["iac"]) | {"ecr", "iam", "lambda", "logs"} | backend.get(
        answers["iac"], {"cloudformation"})
    assert services == expected


@pytest.fixture(scope="module")
def moto_iam(tmp_path_factory):
    yield from moto_server(tmp_path_factory.mktemp("moto"), "us-east-1")


@pytest.fixture
def moto(moto_iam):
    """An empty local AWS account for each test."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_iam}/moto-api/reset", method="POST")).read()
    return moto_iam


@pytest.mark.parametrize("answers", params(one_per("iac")))
def test_readme_commands_create_the_deploy_role(render, answers, moto, tmp_path):
    """The README's commands, as written but for the repository's name, run
    against a local IAM (moto_server, which also checks the policies' grammar)."""
    project = render(answers).path
    readme = (project / "README.md").read_text()
    (block,) = re.findall(r"```sh\n(.*?)```", readme.split("### The deploy role", 1)[1].split("\n## ", 1)[0], re.S)
    assert [line.split()[:3] for line in block.splitlines() if line.startswith("aws iam ")] == [
        ["aws", "iam", "create-role"], ["aws", "iam", "put-role-policy"]]
    env = {**aws_env(moto, "us-east-1", tmp_path), "AWS_DEFAULT_REGION": "us-east-1"}  # AWS CLI v1 reads this one
    run(["sh", "-euc", block.replace("repo=OWNER/REPO", "repo=octo-org/hello")], project, env=env)

    role_name = re.search(r"--role-name (\S+)", block).group(1)
    assert f"role/{role_name}`" in readme, "the README names the ARN AWS_ROLE_ARN takes"

    def aws(*args):
        return json.loads(run(["aws", "iam", *args, "--output", "json"], project, env=env).stdout)

    (trust,) = aws("get-role", "--role-name", role_name)["Role"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"]["Federated"] == \
        f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
    assert trust["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"] == \
        "repo:octo-org/hello:environment:production"
    stored = aws("get-role-policy", "--role-name", role_name, "--policy-name", "deploy")["PolicyDocument"]
    assert stored == deploy_policy(project)
