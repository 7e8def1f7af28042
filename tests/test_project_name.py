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

from conftest import COPIER, copier_jinja_env, render_validator, snapshot_template


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


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def drive(cmd: list[str], cwd: Path, env: dict, typed: list[tuple[str, bytes]] = (),
          timeout: float = 240) -> tuple[int, str, list[str]]:
    """Run cmd in a real terminal (a pty) and, whenever it waits for input,
    type the next keys of `typed` if the question on screen shows their help
    text, else press Enter. Return its exit status, everything it showed, and
    what it showed after each of `typed`'s keys (until the next)."""
    typed = list(typed)
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=secondary, stdout=secondary, stderr=secondary,
                            start_new_session=True)
    os.close(secondary)
    shown = bytearray()
    marks: list[int] = []
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
            elif proc.poll() is None:  # quiet for a while: a prompt waits
                question = ANSI.sub("", shown.decode(errors="replace")).rsplit("🎤", 1)[-1]
                if typed and typed[0][0] in question:
                    marks.append(len(shown))
                    os.write(primary, typed.pop(0)[1])
                else:
                    os.write(primary, b"\r")
            else:
                break
        returncode = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(primary)
    assert not typed, f"never asked: {typed}"
    after = [shown[m:n].decode(errors="replace") for m, n in zip(marks, [*marks[1:], len(shown)])]
    return returncode, shown.decode(errors="replace"), after


# The questions whose answer is a number: their type is int when asked in a
# terminal (copier.yml says why), so the prompt shows the default as digits.
NUMBER_QUESTIONS = [q for q, spec in COPIER.items()
                    if isinstance(spec, dict) and "'int'" in str(spec.get("type", ""))]


def screen_lines(shown: str) -> list[str]:
    """What a terminal showed, as stripped lines: escape sequences dropped, and
    a new line at each question's mark (a prompt redraws over the line before)."""
    text = ANSI.sub("", shown)
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
    bounded = re.search(r"between (\d+) and (\d+)", COPIER[question]["validator"])
    if bounded:
        low, high = bounded.groups()
        assert f"{low}-{high}" in COPIER[question]["help"]
    else:  # open above: the lowest value, and the sentinel for none if any
        low = re.search(r"from (\d+)", COPIER[question]["validator"]).group(1)
        assert f"from {low}" in COPIER[question]["help"]
        assert ("-1" in COPIER[question]["validator"]) == ("-1" in COPIER[question]["help"])


@pytest.mark.parametrize("data", [{}, {"trigger": "sqs"}], ids=["defaults", "sqs"])
def test_interactive_copy_into_my_function_asks_every_question_and_finishes(template, tmp_path, git_identity, data):
    env = {**os.environ, "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1"}
    given = [f"--data={name}={value}" for name, value in data.items()]
    cmd = [sys.executable, "-m", "copier", "copy", "--trust", *given, template, "my_function"]
    returncode, shown, _ = drive(cmd, tmp_path, env)
    assert "Traceback" not in shown, shown
    assert returncode == 0, shown
    # It asked the first question, showing the valid default, and went on to the last.
    text = ANSI.sub("", shown)
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


# What a person sees typing a bad number at an int question's prompt: the
# validator's rule, or, where the answer is not a whole number at all,
# Copier's "Invalid input" under the help line, which states the range.
BAD_TYPED = [("abc", "Invalid input"), ("12.5", "Invalid input"),
             ("-1", render_validator(COPIER["memory_size"]["validator"], {"memory_size": -1})),
             ("", "Invalid input")]


def test_a_bad_number_typed_at_the_prompt_is_refused_and_asked_again(template, tmp_path, git_identity):
    env = {**os.environ, "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1"}
    help_line = COPIER["memory_size"]["help"]
    clear = b"\x15"  # Ctrl-U: the default goes, so the answer is only what is typed
    # Copier checks the answer as it is typed. Before each bad answer a good
    # one clears the message, so the terminal gets each message anew; then
    # Enter, which must not leave the question.
    typed = [(help_line, keys) for answer, _ in BAD_TYPED
             for keys in (clear + b"256", clear + answer.encode(), b"\r")]
    typed.append((help_line, clear + b"256\r"))
    cmd = [sys.executable, "-m", "copier", "copy", "--trust", template, "my_function"]
    returncode, shown, after = drive(cmd, tmp_path, env, typed)
    assert returncode == 0, shown
    assert "whole number between 128 and 10240 MB" in BAD_TYPED[2][1]
    for (answer, message), good, bad, enter in zip(BAD_TYPED, after[0::3], after[1::3], after[2::3]):
        good, bad = (" ".join(ANSI.sub("", screen).split()) for screen in (good, bad))
        assert "Invalid input" not in good and "Validation error" not in good, good
        assert message in bad, (answer, bad)
        assert "🎤" not in bad + enter, (answer, "went on to another question", enter)
    answers = yaml.safe_load((tmp_path / "my_function" / ".copier-answers.yml").read_text())
    assert answers["memory_size"] == 256
