"""The generated project's GitHub automation: valid workflows that match the answers."""

from __future__ import annotations

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
    assert runs[-2:] == [f"mise run publish --image {tag}", "mise run deploy"]
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
    assert runs[-2:] == [f"mise run publish --image {answers.get('project_name', 'hello-fn')}:ci", "mise run deploy"]
    # deploy deploys what publish recorded: the image by digest.
    deploy_task = (project / ".config" / "mise" / "tasks" / "deploy").read_text()
    assert "PUBLISHED_IMAGE_FILE" in deploy_task and "@sha256:" in deploy_task


@pytest.mark.parametrize("answers", params(MATRIX))
def test_actions_are_pinned_to_versions(render, answers):
    project = render(answers).path
    for name in ("ci.yml", "deploy.yml"):
        for job in workflow(project, name)["jobs"].values():
            # A called workflow is this repository's own, checked here too.
            assert job.get("uses", "./.github/workflows/").startswith("./.github/workflows/"), job
            for step in steps(job):
                if "uses" in step:
                    action, _, version = step["uses"].partition("@")
                    assert version.startswith("v") and version[1:2].isdigit(), step["uses"]


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
