"""Custom-runtime projects: the bash bootstrap speaks the Lambda Runtime API
(HTTP over bash's /dev/tcp, no curl) under the emulator, answers the shared
cases of every trigger on both architectures, turns a failing handler into a
Lambda error and goes on serving, reports init errors, loads the handler file
once, passes 6 MB and binary events and responses byte for byte, and runs a
program in another language through the handler.

Each trigger's events have their own sample function.sh and
tests/function_test.sh: bash alone for the HTTP API and Function URL, bash and
jq for SQS batches and schedules.

The runtime is bash, not a binary: the other architecture's projects run in a
root file system of that architecture (the provided:al2023 stand-in's, from
tests/standin_images.py, with jq installed from it as the Dockerfile's `dnf
install` does) under chroot, so that bash, awk and jq are that CPU's
programs, run by qemu-user through binfmt_misc."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import stat
import subprocess
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import standin_images
from conftest import (ARCHITECTURES, CASES, GOARCH, HOST_ARCH, MATRIX, QEMU, assert_case, assert_cases,
                      assert_near_deadline_cases, bootstrap_builder, code_combinations, emulator, event_kind, params,
                      pick, run)

CUSTOM = [c for c in MATRIX if c["language"] == "custom"]
# One project per trigger and architecture, and one per trigger.
CUSTOM_PAIRS = [c for c in code_combinations() if c["language"] == "custom"]
# One per trigger, and one per event kind (copier.yml's event_kind: the events a trigger sends).
PER_TRIGGER = pick(("trigger",), where=lambda c: c["language"] == "custom")
PER_KIND = pick(("event_kind",), where=lambda c: c["language"] == "custom")

# The generated project's shell files: the runtime, the handler, its tests.
SCRIPTS = ["runtime/bootstrap", "function.sh", "tests/function_test.sh"]
INVOKE_PATH = "/2015-03-31/functions/function/invocations"


@pytest.fixture(scope="module")
def project(render):
    """A custom project (the runtime does not depend on the architecture or
    the IaC), built with its own build script: build/bootstrap + build/function.sh."""
    path = render(CUSTOM[0]).path
    run(["scripts/build-bootstrap", "build/bootstrap"], path)
    return path


@pytest.fixture(scope="module")
def built(render):
    """answers -> the rendered project with build/bootstrap and build/function.sh
    (one build per trigger and architecture)."""
    return bootstrap_builder(render, lambda architecture: {})


@pytest.fixture(autouse=True)
def clean_lambda_env(monkeypatch):
    """What the bootstrap reads must not leak in from the caller's environment."""
    for name in ("LAMBDA_TASK_ROOT", "_HANDLER", "AWS_LAMBDA_FUNCTION_HANDLER", "AWS_LAMBDA_RUNTIME_API"):
        monkeypatch.delenv(name, raising=False)


def copy_project(project: Path, dest: Path) -> Path:
    """A private copy of the rendered project, without its build output."""
    shutil.copytree(project, dest, ignore=shutil.ignore_patterns(".git", "build"))
    return dest


def scratch(path: Path) -> dict:
    """Environment for the bootstrap's temp folder. The emulator SIGKILLs the
    runtime on shutdown, so its EXIT trap never cleans up: keep that in pytest's
    temp folders."""
    path.mkdir(parents=True, exist_ok=True)
    return {"TMPDIR": str(path)}


