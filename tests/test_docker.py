"""With a Docker engine: build every distinct image (language, architecture,
base image) with `mise run build` (buildx) and invoke it through `mise run
start`: the emulator inside provided:al2023, or one mounted into a scratch
image."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import GOARCH, assert_cases, free_port, images, mise_env, params, run, wait_for_port


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


def emulator_for(architecture: str, folder) -> None:
    """Builds aws-lambda-rie for the image's CPU into folder, from the module
    script/bootstrap installed (a scratch image brings no emulator of its own)."""
    modules = Path(run(["go", "env", "GOMODCACHE"], folder).stdout.strip())
    source = sorted(modules.glob("github.com/aws/aws-lambda-runtime-interface-emulator@*"))[-1]
    run(["go", "build", "-o", str(folder / f"aws-lambda-rie-{architecture}"), "./cmd/aws-lambda-rie"],
        source, env={"GOOS": "linux", "GOARCH": GOARCH[architecture], "CGO_ENABLED": "0",
                     "GOFLAGS": "-mod=mod"})


# What the smallest images must stay under, compressed: scratch Go < 5 MB, Rust < 3 MB.
SCRATCH_LIMIT = {"go": 5_000_000, "rust": 3_000_000}


@pytest.mark.parametrize("answers", params(images()))
def test_image_builds_and_answers_through_mise_start(render, answers, tmp_path):
    project = render(answers).path
    arch = answers["architecture"]
    tag = f"template-test-{uuid.uuid4().hex[:12]}:latest"
    env = mise_env(Path("/"))
    run(["mise", "run", "build", "--tag", tag], project, env=env, timeout=1800)
    try:
        inspect = json.loads(run(["docker", "image", "inspect", tag], project).stdout)[0]
        assert inspect["Architecture"] == GOARCH[arch]
        if answers["base_image"] == "scratch":
            # Compressed, as a registry stores and Lambda pulls it (and as ECR reports it).
            saved = subprocess.run(["docker", "save", tag], capture_output=True, check=True).stdout
            compressed = len(gzip.compress(saved))
            assert compressed < SCRATCH_LIMIT[answers["language"]], compressed
            emulator_for(arch, tmp_path)
            env["RIE_DIR"] = str(tmp_path)
        port = free_port()
        server = subprocess.Popen(["mise", "run", "start", "--tag", tag, "--port", str(port)],
                                  cwd=project, env={**os.environ, **env}, start_new_session=True)
        try:
            wait_for_port(port, server, timeout=120)
            deadline = time.monotonic() + 60
            while True:  # the port opens before the emulator in the container answers
                try:
                    assert_cases(port, project / "events")
                    break
                except (OSError, ValueError):
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(1)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)
