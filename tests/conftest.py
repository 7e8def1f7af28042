"""Shared fixtures: the answer matrix read from copier.yml, rendered projects,
and a runner for the Lambda Runtime Interface Emulator (RIE).

Rendering and building are expensive, so every project is rendered once per
session and shared by the tests that need it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from matrix import (ARCHITECTURES, COPIER, GOARCH, HOST_ARCH, MATRIX_QUESTIONS, PLATFORM, QEMU, ROOT, VERSIONS,  # noqa: F401
                    choice_values, copier_jinja_env, disabled_reason, event_kind, matrix, render_validator, rust_target)
from ports import reserve, reserve_one  # the tests' ports (tests/ports.py says how)
from support import rust_targets

CASES = yaml.safe_load((ROOT / "tests" / "cases.yaml").read_text())

# Free-text answers (tests/cases.yaml's free_text): the hostile values of each,
# and the one answer they make together (test_free_text, test_iac).
FREE_TEXT = CASES["free_text"]
# Part of the joined answer, and nothing else the template writes: the files
# that hold it are the files that hold the answer.
FREE_TEXT_MARKER = "Zq9Marker"


def longest_accepted(question: str) -> int:
    """The longest answer of one repeated letter that the question's validator accepts."""
    validator = COPIER[question]["validator"]
    lo, hi = 1, 100_000
    assert not render_validator(validator, {question: "x" * lo})
    assert render_validator(validator, {question: "x" * hi}), (
        f"{question}: a free-text answer needs a length limit in its validator, "
        "the shortest limit of the files it is written into")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if render_validator(validator, {question: "x" * mid}) else (mid, hi)
    return lo


def hostile_answer(question: str) -> str:
    """The question's hostile values and FREE_TEXT_MARKER joined by spaces,
    filled with non-ASCII letters to the longest length allowed, ending with
    the last value (a backslash)."""
    values, longest = FREE_TEXT[question], longest_accepted(question)
    head = " ".join([*values[:-1], FREE_TEXT_MARKER])
    fill = longest - len(head) - len(values[-1]) - 2
    assert fill >= 0, (f"tests/cases.yaml's free_text values for {question} and the marker make "
                       f"{len(head) + len(values[-1]) + 2} characters, more than the {longest} "
                       "the answer may have: shorten them")
    return f"{head} {'é' * fill} {values[-1]}"


# The ELF e_machine of each architecture.
ELF_MACHINE = {arch: names["elf_machine"] for arch, names in ARCHITECTURES.items()}


def elf_machine(binary: Path) -> int:
    header = binary.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", binary
    return int.from_bytes(header[18:20], "little")

# One cargo target folder for every Rust project the tests build, kept between
# runs: the dependencies compile once per profile and target, and projects
# rendered from the same template share the build of their own crate too.
CARGO_TARGET_DIR = (Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                    / "lambda-template-tests" / "cargo-target")
# cargo-zigbuild and zig from the same paths in every clone, for every build
# and task the tests run (support/rust_targets.py's stable_zigbuild says why).
os.environ.update(rust_targets.stable_zigbuild(CARGO_TARGET_DIR.parent))




_cargo_lock_depth = [0]