def post(port: int, body: bytes, headers: dict | None = None) -> tuple[int, dict]:
    """Invoke through the emulator; (HTTP status, JSON answer), error statuses included."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{INVOKE_PATH}", data=body,
                                 method="POST", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def event(name: str, project: Path) -> bytes:
    return (project / "events" / name).read_bytes()


def message(answer: dict) -> str:
    return json.loads(answer["body"])["message"]


# --- static checks and the handler's own tests ---------------------------------------

@pytest.mark.parametrize("answers", params(PER_KIND))
def test_shellcheck_and_parse(built, answers):
    project = built(answers)
    # All three are bash: ShellCheck takes the dialect from the #! line or the
    # `# shellcheck shell=bash` directive, and must not be told otherwise.
    run(["shellcheck", *SCRIPTS], project)
    for script in SCRIPTS:
        run(["bash", "-n", script], project)


@pytest.mark.parametrize("answers", params(PER_KIND))
def test_layout(render, answers):
    project = render(answers).path
    kind = event_kind(answers["trigger"])
    bootstrap = project / "runtime" / "bootstrap"
    assert bootstrap.read_text().startswith("#!/usr/bin/env bash\n")
    assert os.access(bootstrap, os.X_OK)
    assert (project / "tests" / "function_test.sh").read_text().startswith("#!/usr/bin/env bash\n")
    assert os.access(project / "tests" / "function_test.sh", os.X_OK)
    # The handler is sourced, not executed: no shebang, a shellcheck directive.
    assert (project / "function.sh").read_text().startswith("# shellcheck shell=bash\n")
    # The loop starts no process per invocation, and neither does the HTTP
    # sample: no curl and no jq in them (function_test.sh checks the answers
    # with jq). The SQS and schedule samples run one jq per invocation.
    def code(script):
        return [line for line in (project / script).read_text().splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in code("runtime/bootstrap") if "curl " in line or "jq " in line]
    jq_lines = [line for line in code("function.sh") if "jq " in line]
    assert not [line for line in code("function.sh") if "curl " in line]
    if kind == "http":
        assert not jq_lines
    else:
        assert [line for line in jq_lines if line.strip().startswith("output=$(jq -n -r ")] , jq_lines
    dockerfile = (project / "Dockerfile").read_text()
    runtime_stage = dockerfile[dockerfile.index("FROM public.ecr.aws/lambda/provided:al2023"):]
    assert "COPY --from=build /out/bootstrap ${LAMBDA_RUNTIME_DIR}/bootstrap" in runtime_stage
    assert "COPY --from=build /out/function.sh ${LAMBDA_TASK_ROOT}/" in runtime_stage
    assert 'CMD ["function.handler"]' in runtime_stage
    # bash and awk are in the base image; jq, for the samples that use it, is
    # installed from the image's own repository.
    installs = [line for line in runtime_stage.splitlines() if line.startswith("RUN ")]
    assert installs == ([] if kind == "http" else ["RUN dnf install -y jq && dnf clean all"])
    # The build stage runs the same build script as `mise run build:native`.
    build_stage = dockerfile[:dockerfile.index("FROM public.ecr.aws/lambda/provided:al2023")]
    assert "RUN scripts/build-bootstrap /out/bootstrap" in build_stage
    for path in ("!runtime/", "!function.sh", "!scripts/build-bootstrap"):
        assert path in (project / ".dockerignore").read_text().splitlines()


# How every sample function.sh begins: the runtime's contract, one text.
CONTRACT_END = "#         \"$HANDLER_DIR/my-program\"     # reads stdin, writes stdout\n#     }\n"


def test_same_runtime_for_every_architecture_and_trigger(render):
    """The runtime and the build script are one for every project; the
    sample handler, its tests and events are one per trigger, whatever the
    architecture; every sample states the runtime's contract in the same words."""
    def contents(answers, files):
        return tuple((render(answers).path / f).read_bytes() for f in files)

    runtime = ["runtime/bootstrap", "scripts/build-bootstrap"]
    assert len({contents(c, runtime) for c in CUSTOM_PAIRS}) == 1
    for trigger in {c["trigger"] for c in CUSTOM_PAIRS}:
        pairs = [c for c in CUSTOM_PAIRS if c["trigger"] == trigger]
        events = sorted(f"events/{p.name}" for p in (render(pairs[0]).path / "events").glob("*.json"))
        sample = ["function.sh", "tests/function_test.sh", *events]
        assert len(pairs) == 2 and len({contents(c, sample) for c in pairs}) == 1
    handlers = {event_kind(c["trigger"]): (render(c).path / "function.sh").read_text() for c in PER_KIND}
    assert set(handlers) == {"http", "sqs", "schedule"}
    contracts = {text[:text.index(CONTRACT_END) + len(CONTRACT_END)] for text in handlers.values()}
    assert len(contracts) == 1 and len(contracts.pop()) > 2000


def unit_test_lines(answers) -> list[str]:
    """The lines tests/function_test.sh prints for the shared cases of this trigger."""
    lines = []
    for case in CASES[event_kind(answers["trigger"])]:
        if "status" in case:
            lines.append(f"ok    {case['event']}: body.message")
        elif "error" in case:
            lines.append(f"ok    {case['event']}: error message")
        else:
            lines += [f"ok    {case['event']}: answer", f"ok    {case['event']}: logs"]
    return lines


