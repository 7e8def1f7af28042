"""Building the generated images on a machine without a Docker engine.

Where `docker info` answers, the tests build with the generated `mise run
build` through docker buildx, and nothing here is needed. Otherwise they run
the same task with CONTAINER_ENGINE=podman: Podman (buildah's builder) is a
real daemonless builder, and the user path the generated project documents.

No registry here serves the base images (Docker Hub and public.ecr.aws do not
answer), so this module builds STAND-INS under their real names, read from the
FROM lines of the project's own Dockerfile (tags are never hard-coded here):
- golang: Debian bookworm (debootstrap --variant=minbase) with this machine's
  own Go toolchain, and a file-based GOPROXY holding exactly the modules the
  project's go.sum needs, so the build stage needs no network;
- rust: the same root file system with this machine's Rust toolchain, cargo
  vendored from the project's Cargo.lock, and zig/cargo-zigbuild preinstalled;
  for the targets that toolchain lacks and Debian's builds here
  (tests/support/rust_targets.py), Debian's toolchain with the std sources too, and a
  `rustup` whose `target add` switches to it (recorded in /rustup-asked);
- koalaman/shellcheck-alpine: the same root file system with this machine's
  ShellCheck binary;
- public.ecr.aws/lambda/provided: a Debian root file system of the image's own
  CPU honouring AWS's documented contract: ENTRYPOINT /lambda-entrypoint.sh,
  LAMBDA_TASK_ROOT=/var/task, LAMBDA_RUNTIME_DIR=/var/runtime, the emulator at
  /usr/local/bin/aws-lambda-rie (built from its Go module for that CPU) and a
  `dnf` that installs the few Debian packages preloaded for it (jq).

The runtime stages built on them are real: a scratch image is exactly what the
build produced. Stand-ins are cached in Podman's store, keyed by this file's
content and their inputs, and the root file systems as tarballs under
~/.cache/lambda-template-tests/images. Every test process and run on the
machine shares them: a build takes them through base_images_for, which
locks them (see there).

Build stages run on the build machine's platform (FROM --platform=$BUILDPLATFORM);
buildah 1.28 ignores that flag and asks for the target's platform, so each
build-stage stand-in is a manifest list holding the host's image twice: as
itself and labelled arm64.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from contextlib import contextmanager
from pathlib import Path

from matrix import ARCHITECTURES, PLATFORM, rust_target
from support import rust_targets

HERE = Path(__file__).resolve()
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lambda-template-tests" / "images"
# The stand-ins' recipe: this file. Changing it rebuilds them.
RECIPE = hashlib.sha256(HERE.read_bytes()).hexdigest()[:12]
STANDIN_REPO = "localhost/lambda-template-standin"
GOARCH = {"arm64": "arm64", "x86_64": "amd64"}
HOST_GOARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine()]
DEBIAN_MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
# The root file system: changing these lines (or ROOTFS_REVISION, when the
# code of rootfs() changes) rebuilds it (a few minutes).
ROOTFS_REVISION = 2
DEBOOTSTRAP = ["--variant=minbase", "--include=ca-certificates,curl,jq", "bookworm"]
# Preloaded for the provided:al2023 stand-in's dnf, then removed again.
DNF_PACKAGES = {"jq": ["jq", "libjq1", "libonig5"]}


def say(message: str) -> None:
    print(f"[images] {message}", file=sys.stderr, flush=True)


def sh(cmd, *, env=None, cwd=None, input=None, timeout=3600) -> str:
    proc = subprocess.run(cmd, env={**os.environ, **(env or {})}, cwd=cwd, input=input,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    return proc.stdout


# --- Which engine -------------------------------------------------------------

def docker_engine_answers() -> bool:
    if not shutil.which("docker"):
        return False
    probe = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60)
    version = subprocess.run(["docker", "--version"], capture_output=True, text=True).stdout
    return probe.returncode == 0 and "podman" not in version.lower()


def podman_problem() -> str:
    """Why Podman cannot build here, or "" when it can."""
    if not shutil.which("podman"):
        return "neither a Docker engine nor podman is available (script/bootstrap installs podman)"
    probe = subprocess.run(["podman", "info"], env={**os.environ, **podman_env()}, capture_output=True, text=True)
    if probe.returncode != 0:
        return "podman info failed: " + probe.stderr.strip()[-300:]
    return ""


def podman_env(insecure_registries=()) -> dict:
    """Podman's settings for this host, kept out of the generated project:
    runc (crun fails on this host's cgroups), cgroupfs, ulimits the host
    allows, Docker Hub for the Dockerfiles' short names (served here by the
    stand-ins), and plain-HTTP local registries."""
    CACHE.mkdir(parents=True, exist_ok=True)
    runc = shutil.which("runc") or "/usr/sbin/runc"
    containers = (
        "[containers]\n"
        'default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]\n'
        "[engine]\n"
        'runtime = "runc"\n'
        'cgroup_manager = "cgroupfs"\n'
        "[engine.runtimes]\n"
        f'runc = ["{runc}"]\n'
    )
    registries = 'unqualified-search-registries = ["docker.io"]\nshort-name-mode = "permissive"\n'
    for location in insecure_registries:
        registries += f'[[registry]]\nlocation = "{location}"\ninsecure = true\n'
    files = {}
    for name, text in (("containers", containers), ("registries", registries)):
        path = CACHE / f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:12]}.conf"
        if not path.exists():
            # Written aside, then renamed: another process's podman never
            # reads it half-written.
            with tempfile.NamedTemporaryFile("w", dir=CACHE, suffix=".partial", delete=False) as part:
                part.write(text)
            os.replace(part.name, path)
        files[name] = str(path)
    return {"CONTAINERS_CONF": files["containers"], "CONTAINERS_REGISTRIES_CONF": files["registries"],
            "CONTAINER_ENGINE": "podman"}


def podman(*args, **kwargs) -> str:
    return sh(["podman", *args], env={**podman_env(), **kwargs.pop("env", {})}, **kwargs)


def image_exists(name: str) -> bool:
    return subprocess.run(["podman", "image", "exists", name], env={**os.environ, **podman_env()}).returncode == 0


# --- The Dockerfile's base images ----------------------------------------------

def normalize(image: str) -> str:
    """docker.io/library/golang:1.26 for golang:1.26, as Podman names it."""
    first = image.split("/", 1)[0]
    if "/" not in image:
        return f"docker.io/library/{image}"
    if "." not in first and ":" not in first and first != "localhost":
        return f"docker.io/{image}"
    return image


def base_images(dockerfile: Path) -> list[tuple[str, bool]]:
    """(image, is_build_stage) for every FROM that names a registry image;
    build stages are the ones that run on $BUILDPLATFORM."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    args, stages, found = {}, set(), []
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        keyword = words[0].upper()
        if keyword == "ARG" and not stages and not found:
            name, _, value = words[1].partition("=")
            args[name] = value.strip('"')
        elif keyword == "FROM":
            flags = [w for w in words[1:] if w.startswith("--")]
            rest = [w for w in words[1:] if not w.startswith("--")]
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m.group(1) or m.group(2), ""), rest[0])
            if len(rest) >= 3 and rest[1].upper() == "AS":
                stages.add(rest[2])
            if image == "scratch" or image in stages:
                continue
            build_stage = any("$BUILDPLATFORM" in f for f in flags)
            found.append((normalize(image), build_stage))
    return found


