"""The per-choice test data of tests/data: one file per trigger and one per
IaC tool (tests/data/README.md), keyed by copier.yml's choice values."""

from __future__ import annotations

from pathlib import Path

import yaml

DATA = Path(__file__).resolve().parent.parent / "data"


def _load(folder: str) -> dict[str, dict]:
    return {path.stem: yaml.safe_load(path.read_text()) for path in sorted((DATA / folder).glob("*.yaml"))}


# {trigger: its data}, {tool: its data}; the question each folder answers.
TRIGGERS = _load("triggers")
IAC_TOOLS = _load("iac")
PER_CHOICE = {"trigger": TRIGGERS, "iac": IAC_TOOLS}


def output_name(iac: str, output: str) -> str:
    """A stack output, named by CloudFormation, under the IaC tool's own name."""
    return IAC_TOOLS[iac]["outputs"].get(output, output)


def trigger_outputs() -> set[str]:
    """Every trigger's outputs, by CloudFormation's names."""
    return {o for data in TRIGGERS.values() for o in data["outputs"]}
