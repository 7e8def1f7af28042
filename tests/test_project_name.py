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

from conftest import COPIER, snapshot_template

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


def test_interactive_copy_into_my_function_asks_every_question_and_finishes(template, tmp_path, git_identity):
    env = {**os.environ, "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1"}
    cmd = [sys.executable, "-m", "copier", "copy", "--trust", template, "my_function"]
    returncode, shown = drive_with_enter(cmd, tmp_path, env)
    assert "Traceback" not in shown, shown
    assert returncode == 0, shown
    # It asked the first question, showing the valid default, and went on to the last.
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)
    assert COPIER["project_name"]["help"] in text and "my-function" in text, text
    assert COPIER["log_retention_days"]["help"] in text, text
    answers = yaml.safe_load((tmp_path / "my_function" / ".copier-answers.yml").read_text())
    assert answers["project_name"] == "my-function"
    assert answers["language"] == COPIER["language"]["default"]
