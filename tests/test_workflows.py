"""The generated project's GitHub automation: valid workflows that match the answers."""

from __future__ import annotations

import pytest
import yaml

from conftest import GOARCH, MATRIX, ROOT, params, run


def workflow(project, name):
    return yaml.safe_load((project / ".github" / "workflows" / name).read_text())


def steps(job):
    return job["steps"]


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
    assert deploy["permissions"]["id-token"] == "write"
    assert deploy["concurrency"]["cancel-in-progress"] is False
    job = deploy["jobs"]["deploy"]
    assert job["environment"] == "production"
    creds = next(s for s in steps(job) if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@"))
    assert creds["with"]["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}"
    assert "aws-access-key-id" not in creds["with"]
    runs = [s.get("run") for s in steps(job) if s.get("run")]
    assert runs == ["mise run publish", "mise run deploy"]
    # deploy deploys what publish recorded: the image by digest.
    deploy_task = (project / ".config" / "mise" / "tasks" / "deploy").read_text()
    assert "PUBLISHED_IMAGE_FILE" in deploy_task and "@sha256:" in deploy_task


@pytest.mark.parametrize("answers", params(MATRIX))
def test_actions_are_pinned_to_versions(render, answers):
    project = render(answers).path
    for name in ("ci.yml", "deploy.yml"):
        for job in workflow(project, name)["jobs"].values():
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
