"""With a Docker engine: build each language-architecture image with buildx and
invoke it through the emulator built into provided:al2023."""

from __future__ import annotations

import platform
import shutil
import subprocess
import time
import uuid

import pytest

from conftest import GOARCH, assert_cases, free_port, language_arch_pairs, params, run


def docker_engine_problem() -> str:
    """Why no Docker engine can be used here, or "" when one answers."""
    if not shutil.which("docker"):
        return "no docker client on PATH"
    probe = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        lines = (probe.stderr or probe.stdout).strip().splitlines()
        return "no Docker engine answers (`docker info` failed: " + (lines[-1] if lines else "") + ")"
    return ""


PROBLEM = docker_engine_problem()
pytestmark = pytest.mark.skipif(bool(PROBLEM), reason=PROBLEM)


@pytest.mark.parametrize("answers", params(language_arch_pairs()))
def test_image_builds_and_answers(render, answers):
    project = render(answers).path
    platform_ = f"linux/{GOARCH[answers['architecture']]}"
    tag = f"template-test-{uuid.uuid4().hex[:12]}:latest"
    run(["docker", "buildx", "build", "--platform", platform_, "--provenance=false",
         "--sbom=false", "--load", "--tag", tag, "."], project, timeout=1800)
    try:
        inspect = run(["docker", "image", "inspect", tag, "--format", "{{.Architecture}}"], project)
        assert inspect.stdout.strip() == GOARCH[answers["architecture"]]
        port = free_port()
        container = run(["docker", "run", "-d", "--rm", "--platform", platform_,
                         "-p", f"127.0.0.1:{port}:8080", tag], project).stdout.strip()
        try:
            time.sleep(2)
            assert_cases(port, project / "events")
        finally:
            subprocess.run(["docker", "stop", container], capture_output=True)
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)
