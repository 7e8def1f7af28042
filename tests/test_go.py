"""Go projects compile, pass their own tests, and answer the shared cases
under the Runtime Interface Emulator, for every trigger on both architectures.

The unit tests run once per trigger: the architecture changes no source. The
HTTP API and a Function URL compile the same code: their bootstraps are built
once (conftest's bootstrap_builder), and each answers its own events.

The size target (the tuned bootstrap at most 0.7x a plain `go build`) is held
here, on the bootstrap these tests build anyway; script/bench reports it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import (ELF_MACHINE, GOARCH, HOST_ARCH, QEMU, assert_cases, assert_near_deadline_cases,
                      bootstrap_builder, code_combinations, elf_machine, emulator, mise_env, params, rie_path, run)

GO_PAIRS = [c for c in code_combinations() if c["language"] == "go"]
GO_TRIGGERS = [c for c in GO_PAIRS if c["architecture"] == HOST_ARCH]


@pytest.fixture(scope="module")
def go_project(render):
    """The Go project for an architecture, its bootstrap built for that architecture."""
    return bootstrap_builder(render, lambda arch: {"GOARCH": GOARCH[arch]})


@pytest.mark.parametrize("answers", params(GO_TRIGGERS))
def test_go_vet_and_unit_tests(render, answers):
    project = render(answers).path
    tests = (project / "internal" / "handler" / "handler_test.go").read_text()
    missing = [e.name for e in sorted((project / "events").glob("*.json")) if f'"{e.name}"' not in tests]
    assert missing == [], f"the unit tests do not read {missing}"
    run(["go", "vet", "./..."], project)
    result = run(["go", "test", "-count=1", "./..."], project)
    assert "ok" in result.stdout and "internal/handler" in result.stdout


@pytest.mark.parametrize("answers", params(GO_PAIRS))
def test_go_builds_a_static_bootstrap_for_the_architecture(go_project, answers):
    bootstrap = go_project(answers) / "build" / "bootstrap"
    assert elf_machine(bootstrap) == ELF_MACHINE[answers["architecture"]]
    file_out = run(["file", str(bootstrap)], bootstrap.parent).stdout if shutil.which("file") else ""
    if file_out:
        assert "statically linked" in file_out, file_out


# The tuned bootstrap's size against the toolchain's defaults, per architecture.
SIZE_RATIO_LIMIT = 0.7
GO_PER_ARCH = [next(c for c in GO_PAIRS if c["architecture"] == arch) for arch in sorted(GOARCH)]


@pytest.mark.parametrize("answers", params(GO_PER_ARCH))
def test_go_bootstrap_is_at_most_0_7_of_a_plain_go_build(go_project, answers, tmp_path):
    """scripts/build-bootstrap's flags (-trimpath, -s -w, lambda.norpc,
    CGO_ENABLED=0) against `go build` with the toolchain's defaults, same
    source, same architecture; sizes are deterministic, so this is a test
    and not only a number in script/bench's table."""
    project = go_project(answers)
    tuned = (project / "build" / "bootstrap").stat().st_size
    plain = tmp_path / "bootstrap"
    run(["go", "build", "-o", str(plain), "./cmd/bootstrap"], project,
        env={"GOARCH": GOARCH[answers["architecture"]], "GOOS": "linux"})
    assert elf_machine(plain) == ELF_MACHINE[answers["architecture"]]
    ratio = tuned / plain.stat().st_size
    assert ratio <= SIZE_RATIO_LIMIT, (
        f"build/bootstrap is {tuned} bytes, {ratio:.2f}x the plain go build's {plain.stat().st_size}: "
        f"over {SIZE_RATIO_LIMIT}x (scripts/build-bootstrap's flags)")


@pytest.mark.parametrize("answers", params(GO_PAIRS))
def test_go_bootstrap_answers_under_the_emulator(go_project, answers):
    project = go_project(answers)
    command = ["build/bootstrap"]
    if answers["architecture"] != HOST_ARCH:
        qemu = QEMU[answers["architecture"]]
        assert shutil.which(qemu), f"{qemu} is missing: script/bootstrap installs qemu-user-static"
        command = [shutil.which(qemu), *command]
    with emulator(command, project) as port:
        assert_cases(port, project / "events")
    if answers["architecture"] == HOST_ARCH:
        # With a tiny timeout (SQS): every message reported, none processed.
        assert_near_deadline_cases(command, project)


@pytest.mark.parametrize("answers", params(GO_PAIRS[:1]))
def test_go_lint_runs_staticcheck(render, answers, tmp_path):
    """`mise run lint` fails on code that go vet and gofmt accept but
    staticcheck does not (S1039: an unnecessary fmt.Sprintf)."""
    project = tmp_path / "project"
    shutil.copytree(render(answers).path, project, ignore=shutil.ignore_patterns("build"))
    env = {**mise_env(tmp_path), "PATH": f"{Path(rie_path()).parent}{os.pathsep}{os.environ['PATH']}"}
    run(["mise", "run", "lint"], project, env=env)
    (project / "internal" / "handler" / "probe.go").write_text(
        'package handler\n\nimport "fmt"\n\nfunc probe() string {\n\treturn fmt.Sprintf("probe")\n}\n\nvar _ = probe\n')
    run(["go", "vet", "./..."], project)
    result = run(["mise", "run", "lint"], project, env=env, check=False)
    assert result.returncode != 0
    assert "S1039" in result.stdout + result.stderr, result.stdout + result.stderr
