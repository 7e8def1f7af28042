"""The template's choices, read from copier.yml, and the architecture names:
one module for the tests (conftest.py) and script/bench.

Choice validators are rendered by Copier's own Jinja environment for this
template (its _envops and filters), so what the tests take as enabled is what
`copier copy` accepts."""

from __future__ import annotations

import atexit
import functools
import itertools
import platform
import shutil
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


class _CopierYamlLoader(yaml.SafeLoader):
    """copier.yml as Copier reads it: its documents merged, and `!include
    <glob>` (a document of its own) replaced by the files it names."""


    root = ROOT


_CopierYamlLoader.add_constructor("!include", lambda loader, node: [
    yaml.load(path.read_text(), type(loader)) for path in sorted(loader.root.glob(loader.construct_scalar(node)))])


def load_copier_yml(template: Path = ROOT) -> dict:
    """A template's copier.yml (this one's, by default) with what it includes."""
    loader = type("Loader", (_CopierYamlLoader,), {"root": template})
    merged: dict = {}
    for document in yaml.load_all((template / "copier.yml").read_text(), loader):
        for part in document if isinstance(document, list) else [document or {}]:
            merged.update(part)
    return merged


# copier.yml, the files it includes (includes/versions.yml) merged in.
COPIER = load_copier_yml()
# Every pinned version (includes/versions.yml): {"go_version": "1.26.11", ...}.
VERSIONS = {name: question["default"] for name, question in
            yaml.safe_load((ROOT / "includes" / "versions.yml").read_text()).items()}

# The questions whose choices span the matrix every test runs over.
MATRIX_QUESTIONS = ("language", "trigger", "architecture", "base_image", "iac")

# Lambda's architecture names in the other tools' words (includes/architectures.yml):
# {"arm64": {"goarch": "arm64", "platform": "linux/arm64", "cpu": "aarch64", "elf_machine": 183}, ...}.
ARCHITECTURES = COPIER["architectures"]["default"]
# Go's and Docker's names.
GOARCH = {arch: names["goarch"] for arch, names in ARCHITECTURES.items()}
# The OCI platform of an image.
PLATFORM = {arch: names["platform"] for arch, names in ARCHITECTURES.items()}
# qemu-user's static emulator of each.
QEMU = {arch: f"qemu-{names['cpu']}-static" for arch, names in ARCHITECTURES.items()}
# Debian's cross C library of each (libc6-<arch>-cross), which qemu-user needs
# (QEMU_LD_PREFIX) to run a dynamically linked (glibc) binary of that CPU.
CROSS_SYSROOT = {arch: Path(f"/usr/{names['cpu']}-linux-gnu") for arch, names in ARCHITECTURES.items()}


def rust_target(architecture: str, libc: str = "gnu") -> str:
    """Rust's target triple of an architecture, with glibc or musl."""
    return f"{ARCHITECTURES[architecture]['cpu']}-unknown-linux-{libc}"

# This machine's, in Lambda's names.
HOST_ARCH = next(arch for arch, names in ARCHITECTURES.items() if platform.machine() in (arch, *names.values()))


def choice_values(question: str) -> list:
    """Every value a question offers, enabled or not, in copier.yml's order."""
    choices = COPIER[question]["choices"]
    if isinstance(choices, list):
        return list(choices)
    return [c["value"] if isinstance(c, dict) else c for c in choices.values()]


@functools.cache
def copier_jinja_env():
    """The Jinja environment Copier renders this template's copier.yml with.

    Copier builds it from the template's settings (Worker.jinja_env, from
    copier's internal module: Copier has no public accessor); the template
    here is a folder holding copier.yml and includes/ alone, so nothing is cloned."""
    from copier._main import Worker

    folder = Path(tempfile.mkdtemp(prefix="copier-env-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    shutil.copy2(ROOT / "copier.yml", folder / "copier.yml")
    shutil.copytree(ROOT / "includes", folder / "includes")  # what copier.yml includes
    return Worker(src_path=str(folder), dst_path=str(folder / "project")).jinja_env


def render_validator(validator: str, answers: dict) -> str:
    """A validator's message for these answers ("" = accepted), one line."""
    return " ".join(copier_jinja_env().from_string(validator).render(**answers).split())


def disabled_reason(question: str, value, answers: dict) -> str:
    """The message a choice's validator gives for these answers ("" = enabled)."""
    choices = COPIER[question]["choices"]
    if isinstance(choices, list):
        return ""
    for choice in choices.values():
        if isinstance(choice, dict) and choice["value"] == value:
            return render_validator(choice.get("validator", ""), answers)
    return ""


def matrix() -> list[dict]:
    """Every combination of the matrix questions that copier.yml accepts."""
    combos = []
    for values in itertools.product(*(choice_values(q) for q in MATRIX_QUESTIONS)):
        answers = dict(zip(MATRIX_QUESTIONS, values))
        if not any(disabled_reason(q, answers[q], answers) for q in MATRIX_QUESTIONS):
            combos.append(answers)
    return combos


def event_kind(trigger: str) -> str:
    """copier.yml's computed event_kind for a trigger: the events it sends."""
    return copier_jinja_env().from_string(COPIER["event_kind"]["default"]).render(trigger=trigger)
