"""`mise run serve`: real HTTP on localhost for the HTTP API and Function URL
triggers, in every language, without a container engine.

- Each request becomes a payload format 2.0 event as the service builds it
  (AWS's documented format, field by field: one table of requests below),
  and the function's result becomes the HTTP response as the service maps
  it: a custom-runtime handler that records its events and answers what the
  request asks for stands in for the function's code (the real handlers are
  checked too, in every language).
- The HTTP API answers a request no route matches with its own 404 without
  calling the function, routed by copier.yml's http_routes (the IaC's).
- Concurrent requests all get their answer.
- A saved change is rebuilt and served; a failed build keeps the last good
  one serving and shows the compiler's error.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
import yaml

from conftest import (CARGO_TARGET_DIR, COPIER, HOST_ARCH, MATRIX, bootstrap_builder, choice_values, mise_env,
                      params, reserve, rie_path, run, wait_for_port)

HTTP_TRIGGERS = ["http-api", "function-url"]
ROUTES = yaml.safe_load(COPIER["http_routes"]["default"])  # the IaC's routes


def combination(language: str, trigger: str) -> dict:
    """A project of this language and trigger whose bootstrap runs here."""
    return next(c for c in MATRIX if (c["language"], c["trigger"], c["architecture"]) == (language, trigger, HOST_ARCH))


@pytest.fixture(scope="module")
def env():
    rie_dir = str(Path(rie_path()).parent)
    return {**mise_env(Path("/")), "PATH": f"{rie_dir}{os.pathsep}{os.environ['PATH']}",
            "CARGO_TARGET_DIR": str(CARGO_TARGET_DIR)}


@pytest.fixture(scope="module")
def built(render):
    return bootstrap_builder(render, lambda architecture: {"CARGO_TARGET_DIR": str(CARGO_TARGET_DIR)})


@contextmanager
def serving(project: Path, env: dict, *args: str):
    """`mise run serve` (the bootstrap already built) on a reserved port;
    yields (base URL, log path)."""
    (port,) = reserve()
    log_path = project / "build" / f"serve-{port}.log"
    log_path.parent.mkdir(exist_ok=True)
    with open(log_path, "w") as log:
        server = subprocess.Popen(["mise", "run", "--skip-deps", "serve", "--port", str(port), *args],
                                  cwd=project, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        try:
            wait_for_port(port, server, timeout=300)
            yield f"http://127.0.0.1:{port}", log_path
        finally:
            with suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=15)


def request(url: str, method: str = "GET", body: bytes | None = None, headers: list | None = None):
    """(status, headers as a list of (name, value), body); repeated headers kept."""
    import http.client
    from urllib.parse import urlsplit
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        conn.putrequest(method, parts.path + (f"?{parts.query}" if parts.query else ""), skip_accept_encoding=True)
        for name, value in headers or []:
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, resp.getheaders(), resp.read()
    finally:
        conn.close()


# --- the event and the response mapping, with a recording handler -------------

# Records each event (one JSON line in $EVENT_LOG, which reaches the function
# from the project's .env) and answers as the query string asks.
RECORDING_HANDLER = r"""# shellcheck shell=bash
handler() {
  local event
  event=$(cat)
  printf '%s\n' "$event" >>"$EVENT_LOG"
  case $event in
  *'"rawQueryString":"respond=fail"'*) echo "failing as asked" >&2; return 1 ;;
  *'"rawQueryString":"respond=bare"'*) printf '{"hello":"world"}' ;;
  *'"rawQueryString":"respond=sleep"'*) sleep 3 ;;
  *'"rawQueryString":"respond=config"'*)
    printf '{"memory":"%s","timeout":"%s","greeting":"%s"}' \
      "$AWS_LAMBDA_FUNCTION_MEMORY_SIZE" "$AWS_LAMBDA_FUNCTION_TIMEOUT" "$GREETING" ;;
  *'"rawQueryString":"respond=full"'*)
    printf '%s%s' '{"statusCode":201,"headers":{"x-answer":"full","content-type":"text/plain"},' \
      '"cookies":["c=1; Path=/","d=2"],"body":"aGkgdGhlcmU=","isBase64Encoded":true}' ;;
  *) printf '%s' '{"statusCode":200,"headers":{"content-type":"text/plain"},"body":"recorded"}' ;;
  esac
}
"""

# (what is asked, the request, what the event holds: dotted paths -> values,
#  None = absent). The HTTP API's routes are GET /hello and GET /goodbye.
EVENT_CASES = [
    ("query string: raw, and repeated keys joined by commas",
     dict(path="/hello?name=Ada&name=Bob&q=a%20b"),
     {"rawPath": "/hello", "rawQueryString": "name=Ada&name=Bob&q=a%20b",
      "queryStringParameters": {"name": "Ada,Bob", "q": "a b"}, "body": None, "cookies": None}),
    ("no query string: no queryStringParameters",
     dict(path="/hello"),
     {"rawQueryString": "", "queryStringParameters": None}),
    ("headers lowercased, duplicates joined by commas; cookies an array",
     dict(path="/goodbye", headers=[("X-Multi", "a"), ("X-Multi", "b"), ("User-Agent", "serve-test/1.0"),
                                    ("Cookie", "a=1; b=2"), ("Cookie", "c=3")]),
     {"headers.x-multi": "a,b", "headers.user-agent": "serve-test/1.0", "headers.cookie": None,
      "cookies": ["a=1", "b=2", "c=3"], "requestContext.http.userAgent": "serve-test/1.0"}),
    ("a text body as it is",
     dict(path="/hello", body=b'{"name":"Ada"}', headers=[("Content-Type", "application/json")]),
     {"body": '{"name":"Ada"}', "isBase64Encoded": False}),
    ("a binary body base64-encoded",
     dict(path="/hello", body=bytes(range(256)), headers=[("Content-Type", "application/octet-stream")]),
     {"body": base64.b64encode(bytes(range(256))).decode(), "isBase64Encoded": True}),
]


def dig(event: dict, dotted: str):
    node = event
    for key in re.split(r"\.(?=[a-zA-Z])", dotted) if not dotted.startswith("headers.") else ["headers", dotted[8:]]:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


@pytest.fixture(scope="module", params=HTTP_TRIGGERS)
def recording(request, render, env, tmp_path_factory):
    """A custom project of the trigger with the recording handler, served."""
    trigger = request.param
    # Answered timeout and memory, which serve applies as Lambda does.
    source = render({**combination("custom", trigger), "timeout": 1, "memory_size": 256}).path
    project = tmp_path_factory.mktemp(f"serve-{trigger}") / "project"
    run(["cp", "-a", str(source), str(project)], project.parent)
    (project / "function.sh").write_text(RECORDING_HANDLER)
    events = project.parent / "events.jsonl"
    events.touch()
    # The function's environment from the git-ignored .env.
    (project / ".env").write_text(f"# local settings\nEVENT_LOG={events}\nGREETING=from .env\n")
    run(["scripts/build-bootstrap", "build/bootstrap"], project)
    with serving(project, env, "--no-watch") as (url, log):
        yield trigger, url, events, log


def last_event(events: Path) -> dict:
    return json.loads(events.read_text().splitlines()[-1])


@pytest.mark.parametrize("case", EVENT_CASES, ids=[c[0] for c in EVENT_CASES])
def test_serve_builds_the_event_as_aws_does(recording, case):
    trigger, url, events, _ = recording
    _, req, expected = case
    before = time.time()
    status, _, body = request(url + req["path"], method="GET", body=req.get("body"), headers=req.get("headers"))
    assert (status, body) == (200, b"recorded")
    event = last_event(events)
    path = req["path"].split("?")[0]
    route_key = f"GET {path}" if trigger == "http-api" else "$default"
    context = event["requestContext"]
    # The fields every event has, per payload format 2.0.
    assert event["version"] == "2.0"
    assert event["routeKey"] == context["routeKey"] == route_key
    assert context["http"] == {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                               "userAgent": event["headers"].get("user-agent", "")}
    assert context["stage"] == "$default"
    assert before * 1000 - 1000 <= context["timeEpoch"] <= time.time() * 1000 + 1000
    assert time.strptime(context["time"], "%d/%b/%Y:%H:%M:%S +0000")
    region = os.environ.get("AWS_REGION") or COPIER["aws_region"]["default"]
    if trigger == "http-api":
        assert re.fullmatch(r"[a-z0-9]{10}", context["apiId"])
        assert context["domainName"] == f"{context['apiId']}.execute-api.{region}.amazonaws.com"
        assert re.fullmatch(r"[A-Za-z0-9+/]{15}[A-Za-z0-9+/=]", context["requestId"]), context["requestId"]
        assert re.fullmatch(r"\d{12}", context["accountId"])
    else:
        assert re.fullmatch(r"[a-z0-9]{32}", context["apiId"])
        assert context["domainName"] == f"{context['apiId']}.lambda-url.{region}.on.aws"
        uuid4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
        assert re.fullmatch(uuid4, context["requestId"])
        assert context["accountId"] == "anonymous"  # AuthType NONE's; serve checks no signature
    assert context["domainPrefix"] == context["apiId"]
    assert event["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert event["headers"]["x-forwarded-proto"] == "http"
    assert event["headers"]["x-amzn-trace-id"].startswith("Root=1-")
    assert all(name == name.lower() for name in event["headers"])
    for dotted, value in expected.items():
        assert dig(event, dotted) == value, (dotted, event)
    if "body" not in expected or expected["body"] is None:
        assert event["isBase64Encoded"] is False


def test_serve_gives_each_request_a_fresh_id(recording):
    _, url, events, _ = recording
    ids = set()
    for _ in range(3):
        request(url + "/hello")
        ids.add(last_event(events)["requestContext"]["requestId"])
    assert len(ids) == 3


# (query, status, headers that must be there, body): the function's result
# mapped as the service maps it.
def response_cases(trigger: str) -> list:
    failed = ((500, [("Content-Type", "application/json")], b'{"message":"Internal Server Error"}')
              if trigger == "http-api" else (502, [], b"Internal Server Error"))
    return [
        ("respond=full", 201, [("x-answer", "full"), ("Content-Type", "text/plain"),
                               ("Set-Cookie", "c=1; Path=/"), ("Set-Cookie", "d=2")], b"hi there"),
        ("respond=bare", 200, [("Content-Type", "application/json")], b'{"hello":"world"}'),
        ("respond=fail", failed[0], failed[1], failed[2]),
        # Past the answered timeout (1 s): the function failed, as in Lambda.
        ("respond=sleep", failed[0], failed[1], failed[2]),
        ("respond=config", 200, [], b'{"memory":"256","timeout":"1","greeting":"from .env"}'),
    ]


def test_serve_maps_the_result_as_the_service_does(recording):
    """Also: the function runs as configured: the answered timeout and memory,
    and the variables of the project's .env."""
    trigger, url, _events, log = recording
    for query, status, headers, body in response_cases(trigger):
        got_status, got_headers, got_body = request(f"{url}/hello?{query}")
        assert (got_status, got_body) == (status, body), (query, got_headers)
        lowered = [(n.lower(), v) for n, v in got_headers]
        for name, value in headers:
            assert (name.lower(), value) in lowered, (query, got_headers)
    # The failure's own message stays in the log, where Lambda would put it.
    assert "failing as asked" in log.read_text()
    assert "Task timed out after 1.00 seconds" in log.read_text()


