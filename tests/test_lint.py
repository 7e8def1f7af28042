"""Static checks of every rendered project: Dockerfile, shell scripts, IaC."""

from __future__ import annotations

import hashlib

import pytest

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
