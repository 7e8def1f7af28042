"""Throwaway template repositories tagged like real releases, and the copies
and updates made from them (test_update, test_update_trigger, test_hooks,
test_readme). Tags are made only in these repositories, never in this
clone (CHANGELOG.md says which commit each release is)."""

from __future__ import annotations

import re
from pathlib import Path

import copier
import yaml
from plumbum import local

from conftest import GIT_IDENTITY, ROOT, run, snapshot_template

# The Copier version the README's commands and the post-copy hook name.
COPIER_PIN = re.search(r"^copier==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M).group(1)

SAM_TEMPLATE = Path("template") / "{% if iac == 'sam' %}sam{% endif %}" / "template.yaml.jinja"
README_TEMPLATE = Path("template") / "README.md.jinja"

IDENTITY = GIT_IDENTITY

# The answers every project starts from (non-defaults, to show they survive).
ANSWERS = {"project_name": "my-fn", "memory_size": 256, "log_retention_days": 30}


def git(cwd: Path, *args: str) -> str:
    return run(["git", *args], cwd=cwd, env=IDENTITY).stdout


def status(cwd: Path) -> str:
    return git(cwd, "status", "--porcelain")


snapshot = snapshot_template


def release(repo: Path, version: str, why: str, commit: str | None = None) -> None:
    """Tag a release the way releases are tagged: annotated, on `commit` (as
    CHANGELOG.md names it), or else on a new commit of everything."""
    if commit is None:
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "--allow-empty", "-m", why)
        commit = "HEAD"
    git(repo, "tag", "-a", version, commit, "-m", f"Release {version}: {why}")


# A release heading of CHANGELOG.md: "## v0.1.0 (2026-11-27, commit <40 hex>)".
RELEASE_HEADING = re.compile(r"## (v\d+\.\d+\.\d+\S*) \((\d{4}-\d\d-\d\d), commit ([0-9a-f]{40})\)")


def releases() -> dict[str, str]:
    """{tag: commit} for each release in CHANGELOG.md, newest first: the one
    place that says which commit a release is. Tests make their release tags
    from it, in throwaway repositories, and never read this clone's tags."""
    found = {}
    for line in (ROOT / "CHANGELOG.md").read_text().splitlines():
        if line.startswith("## v"):
            match = RELEASE_HEADING.fullmatch(line)
            assert match, f"CHANGELOG.md: a release heading without its date and full commit: {line!r}"
            assert match[1] not in found, f"CHANGELOG.md lists {match[1]} twice"
            found[match[1]] = match[3]
    return found


def copy(repo: Path, dst: Path, ref: str = "v1.0.0", **data) -> Path:
    copier.run_copy(
        str(repo),
        str(dst),
        vcs_ref=ref,
        data={**ANSWERS, **data},
        defaults=True,
        unsafe=True,
        quiet=True,
    )
    return dst


def update(dst: Path, ref: str, **data) -> None:
    copier.run_update(
        str(dst),
        vcs_ref=ref,
        data=data,
        defaults=True,
        overwrite=True,
        unsafe=True,
        conflict="inline",
        quiet=True,
    )


def answers(dst: Path) -> dict:
    return yaml.safe_load((dst / ".copier-answers.yml").read_text())


def first_release(parent: Path) -> Path:
    """A template repository holding this working tree's template as v1.0.0."""
    repo = snapshot(parent / "lambda-template")
    with local.env(**IDENTITY):
        git(repo, "init", "-q", "-b", "main")
        release(repo, "v1.0.0", "First release")
    return repo