@pytest.mark.parametrize("answers", params(PER_TRIGGER))
def test_handler_unit_tests(render, answers):
    project = render(answers).path
    result = run(["tests/function_test.sh"], project)
    assert "function_test: " in result.stdout and " 0 failed" in result.stdout, result.stdout
    assert "FAIL" not in result.stdout, result.stdout
    # Every shared case checked, from the event files.
    for line in unit_test_lines(answers):
        assert line in result.stdout.splitlines(), (line, result.stdout)


# Per sample: a change to the handler's answer (old, new text in function.sh)
# and the failure function_test.sh must then report.
WRONG_ANSWERS = {
    "http": ("'Goodbye, '", "'Bye, '",
             "FAIL  goodbye.json: body.message: expected [Goodbye, Chris], got [Bye, Chris]"),
    "sqs": ('select(.error)', 'select(.error | not)',
            'FAIL  batch.json: answer: expected [{"batchItemFailures":[{"itemIdentifier":'
            '"6b9d6a3e-4c1f-4a8e-9b0e-2f7c1d5e8a01"}]}], got [{"batchItemFailures":[{"itemIdentifier":'
            '"2e1424d4-f796-459a-8184-9c92662be6da"},{"itemIdentifier":"9f8e7d6c-5b4a-4321-8fed-cba987654321"}]}]'),
    "schedule": ('got detail-type \\(', 'detail-type was \\(',
                 'FAIL  not-scheduled.json: error message: expected [expected a Scheduled Event, got detail-type '
                 '"Object Created"], got [expected a Scheduled Event, detail-type was "Object Created"]'),
}


@pytest.mark.parametrize("answers", params(PER_KIND))
def test_handler_unit_tests_catch_a_wrong_answer(render, answers, tmp_path):
    old, new, failure = WRONG_ANSWERS[event_kind(answers["trigger"])]
    copy = copy_project(render(answers).path, tmp_path / "fn")
    handler = copy / "function.sh"
    assert handler.read_text().count(old) == 1, old
    handler.write_text(handler.read_text().replace(old, new))
    result = run(["tests/function_test.sh"], copy, check=False)
    assert result.returncode != 0
    assert failure in result.stdout.splitlines(), result.stdout


# --- the build script --------------------------------------------------------------------

def test_build_assembles_the_bootstrap_and_the_handler(project):
    build = project / "build"
    assert (build / "bootstrap").read_bytes() == (project / "runtime" / "bootstrap").read_bytes()
    assert (build / "function.sh").read_bytes() == (project / "function.sh").read_bytes()
    assert stat.S_IMODE((build / "bootstrap").stat().st_mode) == 0o755
    assert stat.S_IMODE((build / "function.sh").stat().st_mode) == 0o644


def test_build_fails_on_a_broken_handler(project, tmp_path):
    copy = copy_project(project, tmp_path / "fn")
    (copy / "function.sh").write_text("handler() {\n    echo unterminated\n")
    result = run(["scripts/build-bootstrap", "build/bootstrap"], copy, check=False)
    assert result.returncode != 0
    assert not (copy / "build" / "bootstrap").exists()


# --- under the Runtime Interface Emulator --------------------------------------------

def emulation_missing(architecture: str) -> str:
    """Why this machine cannot run the other architecture's programs, or ""."""
    if architecture == HOST_ARCH:
        return ""
    qemu = QEMU[architecture].removesuffix("-static")
    if not Path("/proc/sys/fs/binfmt_misc", qemu).exists():
        return (f"{qemu} is not registered in binfmt_misc here (script/bootstrap registers it where "
                f"the kernel lets it), so no {architecture} bash, awk or jq can run")
    if os.geteuid() != 0:
        return f"the {architecture} root file system is entered with chroot, which needs root"
    return ""


