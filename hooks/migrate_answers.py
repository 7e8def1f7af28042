#!/usr/bin/env python3
"""Answers migration: carry answers across renamed questions and choice values.

copier.yml runs it through `_migrations` before `copier update` asks the new
template version's questions, in the project's folder:

    python hooks/migrate_answers.py --answers-file .copier-answers.yml \
        --from 1.0.0 --to 1.1.0 [--renames hooks/renames.yml]

It applies every entry of hooks/renames.yml with from < version <= to, oldest
first, and rewrites the answers file only when something changed (an update
without renames leaves the project untouched).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml
from packaging.version import InvalidVersion, Version

HERE = Path(__file__).resolve().parent


class RenamesError(ValueError):
    """hooks/renames.yml is malformed: a template bug, so the update stops."""


def load_renames(path: Path) -> list[dict]:
    data = yaml.safe_load(path.read_text()) or {}
    entries = data.get("renames") or []
    if not isinstance(entries, list):
        raise RenamesError(f"{path}: `renames` must be a list")
    for entry in entries:
        if not isinstance(entry, dict) or "version" not in entry:
            raise RenamesError(f"{path}: every entry needs a `version`: {entry!r}")
        try:
            entry["_version"] = Version(str(entry["version"]))
        except InvalidVersion as error:
            raise RenamesError(f"{path}: {error}") from error
        for key in ("questions", "values"):
            if not isinstance(entry.get(key) or {}, dict):
                raise RenamesError(f"{path}: `{key}` of {entry['version']} must be a mapping")
    return sorted(entries, key=lambda e: e["_version"])


def migrate(answers: dict, entries: list[dict], old: Version, new: Version) -> tuple[dict, list[str]]:
    """The answers with the renames in (old, new] applied, and what changed."""
    changes: list[str] = []
    for entry in entries:
        if not old < entry["_version"] <= new:
            continue
        questions = entry.get("questions") or {}
        if questions:
            renamed = {}
            for key, value in answers.items():
                target = questions.get(key, key)
                if target != key:
                    if target in answers:
                        changes.append(f"{key}: dropped, {target} is already answered")
                        continue
                    changes.append(f"{key} -> {target}")
                renamed[target] = value
            answers = renamed
        for question, mapping in (entry.get("values") or {}).items():
            if question in answers and answers[question] in (mapping or {}):
                new_value = mapping[answers[question]]
                changes.append(f"{question}: {answers[question]!r} -> {new_value!r}")
                answers[question] = new_value
    return answers, changes


def header(text: str) -> str:
    """The comment lines at the top of the answers file, kept as they are."""
    lines = []
    for line in text.splitlines(keepends=True):
        if not line.startswith("#"):
            break
        lines.append(line)
    return "".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers-file", type=Path, default=Path(".copier-answers.yml"))
    parser.add_argument("--from", dest="old", required=True, help="the project's template version")
    parser.add_argument("--to", dest="new", required=True, help="the version being updated to")
    parser.add_argument("--renames", type=Path, default=HERE / "renames.yml")
    args = parser.parse_args(argv)

    try:
        old, new = Version(args.old), Version(args.new)
    except InvalidVersion as error:
        print(f"migrate_answers: {error}; no answers migrated", file=sys.stderr)
        return 0
    try:
        entries = load_renames(args.renames)
    except (OSError, yaml.YAMLError, RenamesError) as error:
        print(f"migrate_answers: {error}", file=sys.stderr)
        return 1

    text = args.answers_file.read_text()
    answers = yaml.safe_load(text) or {}
    migrated, changes = migrate(dict(answers), entries, old, new)
    if not changes:
        return 0
    args.answers_file.write_text(
        header(text) + yaml.safe_dump(migrated, sort_keys=False, default_flow_style=False)
    )
    for change in changes:
        print(f"Migrated answer {change} ({args.answers_file})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
