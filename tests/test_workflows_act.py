"""The generated GitHub workflows run, job by job, under act (nektos/act,
installed by script/bootstrap), with GitHub's runner semantics: expressions,
`needs`, reusable workflows, step outputs, $GITHUB_ENV, `if:`.

- The runner: act's -self-hosted platform for both ubuntu-24.04 and
  ubuntu-24.04-arm, so the steps run on this machine, no runner image.
- Docker: the steps' `docker` talks to Podman's Docker-compatible API
  (`podman system service`, started by the docker_api fixture), the way a
  user without Docker runs them.
- Marketplace actions cannot be downloaded here: each gets a local stand-in
  under tests/standins/actions/ through act's --local-repository, mapped from
  the `uses:` lines the workflows hold (whatever their refs: tags or pinned
  commits). Each stand-in's action.yml says what it replaces, and records its
  inputs in $STANDIN_LOG, which the tests check. actions/checkout needs none:
  act checks out the work tree itself for this repository.

Which projects: ci.yml (both jobs) for one project per language x base image
(scratch among them), both architectures among them, and deploy.yml (CI, then the deploy job against moto,
the local AWS API of tests/test_deploy.py) for one project per IaC tool,
one_per("iac"). A deploy run runs all of CI too, so the language x base image
projects that a deploy already covers are not run again.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

import standin_images
from conftest import (CARGO_TARGET_DIR, GIT_IDENTITY, GOARCH, ROOT, aws, aws_env, claim_cargo_target, mise_env,
                      moto_server, one_per, params, pick, reserve_one, run, scratch_emulator)
from support import rust_targets
from support.images import emulation_missing, rust_target_missing

ACT = shutil.which("act") or str(Path.home() / "go" / "bin" / "act")
STANDINS = ROOT / "tests" / "standins" / "actions"
# The stand-in for each marketplace action the workflows use (owner/repo).
STANDIN_FOR = {
    "jdx/mise-action": "mise-action",
    "actions/cache": "cache",
    "Swatinem/rust-cache": "cache",
    "docker/setup-buildx-action": "setup-buildx",
    "docker/build-push-action": "build-push",
    "actions/upload-artifact": "upload-artifact",
    "actions/download-artifact": "download-artifact",
    "aws-actions/configure-aws-credentials": "configure-aws-credentials",
}
# act checks out the repository it runs in itself (its work tree).
CHECKOUT = "actions/checkout"
RUNNERS = ("ubuntu-24.04", "ubuntu-24.04-arm")
REGION = "eu-west-2"
ACCOUNT = "123456789012"


def act_problem() -> str:
    if not Path(ACT).exists():
        return "act is not installed (script/bootstrap installs it with go install)"
    # Podman, even where a Docker engine answers: the stand-in base images
    # and the build-push stand-in's build are Podman's.
    return standin_images.podman_problem()


PROBLEM = act_problem()
pytestmark = [pytest.mark.skipif(bool(PROBLEM), reason=PROBLEM),
              # One act run at a time: the image's tag (PROJECT:ci) is the
              # workflow's own. (The smoke test's port is each run's own:
              # Run passes a reserved one as SMOKE_TEST_PORT.)
              pytest.mark.xdist_group("act")]

DEPLOYS = one_per("iac")
# Every language x base image, and both architectures (so both runner
# labels and both platforms' builds), in as few projects as pick() finds.
CI_ONLY = [c for c in pick(("language", "base_image"), ("architecture",))
           if not any(all(c[q] == d[q] for q in ("language", "base_image")) for d in DEPLOYS)]


def workflow_actions(project: Path) -> list[str]:
    """Every `owner/repo@ref` the project's workflows use, as written."""
    found = []
    for path in sorted((project / ".github" / "workflows").glob("*.yml")):
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            for step in job.get("steps", []):
                if "uses" in step and step["uses"] not in found:
                    found.append(step["uses"])
    return found


def local_repositories(project: Path) -> list[str]:
    """act's --local-repository arguments: each action the workflows use, at
    the ref they name, to its stand-in."""
    args = []
    for uses in workflow_actions(project):
        repo = uses.partition("@")[0]
        if repo == CHECKOUT:
            continue
        assert repo in STANDIN_FOR, f"{uses}: no stand-in in tests/standins/actions (STANDIN_FOR)"
        args += ["--local-repository", f"{uses}={STANDINS / STANDIN_FOR[repo]}"]
    return args