@contextmanager
def cargo_target_lock():
    """Held around every command that builds into CARGO_TARGET_DIR (run()
    takes it for a command whose env names that folder), and around a build
    and what reads its output. Cargo locks the folder only while it builds,
    and every project writes the same paths (debug/deps/bootstrap-<hash>,
    release/bootstrap): another process (an xdist worker, another run)
    building another project in between handed over its binary instead, and
    `cargo test` ran another project's tests. flock: the kernel drops it with
    the process; re-entrant within one."""
    if _cargo_lock_depth[0]:
        _cargo_lock_depth[0] += 1
        try:
            yield
        finally:
            _cargo_lock_depth[0] -= 1
        return
    CARGO_TARGET_DIR.parent.mkdir(parents=True, exist_ok=True)
    with open(CARGO_TARGET_DIR.parent / "cargo-target.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _cargo_lock_depth[0] = 1
        try:
            yield
        finally:
            _cargo_lock_depth[0] = 0


def claim_cargo_target(project: Path, target_dir: Path = CARGO_TARGET_DIR) -> None:
    """Makes cargo rebuild this project's own crate where another project
    built last. Every project's crate has the same name and, in the shared
    folder, the same output files; cargo takes them as up to date when the
    sources are older than the outputs, so a project rendered before another
    one's build ran that one's binary (its tests read the other project's
    events). Sources touched now are newer: cargo rebuilds the crate, not
    the dependencies. Called under the folder's lock (cargo_target_lock()
    for CARGO_TARGET_DIR)."""
    if not (project / "Cargo.toml").is_file():
        return
    last = target_dir / ".last-project"
    if last.is_file() and last.read_text() == str(project.resolve()):
        return
    for source in [project / "Cargo.toml", *(project / "src").rglob("*.rs")]:
        os.utime(source)
    target_dir.mkdir(parents=True, exist_ok=True)
    last.write_text(str(project.resolve()))


# The CDK app's npm installs, one per package.json and package-lock.json,
# kept between runs like the cargo target folder.
NODE_MODULES_CACHE = CARGO_TARGET_DIR.parent / "node_modules"


def cdk_node_modules(cdk: Path) -> Path:
    """cdk/node_modules as `npm ci` makes it, for the tests that run the CDK app
    themselves. Every CDK project a run renders has the same lock file, and an
    install takes some 20 s even with npm's cache warm, so `npm ci` runs once
    per package.json + lock file + Node version, into NODE_MODULES_CACHE, and
    each project gets a hard-linked copy (a plain copy across file systems).
    The generated deploy and destroy tasks still run their own `npm ci`."""
    key = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        key.update((cdk / name).read_bytes())
    key.update(run(["node", "--version"], cdk).stdout.encode())
    cached = NODE_MODULES_CACHE / key.hexdigest()[:16]
    if not cached.is_dir():
        NODE_MODULES_CACHE.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="npm-ci-", dir=NODE_MODULES_CACHE))
        try:
            for name in ("package.json", "package-lock.json"):
                shutil.copy2(cdk / name, staging / name)
            run(["npm", "ci", "--no-audit", "--no-fund"], staging, timeout=900)
            try:
                (staging / "node_modules").rename(cached)  # atomic: a cache entry is whole or absent
            except OSError:
                assert cached.is_dir(), f"could not move the install into {cached}"  # another run's is there
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    target = cdk / "node_modules"
    if not target.exists():
        if run(["cp", "-al", str(cached), str(target)], cdk, check=False).returncode:
            shutil.rmtree(target, ignore_errors=True)
            run(["cp", "-a", str(cached), str(target)], cdk)
    return target


def combo_id(answers: dict) -> str:
    return "-".join(str(answers[q]) for q in MATRIX_QUESTIONS)


MATRIX = matrix()
LANGUAGES = sorted({c["language"] for c in MATRIX})


def params(combos, group: str | None = None):
    """pytest params of these combinations, named by their answers; with a
    group, each combination is an xdist group of its own (see SLOW_FIRST)."""
    return [pytest.param(c, id=combo_id(c), marks=[pytest.mark.xdist_group(f"{group}-{combo_id(c)}")] * bool(group))
            for c in combos]


# Which combinations a test runs (README.md, "How the template is tested",
# says the same):
# - Checks of the rendered files (test_render, test_lint, test_workflows) run
#   on every combination, MATRIX: `render` makes each project once per session
#   and they share it, so a combination costs one render however many of these
#   tests read it.
# - A test that compiles, builds, runs or deploys takes pick(): every set of
#   answers to the questions that change what it checks, in as few
#   combinations as pick finds, copier.yml's defaults elsewhere. Compiling,
#   unit tests and the emulator (test_go, test_rust, test_custom): language x
#   trigger x architecture, code_combinations(). IaC validation (test_iac):
#   iac x trigger. Images (test_images): language x architecture x base image,
#   images(), each language's triggers riding along. Real deploys against moto
#   (test_deploy): every trigger and every IaC tool, 4 deploys, not 12.

# Keys pick() takes besides the questions: answers the template computes.
DERIVED = {"event_kind": lambda c: event_kind(c["trigger"])}


def _key(c: dict, group: tuple[str, ...]) -> tuple:
    return tuple(DERIVED[q](c) if q in DERIVED else c[q] for q in group)


