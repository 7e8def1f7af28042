"""base_image=scratch: the static bootstrap and CA certificates only, with the
emulator brought in from outside the image for local runs (tests/test_images.py
builds the images and runs them that way through `mise run start`)."""

from __future__ import annotations

import json
import os
import shutil
import tomllib

import pytest
import yaml

from conftest import (CARGO_TARGET_DIR, HOST_ARCH, MATRIX, QEMU, RIE_TOOL, ROOT, assert_cases, emulator,
                      images, mise_env, params, pick, run, rust_target)
from support import rust_targets

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
    return rust_target(architecture, "musl")


# Every trigger (each has its own handler and dependencies, which must link
# statically) and both architectures (each its own musl target): four builds,
# each trigger on one architecture, not all eight pairs.
RUST_SCRATCH = pick(("trigger",), ("architecture",),
                    where=lambda c: c["language"] == "rust" and c["base_image"] == "scratch")


@pytest.mark.parametrize("answers", params(RUST_SCRATCH))
def test_rust_scratch_bootstrap_is_static_and_answers(render, answers):
    target = musl_target(answers["architecture"])
    problem = rust_targets.problem(target)
    if problem:
        pytest.skip(problem)
    project = render(answers).path
    run(["scripts/build-bootstrap", "build/bootstrap-musl"], project,
        env={**rust_targets.build_env(target), "CARGO_BUILD_TARGET": target,
             "CARGO_TARGET_DIR": str(CARGO_TARGET_DIR)}, timeout=1800)
    file_out = run(["file", "build/bootstrap-musl"], project).stdout
    assert "statically linked" in file_out or "static-pie" in file_out, file_out
    # Static: no program interpreter to load shared libraries with.
    assert "interpreter" not in file_out and "dynamically linked" not in file_out, file_out
    command = ["build/bootstrap-musl"]
    if answers["architecture"] != HOST_ARCH:
        command = [shutil.which(QEMU[answers["architecture"]]), *command]
    with emulator(command, project) as port:
        assert_cases(port, project / "events")


# The image's CPU as `file` names it.
ELF_MACHINE = {"arm64": "ARM aarch64", "x86_64": "x86-64"}


# One scratch project, arm64: the emulator is cross-built wherever this runs
# on x86_64, and the build is the same code for either CPU.
ONE_ARM64_SCRATCH = [next(c for c in ONE_SCRATCH_PER_LANGUAGE_ARCH if c["architecture"] == "arm64")]


@pytest.mark.parametrize("answers", params(ONE_ARM64_SCRATCH))
def test_start_builds_the_pinned_emulator_for_the_image_cpu(render, answers, tmp_path):
    """`mise run start` for a scratch image builds the emulator version
    mise.toml pins, for the image's CPU, from the Go module proxy (checked
    against the checksum database), and mounts it: no download of a
    release's `latest` binary without a checksum. docker is the stand-in
    that records the `run` it is asked for."""
    project = render(answers).path
    pinned = tomllib.loads((project / "mise.toml").read_text())["tools"][RIE_TOOL]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").symlink_to(ROOT / "tests" / "standins" / "docker")
    log, rie_dir = tmp_path / "calls.jsonl", tmp_path / "rie"
    env = {**mise_env(project), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "STANDIN_LOG": str(log),
           "CONTAINER_ENGINE": "docker", "RIE_DIR": str(rie_dir)}
    run(["mise", "run", "start", "--tag", "fn:test", "--port", "9123"], project, env=env, timeout=600)

    rie = rie_dir / f"aws-lambda-rie-{pinned}-{answers['architecture']}"
    described = run(["file", "-L", str(rie)], tmp_path).stdout
    assert ELF_MACHINE[answers["architecture"]] in described and "statically linked" in described, described
    # The module, version and checksum go recorded in the binary: the pinned version's.
    build_info = run(["go", "version", "-m", str(rie)], tmp_path).stdout
    (module,) = [line.split() for line in build_info.splitlines() if line.split()[:1] == ["mod"]]
    assert module[1:3] == ["github.com/aws/aws-lambda-runtime-interface-emulator", pinned], build_info
    assert module[3].startswith("h1:"), build_info
    (call,) = [c["argv"] for c in map(json.loads, log.read_text().splitlines()) if c["argv"][:1] == ["run"]]
    assert call[call.index("--volume") + 1] == f"{rie_dir}:/aws-lambda:ro"
    assert call[call.index("--entrypoint") + 1] == f"/aws-lambda/{rie.name}"
    assert call[-2:] == ["fn:test", "/bootstrap"]


@pytest.mark.parametrize("answers", params(ONE_SCRATCH_PER_LANGUAGE_ARCH[:1]))
def test_default_description_names_no_base_image(render, answers):
    """The default description is asked before the base image, so it names
    none: a scratch project's function is not on provided:al2023."""
    recorded = yaml.safe_load((render(answers).path / ".copier-answers.yml").read_text())
    assert recorded["description"] == "A Lambda function packaged as a container image"