def kind_of(image: str) -> str:
    repository = image.rsplit(":", 1)[0] if ":" in image.split("/")[-1] else image
    kinds = {
        "docker.io/library/golang": "golang",
        "docker.io/library/rust": "rust",
        "docker.io/koalaman/shellcheck-alpine": "shellcheck",
        "public.ecr.aws/lambda/provided": "provided",
    }
    if repository not in kinds:
        raise ValueError(f"no stand-in for the base image {image} (tests/standin_images.py knows {sorted(kinds)})")
    return kinds[repository]


def remove_stale_standins() -> None:
    """Stand-ins of an older recipe (or root file system) take gigabytes."""
    listed = podman("images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", f"reference={STANDIN_REPO}/*")
    current = {f"-{RECIPE}", f":{RECIPE}"} | {f":{rootfs_key()}-"}
    for name in set(listed.split()):
        if not any(mark in name for mark in current):
            subprocess.run(["podman", "rmi", name], env={**os.environ, **podman_env()}, capture_output=True)


_checked = []


def ensure_base_images(project: Path, architecture: str) -> list[str]:
    """Builds (or finds in the cache) a stand-in for every base image the
    project's Dockerfile names, for this architecture, and points the image's
    real name at them. Returns what it did. Only under base_images_for's
    exclusive lock."""
    if not _checked:
        remove_stale_standins()
        _checked.append(True)
    notes = []
    for image, members in wanted_manifests(project, architecture, build=True).items():
        manifest(image, members)
        notes.append(f"{image} is a stand-in ({', '.join(members)})")
    for note in notes:
        say(note)
    return notes