def pick(*groups: tuple[str, ...], where=None) -> list[dict]:
    """Few combinations (of MATRIX, or of those `where` accepts) in which every
    set of answers to each group of questions appears at least once: the one
    rule by which every test chooses its combinations.

    pick(("iac", "trigger")) gives all 12 pairs; pick(("iac",), ("trigger",))
    gives 4 combinations that deploy every trigger and use every IaC tool.
    Greedy and deterministic: each pick is the combination that adds the most
    sets not yet covered; of those, the one whose sets were picked the fewest
    times so far (so a group's answers take turns), and then the first in the
    matrix's order. The matrix lists copier.yml's choices in their order,
    defaults first, so the questions no group names keep their defaults
    wherever the groups allow."""
    pool = [c for c in MATRIX if where is None or where(c)]
    wanted = {(group, _key(c, group)) for group in groups for c in pool}
    picked, used = [], {}
    while wanted:
        def rank(item):
            index, c = item
            keys = [(g, _key(c, g)) for g in groups]
            return (-sum(k in wanted for k in keys), sum(used.get(k, 0) for k in keys), index)
        _, best = min(enumerate(pool), key=rank)
        for key in ((g, _key(best, g)) for g in groups):
            wanted.discard(key)
            used[key] = used.get(key, 0) + 1
        picked.append(best)
    return picked


def one_per(*questions) -> list[dict]:
    """The first combination for each distinct set of answers to these questions: pick(questions)."""
    return pick(questions)


# `script/test --fast`'s combinations: one per language and per IaC tool.
FAST = pick(("language",), ("iac",))


def code_combinations() -> list[dict]:
    """One combination per language, trigger and architecture, on the default
    base image: what compiling and running the code needs (the IaC does not
    change the code)."""
    return one_per("language", "trigger", "architecture")


def images() -> list[dict]:
    """One combination per distinct container image: language, architecture, base image."""
    return one_per("language", "architecture", "base_image")


# mise.toml's tool for the Lambda Runtime Interface Emulator: mise's go
# backend and a module pseudo-version (`start` builds the same for scratch images).
RIE_TOOL = "go:github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"

def scratch_emulator(project: Path, folder: Path) -> Path:
    """folder, holding the emulator a scratch project's `mise run start`
    mounts, under the name start looks for in RIE_DIR: built from
    script/bootstrap's module copy, a quicker way to the binary start would
    build itself (tests/test_scratch.py checks that it does)."""
    import tomllib

    import standin_images

    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    pinned = tomllib.loads((project / "mise.toml").read_text())["tools"][RIE_TOOL]
    name = f"aws-lambda-rie-{pinned}-{answers['architecture']}"
    if not (folder / name).exists():
        folder.mkdir(parents=True, exist_ok=True)
        standin_images.emulator(GOARCH[answers["architecture"]], folder).rename(folder / name)
    return folder


# What a copy of the template consists of: the questions, the files, the hooks
# and the fragments the files import (includes/).
TEMPLATE_PARTS = ("copier.yml", "template", "hooks", "includes")

# Author and committer of the tests' own commits (and of the post-copy hook's
# commit, so the machine's git configuration does not matter).
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Template Tests",
    "GIT_AUTHOR_EMAIL": "template-tests@example.invalid",
    "GIT_COMMITTER_NAME": "Template Tests",
    "GIT_COMMITTER_EMAIL": "template-tests@example.invalid",
}


def snapshot_template(dst: Path) -> Path:
    """The template as it is in this working tree, copied outside any repository."""
    dst.mkdir(parents=True)
    for part in TEMPLATE_PARTS:
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, dst / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dst / part)
    return dst


