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

Its next steps name the update command that works for this copy: Copier
pinned as in the README (requirements.txt's version), with `--vcs-ref=HEAD`
when the copy is not of a release (`copier update` would otherwise go back to
the newest release and refuse: "Downgrades are not supported").
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import yaml  # Copier itself depends on PyYAML and packaging, so its Python has them
from packaging.version import InvalidVersion, Version

# Used only when git has no identity for the user, for the first commit only.
FALLBACK_NAME = "Copier"
FALLBACK_EMAIL = "copier@example.invalid"

BRANCH = "main"

# The template's own folder: copier runs this file from its checkout.
TEMPLATE_ROOT = Path(__file__).resolve().parent.parent


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
    """The recorded answers ({} when the file is missing or not a mapping)."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError:
        return {}
    return data if isinstance(data, dict) else {}


def inside_work_tree() -> bool:
    proc = git("rev-parse", "--is-inside-work-tree")
    return proc.returncode == 0 and proc.stdout.strip() == "true"


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


def copier_pin(root: Path = TEMPLATE_ROOT) -> str:
    """The Copier version the README's commands pin: requirements.txt's
    (the one source), else the version of the Copier running this hook."""
    try:
        found = re.search(r"^copier==(\S+)$", (root / "requirements.txt").read_text(), re.M)
    except OSError:
        found = None
    return found.group(1) if found else metadata.version("copier")


def is_release(commit: object) -> bool:
    """Whether the answers' `_commit` is a release tag, as Copier reads one (a
    PEP 440 version), not `git describe`'s <tag>-<count>-g<hash> or a bare hash."""
    if not isinstance(commit, str) or re.search(r"-\d+-g[0-9a-f]+$", commit):
        return False
    if re.fullmatch(r"[0-9a-f]{7,40}", commit):
        return False
    try:
        Version(commit)
    except InvalidVersion:
        return False
    return True


def update_step(answers: dict) -> str:
    """The next-steps line for `copier update`, as it works for this copy."""
    if not answers.get("_commit"):
        return ("  (`copier update` needs a template in git: this one was copied from a"
                " plain folder)")
    command = f"uvx copier@{copier_pin()} update --trust --defaults"
    comment = "# later: bring in template changes, keeping your edits"
    if not is_release(answers["_commit"]):
        return (f"  {command} --vcs-ref=HEAD   {comment}\n"
                "  (--vcs-ref=HEAD because this copy is of a commit, not of a release)")
    return f"  {command}   {comment}"


def by_hand(quiet: bool) -> None:
    say("  git init -b main && git add -A && git commit -m 'Generate the project'", quiet)
    say("`copier update` works once the project is a git repository with a clean tree.", quiet)


# Sources `copier update` can find again from inside the project: URLs, scp-like
# git addresses, Copier's gh:/gl: shortcuts, absolute and home-relative paths.
FINDABLE_SOURCE = ("gh:", "gl:", "git@", "git+", "/", "~")


def relative_source_warning(source: object) -> str:
    """What to do when the template was recorded by a relative path ("" if it was not).

    `copier update` reads `_src_path` from inside the project, where a relative
    path names some other folder, so the update would fail to find the template.
    """
    if not isinstance(source, str) or "://" in source or source.startswith(FINDABLE_SOURCE):
        return ""
    # The folder copier was started in: the shell's PWD, which copier's change
    # of directory for this task did not update.
    guess = Path(os.environ.get("PWD", "."), source).resolve()
    absolute = str(guess) if (guess / "copier.yml").is_file() else "/absolute/path/to/the/template"
    return (
        f"Warning: .copier-answers.yml records the template by the relative path {source!r}"
        " (_src_path).\n"
        "`copier update`, run in the project, would look for it there and not find it.\n"
        "Record the template's absolute path, then commit:\n"
        f"  in .copier-answers.yml, change the line `_src_path: {source}` to `_src_path: {absolute}`\n"
        "  git commit -am \"Record the template's absolute path\"\n"
        "Next time, give copier an absolute path or a URL, e.g."
        " copier copy --trust \"$PWD\" ../my-function"
    )


def make_first_commit(answers: dict, quiet: bool) -> None:
    where = Path.cwd()
    if not shutil.which("git"):
        say("Note: git is not installed, so the project is not a git repository yet.", quiet)
        say("Once git is installed, run in the project:", quiet)
        by_hand(quiet)
        return

    if inside_work_tree():
        top = git("rev-parse", "--show-toplevel").stdout.strip()
        say(f"The project is inside the git repository {top}: no new repository made.", quiet)
        say("Next steps with git:", quiet)
        say(f"  git add {where} && git commit   # `copier update` needs a clean tree", quiet)
        say(update_step(answers), quiet)
        return

    fallback = identity_fallback()
    steps = [
        ("git init", lambda: git("init", "-q", "-b", BRANCH)),
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
            return

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
    say(update_step(answers), quiet)




def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers-file", default=".copier-answers.yml")
    parser.add_argument("--quiet", default="false", help="true to print nothing")
    args = parser.parse_args(argv)
    quiet = args.quiet.strip().lower() in {"1", "true", "yes"}
    answers = read_answers(Path(args.answers_file))

    trust_mise(quiet)
    make_first_commit(answers, quiet)
    # Printed even with --quiet: without it, the first `copier update` fails.
    warning = relative_source_warning(answers.get("_src_path"))
    if warning:
        print(warning, file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
