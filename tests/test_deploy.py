"""`mise run publish`, `deploy`, `invoke:remote` and `destroy` of a generated
project, with the real IaC tool (sam, cdk, terraform) against a local AWS API.

The AWS API is moto_server, started through tests/moto_cfn.py, which adds
what stock moto's CloudFormation lacks for SAM and CDK stacks (see its
docstring). Everything is checked afterwards through the AWS CLI against the
same server. The container engine is still the docker stand-in
(tests/standins/docker): no engine runs here, so `publish` stores an image
manifest in moto's ECR instead of pushing a real image.

What moto cannot store is checked on the tool's own template instead, and says
so below: Lambda's LoggingConfig (moto's Lambda keeps no logging settings).
`invoke:remote` goes as far as moto answers: moto serves no execute-api
endpoint, so the test checks that the task called the deployed API's URL.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from pathlib import Path

import pytest
import yaml

from conftest import COPIER, GIT_IDENTITY, ROOT, aws_env, mise_env, moto_server, one_per, params, run
from test_iac import CfnLoader, terraform_config

REGION = "eu-west-2"  # differs from the answered default, to show it is honoured
ACCOUNT = "123456789012"  # moto's account
# One project per IaC tool: the tool is what these tests are about.
ONE_PER_IAC = one_per("iac")
ROUTES = ["GET /goodbye", "GET /hello"]
# The answers these projects take by default (copier.yml).
DEFAULT = {q: COPIER[q]["default"] for q in ("memory_size", "timeout", "log_retention_days")}


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    yield from moto_server(tmp_path_factory.mktemp("moto"), REGION)


class Project:
    """A generated project in a git repository, with the environment its tasks
    run in: AWS pointed at moto, the docker stand-in, the real IaC tool."""

    def __init__(self, path: Path, env: dict):
        self.path, self.env = path, env

    def mise(self, *task, check=True):
        return run(["mise", "run", *task], self.path, env=self.env, check=check, timeout=1200)

    def aws(self, *args):
        out = run(["aws", *args, "--region", REGION, "--output", "json"], self.path, env=self.env).stdout
        return json.loads(out) if out.strip() else {}

    def clone(self, dst: Path) -> "Project":
        run(["git", "clone", "-q", str(self.path), str(dst)], self.path)
        return Project(dst, self.env)

    def git_status(self) -> str:
        return run(["git", "status", "--porcelain"], self.path).stdout


@pytest.fixture
def project(render, tmp_path, moto):
    urllib.request.urlopen(urllib.request.Request(f"{moto}/moto-api/reset", method="POST")).read()

    def _make(answers) -> Project:
        path = tmp_path / "project"
        shutil.copytree(render(answers).path, path, ignore=shutil.ignore_patterns("build", "target", ".git"))
        run(["git", "init", "-q", "-b", "main"], path)
        run(["git", "add", "-A"], path)
        run(["git", "commit", "-q", "-m", "init"], path, env=GIT_IDENTITY)

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
        }
        return Project(path, env)

    return _make


# --- What the deploy made, through the AWS CLI --------------------------------

def api_id(p: Project) -> str:
    (api,) = p.aws("apigatewayv2", "get-apis")["Items"]
    return api["ApiId"]


def identities(p: Project) -> dict:
    """Ids that change when a resource is replaced rather than updated."""
    api = api_id(p)
    fn = p.aws("lambda", "get-function", "--function-name", "hello-fn")["Configuration"]
    return {
        "api": api,
        "routes": sorted(r["RouteId"] for r in p.aws("apigatewayv2", "get-routes", "--api-id", api)["Items"]),
        "integrations": sorted(i["IntegrationId"]
                               for i in p.aws("apigatewayv2", "get-integrations", "--api-id", api)["Items"]),
        "role": p.aws("iam", "get-role", "--role-name", fn["Role"].rsplit("/", 1)[1])["Role"]["RoleId"],
        "log_groups": sorted((g["logGroupName"], g["creationTime"])
                             for g in p.aws("logs", "describe-log-groups")["logGroups"]),
    }


def assert_deployed(p: Project, answers: dict, image: str) -> None:
    got = p.aws("lambda", "get-function", "--function-name", "hello-fn")
    fn = got["Configuration"]
    assert got["Code"]["ImageUri"] == image, "the function runs the published image, by digest"
    assert fn["PackageType"] == "Image"
    assert fn["Architectures"] == [answers["architecture"]]
    assert (fn["MemorySize"], fn["Timeout"]) == (DEFAULT["memory_size"], DEFAULT["timeout"]), fn
    assert fn["TracingConfig"] == {"Mode": "Active"}

    # The execution role: its own log group and X-Ray, nothing managed.
    role = fn["Role"].rsplit("/", 1)[1]
    assert p.aws("iam", "list-attached-role-policies", "--role-name", role)["AttachedPolicies"] == []
    statements = []
    for name in p.aws("iam", "list-role-policies", "--role-name", role)["PolicyNames"]:
        document = p.aws("iam", "get-role-policy", "--role-name", role, "--policy-name", name)["PolicyDocument"]
        statements += document["Statement"]
    assert role_permissions(statements) == {
        ("logs:CreateLogStream", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/hello-fn:*"),
        ("logs:PutLogEvents", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/hello-fn:*"),
        ("xray:PutTelemetryRecords", "*"),
        ("xray:PutTraceSegments", "*"),
    }

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

    # One invoke permission per route, for this API only.
    policy = json.loads(p.aws("lambda", "get-policy", "--function-name", "hello-fn")["Policy"])
    sources = sorted(s["Condition"]["ArnLike"]["AWS:SourceArn"] for s in policy["Statement"])
    prefix = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api}/"
    assert len(sources) == 2 and all(s.startswith(prefix) for s in sources), sources
    assert [s.rsplit("/", 1)[1] for s in sources] == ["goodbye", "hello"], sources
    assert all(s["Principal"] == {"Service": "apigateway.amazonaws.com"} for s in policy["Statement"])

    # The function's and the access log group, both with the answered retention.
    groups = p.aws("logs", "describe-log-groups")["logGroups"]
    assert len(groups) == 2 and "/aws/lambda/hello-fn" in {g["logGroupName"] for g in groups}, groups
    assert all(g.get("retentionInDays") == DEFAULT["log_retention_days"] for g in groups), groups
    assert stage["AccessLogSettings"]["DestinationArn"].rstrip(":*") in {g["arn"].rstrip(":*") for g in groups}


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
    assert p.aws("apigatewayv2", "get-apis")["Items"] == []
    assert p.aws("logs", "describe-log-groups")["logGroups"] == []
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
        state = run(["aws", "s3", "cp", f"s3://{buckets[0]}/hello-fn/terraform.tfstate", "-",
                     "--region", REGION], p.path, env=p.env).stdout
        assert json.loads(state)["resources"] == []
    else:
        assert buckets == []


# --- What moto cannot store, on the tool's own template -----------------------

def assert_json_logs_to_own_group(p: Project, iac: str) -> None:
    """moto's Lambda stores no LoggingConfig, so it is checked where each tool
    declares it: the SAM template, the synthesized CDK template, the Terraform
    configuration."""
    if iac == "sam":
        template = yaml.load((p.path / "sam" / "template.yaml").read_text(), Loader=CfnLoader)
        config = template["Resources"]["Function"]["Properties"]["LoggingConfig"]
        group = template["Resources"][config["LogGroup"]["Ref"]]["Properties"]["LogGroupName"]
        assert (config["LogFormat"], group) == ("JSON", "/aws/lambda/hello-fn")
    elif iac == "cdk":
        (synthesized,) = (p.path / "cdk" / "cdk.out").glob("*.template.json")
        resources = json.loads(synthesized.read_text())["Resources"]
        (fn,) = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Function"]
        group = resources[fn["LoggingConfig"]["LogGroup"]["Ref"]]["Properties"]["LogGroupName"]
        assert (fn["LoggingConfig"]["LogFormat"], group) == ("JSON", "/aws/lambda/hello-fn")
    else:
        fn = terraform_config(p.path)["resource"]["aws_lambda_function"]["this"]
        assert fn["logging_config"] == [{"log_format": "JSON",
                                         "log_group": "${aws_cloudwatch_log_group.lambda.name}"}]


# --- The test -----------------------------------------------------------------

@pytest.mark.parametrize("answers", params(ONE_PER_IAC))
def test_publish_deploy_invoke_destroy_with_the_real_tool(project, answers):
    iac = answers["iac"]
    p = project(answers)
    p.mise("publish")
    image = (p.path / "build" / "published-image").read_text().strip()

    first = p.mise("deploy")
    assert_deployed(p, answers, image)
    assert_json_logs_to_own_group(p, iac)
    deployed = identities(p)

    # A second deploy of the same digest replaces nothing. For Terraform it
    # runs from a fresh clone (a CI runner's): the state is remote, so the
    # clone republishes the same commit (reused, not pushed) and its deploy
    # creates nothing again.
    again = p.clone(p.path.parent / "clone") if iac == "terraform" else p
    if iac == "terraform":
        assert "reusing it" in again.mise("publish").stdout
    second = again.mise("deploy")
    assert identities(p) == deployed
    output = second.stdout + second.stderr
    if iac == "terraform":
        assert "Resources: 1 imported, 14 added, 0 changed, 0 destroyed." in first.stdout
        # moto returns no LoggingConfig and an empty ImageConfig, so the
        # provider updates the function in place; nothing is added or replaced.
        assert "Resources: 0 added, 1 changed, 0 destroyed." in output, output
        assert "must be replaced" not in output
    elif iac == "sam":
        assert "No changes to deploy" in output, output
    else:
        assert "(no changes)" in output, output
    for tree in {p, again}:
        assert tree.git_status() == "", "deploy leaves the tree clean (so the next publish reuses the image)"

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

    # moto serves no execute-api endpoint: the call reaches curl with the
    # deployed API's URL and fails there.
    invoked = p.mise("invoke:remote", check=False)
    assert invoked.returncode != 0
    assert f"{deployed['api']}.execute-api.{REGION}.amazonaws.com" in invoked.stderr, invoked.stderr

    p.mise("destroy")
    assert_only_the_repository_is_left(p, answers)
    assert p.git_status() == "", "a publish-deploy-destroy cycle leaves the tree clean"

    # With nothing deployed, destroy still succeeds; --repository deletes the
    # repository and its images too.
    p.mise("destroy", "--repository")
    assert p.aws("ecr", "describe-repositories")["repositories"] == []
    assert not (p.path / "build" / "published-image").exists()
    assert p.git_status() == ""
