"""Every combination renders into a clean, complete project."""

from __future__ import annotations

import os
import re

import pytest
import yaml

from conftest import COPIER, GOARCH, MATRIX, ROOT, cases_for, choice_values, combo_id, one_per, params, run
from support.choices import TRIGGERS

# Checks of every combination: one xdist group, whose renders happen once (conftest).
pytestmark = pytest.mark.xdist_group("matrix")

# Jinja that survived rendering. GitHub Actions' own ${{ }} is not Jinja.
# The shell's ${#var} (a length) is not Jinja either.
LEFTOVER_JINJA = re.compile(r"(?<!\$)\{\{|\{%|%\}|(?<!\$)\{#")


def project_files(path):
    """The rendered files, not what other tests built into build/ or target/."""
    for f in sorted(path.rglob("*")):
        parts = f.relative_to(path).parts
        if f.is_file() and not {".git", "build", "target", "node_modules"} & set(parts):
            yield f


@pytest.mark.parametrize("answers", params(MATRIX))
def test_no_leftover_jinja(render, answers):
    project = render(answers).path
    leftovers = [
        str(f.relative_to(project))
        for f in project_files(project)
        if LEFTOVER_JINJA.search(f.read_text(errors="replace")) or "{%" in f.name or "{{" in f.name
    ]
    assert leftovers == []
    assert not list(project.rglob("*.jinja"))


@pytest.mark.parametrize("answers", params(MATRIX))
def test_scripts_are_executable(render, answers):
    project = render(answers).path
    scripts = [f for f in project_files(project) if f.read_bytes().startswith(b"#!")]
    assert scripts, "the project has no scripts"
    not_executable = [str(f.relative_to(project)) for f in scripts if not os.access(f, os.X_OK)]
    assert not_executable == []
    # Every mise file task is a script.
    tasks = list((project / ".config" / "mise" / "tasks").rglob("*"))
    assert all(os.access(t, os.X_OK) for t in tasks if t.is_file())


@pytest.mark.parametrize("answers", params(MATRIX))
def test_only_the_chosen_iac_folder(render, answers):
    project = render(answers).path
    for iac in choice_values("iac"):
        assert (project / iac).is_dir() == (iac == answers["iac"]), iac


@pytest.mark.parametrize("answers", params(MATRIX))
def test_answers_file_records_the_answers(render, answers):
    rendered = render(answers)
    recorded = yaml.safe_load((rendered.path / ".copier-answers.yml").read_text())
    for question, value in answers.items():
        assert recorded[question] == value
    assert recorded["project_name"] == "hello-fn"


@pytest.mark.parametrize("answers", params(MATRIX))
def test_architecture_reaches_everything(render, answers):
    project = render(answers).path
    arch = answers["architecture"]
    platform = f"linux/{GOARCH[arch]}"
    mise = (project / "mise.toml").read_text()
    assert f'ARCHITECTURE = "{arch}"' in mise
    assert f'IMAGE_PLATFORM = "{platform}"' in mise
    assert f"--platform {platform}" in (project / "Dockerfile").read_text()
    other = next(a for a in choice_values("architecture") if a != arch)
    if answers["iac"] == "sam":
        template = (project / "sam" / "template.yaml").read_text()
        assert re.search(rf"Architectures:\s*\n\s*- {arch}\n", template)
        assert other not in template


@pytest.mark.parametrize("answers", params(MATRIX))
def test_events_are_the_triggers_and_invoke_sends_one_of_them(render, answers):
    """events/ holds exactly the trigger's sample events, each with a shared
    case, and `mise run invoke` defaults to one of them."""
    project = render(answers).path
    events = sorted(p.name for p in (project / "events").iterdir())
    assert events == sorted(c["event"] for c in cases_for(answers))
    invoke = (project / ".config" / "mise" / "tasks" / "invoke" / "_default").read_text()
    (default,) = re.findall(r'#USAGE arg "\[event\]" default="([^"]+)"', invoke)
    assert f"{default}.json" in events
    assert f"usage_event:-{default}}}" in invoke


def test_matrix_is_read_from_copier_yml():
    """The matrix is not a hand-written list: it follows copier.yml."""
    languages = {c["language"] for c in MATRIX}
    assert languages <= set(choice_values("language"))
    assert {c["architecture"] for c in MATRIX} == set(choice_values("architecture"))
    assert COPIER["language"]["default"] in languages
    assert COPIER["iac"]["default"] in {c["iac"] for c in MATRIX}
    assert {c["trigger"] for c in MATRIX} == set(choice_values("trigger"))


