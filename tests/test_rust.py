"""Rust projects pass rustfmt, clippy and their own tests, build their bootstrap
with scripts/build-bootstrap, and answer the shared cases under the Runtime
Interface Emulator: the host's architecture with the active toolchain, the
other one wherever a toolchain here builds it (tests/support/rust_targets.py: rustup's
target, or Debian's toolchain building the standard library from source).

Every Rust project builds into one cargo target folder (CARGO_TARGET_DIR), so
the dependencies compile once per profile, target and trigger (each trigger's
event types are their own aws_lambda_events feature), not once per render.
rustfmt, clippy and the unit tests run once per trigger: the architecture
changes no source. The HTTP API and a Function URL compile the same code:
their bootstraps are built once (conftest's bootstrap_builder), and each
answers its own events."""

from __future__ import annotations

import json
import re
import shutil
import urllib.error
from pathlib import Path

import pytest

from conftest import (CARGO_TARGET_DIR, ELF_MACHINE, GOARCH, HOST_ARCH, QEMU, assert_cases, assert_near_deadline_cases,
                      bootstrap_builder, code_combinations, elf_machine, emulator, invoke, params, run, rust_target)
from matrix import CROSS_SYSROOT
from support import rust_targets

RUST_PAIRS = [c for c in code_combinations() if c["language"] == "rust"]
RUST_TRIGGERS = [c for c in RUST_PAIRS if c["architecture"] == HOST_ARCH]
TRIPLE = {arch: rust_target(arch) for arch in GOARCH}
# The glibc of provided:al2023: what the Dockerfile's build stage links against.
AL2023_GLIBC = (2, 34)

ENV = {"CARGO_TARGET_DIR": str(CARGO_TARGET_DIR)}


def cross_build_problem(arch: str) -> str:
    """Why the bootstrap for `arch` cannot be built here ("" when it can)."""
    if arch == HOST_ARCH:
        return ""
    return rust_targets.problem(TRIPLE[arch])


def glibc_versions(binary: Path) -> list[tuple[int, ...]]:
    """The GLIBC_x.y symbol versions the binary needs."""
    found = set(re.findall(rb"GLIBC_(\d+(?:\.\d+)+)", binary.read_bytes()))
    return sorted(tuple(int(p) for p in v.split(b".")) for v in found)


@pytest.fixture(scope="module")
def rust_project(render):
    """The Rust project for an architecture, with build/bootstrap built for it.

    The host's architecture is built as `mise run build:native` builds it;
    the other one as the Dockerfile does, with cargo-zigbuild against
    provided:al2023's glibc."""

    def env_for(arch):
        problem = cross_build_problem(arch)
        if problem:
            pytest.skip(problem)
        if arch == HOST_ARCH:
            return ENV
        return {**ENV, **rust_targets.build_env(TRIPLE[arch]), "CARGO_BUILD_TARGET": f"{TRIPLE[arch]}.2.34"}

    return bootstrap_builder(render, env_for)


@pytest.mark.parametrize("answers", params(RUST_TRIGGERS))
def test_rust_fmt_clippy_and_unit_tests(render, answers):
    project = render(answers).path
    handler = (project / "src" / "handler.rs").read_text()
    missing = [e.name for e in sorted((project / "events").glob("*.json")) if f'"{e.name}"' not in handler]
    assert missing == [], f"the unit tests do not read {missing}"
    run(["cargo", "fmt", "--check"], project)
    run(["cargo", "clippy", "--all-targets", "--locked", "--", "-D", "warnings"], project,
        env=ENV, timeout=1800)
    result = run(["cargo", "test", "--locked"], project, env=ENV, timeout=1800)
    assert "test handler::tests::answers_the_shared_events ... ok" in result.stdout, result.stdout
    assert re.search(r"test result: ok\. [1-9]\d* passed; 0 failed", result.stdout), result.stdout


@pytest.mark.parametrize("answers", params(RUST_PAIRS))
def test_rust_builds_the_bootstrap_for_the_architecture(rust_project, answers):
    arch = answers["architecture"]
    bootstrap = rust_project(answers) / "build" / "bootstrap"
    assert elf_machine(bootstrap) == ELF_MACHINE[arch]
    # The release profile strips the binary: no symbol table left.
    assert b".symtab" not in bootstrap.read_bytes()
    if arch != HOST_ARCH:
        versions = glibc_versions(bootstrap)
        assert versions and max(versions) <= AL2023_GLIBC, versions


@pytest.mark.parametrize("answers", params(RUST_PAIRS))
def test_rust_bootstrap_answers_under_the_emulator(rust_project, answers):
    arch = answers["architecture"]
    project = rust_project(answers)
    command, env = ["build/bootstrap"], {}
    if arch != HOST_ARCH:
        qemu = shutil.which(QEMU[arch])
        assert qemu, f"{QEMU[arch]} is missing: script/bootstrap installs qemu-user-static"
        # Unlike Go's, the Rust bootstrap links glibc dynamically: qemu needs
        # that architecture's C library.
        sysroot = CROSS_SYSROOT[arch]
        if not (sysroot / "lib").is_dir():
            pytest.skip(f"no {arch} C library at {sysroot} to run the bootstrap under {QEMU[arch]} "
                        f"(Debian's libc6-{'arm64' if arch == 'arm64' else 'amd64'}-cross)")
        command, env = [qemu, *command], {"QEMU_LD_PREFIX": str(sysroot)}
    with emulator(command, project, env=env) as port:
        assert_cases(port, project / "events")
    if arch == HOST_ARCH:
        # With a tiny timeout (SQS): every message reported, none processed.
        assert_near_deadline_cases(command, project, env=env)


