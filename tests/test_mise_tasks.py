"""The generated project's mise tasks run for real: build:native, start:native
and invoke against the emulator, test and lint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import (CARGO_TARGET_DIR, CASES, free_port, mise_env, one_per, params, rie_path,
                      run, wait_for_port)

# One project per language, with the defaults for everything else.
ONE_PER_LANGUAGE = one_per("language")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    # aws-lambda-rie must be found on PATH by the start:native task.
    rie_dir = str(Path(rie_path()).parent)
    # Rust projects share one cargo target folder with tests/test_rust.py.
    return {**mise_env(Path("/")), "PATH": f"{rie_dir}{os.pathsep}{os.environ['PATH']}",
            "CARGO_TARGET_DIR": str(CARGO_TARGET_DIR)}


@pytest.mark.parametrize("answers", params(ONE_PER_LANGUAGE))
def test_tasks_are_listed_with_descriptions(render, env, answers):
    project = render(answers).path
    listing = run(["mise", "tasks", "--json"], project, env=env).stdout
    tasks = {t["name"]: t for t in json.loads(listing)}
    for name in ("build", "build:native", "test", "lint", "start", "start:native",
                 "invoke", "invoke:remote", "publish", "deploy", "destroy", "logs", "validate"):
        assert name in tasks, name
        assert tasks[name]["description"], name


@pytest.mark.parametrize("answers", params(ONE_PER_LANGUAGE))
def test_test_and_lint_tasks(render, env, answers):
    project = render(answers).path
    run(["mise", "run", "test"], project, env=env)
    run(["mise", "run", "lint"], project, env=env)


@pytest.mark.parametrize("answers", params(ONE_PER_LANGUAGE))
def test_build_start_and_invoke_natively(render, env, answers):
    project = render(answers).path
    bootstrap = project / "build" / "bootstrap"
    if bootstrap.exists():
        bootstrap.unlink()
    run(["mise", "run", "build:native"], project, env=env)
    assert bootstrap.stat().st_size > 0

    port = free_port()
    log = open(project / "build" / "start-native.log", "w")
    server = subprocess.Popen(
        ["mise", "run", "start:native", "--port", str(port)],
        cwd=project, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_port(port, server, timeout=120)
        for case in CASES["http"]:
            event = case["event"].removesuffix(".json")
            out = run(["mise", "run", "invoke", event, "--port", str(port)], project, env=env).stdout
            response = json.loads(out.strip().splitlines()[-1])
            assert response["statusCode"] == case["status"], out
            assert json.loads(response["body"])["message"] == case["message"], out
        missing = run(["mise", "run", "invoke", "no-such-event", "--port", str(port)],
                      project, env=env, check=False)
        assert missing.returncode != 0
        assert "no event events/no-such-event.json" in missing.stderr
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=15)
        log.close()