@pytest.mark.parametrize("answers", params([MATRIX[0], MATRIX[-1]]))
def test_the_shared_renders_are_what_copier_copy_makes(render, answers, tmp_path, git_identity):
    """The tests' renders (conftest's render: from a snapshot of the template,
    Jinja's compiled templates shared between renders) are, file for file and
    mode for mode, what a plain `copier copy` of this repository makes."""
    from copier import run_copy

    plain = tmp_path / combo_id(answers)
    run_copy(str(ROOT), str(plain), vcs_ref="HEAD", unsafe=True, defaults=True, quiet=True,
             user_defaults={"project_name": "hello-fn", **answers})
    shared = render(answers).path

    # The template version the IaC tags name: the commit a copy from git
    # records, "unversioned" for the snapshot the shared renders come from.
    commit = yaml.safe_load(run(["git", "show", "HEAD:.copier-answers.yml"], plain).stdout)["_commit"]

    # What the post-copy hook committed: every rendered file, by content and mode.
    def tree(root):
        files = []
        for line in run(["git", "ls-tree", "-r", "HEAD"], root).stdout.splitlines():
            mode, _, _, path = line.split(maxsplit=3)
            if path != ".copier-answers.yml":
                text = run(["git", "show", f"HEAD:{path}"], root).stdout.replace(commit, "unversioned")
                files.append((path, mode, text))
        return sorted(files)

    def answers_file(root):
        text = run(["git", "show", "HEAD:.copier-answers.yml"], root).stdout
        return [line for line in text.splitlines() if not line.startswith("_")]  # _src_path, _commit differ

    assert tree(shared) == tree(plain)
    assert answers_file(shared) == answers_file(plain)


def test_readme_explains_the_local_loop(render):
    readme = (render(MATRIX[0]).path / "README.md").read_text()
    for task in ("build:native", "start:native", "invoke", "start", "publish", "deploy", "test"):
        assert f"mise run {task}" in readme, task


@pytest.mark.parametrize("answers", params(one_per("iac")))
def test_readme_names_every_task_and_the_iac_by_its_display_name(render, answers):
    project = render(answers).path
    readme = (project / "README.md").read_text()
    tasks = sorted(p.relative_to(project / ".config" / "mise" / "tasks")
                   for p in (project / ".config" / "mise" / "tasks").rglob("*") if p.is_file())
    names = {str(t.parent).replace("/", ":") if t.name == "_default" else str(t).replace("/", ":") for t in tasks}
    assert {"destroy", "logs", "invoke:remote"} <= names
    for name in names:
        assert f"mise run {name}" in readme, name
    # The IaC's display name, which begins its label in copier.yml's choices.
    label = next(k for k, v in COPIER["iac"]["choices"].items() if v == answers["iac"])
    deploy = (project / ".config" / "mise" / "tasks" / "deploy").read_text()
    (name,) = re.findall(r"deployed with \*\*(.+?)\*\*", readme)
    assert label.startswith(name) and f"with {name}\"" in deploy
    assert f"with {answers['iac'].upper()}" not in readme + deploy


@pytest.mark.parametrize("answers", params(one_per("iac")))
def test_no_pointer_to_what_is_not_generated(render, answers):
    """Comments point only at files the project has, and say what is true."""
    project = render(answers).path
    for path in project_files(project):
        text = path.read_text(errors="ignore")
        for word in ("NOTES.md", "this prototype", "default of 30 days"):
            assert word not in text, (path, word)
    package = project / "cdk" / "package.json"
    if package.exists():
        for target in yaml.safe_load(package.read_text()).get("bin", {}).values():
            assert (project / "cdk" / target).exists(), target


# What the generated README must say for each trigger: the event source, its
# events and how to send the deployed function one (tests/data/triggers/*.yaml).
README_SAYS = {trigger: data["readme"] for trigger, data in TRIGGERS.items()}


@pytest.mark.parametrize("answers", params(one_per("language", "trigger")))
def test_readme_describes_the_trigger(render, answers):
    readme = (render(answers).path / "README.md").read_text()
    for words in README_SAYS[answers["trigger"]]:
        assert words in readme, words
    others = {t: w[0] for t, w in README_SAYS.items() if t != answers["trigger"]}
    assert [t for t, first in others.items() if first in readme] == []
    assert "is public" not in readme


def test_a_public_function_url_says_so(render):
    answers = {**one_per("trigger")[1], "function_url_auth": "NONE"}
    assert answers["trigger"] == "function-url"
    readme = (render(answers).path / "README.md").read_text()
    assert "AuthType: NONE" in readme and "**The function is public**" in readme
