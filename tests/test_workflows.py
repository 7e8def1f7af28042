"""The generated project's GitHub automation: valid workflows that match the answers."""

from __future__ import annotations

import re

import pytest
import yaml

from conftest import GOARCH, MATRIX, ROOT, one_per, params, run


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
    smoke = next(s for s in steps(ci["jobs"]["image"]) if "Smoke test" in s.get("name", ""))
    assert f"--platform {platform}" in smoke["run"]
    assert "2015-03-31/functions/function/invocations" in smoke["run"]
    runs = [s.get("run", "") for s in steps(ci["jobs"]["test"])]
    assert {"mise run lint", "mise run test", "mise run validate"} <= set(runs)
    qemu = any(s.get("uses", "").startswith("docker/setup-qemu-action@") for s in steps(ci["jobs"]["image"]))
    assert qemu == (answers["architecture"] == "arm64")


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
    assert runs == ["mise run publish", "mise run deploy"]
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
            assert PINNED_ACTION.fullmatch(uses), f"{path.name}: {uses} is not pinned by commit SHA with a # vX.Y.Z comment"
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
    iac = {"cdk": ("npm", "/cdk"), "terraform": ("terraform", "/terraform")}.get(answers["iac"])
    if iac:
        assert ecosystems[iac[0]] == iac[1]


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