def test_serve_routes_as_the_iac_declares(recording):
    """The HTTP API answers what no route matches itself, without calling the
    function; a Function URL sends every method and path to it."""
    trigger, url, events, _ = recording
    assert ROUTES and all(re.fullmatch(r"[A-Z]+ /\S*", r) for r in ROUTES)
    for route in ROUTES:
        method, path = route.split(" ", 1)
        assert request(url + path, method=method)[0] == 200, route
    calls = len(events.read_text().splitlines())
    for method, path in [("POST", "/hello"), ("GET", "/nowhere"), ("GET", "/hello/more")]:
        status, _headers, body = request(url + path, method=method)
        if trigger == "http-api":
            assert (status, json.loads(body)) == (404, {"message": "Not Found"}), (method, path)
            assert len(events.read_text().splitlines()) == calls, "the function was not called"
        else:
            assert (status, body) == (200, b"recorded"), (method, path)
            assert last_event(events)["requestContext"]["http"]["method"] == method
    # No cors_allow_origins: no CORS headers, and a preflight is a request like any other.
    status, headers, _ = request(url + "/hello", headers=[("Origin", "https://app.example.com")])
    assert status == 200 and not [n for n, _ in headers if n.lower().startswith("access-control-")], headers
    status, _headers, _ = request(url + "/hello", method="OPTIONS", headers=[
        ("Origin", "https://app.example.com"), ("Access-Control-Request-Method", "GET")])
    assert status == (404 if trigger == "http-api" else 200)