def wanted_manifests(project: Path, architecture: str, build: bool) -> dict[str, list[str] | None]:
    """The manifest list each of the Dockerfile's base images needs: its
    real name -> the stand-ins in it. build=False builds nothing, and gives
    None for a list whose stand-ins are not all there."""
    wanted = {}
    for image, build_stage in base_images(project / "Dockerfile"):
        kind = kind_of(image)
        if build_stage or kind != "provided":
            # Runs on the build machine: the host's image, also labelled arm64.
            other = "arm64" if HOST_GOARCH == "amd64" else "amd64"
            real = standin(kind, HOST_GOARCH, project) if build else standin_tag(kind, HOST_GOARCH, project)
            members = [real, relabel(real, other) if build else f"{real}-as-{other}"]
        else:
            own = GOARCH[architecture]
            members = [standin(kind, own, project) if build else standin_tag(kind, own, project)]
            other_tag = f"{STANDIN_REPO}/{kind}:{RECIPE}-{GOARCH['x86_64' if architecture == 'arm64' else 'arm64']}"
            if image_exists(other_tag):
                members.append(other_tag)
        wanted[image] = members if build or all(image_exists(m) for m in members) else None
    return wanted


# What ensure_base_images last made each manifest list hold: real name ->
# sorted members, shared by the processes that take base_images_for's lock.
MANIFESTS = CACHE / "manifests.json"


def made_manifests() -> dict:
    try:
        return json.loads(MANIFESTS.read_text())
    except (OSError, ValueError):
        return {}


def manifests_current(project: Path, architecture: str) -> bool:
    """Every list the project's build needs holds what it would be made to
    hold: no change, so a shared lock is enough."""
    made = made_manifests()
    env = {**os.environ, **podman_env()}
    return all(members is not None and made.get(image) == sorted(members) and subprocess.run(
        ["podman", "manifest", "exists", image], env=env).returncode == 0
        for image, members in wanted_manifests(project, architecture, build=False).items())


def manifest(name: str, members: list[str]) -> None:
    """Makes the list afresh (a member made again since has a new digest),
    and records what it holds."""
    env = {**os.environ, **podman_env()}
    subprocess.run(["podman", "manifest", "rm", name], env=env, capture_output=True)
    subprocess.run(["podman", "rmi", "-f", name], env=env, capture_output=True)
    podman("manifest", "create", name)
    for member in members:
        podman("manifest", "add", name, f"containers-storage:{member}")
    made = {**made_manifests(), name: sorted(members)}
    with tempfile.NamedTemporaryFile("w", dir=CACHE, suffix=".partial", delete=False) as part:
        json.dump(made, part, indent=1)
    os.replace(part.name, MANIFESTS)


def relabel(image: str, arch: str) -> str:
    tag = f"{image}-as-{arch}"
    if not image_exists(tag):
        container = sh(["buildah", "from", image], env=podman_env()).strip()
        try:
            sh(["buildah", "config", "--arch", arch, container], env=podman_env())
            sh(["buildah", "commit", "-q", container, tag], env=podman_env())
        finally:
            subprocess.run(["buildah", "rm", container], env={**os.environ, **podman_env()}, capture_output=True)
    return tag


# --- Root file systems ----------------------------------------------------------

def rootfs_key() -> str:
    return hashlib.sha256(json.dumps([ROOTFS_REVISION, DEBOOTSTRAP, DNF_PACKAGES]).encode()).hexdigest()[:12]


