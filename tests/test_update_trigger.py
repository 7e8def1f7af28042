"""`copier update` and the trigger question.

A project generated from the last release before the question existed
(v0.1.0) gets trigger=http-api on update and nothing else changes: it ends up
exactly as a fresh copy of this working tree with the same answers. Changing
the trigger on update replaces the trigger's IaC and sample events, and leaves
the user's edited handler to the merge.

The throwaway template repository is a clone of this one without its tags
(clones of the branch have none): the test tags v0.1.0 itself, on the commit
CHANGELOG.md names, and commits this working tree's template as its HEAD.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from plumbum import local

from conftest import GIT_IDENTITY, ROOT, TEMPLATE_PARTS, run, snapshot_template
from matrix import load_copier_yml
from support.releases import answers, copy, git, release, releases, status, update

# The last release before the trigger question.
PRE_TRIGGER_RELEASE = "v0.1.0"

# One project per IaC tool, each in another language, with answers that differ
# from the defaults (they must survive the update).
PROJECTS = [
    {"language": "go", "iac": "sam", "memory_size": 256},
    {"language": "rust", "iac": "cdk", "architecture": "x86_64"},
    {"language": "custom", "iac": "terraform", "aws_region": "eu-west-1"},
]

# What this release changes on purpose in a project made from v0.1.0, besides
# recording the trigger: a failing custom handler's errorMessage is now its last
# stderr line alone (runtime/bootstrap, and the words about it in function.sh,
# README.md and a Dockerfile comment); the description is written as a quoted
# string in the SAM template and a double-quoted one in the CDK app (includes/
# quote.jinja); Go's HTTP handler logs a malformed event (its logger comes
# from cmd/bootstrap/main.go), and so does the custom one (function.sh);
# Rust declares tokio's rt feature (Cargo.toml) and says why its HTTP handler
# takes aws_lambda_events' types (src/handler.rs); Terraform's state bucket is
# TLS-only and expires replaced states (scripts/terraform-backend), tftest/
# names versions.tf's minimum, and log_retention_days takes the question's
# choices only (variables.tf);
# in every project, actions pinned by commit SHA (the
# workflows), exact tool versions (mise.toml, and the Go and Rust build images
# in the Dockerfile), publish's check for an image index, start's and
# start:native's port checks, emulator, timeout, memory and --env-file, invoke's word on a port nothing
# listens on, the AWS CLI's own error shown by scripts/aws-context (and by
# the SAM and CDK projects' invoke:remote), and the README's deploy role
# (whose iam/ files are new, so not in `git diff`); .gitignore lists only the
# chosen IaC tool's local state, and every invoke:remote reads its outputs
# through the tool's own reader (includes/iac/<tool>/outputs.jinja); the CDK
# stack imports its trigger's module (cdk/lib/triggers/, new files like
# cdk/lib/checkov.ts), and Terraform's trigger outputs move from outputs.tf
# into the trigger's file; deploy tags the image it deploys for the ECR
# lifecycle rule (ecr-lifecycle-policy.json and scripts/deployed-image are
# new); every IaC tool tags every resource (SAM's samconfig.toml, CDK's app,
# Terraform's providers.tf and variables.tf), the HTTP API's access log has
# one format, and the reserved_concurrency answer reaches the function (the
# CDK context and config, Terraform's variable and lambda.tf); Terraform's
# ecr.tf reads that lifecycle rule. Name here what a release changes.
EVERY_PROJECT_CHANGES = [".github/workflows/ci.yml", ".github/workflows/deploy.yml", ".config/mise/tasks/publish",
                         ".config/mise/tasks/start/_default", ".config/mise/tasks/start/native", "README.md",
                         "mise.toml", "Dockerfile", ".config/mise/tasks/invoke/_default", "scripts/aws-context",
                         ".gitignore", ".config/mise/tasks/deploy", ".config/mise/tasks/logs"]
RELEASE_CHANGES = {
    "go": EVERY_PROJECT_CHANGES + ["sam/template.yaml", "sam/samconfig.toml", ".config/mise/tasks/invoke/remote",
                                   "cmd/bootstrap/main.go", "internal/handler/handler.go",
                                   "internal/handler/handler_test.go", "scripts/build-bootstrap"],
    # (the rust project is the CDK one: its tasks skip an npm ci they need not run)
    "rust": EVERY_PROJECT_CHANGES + ["cdk/bin/app.ts", ".config/mise/tasks/invoke/remote", "Cargo.toml",
                                     "src/handler.rs", ".config/mise/tasks/destroy", ".config/mise/tasks/validate",
                                     "cdk/cdk.json", "cdk/lib/config.ts", "cdk/lib/function-stack.ts"],
    "custom": EVERY_PROJECT_CHANGES + ["function.sh", "runtime/bootstrap", "scripts/terraform-backend",
                                       ".config/mise/tasks/invoke/remote", "terraform/outputs.tf",
                                       "terraform/tftest/validation.tftest.hcl", "terraform/ecr.tf",
                                       "terraform/variables.tf", "terraform/api.tf", "terraform/providers.tf",
                                       "terraform/lambda.tf"],
}

pytestmark = pytest.mark.usefixtures("git_identity")


def tree(project: Path) -> dict[str, bytes]:
    """The project's files, but the answers file's _commit and git's own."""
    files = {}
    for path in sorted(project.rglob("*")):
        rel = path.relative_to(project)
        if path.is_file() and rel.parts[0] != ".git":
            data = path.read_bytes()
            if rel.name == ".copier-answers.yml":
                data = b"".join(line for line in data.splitlines(True) if not line.startswith(b"_commit:"))
            files[str(rel)] = data
    return files