def test_serve_answers_concurrent_requests(recording):
    _, url, _, _ = recording
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda i: request(f"{url}/hello?n={i}")[::2], range(16)))
    assert answers == [(200, b"recorded")] * 16


# --- CORS, as the IaC's settings make the service answer -----------------------

CORS_ORIGINS = ["https://app.example.com", "http://localhost:3000"]


@pytest.fixture(scope="module", params=HTTP_TRIGGERS)
def cors_recording(request, render, env, tmp_path_factory):
    """A custom project of the trigger that allows CORS_ORIGINS, with the recording handler, served."""
    trigger = request.param
    source = render({**combination("custom", trigger), "cors_allow_origins": ", ".join(CORS_ORIGINS)}).path
    project = tmp_path_factory.mktemp(f"serve-cors-{trigger}") / "project"
    run(["cp", "-a", str(source), str(project)], project.parent)
    (project / "function.sh").write_text(RECORDING_HANDLER)
    events = project.parent / "events.jsonl"
    events.touch()
    (project / ".env").write_text(f"EVENT_LOG={events}\n")
    run(["scripts/build-bootstrap", "build/bootstrap"], project)
    with serving(project, env, "--no-watch") as (url, _log):
        yield trigger, url, events


def header(headers: list, name: str) -> str | None:
    values = [v for n, v in headers if n.lower() == name.lower()]
    assert len(values) <= 1, (name, headers)
    return values[0] if values else None


