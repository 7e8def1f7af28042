"""Custom-runtime projects: the bash bootstrap speaks the Lambda Runtime API
(HTTP over bash's /dev/tcp, no curl) under the emulator, answers the shared
cases, turns a failing handler into a Lambda error and goes on serving, reports
init errors, loads the handler file once, passes 6 MB and binary events and
responses byte for byte, and runs a program in another language through the
handler."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import CASES, MATRIX, assert_cases, emulator, free_port, language_arch_pairs, run

CUSTOM = [c for c in MATRIX if c["language"] == "custom"]

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

def test_shellcheck_and_parse(project):
    # All three are bash: ShellCheck takes the dialect from the #! line or the
    # `# shellcheck shell=bash` directive, and must not be told otherwise.
    run(["shellcheck", *SCRIPTS], project)
    for script in SCRIPTS:
        run(["bash", "-n", script], project)


def test_layout(project):
    bootstrap = project / "runtime" / "bootstrap"
    assert bootstrap.read_text().startswith("#!/usr/bin/env bash\n")
    assert os.access(bootstrap, os.X_OK)
    assert (project / "tests" / "function_test.sh").read_text().startswith("#!/usr/bin/env bash\n")
    # The handler is sourced, not executed: no shebang, a shellcheck directive.
    assert (project / "function.sh").read_text().startswith("# shellcheck shell=bash\n")
    # Neither the loop nor the sample starts a process per invocation: no curl
    # and no jq in them (function_test.sh checks the answers with jq).
    for script in ("runtime/bootstrap", "function.sh"):
        code = [line for line in (project / script).read_text().splitlines() if not line.lstrip().startswith("#")]
        assert not [line for line in code if "curl " in line or "jq " in line], script
    dockerfile = (project / "Dockerfile").read_text()
    runtime_stage = dockerfile[dockerfile.index("FROM public.ecr.aws/lambda/provided:al2023"):]
    assert "COPY --from=build /out/bootstrap ${LAMBDA_RUNTIME_DIR}/bootstrap" in runtime_stage
    assert "COPY --from=build /out/function.sh ${LAMBDA_TASK_ROOT}/" in runtime_stage
    assert 'CMD ["function.handler"]' in runtime_stage
    # bash and awk are in the base image: nothing to install.
    assert not [line for line in runtime_stage.splitlines() if line.startswith("RUN ")]
    # The build stage runs the same build script as `mise run build:native`.
    build_stage = dockerfile[:dockerfile.index("FROM public.ecr.aws/lambda/provided:al2023")]
    assert "RUN scripts/build-bootstrap /out/bootstrap" in build_stage
    for path in ("!runtime/", "!function.sh", "!scripts/build-bootstrap"):
        assert path in (project / ".dockerignore").read_text().splitlines()


def test_same_runtime_for_every_architecture(render):
    files = ["runtime/bootstrap", "function.sh", "scripts/build-bootstrap", "tests/function_test.sh"]
    pairs = [c for c in language_arch_pairs() if c["language"] == "custom"]
    contents = {tuple((render(c).path / f).read_bytes() for f in files) for c in pairs}
    assert len(pairs) > 1 and len(contents) == 1


def test_handler_unit_tests(project):
    result = run(["tests/function_test.sh"], project)
    assert "function_test: " in result.stdout and " 0 failed" in result.stdout, result.stdout
    # One row per shared case, and every one checked.
    for case in CASES["http"]:
        assert f"ok    {case['event']}: body.message" in result.stdout, case


def test_handler_unit_tests_catch_a_wrong_answer(project, tmp_path):
    copy = copy_project(project, tmp_path / "fn")
    handler = copy / "function.sh"
    assert handler.read_text().count("'Goodbye, '") == 1
    handler.write_text(handler.read_text().replace("'Goodbye, '", "'Bye, '"))
    result = run(["tests/function_test.sh"], copy, check=False)
    assert result.returncode != 0
    assert "FAIL  goodbye.json: body.message: expected [Goodbye, Chris], got [Bye, Chris]" in result.stdout


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

def test_answers_the_shared_cases_under_the_emulator(project, tmp_path):
    # LAMBDA_TASK_ROOT unset: the bootstrap finds build/function.sh in its own folder.
    with emulator(["build/bootstrap"], project, env=scratch(tmp_path)) as port:
        assert_cases(port, project / "events")
        # Not even JSON: still the function's 400, never a runtime error.
        status, answer = post(port, b"this is not JSON")
        assert (status, answer["statusCode"], message(answer)) == (200, 400, "Bad request")


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
                    assert answer == {
                        "errorType": "Function.NonZeroExit",
                        "errorMessage": "Handler 'function.handler' exited with status 1: boom: goodbye is broken",
                    }
                    assert status == 200  # the emulator's status for an invocation error
                else:
                    assert answer["statusCode"] == case["status"], (case, answer)
                    assert message(answer) == case["message"], (case, answer)
    # The handler's stderr went to the function's logs.
    logs = "".join(p.read_text() for p in (copy / "build").glob("rie-*.log"))
    assert "about to fail" in logs and "boom: goodbye is broken" in logs
    assert "invocation" in logs and "failed: Handler 'function.handler' exited with status 1" in logs


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
        assert answer == {"errorType": "Function.NonZeroExit",
                          "errorMessage": "Handler 'function.handler' exited with status 3: the program gives up"}
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
        '    if [ "$(jq -r .fail)" = true ]; then echo "first" >&2; printf "boom" >&2; exit 1; fi\n'
        '    jq -cn --arg trace "${_X_AMZN_TRACE_ID:-}" --arg deadline "$LAMBDA_RUNTIME_DEADLINE_MS" \\\n'
        '        \'{trace: $trace, deadline: $deadline}\'\n'
        '}\n')
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), FakeRuntimeAPI)
    server.events = [b'{"fail": false}', b'{"fail": true}', b'{"fail": false}']
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
         "body": {"errorMessage": "Handler 'function.handler' exited with status 1: boom",
                  "errorType": "Function.NonZeroExit"}},
        {"path": "/2018-06-01/runtime/invocation/req-3/response", **ok},
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
