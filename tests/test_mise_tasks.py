"""The generated project's mise tasks run for real: build:native, start:native
and invoke against the emulator, test and lint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import (CARGO_TARGET_DIR, COPIER, MATRIX, assert_case, cases_for, choice_values, copier_jinja_env,
                      event_kind, free_port, mise_env, one_per, params, rie_path, run, wait_for_port)

# One project per language, with the defaults for everything else.
ONE_PER_LANGUAGE = one_per("language")


def every_trigger_and_language() -> list[dict]:
    """Each trigger once, on the languages in turn (copier.yml's order): row i
    is trigger i with language i mod 3, so every trigger's events go through
    `mise run invoke` and every language's build:native and start:native run,
    in four projects rather than twelve (test_go, test_rust and test_custom
    run every language x trigger under the emulator)."""
    languages, triggers = choice_values("language"), choice_values("trigger")
    rows = []
    for i in range(max(len(languages), len(triggers))):
        language, trigger = languages[i % len(languages)], triggers[i % len(triggers)]
        rows.append(next(c for c in MATRIX if (c["language"], c["trigger"]) == (language, trigger)))
    return rows


def sample_event(trigger: str) -> str:
    """copier.yml's computed sample_event: what `mise run invoke` sends by default."""
    return copier_jinja_env().from_string(COPIER["sample_event"]["default"]).render(
        event_kind=event_kind(trigger))


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


@pytest.mark.parametrize("answers", params(every_trigger_and_language()))
def test_build_start_and_invoke_natively(render, env, answers):
    project = render(answers).path
    bootstrap = project / "build" / "bootstrap"
    if bootstrap.exists():
        bootstrap.unlink()
    run(["mise", "run", "build:native"], project, env=env)
    assert bootstrap.stat().st_size > 0

    port = free_port()
    log_path = project / "build" / f"start-native-{port}.log"
    log = open(log_path, "w")
    server = subprocess.Popen(
        ["mise", "run", "start:native", "--port", str(port)],
        cwd=project, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def invoke(*event):
        out = run(["mise", "run", "invoke", *event, "--port", str(port)], project, env=env).stdout
        return json.loads(out.strip().splitlines()[-1])

    try:
        wait_for_port(port, server, timeout=120)
        cases = cases_for(answers)
        assert sorted(c["event"] for c in cases) == sorted(p.name for p in (project / "events").glob("*.json"))
        for case in cases:
            assert_case(case, invoke(case["event"].removesuffix(".json")))
        # With no event named, invoke sends the trigger's sample event.
        default = next(c for c in cases if c["event"] == f"{sample_event(answers['trigger'])}.json")
        assert_case(default, invoke())
        expected = [line for case in cases for line in case.get("logs", [])]
        log.flush()
        missing = [line for line in expected if line not in log_path.read_text(errors="replace")]
        assert missing == [], f"the function did not log {missing}; see {log_path}"

        missing = run(["mise", "run", "invoke", "no-such-event", "--port", str(port)],
                      project, env=env, check=False)
        assert missing.returncode != 0
        assert "no event events/no-such-event.json" in missing.stderr
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=15)
        log.close()