def test_serve_answers_cors_as_the_service_does(cors_recording):
    """With cors_allow_origins: a preflight from an allowed origin gets the
    IaC's settings (the routes' methods, content-type, 300 s) without calling
    the function, and its requests the origin in Access-Control-Allow-Origin;
    any other origin gets no CORS headers. (Without it, none at all:
    test_serve_routes_as_the_iac_declares.)"""
    trigger, url, events = cors_recording
    methods = ",".join(sorted({r.split(" ", 1)[0] for r in ROUTES}))
    # A JSON body's content-type, and a SigV4 signature's headers for a Function URL (AWS_IAM, its default).
    allowed = {"content-type"} | ({"authorization", "x-amz-content-sha256", "x-amz-date", "x-amz-security-token"}
                                  if trigger == "function-url" else set())
    calls = len(events.read_text().splitlines())
    for origin in CORS_ORIGINS:
        status, headers, body = request(url + "/hello", method="OPTIONS", headers=[
            ("Origin", origin), ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "content-type")])
        assert (status, body) == (204, b""), headers
        assert (header(headers, "Access-Control-Allow-Origin"), header(headers, "Access-Control-Allow-Methods"),
                set(header(headers, "Access-Control-Allow-Headers").split(",")),
                header(headers, "Access-Control-Max-Age")) == (origin, methods, allowed, "300"), headers
        status, headers, body = request(url + "/hello", headers=[("Origin", origin)])
        assert (status, body, header(headers, "Access-Control-Allow-Origin")) == (200, b"recorded", origin)
    assert len(events.read_text().splitlines()) == calls + len(CORS_ORIGINS), "preflights never reach the function"
    other = [("Origin", "https://evil.example.com")]
    status, headers, _ = request(url + "/hello", method="OPTIONS",
                                 headers=[*other, ("Access-Control-Request-Method", "GET")])
    assert status == 204 and header(headers, "Access-Control-Allow-Origin") is None, headers
    status, headers, _ = request(url + "/hello", headers=other)
    assert status == 200 and header(headers, "Access-Control-Allow-Origin") is None, headers


# --- every language's real handler, behind each HTTP trigger -------------------

@pytest.mark.parametrize("answers", params([combination(language, trigger)
                                            for language in choice_values("language") for trigger in HTTP_TRIGGERS]))
def test_serve_answers_with_the_handler(built, env, answers):
    project = built(answers)
    with serving(project, env, "--no-watch") as (url, _):
        # curl's own request: Accept: */* (a glob to a shell handler).
        status, headers, body = request(url + "/hello?name=Ada", headers=[("Accept", "*/*")])
        assert status == 200
        assert json.loads(body)["message"] == "Hello, Ada"
        assert ("content-type", "application/json") in [(n.lower(), v) for n, v in headers]
        assert json.loads(request(url + "/goodbye")[2])["message"] == "Goodbye, World"
        status, headers, body = request(url + "/hello", method="POST", body=b"{}")
        if answers["trigger"] == "http-api":
            assert (status, json.loads(body)) == (404, {"message": "Not Found"})
        else:  # the handler's own answer
            assert (status, json.loads(body)["message"]) == (405, "Method not allowed")
            assert ("allow", "GET") in [(n.lower(), v) for n, v in headers]


