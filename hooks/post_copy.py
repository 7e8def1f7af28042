#!/usr/bin/env python3
"""Post-copy hook: make the new project a git repository with a first commit.

copier.yml runs it through `_tasks`, only when `_copier_operation` is "copy",
with the destination as the working directory:

    python hooks/post_copy.py --answers-file .copier-answers.yml

`copier update` needs the project to be a git repository whose tree is clean,
so the generated files are committed right away. The hook never fails the
copy: where git is missing, or a git step fails, it says what to do by hand
and exits 0. It never writes git configuration; when the user has no git
identity, a placeholder identity is used for this one commit only, through
the GIT_AUTHOR_*/GIT_COMMITTER_* environment of that command.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

# Used only when git has no identity for the user, for the first commit only.
FALLBACK_NAME = "Copier"
FALLBACK_EMAIL = "copier@example.invalid"

BRANCH = "main"


def say(message: str = "", quiet: bool = False) -> None:
    if not quiet:
        print(message, flush=True)


def git(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run git in the current directory; never raises for a non-zero exit."""
    return subprocess.run(
        ["git", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )


def read_answers(path: Path) -> dict:
    """The recorded answers (only flat `key: value` lines matter here)."""
    try:
        text = path.read_text()
    except OSError:
        return {}
    try:
        import yaml  # Copier's own interpreter always has PyYAML.

        data = yaml.safe_load(text)
        return data if isinstance(data, dict) else {}
    except Exception:  # noqa: BLE001 - fall back to a plain line parse
        answers = {}
        for line in text.splitlines():
            match = re.match(r"^([A-Za-z_][\w-]*):\s*(.*?)\s*$", line)
            if match:
                answers[match.group(1)] = match.group(2).strip("'\"")
        return answers


def inside_work_tree() -> bool:
    proc = git("rev-parse", "--is-inside-work-tree")
    return proc.returncode == 0 and proc.stdout.strip() == "true"


def init_repository() -> subprocess.CompletedProcess:
    """`git init` on branch main, also with git older than 2.28 (no `-b`)."""
    proc = git("init", "-q", "-b", BRANCH)
    if proc.returncode == 0:
        return proc
    proc = git("init", "-q")
    if proc.returncode == 0:
        git("symbolic-ref", "HEAD", f"refs/heads/{BRANCH}")
    return proc


def configured(key: str) -> str:
    proc = git("config", "--get", key)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def identity_fallback() -> dict:
    """Environment that fills in the identity git lacks (empty when it lacks none)."""
    name = configured("user.name")
    email = configured("user.email") or os.environ.get("EMAIL", "")
    env = {}
    for role in ("AUTHOR", "COMMITTER"):
        if not (os.environ.get(f"GIT_{role}_NAME") or name):
            env[f"GIT_{role}_NAME"] = FALLBACK_NAME
        if not (os.environ.get(f"GIT_{role}_EMAIL") or email):
            env[f"GIT_{role}_EMAIL"] = FALLBACK_EMAIL
    return env


def commit_message(answers: dict) -> str:
    version = answers.get("_commit")
    source = answers.get("_src_path")
    subject = (
        f"Generate the project from template version {version}"
        if version
        else "Generate the project from an unversioned template"
    )
    body = [
        f"Template: {source}" if source else "",
        "The answers are in .copier-answers.yml; `copier update --trust` reads them",
        "to bring in later template versions.",
    ]
    return subject + "\n\n" + "\n".join(line for line in body if line) + "\n"


def trust_mise(quiet: bool) -> None:
    """Let mise run the project's tasks without asking (harmless if it fails)."""
    if not shutil.which("mise") or not Path("mise.toml").is_file():
        return
    try:
        proc = subprocess.run(
            ["mise", "trust", "--yes", "--quiet"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return
    if proc.returncode != 0:
        say("Note: `mise trust` did not succeed; run it in the project if mise asks.", quiet)


def by_hand(quiet: bool) -> None:
    say("  git init -b main && git add -A && git commit -m 'Generate the project'", quiet)
    say("`copier update` works once the project is a git repository with a clean tree.", quiet)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers-file", default=".copier-answers.yml")
    parser.add_argument("--quiet", default="false", help="true to print nothing")
    args = parser.parse_args(argv)
    quiet = args.quiet.strip().lower() in {"1", "true", "yes"}
    answers = read_answers(Path(args.answers_file))
    where = Path.cwd()

    trust_mise(quiet)

    if not shutil.which("git"):
        say("Note: git is not installed, so the project is not a git repository yet.", quiet)
        say("Once git is installed, run in the project:", quiet)
        by_hand(quiet)
        return 0

    if inside_work_tree():
        top = git("rev-parse", "--show-toplevel").stdout.strip()
        say(f"The project is inside the git repository {top}: no new repository made.", quiet)
        say("Next steps with git:", quiet)
        say(f"  git add {where} && git commit   # `copier update` needs a clean tree", quiet)
        say("  copier update --trust           # later: bring in template changes", quiet)
        return 0

    fallback = identity_fallback()
    steps = [
        ("git init", init_repository),
        ("git add", lambda: git("add", "-A")),
        (
            "git commit",
            lambda: git(
                "commit", "-q", "--no-verify", "-m", commit_message(answers),
                env=fallback,
            ),
        ),
    ]
    for name, step in steps:
        proc = step()
        if proc.returncode != 0:
            say(f"Note: `{name}` failed, so the first commit was not made:", quiet)
            say("  " + (proc.stderr.strip() or proc.stdout.strip()).replace("\n", "\n  "), quiet)
            say("Finish by hand in the project:", quiet)
            by_hand(quiet)
            return 0

    head = git("rev-parse", "--short", "HEAD").stdout.strip()
    say(f"Made {where} a git repository: branch {BRANCH}, first commit {head}.", quiet)
    if fallback:
        say(
            f"git has no identity for you, so that commit is by {FALLBACK_NAME} <{FALLBACK_EMAIL}>. "
            "Set yours (git config --global user.name/user.email), then run "
            "`git commit --amend --reset-author --no-edit`.",
            quiet,
        )
    say("Next steps with git:", quiet)
    say("  git remote add origin <your repository URL> && git push -u origin main", quiet)
    say("  copier update --trust   # later: bring in template changes, keeping your edits", quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