@pytest.fixture(scope="module")
def foreign_root(tmp_path_factory):
    """architecture -> a root file system of that CPU: the provided:al2023
    stand-in's Debian, with jq unpacked from the stand-in dnf's packages as
    the Dockerfile's `dnf install -y jq` does in the image."""
    roots = {}

    def _root(architecture: str) -> Path:
        if architecture not in roots:
            root = tmp_path_factory.mktemp(f"rootfs-{architecture}")
            run(["tar", "-C", str(root), "-xf", str(standin_images.rootfs(GOARCH[architecture]))], root)
            for deb in sorted((root / "opt" / "standin-dnf" / "jq").glob("*.deb")):
                run(["dpkg-deb", "-x", str(deb), str(root)], root)
            (root / "var" / "runtime").mkdir(parents=True, exist_ok=True)
            roots[architecture] = root
        return roots[architecture]

    yield _root
    for root in roots.values():  # a few hundred MB each
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("answers", params(CUSTOM_PAIRS))
def test_answers_the_shared_cases_under_the_emulator(built, foreign_root, answers, tmp_path):
    missing = emulation_missing(answers["architecture"])
    if missing:
        pytest.skip(missing)
    project = built(answers)
    if answers["architecture"] == HOST_ARCH:
        # LAMBDA_TASK_ROOT unset: the bootstrap finds build/function.sh in its own folder.
        command, env = ["build/bootstrap"], scratch(tmp_path)
    else:
        # Laid out as in the image; every program the runtime starts is this CPU's.
        root = foreign_root(answers["architecture"])
        task = root / "var" / "task" / answers["trigger"]
        task.mkdir(parents=True)
        shutil.copy2(project / "build" / "bootstrap", root / "var" / "runtime" / "bootstrap")
        shutil.copy2(project / "build" / "function.sh", task / "function.sh")
        # The emulator takes a last argument as the handler (_HANDLER), as the
        # image's entrypoint gives it: function.handler.
        command = [shutil.which("chroot"), str(root), "/var/runtime/bootstrap", "function.handler"]
        env = {"LAMBDA_TASK_ROOT": f"/var/task/{answers['trigger']}", "PATH": "/usr/local/bin:/usr/bin:/bin",
               "TMPDIR": "/tmp"}
        assert run([shutil.which("chroot"), str(root), "uname", "-m"], root).stdout.strip() == \
            ARCHITECTURES[answers["architecture"]]["cpu"]
    with emulator(command, project, env=env) as port:
        assert_cases(port, project / "events")
        if event_kind(answers["trigger"]) == "http":
            # Not even JSON: still the function's 400, never a runtime error.
            status, answer = post(port, b"this is not JSON")
            assert (status, answer["statusCode"], message(answer)) == (200, 400, "Bad request")
        else:
            # Not even JSON: the invocation fails, and the loop goes on.
            status, answer = post(port, b"this is not JSON")
            assert answer["errorType"] == "Function.NonZeroExit" and answer["errorMessage"], answer
            for case in CASES[event_kind(answers["trigger"])][:1]:
                assert_case(case, post(port, event(case["event"], project))[1])
    if answers["architecture"] == HOST_ARCH:
        # With a tiny timeout (SQS): every message reported, none processed.
        assert_near_deadline_cases(command, project, env=env)


FAILING_HANDLER = r'''
# The test's handler: fails for GET /goodbye, the sample's answer otherwise.
handler() {
    event=$(cat)
    if [ "$(printf '%s' "$event" | jq -r '.rawPath? // empty' 2>/dev/null)" = /goodbye ]; then
        echo "about to fail" >&2
        echo "boom: goodbye is broken" >&2
        exit 1
    fi
    printf '%s' "$event" | sample_handler
}
'''


def test_a_failing_invocation_is_a_lambda_error_and_the_next_one_works(project, tmp_path):
    copy = copy_project(project, tmp_path / "fn")
    handler = copy / "function.sh"
    sample = handler.read_text()
    assert sample.count("\nhandler() {") == 1
    handler.write_text(sample.replace("\nhandler() {", "\nsample_handler() {") + FAILING_HANDLER)
    run(["scripts/build-bootstrap", "build/bootstrap"], copy)

    with emulator(["build/bootstrap"], copy, env=scratch(tmp_path / "tmp")) as port:
        for _ in range(2):  # every case, twice: failures never stop the loop
            for case in CASES["http"]:
                status, answer = post(port, event(case["event"], copy))
                if case["event"] == "goodbye.json":
                    # The errorMessage is the handler's last stderr line.
                    assert answer == {"errorType": "Function.NonZeroExit", "errorMessage": "boom: goodbye is broken"}
                    assert status == 200  # the emulator's status for an invocation error
                else:
                    assert answer["statusCode"] == case["status"], (case, answer)
                    assert message(answer) == case["message"], (case, answer)
    # The handler's stderr went to the function's logs.
    logs = "".join(p.read_text() for p in (copy / "build").glob("rie-*.log"))
    assert "about to fail" in logs and "boom: goodbye is broken" in logs
    assert "invocation" in logs
    assert "failed: Handler 'function.handler' exited with status 1: boom: goodbye is broken" in logs