def rootfs(arch: str) -> Path:
    """A Debian bookworm root file system tarball for arch (amd64, arm64),
    with the .debs for the dnf stand-in kept aside in /opt/standin-dnf."""
    tarball = CACHE / f"bookworm-{arch}-{rootfs_key()}.tar"
    if tarball.exists():
        return tarball
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        root = Path(tmp) / "root"
        archives = root / "var/cache/apt/archives"
        keep = {command: root / "opt/standin-dnf" / command for command in DNF_PACKAGES}
        kept = {package for packages in DNF_PACKAGES.values() for package in packages}
        if arch == HOST_GOARCH:
            say(f"debootstrap bookworm for {arch} (cold cache: a few minutes)")
            sh(["debootstrap", f"--arch={arch}", *DEBOOTSTRAP, str(root), DEBIAN_MIRROR], timeout=3600)
            for packages in DNF_PACKAGES.values():
                sh(["chroot", str(root), "dpkg", "--purge", *packages])
        else:
            # Configuring a foreign system runs every maintainer script under
            # qemu (over ten minutes here). The stand-in needs the files only:
            # fetch and unpack, as the root file system of a runtime image.
            say(f"debootstrap --foreign bookworm for {arch}, unpacked without configuring")
            sh(["debootstrap", "--foreign", f"--arch={arch}", *DEBOOTSTRAP, str(root), DEBIAN_MIRROR],
               timeout=3600)
            for deb in sorted(archives.glob("*.deb")):
                if deb.name.split("_", 1)[0] not in kept:
                    sh(["dpkg-deb", "-x", str(deb), str(root)])
            # What the maintainer scripts would have made that a runtime needs:
            # users, awk (an alternative), the CA bundle.
            for name in ("passwd", "group"):
                shutil.copy2(root / f"usr/share/base-passwd/{name}.master", root / "etc" / name)
            (root / "usr/bin/awk").symlink_to("mawk")
            bundle = "".join(crt.read_text() for crt in sorted((root / "usr/share/ca-certificates").rglob("*.crt")))
            (root / "etc/ssl/certs/ca-certificates.crt").write_text(bundle)
            shutil.rmtree(root / "debootstrap", ignore_errors=True)
        for command, packages in DNF_PACKAGES.items():
            keep[command].mkdir(parents=True)
            for package in packages:
                for deb in archives.glob(f"{package}_*.deb"):
                    shutil.copy2(deb, keep[command])
        for deb in archives.glob("*.deb"):
            deb.unlink()
        shutil.rmtree(root / "var/lib/apt/lists", ignore_errors=True)
        (root / "var/lib/apt/lists/partial").mkdir(parents=True)
        # No package sources: a build stage that runs `apt-get update` finds
        # nothing to fetch instead of reaching for the network.
        (root / "etc/apt/sources.list").write_text("")
        # Written in this build's own folder (one fixed .partial name was
        # shared by two processes building it at once), then renamed: whole or absent.
        partial = Path(tmp) / "rootfs.tar"
        sh(["tar", "-C", str(root), "--numeric-owner", "-cf", str(partial), "."])
        partial.rename(tarball)
    return tarball


def base(arch: str) -> str:
    """The root file system imported as an image."""
    tarball = rootfs(arch)
    tag = f"{STANDIN_REPO}/bookworm:{tarball.stem.rsplit('-', 1)[1]}-{arch}"
    if not image_exists(tag):
        podman("import", "--arch", arch, str(tarball), tag)
    return tag


# --- The stand-ins ---------------------------------------------------------------

def build(tag: str, containerfile: str, context: Path, arch: str) -> str:
    (context / "Containerfile").write_text(containerfile)
    podman("build", "--pull=never", "--arch", arch, "--label", f"lambda-template.standin={tag}",
           "-t", tag, "-f", str(context / "Containerfile"), str(context), timeout=3600)
    return tag


def standin_tag(kind: str, arch: str, project: Path) -> str:
    """The stand-in's name: its kind, recipe, inputs and CPU."""
    inputs = {"golang": lambda: go_version() + (project / "go.sum").read_text(),
              "rust": lambda: sh(["rustc", "--version"]) + (project / "Cargo.lock").read_text()
              + json.dumps(debian_rust()),
              "shellcheck": lambda: "",
              "provided": lambda: ""}[kind]()
    key = hashlib.sha256(inputs.encode()).hexdigest()[:8]
    return f"{STANDIN_REPO}/{kind}:{RECIPE}-{key}-{arch}" if inputs else f"{STANDIN_REPO}/{kind}:{RECIPE}-{arch}"