def test_rust_image_build_links_against_al2023_glibc(render):
    """The Dockerfile's build (cargo-zigbuild, `<triple>.2.34`) for the host's
    architecture: a binary that needs no newer glibc than provided:al2023's,
    and still answers every shared case."""
    assert shutil.which("cargo-zigbuild"), "cargo-zigbuild is missing: script/bootstrap installs it (requirements.txt)"
    answers = next(c for c in RUST_PAIRS if c["architecture"] == HOST_ARCH)
    project = render(answers).path
    out = "build/bootstrap-al2023"
    run(["scripts/build-bootstrap", out], project,
        env={**ENV, "CARGO_BUILD_TARGET": f"{TRIPLE[HOST_ARCH]}.2.34"}, timeout=1800)
    versions = glibc_versions(project / out)
    assert versions and max(versions) <= AL2023_GLIBC, versions
    with emulator([out], project) as port:
        assert_cases(port, project / "events")


# Names around and between the dependencies' names in Cargo.lock, where the
# function's own package has to sort. Each trigger's handler has its own
# dependencies, so its own lock (the HTTP API's and a Function URL's are one):
# the others are checked with the first and the last name.
LOCK_NAMES = ["aa-fn", "my-function", "serde-fn", "tokio-app", "zz-top"]


@pytest.mark.parametrize("name,trigger", [(name, "http-api") for name in LOCK_NAMES]
                         + [(name, trigger) for trigger in ("sqs", "schedule") for name in ("aa-fn", "zz-top")])
def test_rust_lock_file_fits_any_project_name(render, name, trigger):
    answers = {**next(c for c in RUST_PAIRS if c["trigger"] == trigger), "project_name": name}
    project = render(answers).path
    lock = (project / "Cargo.lock").read_text()
    assert f'name = "{name}"' in lock
    # --locked: fails if the lock file does not match what cargo would write.
    run(["cargo", "metadata", "--locked", "--format-version", "1"], project, env=ENV)
    assert (project / "Cargo.lock").read_text() == lock
    manifest = (project / "Cargo.toml").read_text()
    assert f'name = "{name}"' in manifest and 'name = "bootstrap"' in manifest
    assert not (project / "go.mod").exists()


@pytest.mark.parametrize("answers", params(RUST_TRIGGERS))
def test_rust_manifest_and_sources_say_what_they_use(render, answers):
    """#[tokio::main] needs tokio's `rt` (and `macros`) feature, declared
    here rather than borrowed from lambda_runtime's; serde already reads a
    missing Option field as None, so no #[serde(default)] says it again."""
    project = render(answers).path
    features = re.search(r'^tokio = \{.*features = \[([^]]*)\]', (project / "Cargo.toml").read_text(), re.M)
    assert features and {"rt", "macros"} <= set(re.findall(r'"([^"]+)"', features.group(1)))
    for source in (project / "src").glob("*.rs"):
        redundant = re.findall(r"#\[serde\(default\)\]\s*pub \w+: Option<", source.read_text())
        assert redundant == [], source


def test_a_panicking_request_leaves_the_process_serving(render, tmp_path):
    """With Cargo.toml's panic = "unwind", lambda_runtime catches a handler's
    panic: that invocation answers with an error, and the same process, warm,
    answers the next one. (With "abort" the process dies: Runtime.ExitError,
    then a new init for the next request.) The handler is patched, in a copy,
    to panic on the path /panic; the generated code has no such path."""
    answers = next(c for c in RUST_PAIRS if c["architecture"] == HOST_ARCH)
    project = tmp_path / "project"
    shutil.copytree(render(answers).path, project, ignore=shutil.ignore_patterns("build", "target"))
    assert 'panic = "unwind"' in (project / "Cargo.toml").read_text()
    handler = project / "src" / "handler.rs"
    anchor = "    Ok(handle(event.payload, SystemTime::now()))\n"
    assert anchor in handler.read_text()
    handler.write_text(handler.read_text().replace(
        anchor,
        '    if event.payload["rawPath"] == "/panic" {\n        panic!("a test-only panic");\n    }\n' + anchor))
    run(["scripts/build-bootstrap", "build/bootstrap"], project, env=ENV, timeout=1800)

    hello = (project / "events" / "hello.json").read_bytes()
    panicking = json.loads(hello)
    panicking["rawPath"] = "/panic"
    with emulator(["build/bootstrap"], project) as port:
        assert invoke(port, hello)["statusCode"] == 200
        try:
            failed = invoke(port, json.dumps(panicking).encode())
        except urllib.error.HTTPError as err:  # what "abort" gets: the process is gone
            failed = {"emulator": f"HTTP {err.code}", "body": err.read().decode(errors="replace")}
        answered = invoke(port, hello)
    assert "statusCode" not in failed and "a test-only panic" in failed.get("errorMessage", ""), failed
    assert failed.get("errorType") != "Runtime.ExitError", failed
    assert answered["statusCode"] == 200, answered
    (log,) = (project / "build").glob("rie-*.log")
    text = log.read_text()
    # One process for all three requests: it started (and initialized) once.
    assert text.count("Init Duration") == 1, text
