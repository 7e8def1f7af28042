"""Where a trigger and an IaC tool live in the template.

Each trigger and each IaC tool has places of its own: files and folders whose
names carry its condition (`{% if iac == 'cdk' %}cdk{% endif %}/`,
`{% if trigger == 'sqs' %}sqs.tf{% endif %}`, `event_kind == 'sqs'` for the
triggers of that event kind) or its value (includes/iac/sam/,
includes/iac/sam/triggers/sqs.yaml.jinja). Everywhere else is shared, and the
fewer shared files name a choice, the fewer files adding or changing one
touches. The template here is copier.yml, template/ and includes/.

"Names" is the value as a word, case-sensitive (`sqs`, `terraform`; not
`aws_sqs_queue` nor "Terraform" in prose), except before a colon: a YAML key
such as Dependabot's `schedule:` or an IAM action such as `sqs:SendMessage`
names no choice.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import ROOT, choice_values, event_kind

# At most this many files outside a tool's own places name the tool.
TOOL_LIMIT = 3
# The goal for the triggers is the same 3 shared files (issue 24); until the
# remaining per-trigger branches (CDK config.ts and cdk.json, Terraform's lambda.tf,
# variables.tf and tftest, README, ci.yml, Cargo files...) move into fragments, this
# is a ratchet: the count as it is, which may only go down.
TRIGGER_GOAL = 3
TRIGGER_LIMIT = 15


def template_files() -> list[Path]:
    files = [ROOT / "copier.yml"]
    for folder in ("template", "includes"):
        files += sorted(p for p in (ROOT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return files


def bare(component: str) -> str:
    """A path component's name without .jinja and its own extension."""
    return component.removesuffix(".jinja").split(".")[0]


def owns(question: str, value: str, path: Path) -> bool:
    """Whether the path is one of the value's own places."""
    for component in path.relative_to(ROOT).parts:
        conditions = re.findall(r"\{%.*?%\}", component)
        if any(re.search(rf"\b{question}\b[^%]*'{re.escape(value)}'", c) and "!=" not in c for c in conditions):
            return True
        if question == "trigger" and any(f"event_kind == '{event_kind(value)}'" in c for c in conditions):
            return True
        if not conditions and bare(component) == value:
            return True
    return False


def names(value: str, path: Path) -> bool:
    word = rf"(?<![\w-]){re.escape(value)}(?![\w:-])"
    text = path.read_text(errors="replace")
    name = re.sub(r"\{%.*?%\}", "", path.name)  # the file's own name, not its condition
    return bool(re.search(word, text) or re.search(word, name))


def tool_files(tool: str) -> list[str]:
    """Files outside the tool's own places that name it."""
    return [str(p.relative_to(ROOT)) for p in template_files() if not owns("iac", tool, p) and names(tool, p)]


def shared_trigger_files(trigger: str) -> list[str]:
    """Files that no trigger owns and that name this one."""
    triggers = choice_values("trigger")
    return [str(p.relative_to(ROOT)) for p in template_files()
            if not any(owns("trigger", t, p) for t in triggers) and names(trigger, p)]


@pytest.mark.parametrize("tool", choice_values("iac"))
def test_an_iac_tool_is_named_in_few_files_outside_its_own(tool):
    named = tool_files(tool)
    assert len(named) <= TOOL_LIMIT, (
        f"{len(named)} files outside {tool}'s own places name it (at most {TOOL_LIMIT}): {named}; "
        f"move its part into includes/iac/{tool}/ or a file named for it")


@pytest.mark.parametrize("trigger", choice_values("trigger"))
def test_a_trigger_is_named_in_few_shared_files(trigger):
    named = shared_trigger_files(trigger)
    assert len(named) <= TRIGGER_LIMIT, (
        f"{len(named)} shared files name {trigger} (at most {TRIGGER_LIMIT}, the goal {TRIGGER_GOAL}): "
        f"{named}; move its part into a fragment named for it")


def test_the_places_are_recognised():
    """The counts mean something: each choice owns files, and a shared file
    that names it is counted."""
    sam_template = ROOT / "template" / "{% if iac == 'sam' %}sam{% endif %}" / "template.yaml.jinja"
    assert owns("iac", "sam", sam_template) and not owns("iac", "cdk", sam_template)
    assert owns("iac", "sam", ROOT / "includes" / "iac" / "sam" / "deploy.sh.jinja")
    assert owns("trigger", "sqs", ROOT / "includes" / "iac" / "sam" / "triggers" / "sqs.yaml.jinja")
    handlers = ROOT / "template" / "{% if language == 'go' %}internal{% endif %}" / "handler"
    assert owns("trigger", "sqs", handlers / "{% if event_kind == 'sqs' %}handler.go{% endif %}")
    assert not owns("trigger", "http-api", handlers / "{% if event_kind == 'sqs' %}handler.go{% endif %}")
    assert "copier.yml" in tool_files("terraform") and "copier.yml" in shared_trigger_files("sqs")
    for tool in choice_values("iac"):
        assert any(owns("iac", tool, p) for p in template_files()), f"no file is {tool}'s own"
    for trigger in choice_values("trigger"):
        assert any(owns("trigger", trigger, p) for p in template_files()), f"no file is {trigger}'s own"