@pytest.fixture
def git_identity(monkeypatch):
    """A git identity for this process and for the tasks copier starts (plumbum
    copies the environment once, so it is set there too)."""
    from plumbum import local

    for key, value in GIT_IDENTITY.items():
        monkeypatch.setenv(key, value)
    with local.env(**GIT_IDENTITY):
        yield


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def run(cmd, cwd, env=None, timeout=600, check=True) -> subprocess.CompletedProcess:
    """Run a command, and on failure show its output in the assertion. A
    command that builds into the shared CARGO_TARGET_DIR holds its lock."""
    env = {**os.environ, **(env or {})}
    shared_cargo = env.get("CARGO_TARGET_DIR") == str(CARGO_TARGET_DIR)
    with cargo_target_lock() if shared_cargo else contextlib.nullcontext():
        if shared_cargo:
            claim_cargo_target(Path(cwd))
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, (
            f"{cmd} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        )
    return proc


# Environment for running the generated project's mise tasks here: use the
# toolchains already on PATH (mise's own downloads cannot work offline) and
# trust the rendered projects' mise.toml.
def mise_env(tmp_root: Path) -> dict:
    return {
        "MISE_AUTO_INSTALL": "0",
        "MISE_OFFLINE": "1",
        "MISE_YES": "1",
        "MISE_TRUSTED_CONFIG_PATHS": str(tmp_root),
    }


@dataclass
class Rendered:
    answers: dict
    path: Path


@pytest.fixture(scope="session")
def template_snapshot(tmp_path_factory) -> Path:
    """The template as this working tree has it, copied once per session into a
    plain folder. Copier renders a plain folder as it is; given a git
    repository it clones it on every copy (and commits uncommitted changes into
    the clone), which cost a third of each of the matrix's renders."""
    return snapshot_template(tmp_path_factory.mktemp("template") / "template")


_compiled: dict = {}


@contextmanager
def jinja_compile_cache():
    """Jinja compiles each template string once for all the renders in this
    process, instead of once per render: Copier makes a new Jinja environment
    for every copy and compiles every file name and file again (0.3 s of a
    render's 0.8 s of CPU). Compiling is a pure function of the source and
    of the environment's syntax settings, filters, tests and extensions, which
    are the key; test_render.py shows a render is byte for byte the same."""
    import jinja2

    compile_ = jinja2.Environment.compile

    def cached(env, source, name=None, filename=None, raw=False, defer_init=False):
        key = (type(env), env.lexer, env.optimized, env.is_async, tuple(sorted(env.extensions)),
               tuple(sorted(env.filters)), tuple(sorted(env.tests)), source, name, filename, raw, defer_init)
        if key not in _compiled:
            _compiled[key] = compile_(env, source, name, filename, raw, defer_init)
        return _compiled[key]

    jinja2.Environment.compile = cached
    try:
        yield
    finally:
        jinja2.Environment.compile = compile_


def copy_template(src: Path, dst: Path, answers: dict, compile_cache: bool = True) -> dict | str:
    """`copier copy` of src into dst with these answers and the defaults, the
    post-copy hook included, as `copier copy --defaults --trust` does it; the
    answers Copier recorded, or the error (a string) that stopped it."""
    from copier import run_copy

    try:
        with jinja_compile_cache() if compile_cache else contextlib.nullcontext():
            worker = run_copy(str(src), str(dst), unsafe=True, defaults=True,
                              user_defaults={"project_name": "hello-fn", **answers})
    except Exception as error:
        return f"rendering {answers} failed: {error!r}"
    return {q: a for q, a in worker._answers_to_remember().items() if not q.startswith("_")}


class Renders:
    """render(answers) -> Rendered: each distinct set of answers is rendered
    once per process and shared by every test that needs it.
    render.many(combinations) renders those not yet rendered at once, one
    process per core: a render is some 0.9 s of CPU, mostly Jinja compiling
    the template (the group fixture below uses it).

    The projects stay in pytest's temporary folder, which pytest prunes itself
    (it keeps the last three runs): deleting the matrix's thousands of files
    at the end of every run cost about 20 s on 2 cores."""

    def __init__(self, template: Path, root: Path):
        self.template, self.root = template, root
        self.cache: dict[str, Rendered | str] = {}

    def _store(self, key: str, dst: Path, recorded: dict | str) -> None:
        self.cache[key] = recorded if isinstance(recorded, str) else Rendered(answers=recorded, path=dst)

    def _dst(self) -> Path:
        return self.root / f"{len(self.cache):03d}"

    def many(self, combinations: list[dict]) -> None:
        wanted = {json.dumps(a, sort_keys=True): a for a in combinations}
        wanted = {k: a for k, a in wanted.items() if k not in self.cache}
        if len(wanted) < 4:
            return  # not worth starting processes: rendered when asked
        jobs = {}
        with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            for key, answers in wanted.items():
                dst = self._dst()
                self.cache[key] = Rendered(answers=answers, path=dst)  # reserves dst; replaced below
                jobs[key] = (dst, pool.submit(copy_template, self.template, dst, answers))
        for key, (dst, job) in jobs.items():
            self._store(key, dst, job.result())

    def __call__(self, answers: dict) -> Rendered:
        key = json.dumps(answers, sort_keys=True)
        if key not in self.cache:
            dst = self._dst()
            self._store(key, dst, copy_template(self.template, dst, answers))
        assert not isinstance(self.cache[key], str), self.cache[key]
        return self.cache[key]


@pytest.fixture(scope="session")
def render(template_snapshot, tmp_path_factory) -> Renders:
    return Renders(template_snapshot, tmp_path_factory.mktemp("render"))


# --- Groups: every core busy, shared work done once ------------------------------
#
# pytest.ini runs the suite with pytest-xdist (--dist loadgroup), a worker per
# core and half as many again (pytest_xdist_auto_num_workers, below):
# a group's tests all run in one worker, in order, so what they share (a
# module's fixtures, a rendered project, a build) is made once. A test's group
# is its module's name unless it is marked @pytest.mark.xdist_group(name): the
# checks of every rendered combination share one ("matrix"), so MATRIX's renders
# happen once; each real deploy is a group of its own. Groups start in the
# order of SLOW_FIRST, then the rest in file order: the long ones first, so
# that no worker is left alone with a long group at the end of the run.
SLOW_FIRST = ("deploy", "act", "test_iac", "terraform", "test_images", "test_scratch", "test_serve", "matrix",
              "test_rust", "test_mise_tasks", "test_publish", "test_custom")


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """--numprocesses=auto (pytest.ini): a worker per core and half as many
    again. With one per core a quarter of the CPU sat idle in a warm run
    (vmstat): the deploy, act and serve tests spend much of their time
    waiting on moto, on the deploy tools' polling and on servers starting."""
    cores = os.cpu_count() or 1
    return cores + cores // 2


def xdist_group(item: pytest.Item) -> str:
    marks = [m.args[0] if m.args else m.kwargs["name"] for m in item.iter_markers("xdist_group")]
    return marks[0] if marks else item.path.stem


def slow_rank(group: str) -> int:
    return next((i for i, prefix in enumerate(SLOW_FIRST) if group.startswith(prefix)), len(SLOW_FIRST))


# `script/test --fast`: for local work, only the tests of one combination per
# language and per IaC tool (FAST: pick() finds 3, copier.yml's defaults elsewhere),
# and the tests that take no combination. CI runs everything.
def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--fast", action="store_true",
                     help="only one combination per language and per IaC tool (the full suite is CI's)")
    parser.addoption("--combo", metavar="ID",
                     help="only the tests of this one combination, by its id as in the test ids "
                          "(go-http-api-arm64-provided.al2023-sam); script/test --one uses it")


