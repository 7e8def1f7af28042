"""`mise run publish` and the error cases of `publish`, `deploy` and
`invoke:remote`, for real through mise and the real AWS CLI, against a local
AWS API (moto_server). Deploys with the real IaC tools: tests/test_deploy.py.

With Podman, the push is real too: to a local registry (Debian's
docker-registry on 127.0.0.1) standing for ECR's registry endpoint, which moto
cannot serve (tests/standins/podman-ecr). Without a Docker engine, `docker` is
a stand-in that records its arguments (tests/standins/docker), so the Docker
path's flags and its reading of buildx's metadata file are checked; everything
else (the tasks, the AWS CLI, ECR's API) is real.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from pathlib import Path

import pytest

import standin_images
from conftest import (GIT_IDENTITY, MATRIX, PLATFORM, ROOT, aws, aws_env, mise_env, moto_server, one_per, params,
                      reserve_one, run)
from support.choices import TRIGGERS

ACCOUNT = "123456789012"  # moto's account
REGION = "eu-west-2"  # differs from the answered default, to show it is honoured
ONE_PER_IAC = one_per("iac")


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    yield from moto_server(tmp_path_factory.mktemp("moto"), REGION)


@pytest.fixture
def workspace(render, tmp_path, moto):
    """A fresh copy of a rendered project in a git repository, the stand-ins on
    PATH, and AWS pointed at moto. Returns a function that builds it for answers."""

    # Every test starts from an empty AWS account.
    urllib.request.urlopen(urllib.request.Request(f"{moto}/moto-api/reset", method="POST")).read()

    def _make(answers, *, docker=True):
        source = render(answers).path
        project = tmp_path / "project"
        shutil.copytree(source, project, ignore=shutil.ignore_patterns("build", "target", ".git"))
        run(["git", "init", "-q", "-b", "main"], project)
        run(["git", "add", "-A"], project)
        run(["git", "commit", "-q", "-m", "init"], project, env=GIT_IDENTITY)

        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        if docker:
            (bin_dir / "docker").symlink_to(ROOT / "tests" / "standins" / "docker")
        log = tmp_path / "calls.jsonl"
        log.touch()
        # A PATH with the stand-ins first and no real docker behind them.
        path = [str(bin_dir)] + [p for p in os.environ["PATH"].split(os.pathsep)
                                 if not (Path(p) / "docker").exists()]
        env = {
            **mise_env(Path("/")),
            "PATH": os.pathsep.join(path),
            "STANDIN_LOG": str(log),
            **aws_env(moto, REGION, tmp_path),
        }
        return Workspace(project, env, log)

    return _make


class Workspace:
    def __init__(self, project: Path, env: dict, log: Path):
        self.project, self.env, self.log = project, env, log

    def mise(self, *task, check=True, env=None):
        return run(["mise", "run", *task], self.project, env={**self.env, **(env or {})}, check=check)

    def calls(self, tool=None):
        entries = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [e for e in entries if tool is None or e["tool"] == tool]

    def aws(self, *args):
        out = aws([*args, "--region", REGION, "--output", "json"], self.env).stdout
        return json.loads(out)


def pushes(ws) -> list:
    return [c["argv"] for c in ws.calls("docker") if c["argv"][:2] == ["buildx", "build"] and "--push" in c["argv"]]


@pytest.mark.parametrize("answers", params(ONE_PER_IAC))
def test_publish_creates_the_repository_once_and_pushes_by_commit(workspace, answers):
    ws = workspace(answers)
    commit = run(["git", "rev-parse", "--short=12", "HEAD"], ws.project).stdout.strip()
    repo = answers.get("ecr_repository", "hello-fn")
    registry = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"

    first = ws.mise("publish")
    assert "Creating ECR repository" in first.stdout

    repos = ws.aws("ecr", "describe-repositories")["repositories"]
    assert [r["repositoryName"] for r in repos] == [repo]
    assert repos[0]["imageTagMutability"] == "IMMUTABLE"
    assert repos[0]["imageScanningConfiguration"]["scanOnPush"] is True

    docker = [c["argv"] for c in ws.calls("docker")]
    login = next(c for c in ws.calls("docker") if c["argv"][:1] == ["login"])
    assert login["argv"] == ["login", "--username", "AWS", "--password-stdin", registry]
    assert login["stdin_chars"] > 0, "the ECR password must arrive on stdin"
    # One build, which pushes: buildx records the pushed digest in its metadata file.
    builds = [a for a in docker if a[:2] == ["buildx", "build"]]
    assert len(builds) == 1 and docker.index(builds[0]) > docker.index(login["argv"])
    build = builds[0]
    platform = PLATFORM[answers["architecture"]]
    assert build[build.index("--platform") + 1] == platform
    assert "--provenance=false" in build and "--sbom=false" in build
    assert "--push" in build and "--metadata-file" in build
    assert build[build.index("--tag") + 1] == f"{registry}/{repo}:{commit}"
    assert ["logout", registry] in docker, "the registry login is removed after the push"

    digest = ws.aws("ecr", "describe-images", "--repository-name", repo,
                    "--image-ids", f"imageTag={commit}")["imageDetails"][0]["imageDigest"]
    published = (ws.project / "build" / "published-image").read_text().strip()
    assert published == f"{registry}/{repo}@{digest}"

    # A second publish of the same commit succeeds, creates nothing, pushes nothing.
    second = ws.mise("publish")
    assert "exists" in second.stdout and "reusing" in second.stdout
    assert len(ws.aws("ecr", "describe-repositories")["repositories"]) == 1
    assert len(pushes(ws)) == 1

    # A dirty tree gets its own, marked tag.
    (ws.project / "events" / "hello.json").write_text("{}\n")
    ws.mise("publish")
    tags = [a[a.index("--tag") + 1].rsplit(":", 1)[1] for a in pushes(ws)]
    assert tags[-1].startswith(f"{commit}-dirty-")


def test_publish_image_pushes_that_image_unchanged(workspace):
    """`publish --image` (what Deploy runs with the image CI built and
    tested): no build; that image is tagged, pushed, and recorded by the
    digest the registry gave it. A missing image, or one of another
    platform, is refused before anything is pushed."""
    answers = MATRIX[0]
    ws = workspace(answers)
    commit = run(["git", "rev-parse", "--short=12", "HEAD"], ws.project).stdout.strip()
    repo = answers.get("ecr_repository", "hello-fn")
    registry = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
    platform = PLATFORM[answers["architecture"]]
    other = "linux/amd64" if platform == "linux/arm64" else "linux/arm64"

    missing = ws.mise("publish", "--image", "hello-fn:ci", check=False)
    assert missing.returncode != 0 and "no image hello-fn:ci in the docker store" in missing.stderr
    wrong = ws.mise("publish", "--image", "hello-fn:ci", check=False, env={"STANDIN_DOCKER_IMAGE_PLATFORM": other})
    assert wrong.returncode != 0
    assert f"hello-fn:ci is a {other} image; this function runs {platform}" in wrong.stderr
    assert not [c for c in ws.calls("docker") if c["argv"][:1] == ["push"]]

    ws.mise("publish", "--image", "hello-fn:ci", env={"STANDIN_DOCKER_IMAGE_PLATFORM": platform})
    docker = [c["argv"] for c in ws.calls("docker")]
    assert not [a for a in docker if a[:2] == ["buildx", "build"]], "nothing is built"
    target = f"{registry}/{repo}:{commit}"
    assert docker.index(["tag", "hello-fn:ci", target]) < docker.index(["push", target])
    digest = ws.aws("ecr", "describe-images", "--repository-name", repo,
                    "--image-ids", f"imageTag={commit}")["imageDetails"][0]["imageDigest"]
    assert (ws.project / "build" / "published-image").read_text().strip() == f"{registry}/{repo}@{digest}"



def test_publish_refuses_an_image_of_another_architecture(workspace):
    """A single-platform image whose config names another platform than the
    answered architecture's (as a Dockerfile whose last stage pins
    --platform=$BUILDPLATFORM builds): publish reads the config ECR stores
    (GetDownloadUrlForLayer, which the local AWS API gets from
    tests/moto_cfn.py), refuses it, says what to change, and records
    nothing for deploy; the same tag reused later is refused as well."""
    answers = MATRIX[0]
    ws = workspace(answers)
    platform = PLATFORM[answers["architecture"]]
    other = "linux/amd64" if platform == "linux/arm64" else "linux/arm64"
    repo = answers.get("ecr_repository", "hello-fn")
    for attempt in ("pushed", "reused"):
        refused = ws.mise("publish", check=False, env={"STANDIN_DOCKER_BUILT_PLATFORM": other})
        assert refused.returncode != 0, attempt
        assert f"is a {other} image, but this function runs\n{platform} (mise.toml's IMAGE_PLATFORM, " \
               f"from the architecture answer: {answers['architecture']})" in refused.stderr, refused.stderr
        assert "FROM --platform=$BUILDPLATFORM" in refused.stderr and "--tag NEW" in refused.stderr
        assert f"aws ecr batch-delete-image --repository-name {repo}" in refused.stderr
        assert not (ws.project / "build" / "published-image").exists(), attempt
    assert len(pushes(ws)) == 1, "the second publish reused the tag"
    assert "reusing" in refused.stdout

CREDENTIALS_ADVICE = "error: no usable AWS credentials; run 'aws configure' or 'aws sso login', or set AWS_PROFILE"
UNREACHABLE_ADVICE = "error: the AWS API cannot be reached in region {region}; check the region's name"


# Each failure of `aws sts get-caller-identity` shows the CLI's first error
# line, then the advice that fits it. "no network" and "expired SSO" are the
# aws stand-in (tests/standins/aws) printing the real CLI's text: a real call
# here reaches no AWS, yet would on a machine with a network, and there is no
# SSO session to expire. AWS_MAX_ATTEMPTS=1 keeps the CLI from retrying a
# connection (and the test from waiting seconds for it).
@pytest.mark.parametrize("case", ["no credentials", "closed endpoint", "mistyped region", "no network", "expired SSO"])
def test_publish_without_usable_aws_shows_the_cli_error_and_the_fix(workspace, tmp_path, case):
    ws = workspace(MATRIX[0])
    region = REGION
    env = {"AWS_MAX_ATTEMPTS": "1"}
    if case == "no credentials":
        env.update(AWS_ACCESS_KEY_ID="", AWS_SECRET_ACCESS_KEY="")
        cause, advice = "aws: Unable to locate credentials.", CREDENTIALS_ADVICE
    elif case == "closed endpoint":
        port = reserve_one()  # reserved, and nothing listens on it
        env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
        cause = f'aws: Could not connect to the endpoint URL: "http://127.0.0.1:{port}/"'
        advice = UNREACHABLE_ADVICE
    elif case == "mistyped region":
        del ws.env["AWS_ENDPOINT_URL"]  # AWS's own endpoints, whose names hold the region
        region = env["AWS_REGION"] = "us-esat-1"
        cause = 'aws: Could not connect to the endpoint URL: "https://sts.us-esat-1.amazonaws.com/"'
        advice = UNREACHABLE_ADVICE
    else:
        (tmp_path / "bin" / "aws").symlink_to(ROOT / "tests" / "standins" / "aws")
        error = {"no network": f'Could not connect to the endpoint URL: "https://sts.{REGION}.amazonaws.com/"',
                 "expired SSO": "Error when retrieving token from sso: Token has expired and refresh failed"}[case]
        env["STANDIN_AWS_ERROR"] = error
        cause = f"aws: {error}"
        advice = UNREACHABLE_ADVICE if case == "no network" else CREDENTIALS_ADVICE

    result = ws.mise("publish", check=False, env=env)
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    at = [i for i, line in enumerate(lines) if line.startswith(cause)]
    assert len(at) == 1, result.stderr
    assert lines[at[0] + 1].startswith(advice.format(region=region)), result.stderr
    assert not pushes(ws)
    if case in ("no network", "expired SSO"):
        # The region came from the environment; the stand-in was asked whose credentials these are.
        assert [c["argv"] for c in ws.calls("aws")] == [["sts", "get-caller-identity", "--query", "Account",
                                                         "--output", "text"]]


def test_publish_without_docker_says_so(workspace):
    ws = workspace(MATRIX[0], docker=False)
    result = ws.mise("publish", check=False, env={"CONTAINER_ENGINE": "docker"})
    assert result.returncode != 0
    assert "docker is not installed" in result.stderr


def test_publish_with_a_stopped_engine_says_so(workspace):
    ws = workspace(MATRIX[0])
    result = ws.mise("publish", check=False, env={"STANDIN_DOCKER_ENGINE": "down", "CONTAINER_ENGINE": "docker"})
    assert result.returncode != 0
    assert "Docker engine is not running" in result.stderr
    assert [c["argv"] for c in ws.calls("docker")] == [["info"]]


def test_publish_with_an_unknown_engine_names_the_variable(workspace):
    ws = workspace(MATRIX[0])
    result = ws.mise("publish", check=False, env={"CONTAINER_ENGINE": "nerdctl"})
    assert result.returncode != 0
    assert "CONTAINER_ENGINE must be docker or podman, not 'nerdctl'" in result.stderr
    assert not pushes(ws)


def test_deploy_before_publish_says_publish_first(workspace):
    ws = workspace(MATRIX[0])
    result = ws.mise("deploy", check=False)
    assert result.returncode != 0
    assert "nothing published yet" in result.stderr and "mise run publish" in result.stderr
    assert ws.aws("lambda", "list-functions")["Functions"] == []


# The HTTP API's invoke:remote, and the other triggers' (another template).
@pytest.mark.parametrize("answers", params([c for c in MATRIX if c["iac"] != "terraform"][:1]
                                           + [next(c for c in MATRIX if c["iac"] != "terraform"
                                                   and c["trigger"] == "sqs")]))
def test_invoke_remote_before_deploy_says_deploy_first(workspace, answers):
    ws = workspace(answers)
    result = ws.mise("invoke:remote", check=False)
    assert result.returncode != 0
    assert f"no deployed {TRIGGERS[answers['trigger']]['remote_target']} found" in result.stderr
    # The CLI's reason, once, before the advice.
    cause = ("aws: An error occurred (ValidationError) when calling the DescribeStacks operation: "
             "Stack with id hello-fn does not exist")
    assert result.stderr.count(cause) == 1, result.stderr


PODMAN_PROBLEM = (standin_images.podman_problem() if shutil.which("podman") else "podman is not installed") or (
    "" if shutil.which("docker-registry") else "docker-registry (Debian) is not installed")


@pytest.mark.skipif(bool(PODMAN_PROBLEM), reason=PODMAN_PROBLEM)
def test_publish_with_podman_pushes_for_real_and_records_the_pushed_digest(workspace, local_registry, tmp_path):
    answers = MATRIX[0]
    ws = workspace(answers, docker=False)
    (tmp_path / "bin" / "podman").symlink_to(ROOT / "tests" / "standins" / "podman-ecr")
    registry = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
    repo = answers.get("ecr_repository", "hello-fn")
    commit = run(["git", "rev-parse", "--short=12", "HEAD"], ws.project).stdout.strip()
    env = {**standin_images.podman_env(insecure_registries=[local_registry]),
           "STANDIN_REAL_PODMAN": shutil.which("podman"), "STANDIN_ECR_REGISTRY": registry,
           "STANDIN_LOCAL_REGISTRY": local_registry}
    with standin_images.base_images_for(ws.project, answers["architecture"]):  # publish builds on them
        ws.mise("publish", env=env)

    podman = [c["argv"] for c in ws.calls("podman")]
    build = next(a for a in podman if a[:1] == ["build"])
    platform = PLATFORM[answers["architecture"]]
    assert build[build.index("--platform") + 1] == platform
    assert not [a for a in build if a.startswith(("--provenance", "--sbom"))], "podman takes neither"
    assert build[build.index("--tag") + 1] == f"{registry}/{repo}:{commit}"
    assert ["push", "--digestfile", "build/pushed-digest", f"{registry}/{repo}:{commit}"] in podman
    assert podman[-1] == ["logout", registry]

    # The digest publish recorded is the one the registry stores the manifest
    # under (the stand-in gives ECR that digest too, for the reuse below).
    request = urllib.request.Request(f"http://{local_registry}/v2/{repo}/manifests/{commit}", method="HEAD",
                                     headers={"Accept": "application/vnd.oci.image.manifest.v1+json, "
                                              "application/vnd.docker.distribution.manifest.v2+json"})
    with urllib.request.urlopen(request) as response:
        stored = response.headers["Docker-Content-Digest"]
    assert (ws.project / "build" / "pushed-digest").read_text().strip() == stored
    assert (ws.project / "build" / "published-image").read_text().strip() == f"{registry}/{repo}@{stored}"
    ecr = ws.aws("ecr", "describe-images", "--repository-name", repo, "--image-ids", f"imageTag={commit}")
    assert ecr["imageDetails"][0]["imageDigest"] == stored

    # The same commit again: reused from ECR, nothing built or pushed.
    assert "reusing" in ws.mise("publish", env=env).stdout
    assert len([c for c in ws.calls("podman") if c["argv"][:1] == ["push"]]) == 1

    # An image index of that image under another tag, as Docker's containerd
    # image store pushes even for one platform: a real one, pushed by Podman.
    # publish checks what ECR stores, refuses it and says what to change.
    podman = [str(tmp_path / "bin" / "podman")]
    index = f"localhost/index-{commit}"
    podman_env = {**ws.env, **env, "AWS_DEFAULT_REGION": REGION}  # the stand-in registers it in ECR
    run([*podman, "manifest", "create", index], ws.project, env=podman_env)
    try:
        run([*podman, "manifest", "add", index, f"containers-storage:{registry}/{repo}:{commit}"], ws.project,
            env=podman_env)
        run([*podman, "manifest", "push", "--all", index, f"docker://{registry}/{repo}:indexed"], ws.project,
            env=podman_env)
    finally:
        run([*podman, "manifest", "rm", index], ws.project, env=podman_env, check=False)
    assert ecr_media_type(ws, repo, "indexed") == "application/vnd.oci.image.index.v1+json"
    refused = ws.mise("publish", "--tag", "indexed", env=env, check=False)
    assert refused.returncode != 0
    assert f"{registry}/{repo}:indexed" in refused.stderr and "is an image index" in refused.stderr
    assert f"platforms: {platform} " in refused.stderr and f"image manifest for {platform}" in refused.stderr
    assert '"containerd-snapshotter": false' in refused.stderr and "CONTAINER_ENGINE=podman" in refused.stderr
    # What deploy would deploy is still the image published before.
    assert (ws.project / "build" / "published-image").read_text().strip() == f"{registry}/{repo}@{stored}"


def ecr_media_type(ws, repo, tag):
    return ws.aws("ecr", "batch-get-image", "--repository-name", repo, "--image-ids", f"imageTag={tag}",
                  "--accepted-media-types", "application/vnd.oci.image.index.v1+json",
                  "application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v2+json")["images"][0]["imageManifestMediaType"]


def test_cdk_tasks_run_npm_ci_only_when_node_modules_is_not_from_the_lock(workspace, tmp_path):
    """deploy and destroy of a CDK project install cdk/node_modules with
    `npm ci` (some 20 s) only when the last install was not from this very
    package.json and package-lock.json (scripts/cdk-dependencies). npm and npx
    are stand-ins that record their calls: `npm ci` replaces node_modules as
    npm does, npx (the cdk CLI) does nothing."""
    answers = next(c for c in ONE_PER_IAC if c["iac"] == "cdk")
    ws = workspace(answers)
    calls = tmp_path / "npm-calls"
    for tool in ("npm", "npx"):
        stand_in = tmp_path / "bin" / tool
        stand_in.write_text(f'#!/bin/sh\necho "{tool} $*" >>"{calls}"\n'
                            'if [ "$1" = ci ]; then rm -rf node_modules && mkdir node_modules; fi\n')
        stand_in.chmod(0o755)
    (ws.project / "build").mkdir()
    (ws.project / "build" / "published-image").write_text(
        f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/hello-fn@sha256:{'0' * 64}\n")
    # The published image, which deploy tags for the lifecycle rule.
    ws.aws("ecr", "create-repository", "--repository-name", "hello-fn")
    ws.aws("ecr", "put-image", "--repository-name", "hello-fn", "--image-tag", "published",
           "--image-digest", f"sha256:{'0' * 64}", "--image-manifest", json.dumps(
               {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 0,
                           "digest": f"sha256:{'1' * 64}"}, "layers": []}))

    def npm_ci_runs(*task) -> bool:
        calls.write_text("")
        ws.mise(*task)
        ran = calls.read_text().splitlines()
        assert any(call.startswith("npx cdk ") for call in ran), ran
        return "npm ci --no-audit --no-fund" in ran

    assert npm_ci_runs("deploy"), "a fresh project has no node_modules"
    assert not npm_ci_runs("deploy"), "node_modules is from this lock file"
    assert not npm_ci_runs("destroy")
    lock = ws.project / "cdk" / "package-lock.json"
    lock.write_text(lock.read_text() + "\n")
    assert npm_ci_runs("deploy"), "the lock file changed"
    assert not npm_ci_runs("deploy")
    (ws.project / "cdk" / "package.json").write_text((ws.project / "cdk" / "package.json").read_text() + "\n")
    assert npm_ci_runs("destroy"), "package.json changed"
    shutil.rmtree(ws.project / "cdk" / "node_modules")
    assert npm_ci_runs("destroy"), "node_modules was deleted"