LEVELS_HANDLER = r"""
# The test's handler: a line at each level, plain and as JSON, then fails
# for GET /goodbye.
handler() {
    event=$(cat)
    echo "TRACE: a trace line" >&2
    echo "DEBUG: a debug line" >&2
    printf '%s\n' 'an info line, "quoted" \ with a backslash and a	tab' >&2
    echo "WARN: a warning" >&2
    echo '{"level":"debug","msg":"a JSON debug line"}' >&2
    echo '{"level":"error","msg":"a JSON error line"}' >&2
    if [ "$(printf '%s' "$event" | jq -r '.rawPath? // empty' 2>/dev/null)" = /goodbye ]; then
        echo "ERROR: goodbye is broken" >&2
        exit 1
    fi
    printf '%s' "$event" | sample_handler
}
"""
# The emulator's own lines in its log (the rest is the function's).
RIE_LINE = re.compile(r"^(\d\d \w{3} \d{4} |(START|END|REPORT|INIT_START) RequestId|START RequestId|INIT_REPORT)")


@pytest.mark.parametrize("log_format", ["JSON", "Text"])
def test_log_lines_follow_the_log_format_and_level(project, tmp_path, log_format):
    """AWS_LAMBDA_LOG_FORMAT=JSON (the IaC's): every line the function logs
    is one JSON object with Lambda's fields, the level's prefix taken off,
    and the levels below AWS_LAMBDA_LOG_LEVEL dropped. Text: every line as
    the handler wrote it. Either way the errorMessage is the last line
    without its level."""
    copy = copy_project(project, tmp_path / "fn")
    handler = copy / "function.sh"
    handler.write_text(handler.read_text().replace("\nhandler() {", "\nsample_handler() {") + LEVELS_HANDLER)
    run(["scripts/build-bootstrap", "build/bootstrap"], copy)
    env = {**scratch(tmp_path / "tmp"), "AWS_LAMBDA_LOG_FORMAT": log_format, "AWS_LAMBDA_LOG_LEVEL": "INFO"}
    with emulator(["build/bootstrap"], copy, env=env) as port:
        status, hello = post(port, event("hello.json", copy))
        assert (status, message(hello)) == (200, "Hello, Chris"), hello
        _, failed = post(port, event("goodbye.json", copy))
        assert failed == {"errorType": "Function.NonZeroExit", "errorMessage": "goodbye is broken"}
    (log,) = (copy / "build").glob("rie-*.log")
    lines = [line for line in log.read_text().splitlines() if line.strip() and not RIE_LINE.match(line)]
    if log_format == "Text":
        for line in ["TRACE: a trace line", "DEBUG: a debug line", "WARN: a warning", "ERROR: goodbye is broken",
                     '{"level":"debug","msg":"a JSON debug line"}']:
            assert line in lines, (line, lines)
        assert any(line.startswith("bootstrap: invocation ") for line in lines), lines
        return
    records = [json.loads(line) for line in lines]  # every line is JSON
    assert all(isinstance(r, dict) for r in records), records
    written = [r for r in records if "message" in r]
    for r in written:
        assert set(r) == {"timestamp", "level", "message", "requestId"}, r
        time.strptime(r["timestamp"], "%Y-%m-%dT%H:%M:%SZ")
    # Two invocations, two request ids; the bootstrap's own line is an ERROR.
    assert len({r["requestId"] for r in written}) == 2, written
    got = [(r["level"], r["message"]) for r in written]
    assert got[:2] == [("INFO", 'an info line, "quoted" \\ with a backslash and a\ttab'), ("WARN", "a warning")], got
    assert ("ERROR", "goodbye is broken") in got, got
    assert any(level == "ERROR" and text.startswith("bootstrap: invocation ") for level, text in got), got
    assert not [r for r in written if r["level"] in ("TRACE", "DEBUG")], "below INFO: dropped"
    # A JSON line goes out as written, kept or dropped by its own level.
    assert {"level": "error", "msg": "a JSON error line"} in records
    assert {"level": "debug", "msg": "a JSON debug line"} not in records


PROGRAM = r'''#!/usr/bin/env python3
"""Another language's program behind the shell handler: stdin in, stdout out."""
import json, os, sys
event = json.load(sys.stdin)
if event.get("fail"):
    print("the program gives up", file=sys.stderr)
    sys.exit(3)
json.dump({"language": "python", "path": event.get("rawPath"),
           "requestId": os.environ["LAMBDA_RUNTIME_AWS_REQUEST_ID"],
           "handlerDir": os.environ.get("PROGRAM_DIR")}, sys.stdout)
'''