def combination_selected(config: pytest.Config, item: pytest.Item) -> bool:
    """--fast's and --combo's choice: is this test's combination one of theirs?
    A test without a combination is --fast's, not --combo's."""
    answers = getattr(item, "callspec", None) and item.callspec.params.get("answers")
    if config.getoption("combo"):
        return isinstance(answers, dict) and all(q in answers for q in MATRIX_QUESTIONS) \
            and combo_id(answers) == config.getoption("combo")
    if config.getoption("fast"):
        return fast_combination(item)
    return True


def fast_combination(item: pytest.Item) -> bool:
    answers = getattr(item, "callspec", None) and item.callspec.params.get("answers")
    if not isinstance(answers, dict):
        return True
    return any(all(answers.get(q, c[q]) == c[q] for q in MATRIX_QUESTIONS) for c in FAST)


@pytest.hookimpl(tryfirst=True)  # before xdist reads the marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    combo = config.getoption("combo")
    if combo and combo not in {combo_id(c) for c in MATRIX}:
        raise pytest.UsageError(f"--combo {combo}: not a combination copier.yml accepts; one is {combo_id(MATRIX[0])} "
                                f"(answers to {', '.join(MATRIX_QUESTIONS)}, joined by '-')")
    if combo or config.getoption("fast"):
        deselected = [item for item in items if not combination_selected(config, item)]
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if combination_selected(config, item)]
    for item in items:
        if not any(item.iter_markers("xdist_group")):
            item.add_marker(pytest.mark.xdist_group(item.path.stem))
    items.sort(key=lambda item: slow_rank(xdist_group(item)))  # stable: file order within a rank


_rendered_groups: set[str] = set()


