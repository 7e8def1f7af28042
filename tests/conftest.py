"""Shared fixtures: the answer matrix read from copier.yml, rendered projects,
and a runner for the Lambda Runtime Interface Emulator (RIE).

Rendering and building are expensive, so every project is rendered once per
session and shared by the tests that need it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from matrix import (COPIER, GOARCH, HOST_ARCH, MATRIX_QUESTIONS, ROOT, choice_values, copier_jinja_env,  # noqa: F401
                    disabled_reason, event_kind, matrix, render_validator)

CASES = yaml.safe_load((ROOT / "tests" / "cases.yaml").read_text())

# The ELF e_machine of each architecture.
ELF_MACHINE = {"x86_64": 62, "arm64": 183}


def elf_machine(binary: Path) -> int:
    header = binary.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", binary
    return int.from_bytes(header[18:20], "little")

# One cargo target folder for every Rust project the tests build, kept between
# runs: the dependencies compile once per profile and target, and projects
# rendered from the same template share the build of their own crate too.
CARGO_TARGET_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lambda-template-tests" / "cargo-target"


def combo_id(answers: dict) -> str:
    return "-".join(str(answers[q]) for q in MATRIX_QUESTIONS)


MATRIX = matrix()
LANGUAGES = sorted({c["language"] for c in MATRIX})


def params(combos, marks_for=None):
    return [pytest.param(c, id=combo_id(c)) for c in combos]


def one_per(*questions) -> list[dict]:
    """The first combination for each distinct set of answers to these questions."""
    seen, picked = set(), []
    for c in MATRIX:
        key = tuple(c[q] for q in questions)
        if key not in seen:
            seen.add(key)
            picked.append(c)
    return picked


def language_arch_pairs() -> list[dict]:
    """One combination per language, trigger and architecture, on the default
    base image: what compiling and running the code needs (the IaC does not
    change the code)."""
    return one_per("language", "trigger", "architecture")


def images() -> list[dict]:
    """One combination per distinct container image: language, architecture, base image."""
    return one_per("language", "architecture", "base_image")


# What a copy of the template consists of: the questions, the files, the hooks.
TEMPLATE_PARTS = ("copier.yml", "template", "hooks")

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
    """Run a command, and on failure show its output in the assertion."""
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
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
def render(copie_session):
    """render(answers) -> Rendered; each distinct set of answers is rendered once."""
    cache: dict[str, Rendered] = {}

    def _render(answers: dict) -> Rendered:
        key = json.dumps(answers, sort_keys=True)
        if key not in cache:
            full = {"project_name": "hello-fn", **answers}
            result = copie_session.copy(extra_answers=full)
            assert result.exception is None, f"rendering {answers} failed: {result.exception!r}"
            cache[key] = Rendered(answers=result.answers, path=Path(result.project_dir))
        return cache[key]

    return _render


def bootstrap_builder(render, env_for):
    """answers -> the rendered project, with build/bootstrap built by its
    scripts/build-bootstrap once per trigger and architecture, in
    env_for(architecture)."""
    built = {}

    def _build(answers):
        key = (answers["trigger"], answers["architecture"])
        if key not in built:
            env = env_for(answers["architecture"])
            project = render(answers).path
            run(["scripts/build-bootstrap", "build/bootstrap"], project, env=env, timeout=1800)
            built[key] = project
        return built[key]

    return _build


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    port = free_port()
    with local_server([sys.executable, str(ROOT / "tests" / "moto_cfn.py"), "-p", str(port)],
                      log_dir / "moto.log", port, env={"AWS_DEFAULT_REGION": region, **(env or {})}):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def emulator(command: list[str], cwd: Path, env: dict | None = None):
    """Run `command` (the bootstrap) under aws-lambda-rie; yield the invoke port."""
    port, api_port = free_port(), free_port()
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
        while (missing := [x for x in expected if x not in log.read_text(errors="replace")]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert missing == [], f"the function did not log {missing}; see {log}"