@pytest.fixture(scope="module")
def docker_api(tmp_path_factory):
    """Podman's Docker-compatible API on a socket of its own, for the
    workflows' `docker` steps; stopped after the module."""
    folder = tmp_path_factory.mktemp("podman-api")
    socket = folder / "podman.sock"
    settings = standin_images.podman_env()
    log = open(folder / "service.log", "w")
    service = subprocess.Popen(["podman", "system", "service", "--time=0", f"unix://{socket}"],
                               env={**os.environ, **settings}, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not socket.exists():
            assert service.poll() is None and time.monotonic() < deadline, (folder / "service.log").read_text()
            time.sleep(0.1)
        yield {**settings, "DOCKER_HOST": f"unix://{socket}"}
    finally:
        service.terminate()
        service.wait(timeout=30)
        log.close()


# The Rust projects' cargo target folder on the runner: kept between runs, as
# a CI cache would keep it (the workflows' test job compiles the dependencies
# for clippy and the tests otherwise, every run). Its own folder, locked
# around each act run, since every project builds the same crate name.
ACT_CARGO_TARGET_DIR = CARGO_TARGET_DIR.parent / "cargo-target-act"


class Run:
    """One act run in a fresh git repository of a rendered project."""

    def __init__(self, project: Path, tmp_path: Path, env: dict):
        self.project, self.tmp, self.env = project, tmp_path, env
        self.log = tmp_path / "calls.jsonl"
        self.log.touch()
        # The smoke test's invoke port (the workflow's default is 9000).
        self.port = reserve_one()

    def act(self, event: str, workflow: str, *args: str) -> subprocess.CompletedProcess:
        cmd = [ACT, event, "--workflows", f".github/workflows/{workflow}",
               *[a for runner in RUNNERS for a in ("-P", f"{runner}=-self-hosted")],
               "--action-cache-path", str(self.tmp / "act-cache"),
               "--env", f"SMOKE_TEST_PORT={self.port}", *local_repositories(self.project), *args]
        env = {k: v for k, v in {**os.environ, **self.env}.items() if v is not None}  # None: unset
        cargo = (self.project / "Cargo.toml").is_file()
        if cargo:
            env["CARGO_TARGET_DIR"] = str(ACT_CARGO_TARGET_DIR)
        with rust_targets.folder_lock(ACT_CARGO_TARGET_DIR) if cargo else contextlib.nullcontext():
            if cargo:
                claim_cargo_target(self.project, ACT_CARGO_TARGET_DIR)
            proc = subprocess.run(cmd, cwd=self.project, env=env, capture_output=True, text=True, timeout=1800)
        (self.tmp / "act.log").write_text(proc.stdout + proc.stderr)
        return proc

    def calls(self, action: str) -> list[dict]:
        entries = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [e for e in entries if e.get("action") == action]

    def podman(self) -> list[list[str]]:
        """The podman commands run through tests/standins/podman-ecr."""
        entries = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [e["argv"] for e in entries if e.get("tool") == "podman"]


def jobs_succeeded(output: str) -> set[str]:
    """The jobs act reports as succeeded (its prefix: [Workflow/job] or
    [Caller/called job/job])."""
    return {job.strip() for job in re.findall(r"^\[(?:[^\]]*/)?([^/\]]+)\] 🏁  Job succeeded", output, re.M)}


@pytest.fixture
def act_run(render, tmp_path, docker_api):
    """A fresh copy of the rendered project in a git repository (its own
    commit, as a pushed branch has), the stand-in base images built, and the
    environment act runs in; removes the image the workflow built after."""
    made = []

    def _make(answers, first_on_path=(), **extra_env) -> Run:
        missing = rust_target_missing(answers) or emulation_missing(answers)
        if missing:
            pytest.skip(missing)
        source = render(answers).path
        project = tmp_path / "project"
        shutil.copytree(source, project, ignore=lambda folder, names: [
            n for n in names if n == ".git" or (Path(folder) == source and n in ("build", "target"))])
        run(["git", "init", "-q", "-b", "main"], project)
        run(["git", "add", "-A"], project)
        run(["git", "commit", "-q", "-m", "init"], project, env=GIT_IDENTITY)
        standin_images.ensure_base_images(project, answers["architecture"])
        # The emulator `mise run start` mounts into a scratch image.
        rie = scratch_emulator(project, tmp_path / "rie")
        env = {
            **mise_env(Path("/")),
            **docker_api,
            "PATH": os.pathsep.join([*map(str, first_on_path), str(ROOT / ".tools" / "venv" / "bin"),
                                     str(ROOT / ".tools" / "bin"), os.environ["PATH"]]),
            "STANDIN_LOG": str(tmp_path / "calls.jsonl"),
            "STANDIN_ARTIFACTS": str(tmp_path / "artifacts"),
            "RIE_DIR": str(rie),
            # The engine scripts/container-engine picks: Docker's API here.
            "CONTAINER_ENGINE": None,
            **extra_env,
        }
        made.append((answers, env))
        return Run(project, tmp_path, env)

    yield _make
    for answers, env in made:
        # The workflow's image (with any container of it the run left), and
        # what a deploy pushed, under the local registry's name.
        env = {k: v for k, v in {**os.environ, **env, "PATH": os.environ["PATH"]}.items() if v is not None}
        images = [f"{answers.get('project_name', 'hello-fn')}:ci"]
        if env.get("STANDIN_LOCAL_REGISTRY"):
            images += subprocess.run(["podman", "images", "--format", "{{.Repository}}:{{.Tag}}", "--filter",
                                      f"reference={env['STANDIN_LOCAL_REGISTRY']}/*"],
                                     env=env, capture_output=True, text=True).stdout.split()
        subprocess.run(["podman", "rmi", "--force", *images], env=env, capture_output=True)


def assert_image_job_checks(r: Run, answers: dict) -> None:
    """What the image job asked the stand-ins: one build of the answered
    platform, attestations off, loaded for the smoke test."""
    (build,) = r.calls("docker/build-push-action")
    platform = f"linux/{GOARCH[answers['architecture']]}"
    assert build["inputs"]["platforms"] == platform
    assert (build["inputs"]["provenance"], build["inputs"]["sbom"], build["inputs"]["load"]) == (
        "false", "false", "true")
    assert build["inputs"]["tags"] == "hello-fn:ci"
    assert r.calls("jdx/mise-action") and all(c["inputs"]["cache"] == "true" for c in r.calls("jdx/mise-action"))


@pytest.mark.parametrize("answers", params(CI_ONLY))
def test_ci_runs_under_act(act_run, answers):
    """ci.yml on a pull request: the test job (lint, unit tests, IaC
    validation) and the image job (build, smoke test through the emulator,
    mounted into a scratch image as `mise run start` does) pass."""
    r = act_run(answers)
    result = r.act("pull_request", "ci.yml")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert jobs_succeeded(output) == {"test", "image"}, output[-3000:]
    assert_image_job_checks(r, answers)
    # The smoke test got the sample event's expected answer from the image.
    assert re.search(r"✅  Success - Main Smoke test through the Lambda emulator", output), output[-3000:]
    # On the port the run reserved (`mise run start` names its endpoint).
    assert f"http://localhost:{r.port}/2015-03-31/functions/function/invocations" in output, output[-3000:]
    # A pull request keeps no image: nothing was uploaded.
    assert r.calls("actions/upload-artifact") == []


@pytest.mark.parametrize("answers", params(DEPLOYS))
def test_deploy_runs_under_act_and_deploys_the_image_ci_tested(act_run, answers, tmp_path, local_registry):
    """deploy.yml on a push to main: CI (called as a reusable workflow), then
    the deploy job against moto, with the configure-aws-credentials stand-in
    giving it moto's credentials instead of assuming the role. The function
    ends up deployed by digest, and that digest is the image CI built and
    smoke-tested: the pushed manifest's config is the built image's id."""
    registry = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
    moto_gen = moto_server(tmp_path, REGION)
    moto = next(moto_gen)
    try:
        tf_config = tmp_path / "terraform.rc"
        tf_config.write_text('provider_installation {\n  filesystem_mirror {\n'
                             '    path    = "/opt/tf-plugins"\n'
                             '    include = ["registry.terraform.io/hashicorp/aws"]\n  }\n}\n')
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        (bin_dir / "podman").symlink_to(ROOT / "tests" / "standins" / "podman-ecr")
        local_aws = aws_env(moto, REGION, tmp_path)
        r = act_run(
            answers, first_on_path=[bin_dir],
            # publish and deploy with CONTAINER_ENGINE=podman (podman_env,
            # below) through podman-ecr: the real podman, with ECR's registry
            # played by a local registry (moto serves ECR's API only).
            STANDIN_REAL_PODMAN=shutil.which("podman"), STANDIN_ECR_REGISTRY=registry,
            STANDIN_LOCAL_REGISTRY=local_registry,
            STANDIN_AWS_ENDPOINT_URL=moto,
            # No credentials or endpoint until the credentials step gives them.
            AWS_CONFIG_FILE=local_aws["AWS_CONFIG_FILE"],
            AWS_SHARED_CREDENTIALS_FILE=local_aws["AWS_SHARED_CREDENTIALS_FILE"],
            AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None, AWS_SESSION_TOKEN=None, AWS_ENDPOINT_URL=None,
            AWS_REGION=None, AWS_DEFAULT_REGION=None, AWS_PROFILE=None,
            TF_CLI_CONFIG_FILE=str(tf_config),
            TF_CLI_ARGS_init="-backend-config=use_path_style=true",
            SAM_CLI_TELEMETRY="0", CDK_DISABLE_VERSION_CHECK="1",
            **standin_images.podman_env(insecure_registries=[local_registry]),
        )
        if answers["iac"] == "terraform":
            # The state bucket as deploy makes it, less its TLS-only policy:
            # moto applies a Deny without evaluating its condition, so it
            # would refuse HTTPS too (tests/test_deploy.py checks the policy).
            env = {k: v for k, v in {**r.env, **local_aws}.items() if v is not None}
            run(["mise", "run", "state-bucket"], r.project, env=env)
            aws(["s3api", "delete-bucket-policy", "--bucket", f"tfstate-{ACCOUNT}-{REGION}"], local_aws)
        role = f"arn:aws:iam::{ACCOUNT}:role/github-deploy"
        result = r.act("push", "deploy.yml", "--var", f"AWS_ROLE_ARN={role}", "--var", f"AWS_REGION={REGION}")
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-8000:]
        assert {"test", "image", "deploy"} <= jobs_succeeded(output), output[-3000:]
        # The preview ran before the deploy (nothing deployed yet: it lists
        # what the deploy creates).
        assert "✅  Success - Main Preview the changes in the job summary" in output, output[-3000:]
        assert output.index("Preview the changes in the job summary") < output.index(
            "Main Deploy the published digest"), output[-3000:]
        assert_image_job_checks(r, answers)

        (creds,) = r.calls("aws-actions/configure-aws-credentials")
        assert creds["inputs"]["role-to-assume"] == role
        assert creds["inputs"]["aws-region"] == REGION
        assert not creds["inputs"].get("aws-access-key-id")
        (upload,) = r.calls("actions/upload-artifact")
        (download,) = r.calls("actions/download-artifact")
        assert upload["inputs"]["name"] == download["inputs"]["name"]

        # Deployed by digest, and the digest is of the image CI built.
        function = json.loads(aws(["lambda", "get-function", "--function-name", "hello-fn",
                                   "--region", REGION, "--output", "json"], local_aws).stdout)
        image = function["Code"]["ImageUri"]
        assert re.fullmatch(rf"{re.escape(registry)}/hello-fn@sha256:[0-9a-f]{{64}}", image), image
        digest = image.split("@")[1]
        request = urllib.request.Request(f"http://{local_registry}/v2/hello-fn/manifests/{digest}", headers={
            "Accept": "application/vnd.oci.image.manifest.v1+json, "
                      "application/vnd.docker.distribution.manifest.v2+json"})
        with urllib.request.urlopen(request) as response:
            manifest = json.loads(response.read())
        (build,) = r.calls("docker/build-push-action")
        assert manifest["config"]["digest"] == build["imageid"], "the deployed image is the one CI built"
        podman = r.podman()
        assert [a[0] for a in podman].count("build") == 1, "one build (CI's); publish pushed that image"
        assert [a[0] for a in podman].count("push") == 1, podman
    finally:
        moto_gen.close()


def test_every_action_has_a_stand_in_that_says_what_it_replaces(render):
    """The mapping comes from the workflows' own `uses:` lines, so pinned refs
    map too; every stand-in names the action it replaces."""
    for answers in DEPLOYS + CI_ONLY:
        project = render(answers).path
        args = local_repositories(project)
        mapped = [a.split("=", 1)[0] for a in args[1::2]]
        assert sorted(mapped + [u for u in workflow_actions(project) if u.startswith(CHECKOUT + "@")]) == sorted(
            workflow_actions(project))
    for folder in STANDINS.iterdir():
        action = yaml.safe_load((folder / "action.yml").read_text())
        replaced = [repo for repo, name in STANDIN_FOR.items() if name == folder.name]
        assert replaced and all(repo in action["description"] for repo in replaced), folder