def test_a_program_in_the_task_root_behind_the_handler(project, tmp_path):
    """README's swap: the handler runs a program from LAMBDA_TASK_ROOT, which
    wins over the function.sh next to the bootstrap."""
    task = tmp_path / "task"
    task.mkdir()
    (task / "my-program").write_text(PROGRAM)
    (task / "my-program").chmod(0o755)
    (task / "function.sh").write_text(
        '# shellcheck shell=sh\nhandler() {\n    PROGRAM_DIR=$HANDLER_DIR "$HANDLER_DIR/my-program"\n}\n')
    run(["shellcheck", "-s", "sh", "function.sh"], task)
    env = {**scratch(tmp_path / "tmp"), "LAMBDA_TASK_ROOT": str(task)}
    with emulator([str(project / "build" / "bootstrap")], project, env=env) as port:
        status, answer = post(port, event("hello.json", project), {"X-Amzn-RequestId": "request-1"})
        assert (status, answer) == (200, {"language": "python", "path": "/hello",
                                          "requestId": "request-1", "handlerDir": str(task)})
        status, answer = post(port, b'{"fail": true}')
        assert answer == {"errorType": "Function.NonZeroExit", "errorMessage": "the program gives up"}
        status, answer = post(port, event("goodbye.json", project))
        assert answer["path"] == "/goodbye"


# (name, files in the task root, extra environment, errorType, text in errorMessage)
INIT_ERRORS = [
    ("handler-file-missing", {}, {}, "Runtime.ImportModuleError", "function.sh not found in"),
    ("function-missing", {"function.sh": "other() { :; }\n"}, {}, "Runtime.HandlerNotFound",
     "does not define a shell function 'handler'"),
    ("syntax-error", {"function.sh": "handler() {\n"}, {}, "Runtime.ImportModuleError", "Unable to load"),
    ("exit-at-top-level", {"function.sh": "exit 4\nhandler() { :; }\n"}, {}, "Runtime.ImportModuleError",
     "Unable to load"),
    ("failing-command-under-set-e", {"function.sh": "set -e\nfalse\nhandler() { :; }\n"}, {},
     "Runtime.ImportModuleError", "Unable to load"),
    ("last-stderr-line-names-the-error", {"function.sh": "echo 'CONFIG_URL is not set' >&2\nexit 3\n"}, {},
     "Runtime.ImportModuleError", ": CONFIG_URL is not set"),
    ("malformed-handler-name", {"function.sh": "handler() { :; }\n"}, {"_HANDLER": "function"},
     "Runtime.MalformedHandlerName", "expected 'file.function'"),
]


@pytest.mark.parametrize("name,files,extra,error_type,text", INIT_ERRORS, ids=[e[0] for e in INIT_ERRORS])
def test_init_errors_answer_an_error(project, tmp_path, name, files, extra, error_type, text):
    # The bootstrap alone in its folder, the task root as the case says.
    runtime, task = tmp_path / "runtime", tmp_path / "task"
    runtime.mkdir()
    task.mkdir()
    shutil.copy2(project / "build" / "bootstrap", runtime / "bootstrap")
    for file, content in files.items():
        (task / file).write_text(content)
    env = {**scratch(tmp_path / "tmp"), "LAMBDA_TASK_ROOT": str(task), **extra}
    with emulator([str(runtime / "bootstrap")], tmp_path, env=env) as port:
        for _ in range(2):  # the next invocation runs init again, and fails again
            status, answer = post(port, event("hello.json", project))
            assert status == 502, answer
            assert set(answer) == {"errorType", "errorMessage"}, answer
            assert answer["errorType"] == error_type, answer
            assert text in answer["errorMessage"], answer


@pytest.mark.parametrize("answers", params([c for c in PER_KIND if event_kind(c["trigger"]) != "http"]))
def test_a_sample_without_jq_is_an_init_error_that_says_so(built, answers, tmp_path):
    """The SQS and schedule samples need jq: where it is missing (an image
    without the Dockerfile's `dnf install`) the function does not start, and
    the error names what is missing, instead of failing every invocation."""
    project = built(answers)
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("bash", "awk", "mktemp", "rm", "cat", "wc"):
        (tools / tool).symlink_to(shutil.which(tool))
    env = {**scratch(tmp_path / "tmp"), "PATH": str(tools)}
    with emulator([str(project / "build" / "bootstrap")], project, env=env) as port:
        status, answer = post(port, event(CASES[event_kind(answers["trigger"])][0]["event"], project))
    assert status == 502, answer
    assert answer["errorType"] == "Runtime.ImportModuleError", answer
    assert answer["errorMessage"].endswith(
        ": jq not found: the handler needs it (the Dockerfile installs it: dnf install -y jq)"), answer


