"""The generated project's mise tasks run for real: build:native, start:native
and invoke against the emulator, test and lint."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from conftest import (CARGO_TARGET_DIR, COPIER, MATRIX, assert_case, cargo_target_lock, cases_for, choice_values,
                      copier_jinja_env, event_kind, images, mise_env, one_per, params, reserve, rie_path, run,
                      wait_for_port)

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
    # A Rust build copies its bootstrap out of the shared CARGO_TARGET_DIR,
    # and start:native builds again first: the lock (conftest) is held until
    # the emulator runs this project's bootstrap.
    building = contextlib.ExitStack()
    if answers["language"] == "rust":
        building.enter_context(cargo_target_lock())
    run(["mise", "run", "build:native"], project, env=env)
    assert bootstrap.stat().st_size > 0

    # Both ports the emulator binds are reserved; the Runtime API's is not
    # port + 1, so that --api-port is seen to be honoured.
    port, api_port = reserve(2)
    log_path = project / "build" / f"start-native-{port}.log"
    log = open(log_path, "w")
    server = subprocess.Popen(
        ["mise", "run", "start:native", "--port", str(port), "--api-port", str(api_port)],
        cwd=project, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def invoke(*event):
        out = run(["mise", "run", "invoke", *event, "--port", str(port)], project, env=env).stdout
        return json.loads(out.strip().splitlines()[-1])

    try:
        wait_for_port(port, server, timeout=120)
        building.close()
        cases = cases_for(answers)
        assert sorted(c["event"] for c in cases) == sorted(p.name for p in (project / "events").glob("*.json"))
        for case in cases:
            assert_case(case, invoke(case["event"].removesuffix(".json")))
        # The emulator opens its Runtime API with the first invocation.
        assert listening(api_port), f"the emulator's Runtime API listens on --api-port {api_port}"
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
        building.close()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=15)
        log.close()


# --- A port that is taken stops start and start:native before they start ---

def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def held(port: int):
    """A server that is not the task's listening on 127.0.0.1:port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        yield


