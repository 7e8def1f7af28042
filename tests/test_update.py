"""`copier update` never loses work.

A throwaway template repository is built from this working tree (copier.yml,
template/, hooks/) and tagged like a real release line:

- v1.0.0: the template as it is;
- v1.1.0: a README title and paragraph and the SAM template change.

Each test copies a project from v1.0.0 (the post-copy hook makes the first
commit), edits it as a user would, commits, and updates.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from packaging.version import Version
from plumbum import local

from conftest import MATRIX, ROOT, run
from support.releases import (IDENTITY, README_TEMPLATE, SAM_TEMPLATE, answers, copy, first_release, git, release,
                              releases, status, update)

# What v1.1.0 changes.
TITLE_V11 = "# {{ project_name }}: a Lambda function on provided:al2023"
PARAGRAPH_V11 = "Template 1.1.0 adds this paragraph before the first section."
TRACING_V11 = "      Tracing: Active"


# The function's code: no IaC or architecture answer may touch it.
CODE = (
    "go.mod",
    "go.sum",
    "cmd/bootstrap/main.go",
    "internal/handler/handler.go",
    "internal/handler/handler_test.go",
)

USER_HANDLER_LINE = "// Team note: greetings stay short; see the runbook."
USER_README_SECTION = "\n## Team notes\n\nOn call: the platform team.\n"
USER_SAM_OUTPUT = (
    "  MemoryNote:\n"
    "    Description: Added by the team\n"
    "    Value: team-owned\n"
)

# IaC tools copier.yml enables besides sam (empty until another is enabled).
OTHER_IACS = sorted({c["iac"] for c in MATRIX if c["language"] == "go"} - {"sam"})


# --------------------------------------------------------------------- helpers


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert text.count(old) >= 1, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, count))


def change_template_v11(repo: Path) -> None:
    readme = repo / README_TEMPLATE
    lines = readme.read_text().splitlines(keepends=True)
    title = next(i for i, line in enumerate(lines) if line.startswith("# "))
    lines[title] = TITLE_V11 + "\n"
    section = next(i for i, line in enumerate(lines) if line.startswith("## "))
    lines[section:section] = [PARAGRAPH_V11 + "\n", "\n"]
    readme.write_text("".join(lines))

    sam = repo / SAM_TEMPLATE
    text = sam.read_text()
    match = re.search(r"^ +Timeout: \{\{ timeout \}\}\n", text, re.MULTILINE)
    assert match, "the SAM template has no Timeout line to anchor the change"
    sam.write_text(text[: match.end()] + TRACING_V11 + "\n" + text[match.end() :])


def code(dst: Path) -> dict[str, bytes]:
    return {name: (dst / name).read_bytes() for name in CODE}


def user_edits(dst: Path, readme=True, sam=True) -> None:
    """What a user does after generating: code, docs and IaC, then a commit."""
    handler = dst / "internal" / "handler" / "handler.go"
    handler.write_text(handler.read_text() + "\n" + USER_HANDLER_LINE + "\n")
    if readme:
        with (dst / "README.md").open("a") as f:
            f.write(USER_README_SECTION)
    if sam:
        with (dst / "sam" / "template.yaml").open("a") as f:
            f.write(USER_SAM_OUTPUT)
    git(dst, "commit", "-q", "-am", "Team edits")
    assert status(dst) == ""


# -------------------------------------------------------------------- fixtures


pytestmark = pytest.mark.usefixtures("git_identity")


@pytest.fixture(scope="module")
def template_repo(tmp_path_factory) -> Path:
    repo = first_release(tmp_path_factory.mktemp("template"))
    with local.env(**IDENTITY):
        change_template_v11(repo)
        release(repo, "v1.1.0", "README title and paragraph; X-Ray tracing in SAM")
    return repo


@pytest.fixture
def project(template_repo, tmp_path) -> Path:
    """A project copied from v1.0.0, as the post-copy hook left it."""
    dst = copy(template_repo, tmp_path / "my-fn")
    assert git(dst, "rev-list", "--count", "HEAD").strip() == "1"
    assert status(dst) == ""
    assert answers(dst)["_commit"] == "v1.0.0"
    return dst


# ----------------------------------------------------------------------- tests


def test_template_change_arrives_and_user_edits_are_kept(project):
    user_edits(project)
    edited = code(project)
    readme_before = (project / "README.md").read_text()
    assert PARAGRAPH_V11 not in readme_before

    update(project, "v1.1.0")

    readme = (project / "README.md").read_text()
    sam = (project / "sam" / "template.yaml").read_text()
    # The template change arrived...
    assert readme.startswith("# my-fn: a Lambda function on provided:al2023\n")
    assert PARAGRAPH_V11 in readme
    assert TRACING_V11 + "\n" in sam
    # ...and every user edit is still there, unchanged.
    assert readme.endswith(USER_README_SECTION)
    assert sam.endswith(USER_SAM_OUTPUT)
    assert code(project) == edited
    assert USER_HANDLER_LINE in (project / "internal" / "handler" / "handler.go").read_text()
    # No conflict, answers kept, and the update is left for the user to review
    # and commit (the post-copy hook does not run on update).
    for path in (project / "README.md", project / "sam" / "template.yaml"):
        assert "<<<<<<<" not in path.read_text()
    recorded = answers(project)
    assert recorded["_commit"] == "v1.1.0"
    assert recorded["memory_size"] == 256 and recorded["log_retention_days"] == 30
    assert "MemorySize: 256" in sam
    assert git(project, "rev-list", "--count", "HEAD").strip() == "2"
    changed = {line[3:] for line in status(project).splitlines()}
    assert changed == {".copier-answers.yml", "README.md", "sam/template.yaml",
                       "sam/samconfig.toml"}  # (the stack's template-version tag)


def test_a_real_conflict_is_marked_not_resolved(project):
    readme = project / "README.md"
    lines = readme.read_text().splitlines(keepends=True)
    assert lines[0] == "# my-fn\n"
    lines[0] = "# my-fn, owned by the payments team\n"
    readme.write_text("".join(lines))
    git(project, "commit", "-q", "-am", "Our own title")

    update(project, "v1.1.0")

    text = readme.read_text()
    assert "<<<<<<<" in text and "=======" in text and ">>>>>>>" in text
    # git sees the file as unmerged, so it cannot be committed by accident.
    assert "UU README.md" in status(project).splitlines()
    # Both sides are in the file, between the markers: nothing was picked.
    conflict = text[text.index("<<<<<<<") : text.index(">>>>>>>")]
    assert "# my-fn, owned by the payments team" in conflict
    assert "# my-fn: a Lambda function on provided:al2023" in conflict
    # The rest of the update still arrived.
    assert PARAGRAPH_V11 in text
    assert TRACING_V11 in (project / "sam" / "template.yaml").read_text()


def test_update_without_template_change_leaves_git_status_clean(project):
    user_edits(project)
    update(project, "v1.0.0")
    assert status(project) == ""
    assert answers(project)["_commit"] == "v1.0.0"


def test_update_again_after_committing_an_update_is_clean(project):
    user_edits(project)
    update(project, "v1.1.0")
    git(project, "commit", "-q", "-am", "Update to template v1.1.0")
    update(project, "v1.1.0")
    assert status(project) == ""


def test_changing_architecture_during_update_leaves_the_code_alone(project):
    user_edits(project, sam=False)
    edited = code(project)

    update(project, "v1.1.0", architecture="x86_64")

    sam = (project / "sam" / "template.yaml").read_text()
    assert re.search(r"Architectures:\s*\n\s*- x86_64\n", sam)
    assert "arm64" not in sam
    assert 'ARCHITECTURE = "x86_64"' in (project / "mise.toml").read_text()
    assert answers(project)["architecture"] == "x86_64"
    assert code(project) == edited
    changed = {line[3:] for line in status(project).splitlines()}
    assert not changed & set(CODE), changed


def test_there_is_another_iac_to_swap_to():
    assert OTHER_IACS, "copier.yml offers no IaC but sam"


@pytest.mark.parametrize("iac", OTHER_IACS)
def test_changing_iac_during_update_swaps_the_folder_only(project, iac):
    user_edits(project, sam=False)
    edited = code(project)

    update(project, "v1.1.0", iac=iac)

    assert not (project / "sam").exists()
    assert (project / iac).is_dir()
    assert any(f.is_file() for f in (project / iac).rglob("*"))
    assert answers(project)["iac"] == iac
    assert code(project) == edited
    assert (project / "README.md").read_text().endswith(USER_README_SECTION)
    changed = {line[3:] for line in status(project).splitlines()}
    assert not changed & set(CODE), changed
    assert "<<<<<<<" not in (project / "README.md").read_text()


def test_template_repo_is_tagged_like_a_release_line(template_repo):
    """The tests rely on annotated tags, as the README's release practice asks."""
    tags = git(template_repo, "tag", "--list", "--sort=v:refname").split()
    assert tags == ["v1.0.0", "v1.1.0"]
    for tag in tags:
        assert git(template_repo, "cat-file", "-t", tag).strip() == "tag"


def test_changelog_names_each_release_by_a_commit_of_this_history():
    """The commit CHANGELOG.md gives a release is one of this branch's, so the
    tag made on it (here by the tests, or by hand when releasing) is that
    release; the list is newest first, each commit after the one below it."""
    tagged = releases()
    assert "v0.1.0" in tagged, "CHANGELOG.md names no commit for v0.1.0"

    def git_ok(*args: str) -> bool:
        return run(["git", *args], ROOT, check=False).returncode == 0

    for tag, commit in tagged.items():
        assert git_ok("cat-file", "-e", f"{commit}^{{commit}}"), \
            f"{tag}: no commit {commit} in this clone (shallow? it needs the branch's whole history)"
        assert git_ok("merge-base", "--is-ancestor", commit, "HEAD"), f"{tag}: {commit} is not in HEAD's history"
    versions = [Version(tag) for tag in tagged]
    assert versions == sorted(versions, reverse=True), "CHANGELOG.md: releases not newest first"
    commits = list(tagged.values())
    for newer, older in itertools.pairwise(commits):
        assert newer != older and git_ok("merge-base", "--is-ancestor", older, newer), \
            f"CHANGELOG.md: {older} is not before {newer}"