# --- what the emulator does not show: exact requests to the Runtime API ----------

TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


class FakeRuntimeAPI(BaseHTTPRequestHandler):
    """Serves the events in `server.events` one per /next (header names in odd
    letter case, with a trace id, which the emulator never sends), records
    every POST, then answers 500 so that the bootstrap exits."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        server = self.server
        if self.path != "/2018-06-01/runtime/invocation/next" or not server.events:
            self.send_response(500)
            self.end_headers()
            return
        body = server.events.pop(0)
        server.served += 1
        self.send_response(200)
        self.send_header("lambda-runtime-aws-request-id", f"req-{server.served}")
        self.send_header("LAMBDA-RUNTIME-TRACE-ID", TRACE)
        self.send_header("Lambda-Runtime-Deadline-Ms", "1795795200000")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.posts.append({
            "path": self.path,
            "contentType": self.headers.get("Content-Type"),
            "errorType": self.headers.get("Lambda-Runtime-Function-Error-Type"),
            "body": json.loads(body),
        })
        self.send_response(202)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


def test_requests_to_the_runtime_api(project, tmp_path):
    task = tmp_path / "task"
    task.mkdir()
    (task / "function.sh").write_text(
        'handler() {\n'
        '    case $(jq -r .fail) in\n'
        '        true) echo "first" >&2; printf "boom" >&2; exit 1 ;;\n'
        '        quiet) echo "  " >&2; exit 7 ;;\n'
        '    esac\n'
        '    jq -cn --arg trace "${_X_AMZN_TRACE_ID:-}" --arg deadline "$LAMBDA_RUNTIME_DEADLINE_MS" \\\n'
        '        \'{trace: $trace, deadline: $deadline}\'\n'
        '}\n')
    # Port 0: the kernel picks it and the server holds it from then on, so nothing can take it first.
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeRuntimeAPI)
    server.events = [b'{"fail": false}', b'{"fail": true}', b'{"fail": "quiet"}', b'{"fail": false}']
    server.served, server.posts = 0, []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = {**os.environ, **scratch(tmp_path / "tmp"), "LAMBDA_TASK_ROOT": str(task),
               "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}"}
        proc = subprocess.run([str(project / "build" / "bootstrap")], env=env,
                              capture_output=True, text=True, timeout=60)
    finally:
        server.shutdown()
        server.server_close()
    # /next failing means the Runtime API is gone: the bootstrap exits 1.
    assert proc.returncode == 1, proc.stderr
    ok = {"contentType": "application/json", "errorType": None,
          "body": {"trace": TRACE, "deadline": "1795795200000"}}
    assert server.posts == [
        {"path": "/2018-06-01/runtime/invocation/req-1/response", **ok},
        {"path": "/2018-06-01/runtime/invocation/req-2/error", "contentType": "application/json",
         "errorType": "Function.NonZeroExit",
         "body": {"errorMessage": "boom", "errorType": "Function.NonZeroExit"}},
        # Nothing but blanks on stderr: the errorMessage says what failed.
        {"path": "/2018-06-01/runtime/invocation/req-3/error", "contentType": "application/json",
         "errorType": "Function.NonZeroExit",
         "body": {"errorMessage": "Handler 'function.handler' exited with status 7",
                  "errorType": "Function.NonZeroExit"}},
        {"path": "/2018-06-01/runtime/invocation/req-4/response", **ok},
    ]
    # The EXIT trap removed the bootstrap's private temp folder.
    assert list((tmp_path / "tmp").iterdir()) == []


# --- load once, large and binary bodies ------------------------------------------------

def test_the_handler_file_is_loaded_once(project, tmp_path):
    """Top-level code is one-time setup: it runs once per cold start, not
    once more for a trial load, and its stderr reaches the logs."""
    task = tmp_path / "task"
    task.mkdir()
    loads = tmp_path / "loads"
    (task / "function.sh").write_text(
        f'echo "loaded" >>"{loads}"\necho "setting up" >&2\nhandler() {{ cat; }}\n')
    env = {**scratch(tmp_path / "tmp"), "LAMBDA_TASK_ROOT": str(task)}
    with emulator([str(project / "build" / "bootstrap")], project, env=env) as port:
        for i in range(3):
            assert post(port, b'{"n": %d}' % i) == (200, {"n": i})
    assert loads.read_text() == "loaded\n"
    assert "setting up" in "".join(p.read_text() for p in (project / "build").glob("rie-*.log"))



def test_the_handler_sees_the_client_context_and_the_cognito_identity(project, tmp_path):
    """Lambda-Runtime-Client-Context and Lambda-Runtime-Cognito-Identity reach
    the handler as LAMBDA_RUNTIME_CLIENT_CONTEXT and
    LAMBDA_RUNTIME_COGNITO_IDENTITY, as the README says, and are unset for the
    next invocation without them. The emulator makes them from the Invoke
    API's X-Amz-Client-Context (base64) and X-Amz-Cognito-Identity headers."""
    task = tmp_path / "task"
    task.mkdir()
    (task / "function.sh").write_text(
        'handler() {\n'
        '    cat >/dev/null\n'
        '    jq -cn --arg context "${LAMBDA_RUNTIME_CLIENT_CONTEXT-unset}" \\\n'
        '        --arg identity "${LAMBDA_RUNTIME_COGNITO_IDENTITY-unset}" \\\n'
        '        \'{context: $context, identity: $identity}\'\n'
        '}\n')
    context = {"client": {"installation_id": "i-1", "app_title": "Orders \"beta\""},
               "custom": {"tier": "gold"}, "env": {"platform": "Android"}}
    identity = {"cognitoIdentityId": "us-east-1:11111111-2222-3333-4444-555555555555",
                "cognitoIdentityPoolId": "us-east-1:66666666-7777-8888-9999-000000000000"}
    headers = {"X-Amz-Client-Context": base64.b64encode(json.dumps(context).encode()).decode(),
               "X-Amz-Cognito-Identity": json.dumps(identity)}
    env = {**scratch(tmp_path / "tmp"), "LAMBDA_TASK_ROOT": str(task)}
    with emulator([str(project / "build" / "bootstrap")], project, env=env) as port:
        status, answer = post(port, b"{}", headers)
        assert status == 200, answer
        assert json.loads(answer["context"]) == context, answer
        assert json.loads(answer["identity"]) == identity, answer
        assert post(port, b"{}") == (200, {"context": "unset", "identity": "unset"})


