"""Static checks of every rendered project: Dockerfile, shell scripts, IaC."""

from __future__ import annotations

import pytest

from conftest import MATRIX, ROOT, params, run


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


@pytest.mark.parametrize("answers", params(MATRIX))
def test_shellcheck(render, answers):
    project = render(answers).path
    scripts = [str(f.relative_to(project)) for f in shell_scripts(project)]
    assert "scripts/build-bootstrap" in scripts
    assert ".config/mise/tasks/invoke/_default" in scripts
    run(["shellcheck", "-s", "sh", "-x", *scripts], project)


def test_shellcheck_template_tooling():
    scripts = [str(p) for p in [*ROOT.glob("script/*"), ROOT / ".ci" / "run"]
               if p.is_file() and p.read_text().startswith("#!/bin/sh")]
    assert scripts
    run(["shellcheck", *scripts], ROOT)
