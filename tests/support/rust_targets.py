"""Which Rust targets this machine can build the generated projects for, and
the environment that builds each: one module for tests/test_rust.py,
tests/test_scratch.py, tests/support/images.py, tests/standin_images.py and
script/bench (the targets' names: tests/matrix.py's rust_target).

The active toolchain (rustup's) builds the targets whose standard library it
has. For the others (rustup cannot download them here: static.rust-lang.org
does not answer) Debian's rustc-web and cargo-web, with rust-web-src (the
std sources; script/bootstrap installs all three), build the standard library
from source (cargo's build-std), and cargo-zigbuild links with zig, as
scripts/build-bootstrap does for any target. A musl target links zig's C
start-up files, not Rust's self-contained ones (`rcrt1.o` is missing from
the sources): -C link-self-contained=no.

Whether a target builds is decided by building: a small crate with the
template's own [profile.release], into the shared cargo target folder, so
the standard library the probe compiles (once per target and toolchain) is
the one every project then reuses. The answer is kept next to the folder,
keyed by the toolchain, the environment and the profile."""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Debian's toolchain: /usr is its sysroot, with the std sources under it.
DEBIAN_SYSROOT = Path("/usr")
DEBIAN_SRC = DEBIAN_SYSROOT / "lib/rustlib/src/rust/library"
DEBIAN_PACKAGES = "rustc-web, cargo-web and rust-web-src (Debian bookworm-security; script/bootstrap installs them)"


def env_name(target: str) -> str:
    return target.upper().replace("-", "_").replace(".", "_")


@functools.cache
def active_sysroot() -> Path | None:
    rustc = shutil.which("rustc")
    if not rustc:
        return None
    out = subprocess.run([rustc, "--print", "sysroot"], capture_output=True, text=True)
    return Path(out.stdout.strip()) if out.returncode == 0 else None


def has_std(sysroot: Path | None, target: str) -> bool:
    return bool(sysroot) and (sysroot / "lib" / "rustlib" / target / "lib").is_dir()


def build_env(target: str) -> dict | None:
    """The environment scripts/build-bootstrap builds `target` with (a target
    without a glibc version: aarch64-unknown-linux-gnu), or None when no
    toolchain here has its standard library or the sources to build it."""
    if has_std(active_sysroot(), target):
        return {}
    if not ((DEBIAN_SYSROOT / "bin" / "rustc").is_file() and (DEBIAN_SYSROOT / "bin" / "cargo").is_file()):
        return None
    # rustup's proxies take a path as the toolchain; a bare /usr/bin/cargo ignores it.
    env = {"RUSTUP_TOOLCHAIN": str(DEBIAN_SYSROOT)}
    if has_std(DEBIAN_SYSROOT, target):  # e.g. libstd-rust-web-dev:arm64
        return env
    if not DEBIAN_SRC.is_dir():
        return None
    env.update(RUSTC_BOOTSTRAP="1", CARGO_UNSTABLE_BUILD_STD="std,panic_abort")
    if target.endswith("-musl"):
        env[f"CARGO_TARGET_{env_name(target)}_RUSTFLAGS"] = "-C link-self-contained=no"
    return env


def release_profile() -> str:
    """The [profile.release] table of the template's Cargo.toml."""
    (manifest,) = (ROOT / "template").glob("*Cargo.toml*")
    text = manifest.read_text()
    table = re.search(r"^\[profile\.release\]\n(.*?)(?=^\[|\Z)", text, re.M | re.S)
    assert table and "{" not in table.group(1), f"{manifest.name}: no plain [profile.release] table"
    return table.group(0)


def toolchain_id(env: dict) -> str:
    out = subprocess.run(["rustc", "-vV"], capture_output=True, text=True, env={**os.environ, **env})
    return out.stdout


def zigbuild_id() -> str:
    """cargo-zigbuild's version, and zig's (the ziglang wheel it runs)."""
    zigbuild = subprocess.run(["cargo-zigbuild", "--version"], capture_output=True, text=True).stdout
    pins = [line for line in (ROOT / "requirements.txt").read_text().splitlines() if line.startswith("ziglang==")]
    return zigbuild + "".join(pins)


