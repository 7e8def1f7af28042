"""Free-text answers reach every generated file escaped for its format and
read back exactly.

A free-text answer is one the user types with no closed set of characters:
copier.yml's description. project_name, function_name, go_module,
ecr_repository, aws_region and schedule_expression are held to patterns that
admit no quote, backslash, `$`, `{` or ": " (the SAM template quotes the
schedule expression, whose cron fields may hold a "#"); the numbers and
choices are closed. test_every_free_text_answer_has_hostile_values finds the
free-text answers from copier.yml, and tests/cases.yaml's free_text holds
their hostile but valid values, the one list.

Two checks, cheap together:
- each value alone, through each macro of includes/quote.jinja (the one place
  that escapes answers for a format), read back by the format's parser;
- all values joined into one answer of the longest length allowed (conftest's
  hostile_answer), in one project per IaC tool: the very projects test_iac
  validates (cfn-lint, cdk synth with cdk-nag, terraform validate, checkov),
  so the joined answer adds no render and no synth. Every generated file that
  holds the answer (found by the marker inside it) must have a reader below,
  and each reader must give the answer back. The joined answer tests the
  values in the middle of a line; the values alone test them at its start and
  end, where YAML and Markdown treat characters differently.
"""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path

import pytest
import yaml
from markdown_it import MarkdownIt

from conftest import COPIER, FREE_TEXT, FREE_TEXT_MARKER, hostile_answer, render_validator, run
from support.iac import IAC_PROJECTS, IACS, cdk_synth, osls_package, sam_transformed

# GitHub renders READMEs as CommonMark with tables and strikethrough.
MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def cases() -> list:
    return [pytest.param(q, v, id=f"{q}-{i}") for q, values in FREE_TEXT.items()
            for i, v in enumerate([*values, hostile_answer(q)])]


@pytest.mark.parametrize(("question", "value"), cases())
def test_hostile_values_are_valid_answers(question, value):
    assert render_validator(COPIER[question]["validator"], {question: value}) == ""


def test_every_free_text_answer_has_hostile_values():
    """A str question without choices whose validator allows a quote, a
    backslash and a colon followed by a space is free text: it needs values."""
    probe = "a: 'b' \"c\" \\ ${ d } #e"
    free = {q for q, spec in COPIER.items()
            if not q.startswith("_") and isinstance(spec, dict) and spec.get("type") == "str"
            and "choices" not in spec and spec.get("when") is not False
            and not render_validator(spec.get("validator", ""), {q: probe})}
    assert free == set(FREE_TEXT)


# --- Each value alone, through each format's macro ----------------------------------

@functools.cache
def jinja_env(template: Path):
    """Copier's Jinja environment for the template (from copier's internal
    module, as matrix.copier_jinja_env: Copier has no public accessor)."""
    from copier._main import Worker

    return Worker(src_path=str(template), dst_path=str(template / "unused")).jinja_env


def macro(template_snapshot: Path, name: str, value: str) -> str:
    """includes/quote.jinja's macro applied to the value, in Copier's own Jinja environment."""
    source = f"{{% from 'includes/quote.jinja' import {name} %}}{{{{ {name}(value) }}}}"
    return jinja_env(template_snapshot).from_string(source).render(value=value)


def markdown_paragraph(text: str) -> str:
    """The text of the paragraph after the first heading, as a CommonMark
    reader sees it: a value that became markup (a heading, a list, emphasis, a
    link, HTML, an entity) loses or changes characters here."""
    tokens = MARKDOWN.parse(text)
    after = next(i for i, t in enumerate(tokens) if t.type == "heading_close") + 1
    assert [t.type for t in tokens[after:after + 3]] == ["paragraph_open", "inline", "paragraph_close"], \
        [t.type for t in tokens[after:after + 3]]
    children = tokens[after + 1].children
    assert {c.type for c in children} == {"text"}, [(c.type, c.content) for c in children]
    return "".join(c.content for c in children)


