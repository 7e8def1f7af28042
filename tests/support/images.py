"""What this machine lacks to build or run an image (test_images, test_workflows_act)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import standin_images
from conftest import GOARCH, QEMU, rust_target

# The container engine the image tests use: Docker where `docker info`
# answers, else Podman (tests/standin_images.py).
ENGINE = standin_images.engine()


def rust_target_missing(answers: dict) -> str:
    """The Rust target this image's build stage needs and cannot download
    here, or "" (the stand-in build stage has this machine's targets)."""
    if answers["language"] != "rust":
        return ""
    target = rust_target(answers["architecture"], "musl" if answers["base_image"] == "scratch" else "gnu")
    if ENGINE == "docker":
        return ""
    installed = subprocess.run(["rustup", "target", "list", "--installed"], capture_output=True, text=True).stdout
    if target in installed.split():
        return ""
    return (f"the {target} Rust target is not installed here, and the build stage's "
            "`rustup target add` needs static.rust-lang.org, which does not answer")


def emulation_missing(answers: dict) -> str:
    """Why this machine cannot run the image's CPU, or "" when it can."""
    if GOARCH[answers["architecture"]] == standin_images.HOST_GOARCH or ENGINE == "docker":
        return ""
    qemu = QEMU[answers["architecture"]].removesuffix("-static")
    if not Path("/proc/sys/fs/binfmt_misc", qemu).exists():
        return (f"{qemu} is not registered in binfmt_misc here (script/bootstrap registers it "
                f"where the kernel lets it), so no {answers['architecture']} image can run")
    return ""