def stable_zigbuild(cache: Path) -> dict:
    """The environment that runs cargo-zigbuild and zig from paths that stay
    the same from clone to clone (empty where either is missing). cargo-zigbuild
    writes linker wrappers naming its own path and zig's, in a folder named by
    their hash, and cargo rebuilds every crate of a target, the standard library
    build-std makes included, when the linker's path changes: with each clone's
    .tools/venv that was every CI run. Here both live under cache, in a folder
    keyed by their versions, copied there once: cargo-zigbuild (one
    executable) and the ziglang package (zig and its library, some 380 MB;
    a link to a clone's copy would dangle once that clone is deleted)."""
    exe = shutil.which("cargo-zigbuild")
    try:
        import ziglang
    except ImportError:
        return {}
    package = Path(ziglang.__file__).resolve().parent
    if not exe or not (package / "zig").is_file():
        return {}
    folder = cache / "zigbuild" / hashlib.sha256(zigbuild_id().encode()).hexdigest()[:12]
    with folder_lock(folder):
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / "cargo-zigbuild").is_file():
            shutil.copy2(exe, folder / "cargo-zigbuild.partial")
            os.replace(folder / "cargo-zigbuild.partial", folder / "cargo-zigbuild")
        if not (folder / "ziglang" / "zig").is_file():
            shutil.rmtree(folder / "ziglang.partial", ignore_errors=True)
            shutil.copytree(package, folder / "ziglang.partial", ignore=shutil.ignore_patterns("__pycache__"))
            os.replace(folder / "ziglang.partial", folder / "ziglang")
    return {"PATH": f"{folder}{os.pathsep}{os.environ.get('PATH', '')}",
            "CARGO_ZIGBUILD_ZIG_COMMAND": str(folder / "ziglang" / "zig")}


@contextmanager
def folder_lock(folder: Path):
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f"{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # (the kernel drops it with the file)
        yield


@functools.cache
def problem(target: str, target_dir: str | None = None) -> str:
    """Why the generated projects cannot be built for `target` here ("" when
    they can): a probe build, kept between runs. target_dir: the cargo target
    folder to build into (default: the tests' shared CARGO_TARGET_DIR, under
    its lock; another folder, under a lock of its own)."""
    env = build_env(target)
    if env is None:
        return (f"no toolchain here has the {target} Rust standard library or its sources "
                f"(rustup target add needs static.rust-lang.org; {DEBIAN_PACKAGES})")
    if not env:
        return ""  # the active toolchain's own target: nothing to probe
    if not shutil.which("cargo-zigbuild"):
        return f"cargo-zigbuild is not installed here, so nothing can link for {target}"
    from conftest import CARGO_TARGET_DIR, cargo_target_lock  # (a test-suite module; script/bench sets the path)

    folder = Path(target_dir or CARGO_TARGET_DIR)
    wanted = f"{target}.2.34" if target.endswith("-gnu") else target
    # Keyed by what the build depends on, never by a path: every clone has
    # its own .tools/venv, and a path in the key made each new clone (each
    # CI run) build every target's std again, some 3 minutes.
    key = hashlib.sha256(json.dumps([toolchain_id(env), sorted(env.items()), release_profile(), wanted,
                                     zigbuild_id()]).encode()).hexdigest()[:16]
    stamp = folder.parent / "rust-target-probes" / f"{target}-{key}.json"
    with cargo_target_lock() if folder == CARGO_TARGET_DIR else folder_lock(folder):
        if stamp.is_file():
            return json.loads(stamp.read_text())["problem"]
        with tempfile.TemporaryDirectory() as tmp:
            crate = Path(tmp)
            (crate / "src").mkdir()
            (crate / "src" / "main.rs").write_text('fn main() {\n    println!("probe");\n}\n')
            (crate / "Cargo.toml").write_text('[package]\nname = "rust-target-probe"\nversion = "0.0.0"\n'
                                              f'edition = "2021"\n\n{release_profile()}')
            proc = subprocess.run(["cargo", "zigbuild", "--release", "--target", wanted], cwd=crate,
                                  env={**os.environ, **env, "CARGO_TARGET_DIR": str(folder)},
                                  capture_output=True, text=True, timeout=1800)
        found = ""
        if proc.returncode:
            tail = "\n".join(proc.stderr.strip().splitlines()[-8:])
            found = f"a probe build for {target} (cargo zigbuild, {' '.join(sorted(env))}) failed:\n{tail}"
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(json.dumps({"problem": found, "env": env}))
        return found