# --- rebuild on save ------------------------------------------------------------

def test_serve_rebuilds_on_save_and_keeps_the_last_good_build(render, env, tmp_path):
    """The custom handler (its build is a syntax check and a copy): a saved
    greeting is served without a restart; a file that does not parse keeps
    the last good build serving and shows bash's error."""
    source = render(combination("custom", "http-api")).path
    project = tmp_path / "project"
    run(["cp", "-a", str(source), str(project)], tmp_path)
    run(["scripts/build-bootstrap", "build/bootstrap"], project)
    handler = project / "function.sh"
    original = handler.read_text()
    assert "MESSAGE='Hello, '" in original

    def greeting(url):
        return json.loads(request(url + "/hello?name=Ada")[2])["message"]

    def until(predicate, what):
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.2)
        raise AssertionError(f"{what}; see {log}")

    with serving(project, env) as (url, log):
        assert greeting(url) == "Hello, Ada"
        handler.write_text(original.replace("MESSAGE='Hello, '", "MESSAGE='Howdy, '"))
        until(lambda: greeting(url) == "Howdy, Ada", "the saved greeting was not served")
        handler.write_text(original.replace("MESSAGE='Hello, '", "MESSAGE='Broken, '\nif then"))
        until(lambda: "the build failed" in log.read_text(), "the failed build was not reported")
        assert "syntax error" in log.read_text()
        assert greeting(url) == "Howdy, Ada", "the last good build serves on"


# --- invoke --body: a body wrapped as the trigger delivers it --------------------

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


@contextmanager
def native(project: Path, env: dict, *args: str):
    """`mise run start:native` (the bootstrap already built); yields (port, log path)."""
    port, api_port = reserve(2)
    log_path = project / "build" / f"start-native-{port}.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(["mise", "run", "--skip-deps", "start:native", "--port", str(port),
                                   "--api-port", str(api_port), *args],
                                  cwd=project, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        try:
            wait_for_port(port, server, timeout=300)
            yield port, log_path
        finally:
            with suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=15)


