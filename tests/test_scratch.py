"""base_image=scratch: the static bootstrap and CA certificates only, with the
emulator brought in from outside the image for local runs (tests/test_images.py
builds the images and runs them that way through `mise run start`)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from conftest import (CARGO_TARGET_DIR, HOST_ARCH, MATRIX, assert_cases, cargo_target_lock, emulator, images, one_per,
                      params, run)

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


def musl_target(architecture: str) -> str:
    return {"x86_64": "x86_64-unknown-linux-musl", "arm64": "aarch64-unknown-linux-musl"}[architecture]


# Every trigger: each has its own handler and dependencies.
RUST_SCRATCH = [c for c in one_per("language", "trigger", "architecture", "base_image")
                if c["language"] == "rust" and c["base_image"] == "scratch"]


@pytest.mark.parametrize("answers", params(RUST_SCRATCH))
def test_rust_scratch_bootstrap_is_static_and_answers(render, answers):
    target = musl_target(answers["architecture"])
    installed = subprocess.run(["rustup", "target", "list", "--installed"], capture_output=True, text=True).stdout
    if target not in installed.split():
        pytest.skip(f"the {target} Rust target is not installed here "
                    "(rustup target add needs static.rust-lang.org, which does not answer)")
    project = render(answers).path
    with cargo_target_lock():
        run(["scripts/build-bootstrap", "build/bootstrap-musl"], project,
            env={"CARGO_BUILD_TARGET": target, "CARGO_TARGET_DIR": str(CARGO_TARGET_DIR)}, timeout=1800)
    file_out = run(["file", "build/bootstrap-musl"], project).stdout
    assert "statically linked" in file_out or "static-pie" in file_out, file_out
    command = ["build/bootstrap-musl"]
    if answers["architecture"] != HOST_ARCH:
        command = [shutil.which("qemu-aarch64-static"), *command]
    with emulator(command, project) as port:
        assert_cases(port, project / "events")