@pytest.fixture(autouse=True)
def _render_the_group_at_once(request):
    """Before the first test of a group that renders, every combination the
    group's tests take as their `answers` parameter is rendered at once, on
    every core (the whole MATRIX of the matrix group in about a minute on 2 cores)."""
    group = xdist_group(request.node)
    if "render" not in request.fixturenames or group in _rendered_groups:
        return
    _rendered_groups.add(group)
    wanted = [item.callspec.params["answers"] for item in request.session.items
              if xdist_group(item) == group and "render" in item.fixturenames
              and isinstance(getattr(item, "callspec", None) and item.callspec.params.get("answers"), dict)]
    request.getfixturevalue("render").many(wanted)


# What scripts/build-bootstrap compiles, in any language. Projects whose
# build inputs are the same (the HTTP API and a Function URL share the
# handler; only their events differ) share one build per architecture.
BUILD_INPUTS = ("scripts/build-bootstrap", "go.mod", "go.sum", "cmd", "internal",
                "Cargo.toml", "Cargo.lock", "src", "function.sh", "runtime")


def build_inputs_digest(project: Path) -> str:
    digest = hashlib.sha256()
    for name in BUILD_INPUTS:
        path = project / name
        for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if file.is_file():
                digest.update(f"{file.relative_to(project)}\0".encode() + file.read_bytes() + b"\0")
    return digest.hexdigest()


def bootstrap_builder(render, env_for):
    """answers -> the rendered project, with build/bootstrap built by its
    scripts/build-bootstrap in env_for(architecture): once per architecture
    and set of build inputs, then copied into the other projects that have
    the same."""
    built = {}

    def _build(answers):
        project = render(answers).path
        build = project / "build"
        key = (build_inputs_digest(project), answers["architecture"])
        if key not in built:
            env = env_for(answers["architecture"])
            run(["scripts/build-bootstrap", "build/bootstrap"], project, env=env, timeout=1800)
            # What the build script wrote: the bootstrap, and the custom runtime's function.sh.
            built[key] = [f for f in build.iterdir() if f.is_file() and f.suffix != ".log"]
        elif not (build / "bootstrap").exists():
            build.mkdir(exist_ok=True)
            for output in built[key]:
                shutil.copy2(output, build / output.name)
        return project

    return _build


def invoke(port: int, event: bytes, timeout: float = 30) -> dict:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations",
        data=event,
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"process exited early with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listened on port {port} within {timeout}s")


@contextmanager
def local_server(cmd: list, log: Path, port: int, env: dict | None = None):
    """Run a server on 127.0.0.1:port for the block, its output in log."""
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        try:
            wait_for_port(port, proc)
            yield
        finally:
            proc.terminate()
            proc.wait(timeout=10)


@pytest.fixture
def local_registry(tmp_path):
    """Debian's docker-registry on 127.0.0.1, storing in tmp_path."""
    port = reserve_one()
    config = tmp_path / "registry.yml"
    config.write_text(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {tmp_path / 'registry'}\n"
                      f"http:\n  addr: 127.0.0.1:{port}\n")
    with local_server(["docker-registry", "serve", str(config)], tmp_path / "registry.log", port):
        yield f"127.0.0.1:{port}"


def aws(args: list[str], env: dict, check: bool = True) -> subprocess.CompletedProcess:
    """The AWS CLI, run in this process: the same driver as the `aws` command
    (awscli's clidriver), with env as its environment, but without a Python
    start-up and the CLI's imports per call (about 1 s each, many more under
    load; a deploy test reads back some fifty things). For the tests' own
    read-backs; the generated tasks run the real `aws` command."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from awscli.clidriver import create_clidriver

    saved = dict(os.environ)
    out, err = io.StringIO(), io.StringIO()
    try:
        os.environ.update({k: v for k, v in env.items() if v is not None})
        with redirect_stdout(out), redirect_stderr(err):
            code = create_clidriver().main([str(a) for a in args])
    finally:
        os.environ.clear()
        os.environ.update(saved)
    proc = subprocess.CompletedProcess(["aws", *args], code, out.getvalue(), err.getvalue())
    if check:
        assert code == 0, (f"aws {' '.join(map(str, args))} exited {code}\n"
                           f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    return proc


def aws_env(endpoint: str, region: str, tmp_path: Path) -> dict:
    """AWS CLI and SDK settings aimed at a local AWS API, ignoring the user's own."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": region,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
    }