def standin(kind: str, arch: str, project: Path) -> str:
    tag = standin_tag(kind, arch, project)
    if image_exists(tag):
        return tag
    say(f"building the {kind} stand-in for {arch}")
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        context = Path(tmp)
        return {"golang": golang, "rust": rust, "shellcheck": shellcheck, "provided": provided}[kind](
            tag, context, arch, project)


def go_version() -> str:
    return sh(["go", "env", "GOVERSION"]).strip()


def golang(tag: str, context: Path, arch: str, project: Path) -> str:
    goroot = Path(sh(["go", "env", "GOROOT"]).strip())
    shutil.copytree(goroot, context / "go", symlinks=True)
    # A module proxy on disk: the download cache of exactly the project's modules.
    modcache = context / "modcache"
    host_cache = Path(sh(["go", "env", "GOMODCACHE"]).strip()) / "cache" / "download"
    proxy = f"file://{host_cache},{os.environ.get('GOPROXY') or sh(['go', 'env', 'GOPROXY']).strip()}"
    sh(["go", "mod", "download"], cwd=project,
       env={"GOMODCACHE": str(modcache), "GOFLAGS": "-modcacherw", "GOPROXY": proxy})
    shutil.move(modcache / "cache" / "download", context / "goproxy")
    shutil.rmtree(modcache)
    return build(tag, f"""FROM {base(arch)}
COPY go /usr/local/go
COPY goproxy /goproxy
ENV GOLANG_VERSION={go_version()} GOPATH=/go GOTOOLCHAIN=local \\
    GOPROXY=file:///goproxy GOSUMDB=off \\
    PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /go
""", context, arch)


def shellcheck(tag: str, context: Path, arch: str, project: Path) -> str:
    binary = host_binary("shellcheck")
    shutil.copy2(binary, context / "shellcheck")
    return build(tag, f"""FROM {base(arch)}
COPY shellcheck /bin/shellcheck
""", context, arch)


def host_binary(name: str) -> Path:
    """The ELF binary behind a command (not a pyenv shim)."""
    candidates = [shutil.which(name)]
    if shutil.which("pyenv"):
        candidates.append(subprocess.run(["pyenv", "which", name], capture_output=True, text=True).stdout.strip())
    for candidate in candidates:
        if candidate and Path(candidate).read_bytes()[:4] == b"\x7fELF":
            return Path(candidate)
    raise RuntimeError(f"no {name} binary on this machine (script/bootstrap installs it)")