def typescript_strings(literals: list[str], cdk_folder: Path) -> list:
    """The string literals evaluated by Node (TypeScript's string literals are JavaScript's)."""
    source = "console.log(JSON.stringify([\n" + ",\n".join(literals) + "\n]));\n"
    return json.loads(subprocess.run(["node", "-"], input=source, capture_output=True, text=True, check=True,
                                     cwd=cdk_folder).stdout)


@pytest.mark.parametrize(("question", "value"), cases())
def test_each_value_reads_back_through_each_format(template_snapshot, tmp_path, question, value):
    # YAML: at the top level and as a mapping's value, where ": " and " #" bite.
    written = macro(template_snapshot, "yaml_str", value)
    assert "\n" not in written
    assert yaml.safe_load(written) == value
    assert yaml.safe_load(f"Description: {written}\nNext: 1\n") == {"Description": value, "Next": 1}
    # JSON, and TypeScript through Node.
    written = macro(template_snapshot, "json_str", value)
    assert json.loads(written) == value
    assert typescript_strings([written], tmp_path) == [value]
    # Markdown: the README's paragraph under its title.
    written = macro(template_snapshot, "md_text", value)
    assert markdown_paragraph(f"# title\n\n{written}\n\nnext\n") == value


# --- All values joined, in every file of a project per IaC tool -----------------------

def read_answers(project: Path, question: str) -> list:
    return [yaml.safe_load((project / ".copier-answers.yml").read_text())[question]]


def read_readme(project: Path, question: str) -> list:
    return [markdown_paragraph((project / "README.md").read_text())]


def read_sam(project: Path, question: str) -> list:
    """The stack's and the function's description, as cfn-lint reads the
    template (after linting it) and as SAM's translator passes them on."""
    run(["cfn-lint", "sam/template.yaml"], project)
    translated = sam_transformed(project)
    (fn,) = [r for r in translated["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    return [translated["Description"], fn["Properties"]["Description"]]


def read_cdk_app(project: Path, question: str) -> list:
    """The stack's description in the template the CDK app synthesizes
    (TypeScript compiled and run; test_iac's synth, cached per project)."""
    return [cdk_synth(project)["Description"]]


def read_serverless(project: Path, question: str) -> list:
    """The stack's and the function's description in the template osls
    packages (test_iac's package, cached per project), after osls resolved
    its ${...} variables in every string of serverless.yml."""
    template = osls_package(project)
    (fn,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    return [template["Description"], fn["Properties"]["Description"]]


# The generated files that hold a free-text answer, and how to read it back.
READERS = {
    ".copier-answers.yml": read_answers,
    "README.md": read_readme,
    "sam/template.yaml": read_sam,
    "cdk/bin/app.ts": read_cdk_app,
    "serverless/serverless.yml": read_serverless,
}
# What tests and tools make inside a project, not the template.
NOT_GENERATED = {".git", "node_modules", "cdk.out", ".terraform", ".serverless", "build", "target"}


def files_holding(project: Path, text: str) -> set[str]:
    found = set()
    for path in project.rglob("*"):
        rel = path.relative_to(project)
        if path.is_file() and not NOT_GENERATED & set(rel.parts) and text.encode() in path.read_bytes():
            found.add(rel.as_posix())
    return found


# One project per IaC tool: test_iac's HTTP API project, which carries the
# joined answers (test_iac.CUSTOM) through every IaC check there.
PROJECTS = [next(c for c in IAC_PROJECTS if c["iac"] == iac and c["trigger"] == "http-api") for iac in IACS]


@pytest.mark.parametrize("answers", [pytest.param(c, id=c["iac"]) for c in PROJECTS])
@pytest.mark.parametrize("question", sorted(FREE_TEXT))
def test_joined_values_read_back_from_every_file(render, answers, question):
    answer = hostile_answer(question)
    assert answers[question] == answer, "test_iac.CUSTOM answers the free-text questions with hostile_answer"
    project = render(answers).path
    holding = files_holding(project, FREE_TEXT_MARKER)
    assert holding - set(READERS) == set(), "add a reader to READERS for these files"
    assert {".copier-answers.yml", "README.md"} <= holding
    for path in sorted(holding):
        got = READERS[path](project, question)
        assert got and got == [answer] * len(got), path