def invoke_body(project: Path, env: dict, port: int, *args: str):
    out = run(["mise", "run", "invoke", "--port", str(port), *args], project, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("answers", params([combination("go", t) for t in ("sqs", "schedule", "http-api")]))
def test_invoke_wraps_a_body_as_the_trigger_delivers_it(built, env, answers, tmp_path):
    project = built(answers)
    trigger = answers["trigger"]
    body_file = tmp_path / "body.json"
    with native(project, env) as (port, log):
        if trigger == "sqs":
            assert invoke_body(project, env, port, "--body", '{"name":"Ada"}', "--count", "3") == \
                {"batchItemFailures": []}
            assert log.read_text().count("Hello, Ada") >= 3
            # Each record has a fresh messageId: the rejected ones name them.
            body_file.write_text("[1]")
            failures = invoke_body(project, env, port, "--body", f"@{body_file}", "--count", "2")
            ids = [f["itemIdentifier"] for f in failures["batchItemFailures"]]
            assert len(set(ids)) == 2 and all(re.fullmatch(UUID, i) for i in ids), failures
        elif trigger == "schedule":
            before = time.strftime("%Y-%m-%dT%H:%M", time.gmtime())
            first = invoke_body(project, env, port, "--body", "{}")
            body_file.write_text('{"job": "nightly"}')
            second = invoke_body(project, env, port, "--body", f"@{body_file}")
            assert first["message"] == second["message"] == "Ran on schedule"
            assert re.fullmatch(UUID, first["id"]) and first["id"] != second["id"]
            assert first["time"][:16] >= before, first
        else:
            answer = invoke_body(project, env, port, "--body", '{"name":"Ada"}')
            assert answer["statusCode"] == 200
            assert json.loads(answer["body"])["message"] == "Hello, World"
        missing = run(["mise", "run", "invoke", "--port", str(port), "--body", "@no-such-file"], project, env=env,
                      check=False)
        assert missing.returncode != 0 and "--body @no-such-file: no such file" in missing.stderr


def test_start_native_watch_rebuilds_behind_the_invoke_endpoint(render, env, tmp_path):
    """start:native --watch: the emulator's invoke endpoint, with the function
    rebuilt and restarted on save."""
    source = render(combination("custom", "http-api")).path
    project = tmp_path / "project"
    run(["cp", "-a", str(source), str(project)], tmp_path)
    run(["scripts/build-bootstrap", "build/bootstrap"], project)
    handler = project / "function.sh"
    with native(project, env, "--watch") as (port, log):
        def greeting():
            return json.loads(invoke_body(project, env, port, "hello")["body"])["message"]
        assert greeting() == "Hello, Chris"
        handler.write_text(handler.read_text().replace("MESSAGE='Hello, '", "MESSAGE='Howdy, '"))
        deadline = time.monotonic() + 120
        while greeting() != "Howdy, Chris":
            assert time.monotonic() < deadline, f"the saved greeting was not served; see {log}"
            time.sleep(0.2)


# --- macOS: what can be proven on Linux -------------------------------------------

MACHO_ARM64 = b"\xcf\xfa\xed\xfe\x0c\x00\x00\x01"  # 64-bit Mach-O magic, CPU type arm64
# What the native loop's files must not use: Linux-only tools, options and paths.
LINUX_ONLY = [r"GOOS=linux", r"/proc/", r"\bsed -i\b", r"readlink -f", r"\bstat -c", r"\bdate -d\b",
              r"\bmd5sum\b", r"\bsha256sum\b", r"base64 -w", r"\bgetent\b", r"\bnproc\b", r"\bxargs -r\b",
              r"\btimeout \d", r"\bss -", r"\bnetstat -p"]


def test_native_loop_builds_for_macos(render, tmp_path):
    """On a Mac the loop builds for darwin: the Go bootstrap (build-bootstrap
    takes the toolchain's GOOS), serve's gateway and the pinned emulator
    compile for darwin/arm64; and no file on the path of build:native,
    start:native, serve and invoke uses anything Linux-only. (Rust builds for
    the host by default; the custom runtime is bash, 4.4+ on a Mac.)"""
    import tomllib

    go_project = render(combination("go", "http-api")).path
    darwin = {"GOOS": "darwin", "GOARCH": "arm64"}
    run(["scripts/build-bootstrap", str(tmp_path / "bootstrap")], go_project, env=darwin)
    assert (tmp_path / "bootstrap").read_bytes()[:8] == MACHO_ARM64
    run(["go", "build", "-C", "tools/local-lambda", "-o", str(tmp_path / "local-lambda"), "."], go_project,
        env={**darwin, "GOWORK": "off", "GOFLAGS": ""})
    assert (tmp_path / "local-lambda").read_bytes()[:8] == MACHO_ARM64
    pinned = tomllib.loads((go_project / "mise.toml").read_text())["tools"][
        "go:github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"]
    modules = Path(run(["go", "env", "GOMODCACHE"], tmp_path).stdout.strip())
    source = modules / f"github.com/aws/aws-lambda-runtime-interface-emulator@{pinned}"
    if not source.is_dir():
        pytest.skip(f"the pinned emulator's module {source.name} is not in the Go module cache (script/bootstrap)")
    run(["go", "build", "-trimpath", "-o", str(tmp_path / "aws-lambda-rie"), "./cmd/aws-lambda-rie"], source,
        env={**darwin, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod", "GOWORK": "off"}, timeout=1200)
    assert (tmp_path / "aws-lambda-rie").read_bytes()[:8] == MACHO_ARM64

    for language in choice_values("language"):
        for trigger in HTTP_TRIGGERS + ["sqs"]:
            project = render(combination(language, trigger)).path
            tasks = project / ".config" / "mise" / "tasks"
            files = [tasks / "build" / "native", tasks / "start" / "native", tasks / "invoke" / "_default",
                     *([tasks / "serve"] if trigger != "sqs" else []),
                     *(project / "scripts").iterdir()]
            for file in files:
                if file.name in ("build-image", "push-image", "container-engine", "aws-context", "image-tag"):
                    continue  # the image's and AWS's tasks, not the native loop's
                text = file.read_text()
                for pattern in LINUX_ONLY:
                    assert not re.search(pattern, text), f"{file.relative_to(project)}: {pattern}"
