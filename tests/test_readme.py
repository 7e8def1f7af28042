"""The README's two set-up commands: one generates a working function, the
other is the test command .ci/run runs."""

from __future__ import annotations

import re
import subprocess

from conftest import GIT_IDENTITY, ROOT, run


def setup_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## The two commands", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, re.S)]


def test_exactly_two_commands_and_ci_runs_the_second():
    generate, test = setup_commands()
    assert "copier copy" in generate and "--trust" in generate
    assert test == "script/test"
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^exec script/test$", ci, re.M), ci


def test_the_generate_command_works_verbatim_from_a_clone(tmp_path):
    generate, _ = setup_commands()
    clone = tmp_path / "template"
    run(["git", "clone", "-q", str(ROOT), str(clone)], tmp_path)
    run(["sh", "-c", generate], clone, env=GIT_IDENTITY)
    project = tmp_path / "my-function"
    answers = (project / ".copier-answers.yml").read_text()
    for default in ("language: go", "architecture: arm64", "iac: sam", "project_name: my-function"):
        assert default in answers
    # The defaults give a working project: its tests pass and it made its first commit.
    run(["go", "test", "./..."], project)
    log = subprocess.run(["git", "log", "--oneline"], cwd=project, capture_output=True, text=True).stdout
    assert len(log.splitlines()) == 1
