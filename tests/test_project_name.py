"""The first question: `project_name` defaults to the destination folder's name,
made valid, so any folder name gets a working copy, with `--defaults` and
interactively; a bad name typed by hand is still refused by the validator."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import copier
import pytest
import yaml

from conftest import COPIER, copier_jinja_env, snapshot_template

@pytest.fixture(scope="module")
def template(tmp_path_factory) -> str:
    """This working tree's template, outside git (uncommitted changes included)."""
    return str(snapshot_template(tmp_path_factory.mktemp("template") / "t"))


NAME_RULE = re.compile(r"^[a-z][a-z0-9-]{0,62}[a-z0-9]$")

# folder name -> the default it gives
FOLDER_NAMES = {
    "my-function": "my-function",
    "my_function": "my-function",
    "MyFunction": "myfunction",
    "my.function": "my-function",
    "My  Great__Function!": "my-great-function",
    "2fast": "fn-2fast",
    "x": "x-fn",
    "_x_": "x-fn",
    "___": "function",
    "f" * 80: "f" * 64,
    "a" * 63 + "_b": "a" * 63,
    "función-añadida": "funci-n-a-adida",
    "日本": "function",
}


@pytest.mark.parametrize("folder, expected", FOLDER_NAMES.items(), ids=list(range(len(FOLDER_NAMES))))
def test_any_folder_name_gives_a_valid_default_and_a_copy(template, tmp_path, folder, expected, git_identity):
    dst = tmp_path / folder
    copier.run_copy(template, str(dst), defaults=True, unsafe=True, quiet=True, skip_tasks=True)
    answers = yaml.safe_load((dst / ".copier-answers.yml").read_text())
    assert answers["project_name"] == expected
    assert NAME_RULE.match(expected)
    # The names derived from it are valid too.
    assert answers["function_name"] == answers["ecr_repository"] == expected


def test_the_rule_in_this_test_is_the_validators():
    assert NAME_RULE.pattern in COPIER["project_name"]["validator"]


def test_a_bad_name_typed_by_hand_is_still_refused(template, tmp_path):
    with pytest.raises(ValueError, match="project_name must be 2-64 characters"):
        copier.run_copy(template, str(tmp_path / "ok"), data={"project_name": "My_Function"},
                        defaults=True, unsafe=True, quiet=True, skip_tasks=True)
    assert not (tmp_path / "ok").exists()


def drive_with_enter(cmd: list[str], cwd: Path, env: dict, timeout: float = 240) -> tuple[int, str]:
    """Run cmd in a real terminal (a pty) and press Enter whenever it waits for
    input; return its exit status and everything it showed."""
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=secondary, stdout=secondary, stderr=secondary,
                            start_new_session=True)
    os.close(secondary)
    shown = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 0.7)
            if ready:
                try:
                    chunk = os.read(primary, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                shown += chunk
            elif proc.poll() is None:
                os.write(primary, b"\r")  # quiet for a while: a prompt waits
            else:
                break
        returncode = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(primary)
    return returncode, shown.decode(errors="replace")


# The questions whose answer is a number: their type is int when asked in a
# terminal (copier.yml says why), so the prompt shows the default as digits.
NUMBER_QUESTIONS = [q for q, spec in COPIER.items()
                    if isinstance(spec, dict) and "'int'" in str(spec.get("type", ""))]


def screen_lines(shown: str) -> list[str]:
    """What a terminal showed, as stripped lines: escape sequences dropped, and
    a new line at each question's mark (a prompt redraws over the line before)."""
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)
    return [line.strip() for line in re.split(r"[\r\n]+|(?=🎤)", text) if line.strip()]


def rendered_help(question: str, answers: dict) -> str:
    return copier_jinja_env().from_string(COPIER[question]["help"]).render(**answers)


def test_number_questions_are_int_when_asked_and_yaml_when_given():
    for question in NUMBER_QUESTIONS:
        kind = copier_jinja_env().from_string(COPIER[question]["type"])
        assert kind.render(_copier_conf={"defaults": False, "data": {}}) == "int"
        assert kind.render(_copier_conf={"defaults": True, "data": {}}) == "yaml"
        assert kind.render(_copier_conf={"defaults": False, "data": {question: "256"}}) == "yaml"
    assert {"memory_size", "timeout", "sqs_batch_size", "sqs_batching_window"} <= set(NUMBER_QUESTIONS)


@pytest.mark.parametrize("question", NUMBER_QUESTIONS)
def test_a_number_questions_help_states_the_validators_range(question):
    low, high = re.search(r"between (\d+) and (\d+)", COPIER[question]["validator"]).groups()
    assert f"{low}-{high}" in COPIER[question]["help"]


@pytest.mark.parametrize("data", [{}, {"trigger": "sqs"}], ids=["defaults", "sqs"])
def test_interactive_copy_into_my_function_asks_every_question_and_finishes(template, tmp_path, git_identity, data):
    env = {**os.environ, "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1"}
    given = [f"--data={name}={value}" for name, value in data.items()]
    cmd = [sys.executable, "-m", "copier", "copy", "--trust", *given, template, "my_function"]
    returncode, shown = drive_with_enter(cmd, tmp_path, env)
    assert "Traceback" not in shown, shown
    assert returncode == 0, shown
    # It asked the first question, showing the valid default, and went on to the last.
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)
    assert COPIER["project_name"]["help"] in text and "my-function" in text, text
    answers = yaml.safe_load((tmp_path / "my_function" / ".copier-answers.yml").read_text())
    # Every question asked showed its help line.
    for question, spec in COPIER.items():
        if question in answers and question not in data and isinstance(spec, dict) and "help" in spec:
            assert rendered_help(question, answers) in text, question
    assert answers["project_name"] == "my-function"
    assert answers["language"] == COPIER["language"]["default"]

    # Each number question asked shows its default's digits under its help
    # line, and no line holds YAML's document-end marker "..." instead.
    lines = screen_lines(shown)
    assert "..." not in lines, text
    asked = [q for q in NUMBER_QUESTIONS if q in answers]
    assert {"memory_size", "timeout"} <= set(asked)
    assert ("sqs_batch_size" in asked) == ("sqs_batching_window" in asked) == (answers["trigger"] == "sqs")
    for question in asked:
        value = answers[question]
        assert type(value) is int, (question, value)
        help_line = rendered_help(question, answers)
        shown_at = [i for i, line in enumerate(lines) if line.endswith(help_line)]
        assert shown_at, (help_line, lines)
        for i in shown_at:
            assert re.match(rf"{value}(?!\d)", lines[i + 1]), (question, lines[i : i + 3])
    for question in ("memory_size", "timeout"):
        assert answers[question] == COPIER[question]["default"]
