"""The README's two set-up commands: one generates a working function, the
other is the test command .ci/run runs.

The generate command runs word for word, as a new user runs it: from a fresh
clone, through uvx, with a `python3` on PATH that refuses `pip install`
outside a virtual environment (PEP 668, like Debian's, Ubuntu's and
Homebrew's). The project it makes must then take `copier update`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import yaml

from conftest import CASES, GIT_IDENTITY, ROOT, params, pick, run
from matrix import event_kind
from support.choices import TRIGGERS
from support.iac import FUNCTION_ALARMS
from support.releases import COPIER_PIN, release, releases


def setup_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## The two commands", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, re.S)]


def test_exactly_two_commands_and_ci_runs_the_second():
    generate, test = setup_commands()
    assert generate.startswith(f"uvx copier@{COPIER_PIN} copy --trust"), generate
    assert '"$PWD"' in generate, "a clone is given by its absolute path"
    assert test == "script/test"
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^exec script/test$", ci, re.M), ci


def test_the_pipx_equivalent_is_pinned_to_the_same_copier():
    readme = (ROOT / "README.md").read_text()
    pipx = re.findall(r"pipx run --spec copier==(\S+) copier copy", readme)
    assert pipx == [COPIER_PIN]
    assert set(re.findall(r"uvx copier@(\S+) ", readme)) == {COPIER_PIN}


def externally_managed_python() -> Path | None:
    """A system Python that refuses `pip install` (PEP 668), if this machine has one."""
    for candidate in ("/usr/bin/python3", "/opt/homebrew/bin/python3", "/usr/local/bin/python3"):
        python = Path(candidate)
        if not python.exists():
            continue
        stdlib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
                                capture_output=True, text=True).stdout.strip()
        if stdlib and (Path(stdlib) / "EXTERNALLY-MANAGED").exists():
            return python
    return None


PEP668_PYTHON = externally_managed_python()


@pytest.fixture
def stock_machine(tmp_path):
    """PATH and environment of a machine whose only python3 is the distribution's:
    uv, git and the system's folders, nothing from pyenv or the tests' venv."""
    if PEP668_PYTHON is None:
        pytest.skip("no externally managed Python (PEP 668: a Debian, Ubuntu or Homebrew "
                    "python3 with an EXTERNALLY-MANAGED marker) on this machine")
    bin_dir = tmp_path / "stock-bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(PEP668_PYTHON)
    for tool in ("uv", "uvx", "git"):
        found = shutil.which(tool) or str(Path(sys.executable).parent / tool)
        (bin_dir / tool).symlink_to(found)
    env = {
        **GIT_IDENTITY,
        "PATH": f"{bin_dir}:/usr/sbin:/usr/bin:/sbin:/bin",
        "UV_PYTHON_DOWNLOADS": "never",  # no python-build-standalone here: use the system's
    }
    # The premise: this python3 refuses to install into itself.
    refused = run(["python3", "-m", "pip", "install", "--dry-run", "copier"], tmp_path, env=env, check=False)
    assert refused.returncode != 0 and "externally-managed-environment" in refused.stderr, refused.stderr
    return env


def clone_template(tmp_path: Path) -> Path:
    """A clone with the release tags the published repository has, made on the
    commits CHANGELOG.md names (a clone of main brings none)."""
    clone = tmp_path / "template"
    run(["git", "clone", "-q", "--no-tags", str(ROOT), str(clone)], tmp_path)
    for tag, commit in releases().items():
        release(clone, tag, "as CHANGELOG.md names it", commit=commit)
    return clone


def test_generate_verbatim_on_a_stock_python_then_copier_update(tmp_path, stock_machine):
    generate, _ = setup_commands()
    clone = clone_template(tmp_path)
    run(["sh", "-c", generate], clone, env=stock_machine, timeout=900)

    project = tmp_path / "my-function"
    answers = (project / ".copier-answers.yml").read_text()
    for default in ("language: go", "architecture: arm64", "iac: sam", "project_name: my-function",
                    f"_src_path: {clone}\n"):
        assert default in answers
    log = run(["git", "log", "--oneline"], project).stdout
    assert len(log.splitlines()) == 1
    # The defaults give a working project.
    run(["go", "test", "./..."], project)

    # The README's update commands, verbatim but their comments.
    updates = [line.split("#")[0].strip() for line in (ROOT / "README.md").read_text().splitlines()
               if line.startswith(generate.split(" copy ", 1)[0] + " update ")]
    # The project is newer than the newest release (HEAD is past its tag), so
    # the plain update, to the newest release, is refused as the README says.
    newest = next(iter(releases()))
    assert re.search(rf"^_commit: {re.escape(newest)}-\d+-g[0-9a-f]+$", answers, re.M), answers
    (plain,) = [u for u in updates if "--vcs-ref" not in u]
    refused = run(["sh", "-c", plain], project, env=stock_machine, timeout=900, check=False)
    assert refused.returncode != 0 and "Downgrades are not supported" in refused.stdout + refused.stderr
    assert run(["git", "status", "--porcelain"], project).stdout == ""
    # So a project generated from HEAD updates with --vcs-ref=HEAD.
    (update,) = [u for u in updates if "--vcs-ref=HEAD" in u]
    # Nothing changed in the template: the update succeeds and changes nothing.
    run(["sh", "-c", update], project, env=stock_machine, timeout=900)
    assert run(["git", "status", "--porcelain"], project).stdout == ""

    # A template change arrives through the same command.
    readme = clone / "template" / "README.md.jinja"
    readme.write_text(readme.read_text() + "\nA line added by a later template version.\n")
    run(["git", "commit", "-q", "-am", "A later template version"], clone, env=GIT_IDENTITY)
    run(["sh", "-c", update], project, env=stock_machine, timeout=900)
    assert "A line added by a later template version." in (project / "README.md").read_text()
    changed = run(["git", "status", "--porcelain"], project).stdout.split("\n")
    # (and the stack's template-version tag, in samconfig.toml)
    assert sorted(line[3:] for line in changed if line) == [".copier-answers.yml", "README.md", "sam/samconfig.toml"]


def test_script_test_installs_into_a_virtual_environment_of_its_own():
    """Not into whatever python3 is on PATH: a PEP 668 one refuses that."""
    bootstrap = (ROOT / "script" / "bootstrap").read_text()
    assert not re.search(r"^\s*python3 -m pip install", bootstrap, re.M), "pip into the system Python"
    assert 'python3 -m venv "$venv"' in bootstrap and "venv=.tools/venv" in bootstrap
    assert re.search(r'^PATH="\$PWD/\.tools/venv/bin:', (ROOT / "script" / "test").read_text(), re.M)


# --- The generated README ----------------------------------------------------

def readme_table(readme: str, header_start: str) -> list[list[str]]:
    """The rows of the Markdown table whose header row starts with header_start."""
    lines = readme.split("\n" + header_start, 1)[1].split("\n\n", 1)[0].splitlines()[2:]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines]


@pytest.mark.parametrize("answers", params(pick(("trigger",), where=lambda c: event_kind(c["trigger"]) == "http")))
def test_the_readme_says_what_a_caller_gets_from_the_deployed_function(render, answers):
    """Per trigger: what the handler answers each sample event (tests/cases.yaml,
    which the handlers' own tests check) and what a caller of the deployed
    function gets (tests/data/triggers/<trigger>.yaml's deployed), which
    differs where API Gateway answers without calling it."""
    trigger = answers["trigger"]
    readme = (render(answers).path / "README.md").read_text()
    rows = {row[1].strip("`"): row for row in readme_table(readme, "| request | sample event |")}
    assert set(rows) == {c["event"].removesuffix(".json") for c in CASES["http"]}
    assert set(TRIGGERS[trigger]["deployed"]) <= {c["event"] for c in CASES["http"]}, "deployed names a sample event"
    for case in CASES["http"]:
        _, _, handler, caller = rows[case["event"].removesuffix(".json")]
        assert handler.startswith(f"{case['status']} `{case['message']}`"), (case, handler)
        deployed = TRIGGERS[trigger]["deployed"].get(case["event"])
        if deployed is None:
            assert caller == "the same", (case, caller)
        else:
            assert caller.replace("`", "") == deployed, (case, caller)


@pytest.mark.parametrize("answers", params([{**c, "cors_allow_origins": "https://app.example.com, http://localhost:3000"}
                                           for c in pick(("iac",), ("trigger",),
                                                         where=lambda c: event_kind(c["trigger"]) == "http")]))
def test_the_readme_says_which_origins_may_call_and_where_that_is_set(render, answers):
    project = render(answers).path
    readme = (project / "README.md").read_text()
    cors = readme.split("### Calls from a browser (CORS)", 1)[1].split("\n### ", 1)[0]
    assert "`https://app.example.com`, `http://localhost:3000`" in cors, cors
    assert "No CORS settings" not in cors
    (where,) = re.findall(r"The settings are in `([^`]+)`", cors)
    assert "cors" in (project / where).read_text().lower(), where


DAY_TWO = ["### Add an environment variable or a secret", "### Add a dependency", "### Concurrency", "### Alarms",
           "### What tracing and logs cost", "### Tags", "### Images in ECR"]


# Every language (its dependency command), IaC tool (its secret snippet) and
# trigger (its own sections).
@pytest.mark.parametrize("answers", params(pick(("language",), ("iac",), ("trigger",))))
def test_the_readme_has_the_day_two_tasks(render, answers):
    project = render(answers).path
    readme = (project / "README.md").read_text()
    day_two = readme.split("\n## Day two\n", 1)[1].split("\n## ", 1)[0]
    trigger, iac = answers["trigger"], answers["iac"]
    headings = [h for h in re.findall(r"^### .*", day_two, re.M)]
    http = ["### Add a route", "### Calls from a browser (CORS)"]
    expected = (http if event_kind(trigger) == "http" else []) + DAY_TWO[:2] + \
        (["### See the API's access logs"] if trigger == "http-api" else []) + DAY_TWO[2:5] + \
        (["### The schedule's time zone"] if trigger == "schedule" else []) + DAY_TWO[5:]
    assert headings == expected, headings
    # Every alarm the IaC makes (the function's, the trigger's), and who it notifies.
    alarms = day_two.split("### Alarms", 1)[1].split("###", 1)[0]
    names = re.findall(r"^\| `(hello-fn-[a-z0-9-]+)` \|", alarms, re.M)
    assert names == [f"hello-fn-{suffix}" for suffix in [*FUNCTION_ALARMS, *TRIGGERS[trigger]["alarms"]]], alarms
    assert "notify no one" in alarms, "the default alarm_email is empty"
    # The secret: one parameter, read-only, in the project's own IaC language.
    snippet = re.search(r"```(yaml|ts|hcl)\n(.*?)```", day_two.split("### Add an environment", 1)[1], re.S)
    language = {"sam": "yaml", "cdk": "ts", "terraform": "hcl", "serverless": "yaml"}[iac]
    assert snippet and snippet.group(1) == language, day_two
    assert "ssm:GetParameter" in snippet.group(2) and "parameter/hello-fn/api-key" in snippet.group(2)
    assert "*" not in snippet.group(2).replace("/*/", ""), "least privilege: no wildcard"
    if snippet.group(1) == "yaml":
        yaml.safe_load(snippet.group(2).replace("!Sub ", ""))
    tool = {"go": "go get ", "rust": "cargo add ", "custom": "Dockerfile"}[answers["language"]]
    assert tool in day_two.split("### Add a dependency", 1)[1].split("###", 1)[0]
    if trigger == "schedule":
        assert "`cron(...)` runs in UTC time" in day_two
    if event_kind(trigger) == "http":  # no origins answered: no CORS, and how to allow some
        cors = day_two.split("### Calls from a browser (CORS)", 1)[1].split("\n### ", 1)[0]
        assert "No CORS settings" in cors and "copier update --data cors_allow_origins=" in cors, cors
    # The update command pins the Copier the template is tested with
    # (copier_version, held equal to requirements.txt by test_toolchain).
    assert f"uvx copier@{COPIER_PIN} update --trust" in readme