def moto_server(log_dir: Path, region: str, env: dict | None = None):
    """moto_server with the CloudFormation extensions of tests/moto_cfn.py; yields its URL."""
    port = reserve_one()
    with local_server([sys.executable, str(ROOT / "tests" / "moto_cfn.py"), "-p", str(port)],
                      log_dir / "moto.log", port, env={"AWS_DEFAULT_REGION": region, **(env or {})}):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def emulator(command: list[str], cwd: Path, env: dict | None = None):
    """Run `command` (the bootstrap) under aws-lambda-rie; yield the invoke port.
    Both ports it binds, the invoke endpoint and the Runtime API, are reserved."""
    port, api_port = reserve(2)
    (cwd / "build").mkdir(exist_ok=True)
    log = cwd / "build" / f"rie-{port}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [
                rie_path(),
                "--runtime-interface-emulator-address",
                f"127.0.0.1:{port}",
                "--runtime-api-address",
                f"127.0.0.1:{api_port}",
                *command,
            ],
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(port, proc)
            yield port
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def rie_path() -> str:
    path = shutil.which("aws-lambda-rie") or str(Path.home() / "go" / "bin" / "aws-lambda-rie")
    assert Path(path).exists(), "aws-lambda-rie is missing: run script/bootstrap"
    return path


def cases_for(answers: dict) -> list[dict]:
    """The shared cases of tests/cases.yaml for these answers' trigger."""
    return CASES[event_kind(answers["trigger"])]


def assert_case(case: dict, response: dict) -> None:
    """One invocation's result is what its case in tests/cases.yaml says."""
    if "error" in case:
        assert response.get("errorMessage") == case["error"], (case, response)
        return
    assert "errorMessage" not in response, (case, response)
    if "response" in case:
        assert response == case["response"], (case, response)
        return
    assert response.get("statusCode") == case["status"], (case, response)
    assert response["headers"]["content-type"] == "application/json", response
    body = json.loads(response["body"])
    assert body["status"] == case["status"], body
    assert body["message"] == case["message"], body
    time.strptime(body["timestamp"], "%Y-%m-%dT%H:%M:%SZ")
    for name, value in case.get("headers", {}).items():
        assert response["headers"].get(name) == value, (case, response)


def assert_cases(port: int, events_dir: Path, log: Path | None = None) -> None:
    """Every shared case for the project's trigger answers as tests/cases.yaml
    says, and prints its log lines. The project is events_dir's parent; the
    function's output is read from log, or else from the emulator's log."""
    project = events_dir.parent
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    cases = cases_for(answers)
    assert sorted(c["event"] for c in cases) == sorted(p.name for p in events_dir.glob("*.json")), \
        "every sample event has a case and every case an event"
    for case in cases:
        assert_case(case, invoke(port, (events_dir / case["event"]).read_bytes()))
    log = log or project / "build" / f"rie-{port}.log"
    expected = [line for case in cases for line in case.get("logs", [])]
    if expected and log.exists():
        deadline = time.monotonic() + 5
        def missing_lines():
            return [x for x in expected if x not in log.read_text(errors="replace")]
        while (missing := missing_lines()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert missing == [], f"the function did not log {missing}; see {log}"


def assert_near_deadline_cases(command: list[str], project: Path, env: dict | None = None) -> None:
    """For a trigger with near-deadline cases in tests/cases.yaml (SQS): the
    bootstrap, run under the emulator with their tiny timeout, answers each
    case as it says and logs its lines. The project's stop margin, rendered
    from its timeout answer (min(1 s, half the timeout)), must not be less
    than that timeout for the cases to hold."""
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    near = CASES.get(f"{event_kind(answers['trigger'])}_near_deadline")
    if near is None:
        return
    assert min(1000, answers["timeout"] * 500) >= near["timeout"] * 1000, \
        f"the project's timeout answer ({answers['timeout']} s) leaves a stop margin below {near['timeout']} s"
    with emulator(command, project, env={**(env or {}), "AWS_LAMBDA_FUNCTION_TIMEOUT": str(near["timeout"])}) as port:
        for case in near["cases"]:
            assert_case(case, invoke(port, (project / "events" / case["event"]).read_bytes()))
        log = project / "build" / f"rie-{port}.log"
        expected = [line for case in near["cases"] for line in case.get("logs", [])]
        deadline = time.monotonic() + 5
        def missing_lines():
            return [x for x in expected if x not in log.read_text(errors="replace")]
        while (missing := missing_lines()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert missing == [], f"the function did not log {missing}; see {log}"
