"""What this machine lacks to build or run an image (test_images, test_workflows_act)."""

from __future__ import annotations

from pathlib import Path

import standin_images
from conftest import GOARCH, QEMU, rust_target
from support import rust_targets

# The container engine the image tests use: Docker where `docker info`
# answers, else Podman (tests/standin_images.py).
ENGINE = standin_images.engine()


def rust_target_missing(answers: dict) -> str:
    """Why this image's build stage cannot build its Rust target here, or ""
    (the stand-in build stage builds what support/rust_targets.py finds
    buildable on this machine; Docker's rust image downloads any target)."""
    if answers["language"] != "rust" or ENGINE == "docker":
        return ""
    return rust_targets.problem(rust_target(answers["architecture"],
                                            "musl" if answers["base_image"] == "scratch" else "gnu"))


def emulation_missing(answers: dict) -> str:
    """Why this machine cannot run the image's CPU, or "" when it can."""
    if GOARCH[answers["architecture"]] == standin_images.HOST_GOARCH or ENGINE == "docker":
        return ""
    qemu = QEMU[answers["architecture"]].removesuffix("-static")
    if not Path("/proc/sys/fs/binfmt_misc", qemu).exists():
        return (f"{qemu} is not registered in binfmt_misc here (script/bootstrap registers it "
                f"where the kernel lets it), so no {answers['architecture']} image can run")
    return ""