def processes_naming(port: int) -> list[str]:
    """Command lines of this machine's processes that mention 127.0.0.1:port
    (an emulator started on it)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue  # exited meanwhile
        if any(f"127.0.0.1:{port}".encode() in a for a in args):
            found.append(b" ".join(args).decode(errors="replace"))
    return found


@pytest.mark.parametrize("taken, message", [
    ("port", "error: port {port} (the invoke endpoint, --port) is in use; choose another with --port N"),
    ("port + 1", "error: port {next} (the emulator's Runtime API, --port + 1) is in use; "
                 "choose another with --api-port N (or --port N)"),
    ("api-port", "error: port {api} (the emulator's Runtime API, --api-port) is in use; "
                 "choose another with --api-port N"),
])
def test_start_native_stops_on_a_taken_port(render, env, taken, message):
    """Each port start:native would bind is checked first: a taken one stops
    the task with the port, what it is for and the flag that moves it (not
    the emulator's panic), and nothing is left running. --skip-deps: the
    build is not what this checks (test_build_start_and_invoke_natively
    runs it)."""
    project = render(ONE_PER_LANGUAGE[0]).path
    port, after, api = reserve(3, consecutive=True)  # api: not port + 1, which stays free
    args = ["--port", str(port)] + (["--api-port", str(api)] if taken == "api-port" else [])
    hold = {"port": port, "port + 1": after, "api-port": api}[taken]
    with held(hold):
        result = run(["mise", "run", "--skip-deps", "start:native", *args], project, env=env, check=False,
                     timeout=120)
        assert result.returncode != 0, result.stderr
        assert message.format(port=port, next=after, api=api) in result.stderr, result.stderr
        assert "Invoke endpoint" not in result.stderr, "it stops before it starts anything"
    for other in {port, after, api} - {hold}:
        assert not listening(other), f"port {other} was left listening"
    assert [p for port_ in (port, after, api) for p in processes_naming(port_)] == []


def test_start_native_refuses_a_port_that_is_no_port(render, env):
    project = render(ONE_PER_LANGUAGE[0]).path
    result = run(["mise", "run", "--skip-deps", "start:native", "--port", "90000"], project, env=env,
                 check=False, timeout=120)
    assert result.returncode != 0
    assert "error: --port must be a port number from 1 to 65535, not '90000'" in result.stderr, result.stderr


def test_start_stops_on_a_taken_port_before_asking_the_engine(render, env, tmp_path):
    """`mise run start` publishes one host port (-p port:8080); a taken one
    stops the task before the container engine is called at all: docker is
    the recording stand-in (tests/standins/), and it records nothing."""
    project = render(images()[0]).path
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").symlink_to(Path(__file__).parent / "standins" / "docker")
    calls = tmp_path / "calls.jsonl"
    engine_env = {**env, "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}", "STANDIN_LOG": str(calls),
                  "CONTAINER_ENGINE": ""}
    (port,) = reserve()
    with held(port):
        result = run(["mise", "run", "start", "--port", str(port), "--tag", "hello-fn:local"], project,
                     env=engine_env, check=False, timeout=120)
    assert result.returncode != 0
    assert (f"error: port {port} (the invoke endpoint, --port) is in use; choose another with --port N"
            in result.stderr), result.stderr
    assert not calls.exists(), f"the engine was called: {calls.read_text()}"


def test_invoke_with_nothing_listening_says_which_task_starts_one(render, env):
    """curl's own error stays, followed by what it means here."""
    project = render(ONE_PER_LANGUAGE[0]).path
    (port,) = reserve()
    assert not listening(port)
    result = run(["mise", "run", "invoke", "--port", str(port)], project, env=env, check=False, timeout=120)
    assert result.returncode != 0
    assert "Failed to connect" in result.stderr, result.stderr
    assert (f"error: no function is running on port {port}; start one with 'mise run start:native' "
            f"(or 'mise run start' for the image), or name its port with --port N") in result.stderr, result.stderr


# --- start and start:native run the function as configured ---------------------

# A handler that sleeps when the event asks it to, and otherwise answers with
# what it was given: a variable from --env-file and the emulator's memory size.
SLEEPY_HANDLER = """\
# shellcheck shell=bash
handler() {
  event=$(cat)
  case $event in *sleep*) sleep 5 ;; esac
  printf '{"greeting":"%s","memory":"%s"}' "${GREETING:-}" "${AWS_LAMBDA_FUNCTION_MEMORY_SIZE:-}"
}
"""


def test_start_native_applies_the_answered_timeout_memory_and_env_file(render, env, tmp_path):
    """timeout=1: a handler that sleeps past it gets the emulator's timeout
    error, as in Lambda; memory_size reaches the function; --env-file's
    variables too."""
    answers = {**next(c for c in MATRIX if c["language"] == "custom" and c["trigger"] == "http-api"),
               "timeout": 1, "memory_size": 256}
    source = render(answers).path
    project = tmp_path / "project"
    run(["cp", "-a", str(source), str(project)], tmp_path)
    (project / "function.sh").write_text(SLEEPY_HANDLER)
    (project / "events" / "sleepy.json").write_text('{"sleep": true}\n')
    env_file = tmp_path / "local.env"
    env_file.write_text("# for the local run\nGREETING=hello from the env file\n")

    port, api_port = reserve(2)
    log_path = tmp_path / "start-native.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            ["mise", "run", "start:native", "--port", str(port), "--api-port", str(api_port),
             "--env-file", str(env_file)],
            cwd=project, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for_port(port, server, timeout=120)
            out = run(["mise", "run", "invoke", "hello", "--port", str(port)], project, env=env).stdout
            assert json.loads(out.strip().splitlines()[-1]) == {"greeting": "hello from the env file",
                                                                 "memory": "256"}
            slept = run(["mise", "run", "invoke", "sleepy", "--port", str(port)], project, env=env, check=False)
            assert "Task timed out after 1.00 seconds" in slept.stdout + slept.stderr, (
                slept.stdout + slept.stderr + log_path.read_text())
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=15)


def test_start_passes_timeout_memory_and_env_file_to_the_engine(render, env, tmp_path):
    """`mise run start` gives the container the emulator's timeout and memory
    settings and --env-file; docker is the recording stand-in."""
    answers = {**images()[0], "timeout": 2, "memory_size": 512}
    assert answers["base_image"] != "scratch"  # scratch builds an emulator first, not what this checks
    project = render(answers).path
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").symlink_to(Path(__file__).parent / "standins" / "docker")
    calls = tmp_path / "calls.jsonl"
    env_file = tmp_path / "local.env"
    env_file.write_text("GREETING=hello\n")
    engine_env = {**env, "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}", "STANDIN_LOG": str(calls),
                  "CONTAINER_ENGINE": ""}
    (port,) = reserve()
    run(["mise", "run", "start", "--port", str(port), "--tag", "hello-fn:local", "--env-file", str(env_file)],
        project, env=engine_env, timeout=120)
    argv = next(c["argv"] for c in map(json.loads, calls.read_text().splitlines()) if c["argv"][:1] == ["run"])
    pairs = list(itertools.pairwise(argv))
    assert ("--env", "AWS_LAMBDA_FUNCTION_TIMEOUT=2") in pairs, argv
    assert ("--env", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512") in pairs, argv
    assert ("--env-file", str(env_file)) in pairs, argv
    assert argv.index("--env-file") < argv.index("hello-fn:local"), "engine options come before the image"
