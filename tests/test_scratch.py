"""base_image=scratch: the static bootstrap and CA certificates only, with the
emulator brought in from outside the image for local runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import (CARGO_TARGET_DIR, GOARCH, HOST_ARCH, MATRIX, ROOT, assert_cases, emulator, images, mise_env, params,
                      run)

ONE_SCRATCH_PER_LANGUAGE_ARCH = [c for c in images() if c["base_image"] == "scratch"]


@pytest.mark.parametrize("answers", params(ONE_SCRATCH_PER_LANGUAGE_ARCH))
def test_scratch_dockerfile_ships_only_bootstrap_and_certificates(render, answers):
    dockerfile = (render(answers).path / "Dockerfile").read_text()
    runtime = dockerfile[dockerfile.index("FROM scratch"):]
    assert "provided:al2023" not in runtime
    assert [line for line in runtime.splitlines() if line.startswith(("COPY", "RUN", "ADD"))] == [
        "COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt",
        "COPY --from=build /out/bootstrap /bootstrap",
    ]
    assert 'ENTRYPOINT ["/bootstrap"]' in runtime
    if answers["language"] == "rust":
        assert "unknown-linux-musl" in dockerfile and "gnu.2.34" not in dockerfile


def test_custom_cannot_choose_scratch():
    assert not [c for c in MATRIX if c["language"] == "custom" and c["base_image"] == "scratch"]


@pytest.mark.parametrize("answers", params([c for c in ONE_SCRATCH_PER_LANGUAGE_ARCH if c["language"] == "go"]))
def test_start_mounts_the_emulator_into_the_scratch_image(render, answers, tmp_path):
    """Without a Docker engine here, docker is tests/standins/docker, which records its arguments."""
    project = render(answers).path
    bin_dir, rie_dir = tmp_path / "bin", tmp_path / "rie"
    bin_dir.mkdir()
    rie_dir.mkdir()
    (bin_dir / "docker").symlink_to(ROOT / "tests" / "standins" / "docker")
    rie = rie_dir / f"aws-lambda-rie-{answers['architecture']}"
    rie.write_text("#!/bin/sh\n")
    rie.chmod(0o755)
    log = tmp_path / "calls.jsonl"
    env = {**mise_env(Path("/")), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "STANDIN_LOG": str(log), "RIE_DIR": str(rie_dir)}
    run(["mise", "run", "start", "--port", "9123"], project, env=env)
    calls = [json.loads(line)["argv"] for line in log.read_text().splitlines()]
    assert calls[0] == ["info"]
    docker_run = calls[-1]
    assert docker_run[:2] == ["run", "--rm"]
    assert docker_run[docker_run.index("--platform") + 1] == f"linux/{GOARCH[answers['architecture']]}"
    assert docker_run[docker_run.index("-p") + 1] == "9123:8080"
    assert docker_run[docker_run.index("--volume") + 1] == f"{rie_dir}:/aws-lambda:ro"
    assert docker_run[docker_run.index("--entrypoint") + 1] == f"/aws-lambda/{rie.name}"
    assert docker_run[-2:] == ["hello-fn:local", "/bootstrap"]


def musl_target(architecture: str) -> str:
    return {"x86_64": "x86_64-unknown-linux-musl", "arm64": "aarch64-unknown-linux-musl"}[architecture]


@pytest.mark.parametrize("answers", params([c for c in ONE_SCRATCH_PER_LANGUAGE_ARCH if c["language"] == "rust"]))
def test_rust_scratch_bootstrap_is_static_and_answers(render, answers):
    target = musl_target(answers["architecture"])
    installed = subprocess.run(["rustup", "target", "list", "--installed"], capture_output=True, text=True).stdout
    if target not in installed.split():
        pytest.skip(f"the {target} Rust target is not installed here "
                    "(rustup target add needs static.rust-lang.org, which does not answer)")
    project = render(answers).path
    run(["scripts/build-bootstrap", "build/bootstrap-musl"], project,
        env={"CARGO_BUILD_TARGET": target, "CARGO_TARGET_DIR": str(CARGO_TARGET_DIR)}, timeout=1800)
    file_out = run(["file", "build/bootstrap-musl"], project).stdout
    assert "statically linked" in file_out or "static-pie" in file_out, file_out
    command = ["build/bootstrap-musl"]
    if answers["architecture"] != HOST_ARCH:
        command = [shutil.which("qemu-aarch64-static"), *command]
    with emulator(command, project) as port:
        assert_cases(port, project / "events")