@pytest.fixture(scope="module")
def template_repo(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("template") / "lambda-template"
    # This repository's history, none of its tags: the tag is made here, on the
    # commit CHANGELOG.md names, so every clone of the branch runs this test.
    run(["git", "clone", "-q", "--no-tags", str(ROOT), str(repo)], repo.parent)
    assert git(repo, "tag") == ""
    with local.env(**GIT_IDENTITY):
        release(repo, PRE_TRIGGER_RELEASE, "The release before the trigger question",
                commit=releases()[PRE_TRIGGER_RELEASE])
        # HEAD: this working tree's template, committed or not.
        current = snapshot_template(repo.parent / "current")
        for part in TEMPLATE_PARTS:
            run(["rm", "-rf", part], repo)
            run(["cp", "-a", str(current / part), part], repo)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "--allow-empty", "-m", "This working tree")
    return repo


def test_the_release_had_no_trigger_question(template_repo):
    # The tag is on the commit CHANGELOG.md names, and that commit predates the question.
    tagged = git(template_repo, "rev-parse", f"{PRE_TRIGGER_RELEASE}^{{commit}}").strip()
    assert tagged == releases()[PRE_TRIGGER_RELEASE]
    old = yaml.safe_load(run(["git", "show", f"{PRE_TRIGGER_RELEASE}:copier.yml"], template_repo).stdout)
    new = load_copier_yml(template_repo)
    assert "trigger" not in old and "trigger" in new


@pytest.mark.parametrize("data", PROJECTS, ids=[p["iac"] for p in PROJECTS])
def test_update_from_before_triggers_gives_http_api_and_changes_nothing_else(template_repo, tmp_path, data):
    project = copy(template_repo, tmp_path / "my-fn", ref=PRE_TRIGGER_RELEASE, **data)
    before = answers(project)
    assert "trigger" not in before

    update(project, "HEAD")

    # From v0.1.0 to today an HTTP API project's files are unchanged but for the
    # recorded answer and what the release changes on purpose.
    changed = run(["git", "diff", "--name-only"], project).stdout.split()
    assert set(changed) == {".copier-answers.yml", *RELEASE_CHANGES.get(data["language"], [])}
    after = answers(project)
    assert after["trigger"] == "http-api"
    # reserved_concurrency, asked of every project since, takes its default
    # for an HTTP API: no reservation, so what is deployed stays as it was.
    assert after["reserved_concurrency"] == -1
    # No other answer changed, and none was added but those of questions
    # new since the release, each at its default.
    new_questions = {"trigger", "reserved_concurrency", "log_level", "alarm_email"}
    new_questions |= {"cors_allow_origins"}  # asked of HTTP projects; empty by default: no CORS
    assert after["cors_allow_origins"] == ""
    assert {k: v for k, v in after.items() if k != "_commit" and k not in new_questions} == \
        {k: v for k, v in before.items() if k != "_commit"}
    assert after["log_level"] == load_copier_yml(template_repo)["log_level"]["default"]
    assert after["alarm_email"] == "", "the alarms notify no one unless asked"
    # The project is exactly what this template makes of the same answers today.
    # (The description as recorded: its default has changed since.)
    fresh = copy(template_repo, tmp_path / "fresh" / "my-fn", ref="HEAD", **data, trigger="http-api",
                 description=after["description"])
    assert tree(project) == tree(fresh)
    assert "<<<<<<<" not in "".join(f.decode(errors="replace") for f in tree(project).values())


def test_changing_the_trigger_replaces_its_iac_and_events_and_merges_the_handler(template_repo, tmp_path):
    project = copy(template_repo, tmp_path / "my-fn", ref="HEAD")
    assert answers(project)["trigger"] == "http-api"
    handler = project / "internal" / "handler" / "handler.go"
    team_line = "// Team note: keep greetings short."
    handler.write_text(handler.read_text().replace("package handler\n", f"package handler\n\n{team_line}\n", 1))
    git(project, "commit", "-q", "-am", "Team edits the handler")

    update(project, "HEAD", trigger="sqs")

    assert answers(project)["trigger"] == "sqs"
    events = sorted(p.name for p in (project / "events").iterdir())
    assert events == ["bad-bodies.json", "batch.json", "message.json"]
    sam = (project / "sam" / "template.yaml").read_text()
    assert "AWS::SQS::Queue" in sam and "HttpApi" not in sam
    # The team's line is still in the handler: merged, or inside conflict markers.
    assert team_line in handler.read_text()
    assert status(project) != ""