def emulator(arch: str, folder: Path) -> Path:
    """aws-lambda-rie for arch (amd64, arm64), built from the module
    script/bootstrap installed."""
    out = folder / f"aws-lambda-rie-{ {'amd64': 'x86_64', 'arm64': 'arm64'}[arch]}"
    if out.exists():
        return out
    modules = Path(sh(["go", "env", "GOMODCACHE"]).strip())
    source = sorted(modules.glob("github.com/aws/aws-lambda-runtime-interface-emulator@*"))[-1]
    sh(["go", "build", "-trimpath", "-o", str(out), "./cmd/aws-lambda-rie"], cwd=source,
       env={"GOOS": "linux", "GOARCH": arch, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"})
    return out


ENTRYPOINT = """#!/bin/sh
# Stand-in for AWS's /lambda-entrypoint.sh (lambda-template tests).
if [ $# -ne 1 ]; then
  echo "entrypoint requires the handler name to be the first argument" 1>&2
  exit 142
fi
export _HANDLER="$1"
RUNTIME_ENTRYPOINT=/var/runtime/bootstrap
if [ -z "${AWS_LAMBDA_RUNTIME_API}" ]; then
  exec /usr/local/bin/aws-lambda-rie $RUNTIME_ENTRYPOINT
else
  exec $RUNTIME_ENTRYPOINT
fi
"""

DNF = """#!/bin/sh
# Stand-in for AL2023's dnf (lambda-template tests): `install` unpacks the
# Debian packages preloaded in /opt/standin-dnf; `clean` has nothing to clean.
set -eu
command=
packages=
for arg; do
  case $arg in
  -*) ;;
  *) if [ -z "$command" ]; then command=$arg; else packages="$packages $arg"; fi ;;
  esac
done
case $command in
install)
  for package in $packages; do
    [ -d "/opt/standin-dnf/$package" ] || { echo "dnf (stand-in): no package $package here" >&2; exit 1; }
    for deb in /opt/standin-dnf/"$package"/*.deb; do
      dpkg-deb -x "$deb" /
    done
  done ;;
clean) ;;
*) echo "dnf (stand-in): '$command' is not supported" >&2; exit 1 ;;
esac
"""


def provided(tag: str, context: Path, arch: str, project: Path) -> str:
    emulator(arch, context)
    (context / "lambda-entrypoint.sh").write_text(ENTRYPOINT)
    (context / "dnf").write_text(DNF)
    rie = next(context.glob("aws-lambda-rie-*")).name
    return build(tag, f"""FROM {base(arch)}
COPY --chmod=0755 lambda-entrypoint.sh /lambda-entrypoint.sh
COPY --chmod=0755 dnf /usr/bin/dnf
COPY --chmod=0755 {rie} /usr/local/bin/aws-lambda-rie
RUN mkdir -p /var/task /var/runtime /opt
ENV LANG=en_US.UTF-8 TZ=:/etc/localtime \\
    LAMBDA_TASK_ROOT=/var/task LAMBDA_RUNTIME_DIR=/var/runtime \\
    PATH=/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin \\
    LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib
WORKDIR /var/task
ENTRYPOINT ["/lambda-entrypoint.sh"]
""", context, arch)


def dockerfile_args(project: Path) -> dict:
    """Every ARG default in the project's Dockerfile (e.g. the pinned zig)."""
    return dict(re.findall(r"^ARG (\w+)=(\S+)", (project / "Dockerfile").read_text(), re.M))


def debian_rust() -> dict:
    """The targets this machine builds with Debian's toolchain (target ->
    build environment), and that toolchain's package version: what the Rust
    stand-in adds to rustup's toolchain."""
    targets = {}
    for arch in ARCHITECTURES:
        for libc in ("gnu", "musl"):
            target = rust_target(arch, libc)
            env = rust_targets.build_env(target)
            if env and not rust_targets.problem(target):
                targets[target] = {k: v for k, v in env.items() if k != "RUSTUP_TOOLCHAIN"}
    if not targets:
        return {}
    version = sh(["dpkg-query", "-W", "-f", "${Version}", "rustc-web"]).strip()
    return {"version": version, "targets": targets}


DEBIAN_SECURITY_MIRROR = os.environ.get("DEBIAN_SECURITY_MIRROR", "http://deb.debian.org/debian-security")


def rust(tag: str, context: Path, arch: str, project: Path) -> str:
    # This machine's toolchain (without its 800 MB of documentation), as
    # rustup lays it out in the official image.
    sysroot = Path(sh(["rustc", "--print", "sysroot"]).strip())
    toolchain = sysroot.name
    shutil.copytree(sysroot, context / "toolchain", symlinks=True,
                    ignore=lambda d, names: ["doc"] if Path(d) == sysroot / "share" else [])
    (context / "rustup-real").mkdir()
    shutil.copy2(host_binary("rustup"), context / "rustup-real" / "rustup")
    # The targets rustup cannot download here, built by Debian's toolchain
    # (the same packages as this machine's, from Debian): a custom toolchain
    # "debian" whose cargo builds the standard library from source, and a
    # stand-in rustup whose `target add` of such a target makes it the default
    # and records what it was asked. Any other target goes to rustup itself.
    debian = debian_rust()
    packages, switch = "", ""
    if debian:
        packages = " " + " ".join(f"{p}={debian['version']}" for p in ("rustc-web", "cargo-web", "rust-web-src"))
        exports = {k: v for env in debian["targets"].values() for k, v in env.items()}
        (context / "debian-cargo").write_text(
            "#!/bin/sh\n# Debian's cargo, building the standard library from source (tests/support/rust_targets.py).\n"
            + "".join(f"export {k}='{v}'\n" for k, v in sorted(exports.items()))
            + 'exec /usr/bin/cargo "$@"\n')
        switch = "\n".join(f'    {target}) asked "$target" debian; "$real" default debian ;;'
                           for target in sorted(debian["targets"])) + "\n"
    (context / "rustup").write_text(f"""#!/bin/sh
# Stand-in rustup (tests/standin_images.py): `target add` of a target this
# machine builds with Debian's toolchain switches to it; all else is rustup's.
# Each target asked for is recorded in /rustup-asked with what was done
# (installed: the toolchain has it; debian; rustup: passed on), which
# rustup_asked reads back.
set -eu
real=/usr/local/rustup/real/rustup
asked() {{ echo "target add $1: $2" >>/rustup-asked; }}
if [ "${{1:-}}" = target ] && [ "${{2:-}}" = add ]; then
  shift 2
  for target; do
    if [ -d "/usr/local/rustup/toolchains/$RUST_VERSION/lib/rustlib/$target/lib" ]; then
      asked "$target" installed
      continue
    fi
    case $target in
{switch}    *) asked "$target" rustup; "$real" target add "$target" ;;
    esac
  done
  exit 0
fi
exec "$real" "$@"
""")
    # The crates, vendored from the project's Cargo.lock: no registry needed;
    # with Debian's toolchain, from its std sources' Cargo.lock too (build-std).
    std = [] if not debian else ["--sync", str(rust_targets.DEBIAN_SRC / "Cargo.toml")]
    sh(["cargo", "vendor", "--locked", "--versioned-dirs", *std, str(context / "vendor")], cwd=project,
       env={"CARGO_TARGET_DIR": str(context / "unused-target"),
            **({"RUSTUP_TOOLCHAIN": str(rust_targets.DEBIAN_SYSROOT), "RUSTC_BOOTSTRAP": "1"} if debian else {})})
    (context / "config.toml").write_text(
        '[source.crates-io]\nreplace-with = "vendored-sources"\n\n'
        '[source.vendored-sources]\ndirectory = "/usr/local/cargo/vendor"\n')
    # zig and cargo-zigbuild at the Dockerfile's pins, as wheels fetched here,
    # so its `pip3 install` finds them installed.
    args = dockerfile_args(project)
    wheels = [f"ziglang=={args['ZIGLANG_VERSION']}", f"cargo-zigbuild=={args['CARGO_ZIGBUILD_VERSION']}"]
    # (py3-none wheels for this machine's CPU, the build stage's.)
    sh([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--only-binary=:all:",
        "-d", str(context / "wheels"), *wheels])
    proxies = " ".join(f"/usr/local/cargo/bin/{tool}" for tool in ("cargo", "rustc", "rustdoc", "cargo-clippy",
                                                                   "clippy-driver", "rustfmt", "cargo-fmt"))
    debian_toolchain = """COPY debian-cargo /usr/local/rustup/toolchains/debian/bin/cargo
RUN chmod 0755 /usr/local/rustup/toolchains/debian/bin/cargo \\
    && ln -s /usr/bin/rustc /usr/local/rustup/toolchains/debian/bin/rustc \\
    && ln -s /usr/bin/rustdoc /usr/local/rustup/toolchains/debian/bin/rustdoc \\
    && ln -s /usr/lib /usr/local/rustup/toolchains/debian/lib
""" if debian else ""
    return build(tag, f"""FROM {base(arch)}
# python3-pip is what the Dockerfile's build stage installs; the root file
# system has no package sources, so they are given for this step only.
RUN echo "deb {DEBIAN_MIRROR} bookworm main" >/etc/apt/sources.list \\
    && echo "deb {DEBIAN_SECURITY_MIRROR} bookworm-security main" >>/etc/apt/sources.list \\
    && apt-get update -qq \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \\
        python3-pip gcc libc6-dev{packages} \\
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \\
    && : >/etc/apt/sources.list
COPY wheels /tmp/wheels
RUN pip3 install --quiet --no-index --find-links /tmp/wheels --break-system-packages {" ".join(wheels)} \\
    && rm -rf /tmp/wheels
COPY toolchain /usr/local/rustup/toolchains/{toolchain}
COPY rustup-real /usr/local/rustup/real
COPY --chmod=0755 rustup /usr/local/cargo/bin/rustup
COPY vendor /usr/local/cargo/vendor
COPY config.toml /usr/local/cargo/config.toml
{debian_toolchain}RUN printf 'version = "12"\\ndefault_toolchain = "{toolchain}"\\nprofile = "minimal"\\n' \\
        >/usr/local/rustup/settings.toml \\
    && for proxy in {proxies}; do ln -s ../../rustup/real/rustup "$proxy"; done
ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo RUST_VERSION={toolchain} \\
    PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
""", context, arch)


# --- Measuring a built image ------------------------------------------------------

def compressed_layers(tag: str, engine: str = "podman") -> int:
    """The image's layers gzip-compressed, as a registry stores them and Lambda
    pulls them (what ECR reports as the image size)."""
    env = {**os.environ, **(podman_env() if engine == "podman" else {})}
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "image.tar"
        args = ["podman", "save", "--format", "docker-archive", "-o", str(archive), tag] if engine == "podman" \
            else ["docker", "save", "-o", str(archive), tag]
        subprocess.run(args, env=env, check=True, capture_output=True)
        total = 0
        with tarfile.open(archive) as tar:
            manifest_json = json.load(tar.extractfile("manifest.json"))
            for layer in manifest_json[0]["Layers"]:
                total += len(gzip.compress(tar.extractfile(layer).read()))
        return total


# --- Building with the generated tasks (tests and script/bench) -----------------

def engine() -> str:
    """docker where its engine answers, otherwise podman."""
    return "docker" if docker_engine_answers() else "podman"


def engine_env(name: str) -> dict:
    """What the generated tasks need to use this engine here."""
    return podman_env() if name == "podman" else {"CONTAINER_ENGINE": "docker"}


@contextmanager
def base_images_for(project: Path, architecture: str):
    """The project's base images (ensure_base_images) for the block, which
    builds on them. The manifest lists under the real names (golang:1.26,
    .../provided:al2023) are one per Podman store, shared by every test
    process and run on the machine, and ensure_base_images removes and
    remakes them, for the architecture at hand: a build in another process
    between the two failed, or got the other architecture's members. So
    they are changed only under an exclusive lock (stale stand-ins are
    removed under it too), and read under a shared one: builds whose lists
    are already as they need them run side by side, and wait only for
    another's change of the lists."""
    CACHE.mkdir(parents=True, exist_ok=True)
    fd = os.open(CACHE / "base-images.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        if not manifests_current(project, architecture):
            fcntl.flock(fd, fcntl.LOCK_EX)  # (not atomic; ensure_base_images makes all of them anyway)
            ensure_base_images(project, architecture)
            # Down to shared: Linux converts a flock without letting an
            # exclusive waiter in between (one step under the inode's lock).
            fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # drops the lock


def build_with_mise(project: Path, architecture: str, tag: str, env: dict) -> list[str]:
    """The generated `mise run build --tag TAG` (env: engine_env plus mise's
    offline settings), on stand-in base images when the engine is Podman.

    Returns what the Rust stand-in's rustup was asked (rustup_asked), [] for
    the other images and for Docker's real rust image."""
    if env.get("CONTAINER_ENGINE") != "podman":
        sh(["mise", "run", "build", "--tag", tag], cwd=project, env=env)
        return []
    with base_images_for(project, architecture):
        sh(["mise", "run", "build", "--tag", tag], cwd=project, env=env)
        if not (project / "Cargo.toml").is_file():
            return []
        # Under the same lock: the stand-ins, hence the layer cache, unchanged.
        return rustup_asked(project, architecture, env)


def rustup_asked(project: Path, architecture: str, env: dict) -> list[str]:
    """The Rust stand-in's /rustup-asked after the project's build: its build
    stage built again to an image (`--target build`; every layer is in the
    cache from the build just made, so nothing compiles again), the file
    copied out of a container created from it and never started."""
    with tempfile.TemporaryDirectory() as tmp:
        iid = Path(tmp) / "iid"
        sh(["podman", "build", "--layers", "--platform", PLATFORM[architecture], "--target", "build",
            "--iidfile", str(iid), "."], cwd=project, env=env)
        container = sh(["podman", "create", iid.read_text().strip(), "true"], env=env).strip()  # (the stage has no CMD)
        try:
            sh(["podman", "cp", f"{container}:/rustup-asked", tmp], env=env)
        finally:
            sh(["podman", "rm", container], env=env)
        return (Path(tmp) / "rustup-asked").read_text().splitlines()


def remove_image(tag: str, env: dict) -> None:
    subprocess.run([env.get("CONTAINER_ENGINE", "docker"), "rmi", "-f", tag],
                   env={**os.environ, **env}, capture_output=True)
