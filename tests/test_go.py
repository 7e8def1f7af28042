"""Go projects compile, pass their own tests, and answer the shared cases
under the Runtime Interface Emulator on both architectures."""

from __future__ import annotations

import platform
import shutil

import pytest

from conftest import GOARCH, assert_cases, emulator, language_arch_pairs, params, run

GO_PAIRS = [c for c in language_arch_pairs() if c["language"] == "go"]
HOST_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[
    platform.machine()
]


@pytest.fixture(scope="module")
def go_project(render):
    """The Go project for an architecture, vetted, and its bootstrap built for that architecture."""
    built = {}

    def _build(answers):
        key = answers["architecture"]
        if key not in built:
            project = render(answers).path
            run(["scripts/build-bootstrap", "build/bootstrap"], project,
                env={"GOARCH": GOARCH[answers["architecture"]]})
            built[key] = project
        return built[key]

    return _build


@pytest.mark.parametrize("answers", params(GO_PAIRS))
def test_go_vet_and_unit_tests(render, answers):
    project = render(answers).path
    run(["go", "vet", "./..."], project)
    result = run(["go", "test", "-count=1", "./..."], project)
    assert "ok" in result.stdout and "internal/handler" in result.stdout


@pytest.mark.parametrize("answers", params(GO_PAIRS))
def test_go_builds_a_static_bootstrap_for_the_architecture(go_project, answers):
    bootstrap = go_project(answers) / "build" / "bootstrap"
    header = bootstrap.read_bytes()[:20]
    assert header[:4] == b"\x7fELF"
    machine = int.from_bytes(header[18:20], "little")
    assert machine == {"x86_64": 62, "arm64": 183}[answers["architecture"]]
    file_out = run(["file", str(bootstrap)], bootstrap.parent).stdout if shutil.which("file") else ""
    if file_out:
        assert "statically linked" in file_out, file_out


@pytest.mark.parametrize("answers", params(GO_PAIRS))
def test_go_bootstrap_answers_under_the_emulator(go_project, answers):
    project = go_project(answers)
    command = ["build/bootstrap"]
    if answers["architecture"] != HOST_ARCH:
        qemu = {"arm64": "qemu-aarch64-static", "x86_64": "qemu-x86_64-static"}[answers["architecture"]]
        assert shutil.which(qemu), f"{qemu} is missing: script/bootstrap installs qemu-user-static"
        command = [shutil.which(qemu), *command]
    with emulator(command, project) as port:
        assert_cases(port, project / "events")