# Echoes the event, or, for request ids that say so, leaves it unread or
# answers more than Lambda's 6 MB.
ECHO_HANDLER = """# shellcheck shell=bash
handler() {
    case $LAMBDA_RUNTIME_AWS_REQUEST_ID in
        ignore-*) echo '{"ignored":true}' ;;
        too-large-*) head -c 7000000 /dev/zero | tr '\\0' x ;;
        *) cat ;;
    esac
}
"""


def raw_post(port: int, body: bytes, request_id: str) -> bytes:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{INVOKE_PATH}", data=body, method="POST",
                                 headers={"X-Amzn-RequestId": request_id})
    with urllib.request.urlopen(req, timeout=120) as resp:
        return resp.read()


def test_large_and_binary_bodies_pass_byte_for_byte(project, tmp_path):
    """Events and responses go through the loop unchanged: 6 MB (Lambda's
    limit), every byte value including NUL, trailing newlines; a handler that
    leaves a 6 MB event unread does not stall the next invocation, and one
    that answers too much gets the Runtime API's refusal as its error."""
    task = tmp_path / "task"
    task.mkdir()
    (task / "function.sh").write_text(ECHO_HANDLER)
    run(["shellcheck", "function.sh"], task)
    six_mb = b'{"pad":"' + b"x" * (6 * 1024 * 1024 - 10) + b'"}'
    assert len(six_mb) == 6 * 1024 * 1024
    binary = bytes(range(256)) * 64
    env = {**scratch(tmp_path / "tmp"), "LAMBDA_TASK_ROOT": str(task)}
    with emulator([str(project / "build" / "bootstrap")], project, env=env) as port:
        assert raw_post(port, six_mb, "big-1") == six_mb
        assert raw_post(port, binary, "binary-1") == binary
        assert raw_post(port, b'{"a": "\xc3\xa9"}\n\n', "newlines-1") == b'{"a": "\xc3\xa9"}\n\n'
        assert json.loads(raw_post(port, six_mb, "ignore-1")) == {"ignored": True}
        assert raw_post(port, b'{"after": "ignored"}', "small-1") == b'{"after": "ignored"}'
        assert raw_post(port, six_mb, "big-2") == six_mb
        error = json.loads(raw_post(port, b"{}", "too-large-1"))
        assert error["errorType"] == "Function.ResponseSizeTooLarge", error
        assert raw_post(port, binary, "binary-2") == binary
