"""Build every distinct image (language, architecture, base image) with the
generated `mise run build`, every trigger's handler in at least one image of
each language (images_over_triggers says how), and invoke it with the
trigger's shared cases through the generated `mise run start`: the emulator inside provided:al2023, or one
mounted into a scratch image; arm64 images run under qemu-user (binfmt_misc,
registered by script/bootstrap).

The engine is Docker (buildx) where `docker info` answers; otherwise Podman,
through the same tasks (CONTAINER_ENGINE=podman), with the base images built
here as stand-ins under their real names (tests/standin_images.py says how).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

import standin_images
from conftest import (GOARCH, assert_cases, images, mise_env, params, pick, reserve_one, run, scratch_emulator,
                      wait_for_port)
from support.images import ENGINE, emulation_missing, rust_target_missing

PROBLEM = standin_images.podman_problem() if ENGINE == "podman" else ""
pytestmark = pytest.mark.skipif(bool(PROBLEM), reason=PROBLEM)

# What the smallest images must stay under, compressed: scratch Go < 5 MB, Rust < 3 MB.
SCRATCH_LIMIT = {"go": 5_000_000, "rust": 3_000_000}


def images_over_triggers() -> list[dict]:
    """Every distinct image (language x architecture x base image), and every
    trigger's handler built into an image of each language: the trigger
    changes only the handler inside the image, so it rides along, the
    images of a language taking its triggers in turn (conftest's pick). Go:
    4 images, 4 triggers; custom: 4 builds of its 2 images; Rust: 4, of which
    this machine builds only x86_64 on provided.al2023 (see
    support/images.py's rust_target_missing)."""
    return sorted(pick(("language", "architecture", "base_image"), ("language", "trigger")),
                  key=lambda c: c["language"])


def engine_env() -> dict:
    return {**mise_env(Path("/")), **standin_images.engine_env(ENGINE)}


def image_architecture(tag: str, env: dict) -> str:
    return run([ENGINE, "image", "inspect", "--format", "{{.Architecture}}", tag], Path("/"), env=env).stdout.strip()


@pytest.mark.parametrize("answers", params(images_over_triggers()))
def test_image_builds_and_answers_through_mise_start(render, answers, tmp_path):
    missing = rust_target_missing(answers) or emulation_missing(answers)
    if missing:
        pytest.skip(missing)
    project = render(answers).path
    arch = answers["architecture"]
    tag = f"localhost/template-test-{uuid.uuid4().hex[:12]}:latest"
    env = engine_env()
    standin_images.build_with_mise(project, arch, tag, env)
    try:
        assert image_architecture(tag, env) == GOARCH[arch]
        if answers["base_image"] == "scratch":
            compressed = standin_images.compressed_layers(tag, ENGINE)
            assert compressed < SCRATCH_LIMIT[answers["language"]], compressed
            env["RIE_DIR"] = str(scratch_emulator(project, tmp_path / "rie"))
        port = reserve_one()  # the one host port `start` binds (-p port:8080)
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
            server.wait(timeout=60)
    finally:
        standin_images.remove_image(tag, env)


@pytest.mark.parametrize("situation, expected", [
    ({}, "docker"),
    ({"STANDIN_DOCKER_ENGINE": "down"}, "podman"),
    ({"CONTAINER_ENGINE": "podman"}, "podman"),
    ({"STANDIN_DOCKER_VERSION": "podman version 4.3.1"}, "podman"),
], ids=["docker-answers", "docker-down", "override", "podman-docker"])
def test_tasks_pick_the_engine_docker_first_then_podman(render, tmp_path, situation, expected):
    """scripts/container-engine, which build, start and publish source; docker
    is tests/standins/docker (it answers `info` unless told it is down)."""
    project = render(images()[0]).path
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").symlink_to(Path(__file__).parent / "standins" / "docker")
    podman_settings = {k: v for k, v in standin_images.podman_env().items() if k != "CONTAINER_ENGINE"}
    env = {**podman_settings, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "STANDIN_LOG": str(tmp_path / "calls.jsonl"), **situation}
    out = run(["sh", "-c", '. scripts/container-engine && echo "$CONTAINER_ENGINE"'], project, env=env).stdout
    assert out.strip() == expected
