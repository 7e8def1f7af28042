"""Every question refuses bad input, says which question and which rule, and
nothing is written to the destination.

The table below has a row per rule; `test_every_rule_has_a_row` keeps it in
step with copier.yml. Choices that copier.yml lists but disables are read from
copier.yml, so enabling one moves it from the refused to the accepted side.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import copier
import pytest
import yaml

from conftest import COPIER, MATRIX_QUESTIONS, choice_values, render_validator, snapshot_template
from support.choices import TRIGGERS

DEFAULT_ANSWERS = {
    q: spec["default"] for q, spec in COPIER.items() if not q.startswith("_") and "default" in spec
}

# question, bad answer, words of the rule the message must state
BAD = [
    ("project_name", "My-Function", "lowercase letters, digits and hyphens"),
    ("project_name", "1-function", "starting with a letter"),
    ("project_name", "my-function-", "not ending with a hyphen"),
    ("project_name", "x", "2-64 characters"),
    ("project_name", "f" * 65, "2-64 characters"),
    ("project_name", "my_function", "lowercase letters, digits and hyphens"),
    ("description", "", "must not be empty"),
    ("description", "   ", "must not be empty"),
    ("description", "two\nlines", "single line"),
    ("description", "two\u2028lines", "single line"),
    ("description", "a\ttab", "control characters"),
    ("description", " leading space", "must not begin or end with a space"),
    ("description", "trailing space ", "must not begin or end with a space"),
    ("description", "d" * 257, "at most 256 characters"),
    ("description", "Runs in ${AWS::Region}", "${Name} written without spaces"),
    ("language", "cobol", "'cobol' is not in"),
    ("go_module", "my-function", "module path such as example.com/my-function"),
    ("go_module", "Example.com/my-function", "a lowercase host"),
    ("go_module", "example.com/", "one or more path elements"),
    ("architecture", "arm", "'arm' is not in"),
    ("architecture", "amd64", "'amd64' is not in"),
    ("iac", "cobol", "'cobol' is not in"),
    ("base_image", "alpine", "'alpine' is not in"),
    ("aws_region", "US-EAST-1", "AWS region code such as us-east-1"),
    ("aws_region", "us-east", "AWS region code such as us-east-1"),
    ("aws_region", "us-east-1a", "AWS region code such as us-east-1"),
    ("aws_region", "useast1", "AWS region code such as us-east-1"),
    ("function_name", "my function", "letters, digits, hyphens and underscores"),
    ("function_name", "my.function", "letters, digits, hyphens and underscores"),
    ("function_name", "f" * 65, "1-64 characters"),
    ("ecr_repository", "My-Repo", "lowercase letters, digits and . _ - /"),
    ("ecr_repository", "r", "2-256 characters"),
    ("ecr_repository", "-repo", "starting and ending with a letter or digit"),
    ("ecr_repository", "repo-", "starting and ending with a letter or digit"),
    ("ecr_repository", "team//repo", "each path part"),
    ("ecr_repository", "r" * 257, "2-256 characters"),
    ("memory_size", 127, "whole number between 128 and 10240 MB"),
    ("memory_size", 10241, "between 128 and 10240 MB"),
    ("memory_size", 0, "between 128 and 10240 MB"),
    ("timeout", 0, "between 1 and 900 seconds"),
    ("timeout", 901, "between 1 and 900 seconds"),
    ("timeout", -5, "between 1 and 900 seconds"),
    ("log_retention_days", 2, "2 is not in"),
    ("log_retention_days", 10, "10 is not in"),
    ("log_level", "VERBOSE", "'VERBOSE' is not in"),
    ("log_level", "info", "'info' is not in"),
    ("trigger", "s3", "'s3' is not in"),
    ("trigger", "http", "'http' is not in"),
    ("function_url_auth", "IAM", "'IAM' is not in"),
    ("function_url_auth", "none", "'none' is not in"),
    ("sqs_batch_size", 0, "whole number between 1 and 10000"),
    ("sqs_batch_size", 10001, "between 1 and 10000"),
    ("sqs_batch_size", "ten", "whole number between 1 and 10000"),
    ("sqs_batching_window", -1, "whole number of seconds between 0 and 300"),
    ("sqs_batching_window", 301, "between 0 and 300"),
    ("schedule_expression", "rate(1 minutes)", "rate(1 minute|hour|day)"),
    ("schedule_expression", "rate(5 minute)", "rate(N minutes|hours|days) with a whole N above 1"),
    ("schedule_expression", "rate(0 hours)", "with a whole N above 1"),
    ("schedule_expression", "rate(5 weeks)", "rate(N minutes|hours|days)"),
    ("schedule_expression", "cron(0 8 * * ?)", "with six fields"),
    ("schedule_expression", "0 8 * * ? *", "cron(minutes hours day-of-month month day-of-week year)"),
    ("schedule_expression", "at(2026-12-01T08:00:00)", "schedule_expression must be rate("),
    ("schedule_expression", 'cron(0 8 ? * "MON" *)', "six fields of digits, letters and , - * ? / #"),
    ("schedule_timezone", "Europe/Berlín", "IANA time zone name such as UTC"),
    ("schedule_timezone", "utc", "IANA time zone name such as UTC"),
    ("schedule_timezone", "GMT+2", "IANA time zone name such as UTC"),
    ("schedule_timezone", "", "IANA time zone name such as UTC"),
    ("cors_allow_origins", "https://app.example.com/", "no path and no trailing slash"),
    ("cors_allow_origins", "app.example.com", "scheme://host[:port]"),
    ("cors_allow_origins", "https://App.example.com", "in lowercase"),
    ("cors_allow_origins", "ftp://app.example.com", "with http or https"),
    ("cors_allow_origins", "*,https://app.example.com", "must be * alone"),
    ("cors_allow_origins", "https://a.example.com,,https://b.example.com", "separated by commas"),
    ("reserved_concurrency", 0, "0 would stop the function"),
    ("reserved_concurrency", -2, "-1 (no reservation) or a whole number of instances from 1"),
    ("reserved_concurrency", "ten", "-1 (no reservation) or a whole number"),
    ("reserved_concurrency", 2.5, "-1 (no reservation) or a whole number"),
    ("alarm_email", "ops@example", "empty (no notifications) or an email address such as ops@example.com"),
    ("alarm_email", "ops", "empty (no notifications) or an email address"),
    ("alarm_email", "ops @example.com", "empty (no notifications) or an email address"),
]

# The trigger a question is asked for (its `when`): the rows above answer it too.
ASKED_WHEN = {question: {"trigger": trigger} for trigger, data in TRIGGERS.items() for question in data["questions"]}

# question, good boundary answer, what the rendered project must then contain
GOOD = [
    ("memory_size", 128, ("sam/template.yaml", "MemorySize: 128\n")),
    ("memory_size", 10240, ("sam/template.yaml", "MemorySize: 10240\n")),
    ("timeout", 1, ("sam/template.yaml", "Timeout: 1\n")),
    ("timeout", 900, ("sam/template.yaml", "Timeout: 900\n")),
    ("project_name", "ab", (".copier-answers.yml", "project_name: ab\n")),
    ("project_name", "f" * 64, (".copier-answers.yml", f"project_name: {'f' * 64}\n")),
    ("function_name", "F_" * 32, ("sam/template.yaml", f"FunctionName: {'F_' * 32}\n")),
    ("ecr_repository", "team/my.repo_x", (".copier-answers.yml", "ecr_repository: team/my.repo_x\n")),
    ("aws_region", "us-gov-west-1", (".copier-answers.yml", "aws_region: us-gov-west-1\n")),
    ("aws_region", "eu-central-2", (".copier-answers.yml", "aws_region: eu-central-2\n")),
    ("log_retention_days", 3653, ("sam/template.yaml", "RetentionInDays: 3653\n")),
    ("log_level", "TRACE", ("sam/template.yaml", "ApplicationLogLevel: TRACE\n        SystemLogLevel: DEBUG\n")),
    ("log_level", "FATAL", ("sam/template.yaml", "ApplicationLogLevel: FATAL\n        SystemLogLevel: INFO\n")),
    ("sqs_batch_size", 1, (".copier-answers.yml", "sqs_batch_size: 1\n")),
    ("sqs_batch_size", 10000, (".copier-answers.yml", "sqs_batching_window: 1\n")),
    ("sqs_batching_window", 300, (".copier-answers.yml", "sqs_batching_window: 300\n")),
    ("schedule_expression", "rate(1 minute)", (".copier-answers.yml", "schedule_expression: rate(1 minute)\n")),
    ("schedule_expression", "rate(15 minutes)", (".copier-answers.yml", "schedule_expression: rate(15 minutes)\n")),
    ("schedule_expression", "cron(0 8 ? * MON-FRI *)",
     (".copier-answers.yml", "schedule_expression: cron(0 8 ? * MON-FRI *)\n")),
    # A "#" after a space starts a YAML comment unless the value is quoted.
    ("schedule_expression", "cron(0 8 ? * #1 *)", ("sam/template.yaml", 'ScheduleExpression: "cron(0 8 ? * #1 *)"\n')),
    # Lambda's limit; test_free_text reads such an answer back from every file.
    ("description", "d" * 256, ("sam/template.yaml", f'Description: "{"d" * 256}"\n')),
    ("function_url_auth", "NONE", (".copier-answers.yml", "function_url_auth: NONE\n")),
    ("schedule_timezone", "UTC", ("sam/template.yaml", "ScheduleExpressionTimezone: UTC\n")),
    ("schedule_timezone", "America/Argentina/Buenos_Aires",
     ("sam/template.yaml", "ScheduleExpressionTimezone: America/Argentina/Buenos_Aires\n")),
    ("cors_allow_origins", "*", ("sam/template.yaml", 'AllowOrigins: ["*"]\n')),
    ("cors_allow_origins", "https://app.example.com, http://localhost:3000",
     ("sam/template.yaml", 'AllowOrigins: ["https://app.example.com", "http://localhost:3000"]\n')),
    ("cors_allow_origins", "", (".copier-answers.yml", "cors_allow_origins: ''\n")),
    ("reserved_concurrency", 1, ("sam/template.yaml", "ReservedConcurrentExecutions: 1\n")),
    ("reserved_concurrency", -1, (".copier-answers.yml", "reserved_concurrency: -1\n")),
    ("alarm_email", "first.last+alerts@mail.example.co.uk",
     ("sam/template.yaml", 'Endpoint: "first.last+alerts@mail.example.co.uk"\n')),
    ("alarm_email", "", ("sam/template.yaml", "notify no one (alarm_email was left empty)")),
]


@pytest.mark.parametrize(("trigger", "auth", "default"), [
    ("function-url", "NONE", 10), ("function-url", "AWS_IAM", -1), ("http-api", None, -1)])
def test_a_public_function_url_reserves_concurrency_by_default(template, tmp_path, trigger, auth, default):
    """A public URL has no throttle: the default caps it at 10 instances (and
    drops checkov's CKV_AWS_115 skip, whose reason no longer holds)."""
    dst = tmp_path / "my-fn"
    copy(template, dst, {"trigger": trigger, **({"function_url_auth": auth} if auth else {})})
    assert yaml.safe_load((dst / ".copier-answers.yml").read_text())["reserved_concurrency"] == default
    sam = (dst / "sam" / "template.yaml").read_text()
    assert ("ReservedConcurrentExecutions: 10\n" in sam) == (default == 10)
    assert ("CKV_AWS_115" in sam) == (default == -1)


def disabled_choices() -> list[tuple[str, object, str, dict]]:
    """(question, value, the validator's message, the other answers that disable
    it) for every choice that some combination of earlier answers disables."""
    found = []
    for question, spec in COPIER.items():
        choices = spec.get("choices") if isinstance(spec, dict) else None
        if not isinstance(choices, dict):
            continue
        for choice in choices.values():
            if not (isinstance(choice, dict) and choice.get("validator")):
                continue
            # The validator may depend on any other matrix answer (base_image=scratch
            # is refused for language=custom): try each combination of them.
            others = [q for q in MATRIX_QUESTIONS if q != question]
            for values in itertools.product(*(choice_values(q) for q in others)):
                context = dict(zip(others, values))
                answers = {**DEFAULT_ANSWERS, **context, question: choice["value"]}
                message = render_validator(choice["validator"], answers)
                if message:
                    found.append((question, choice["value"], message, context))
                    break
    return found


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """This working tree's template, copied once (no git clone per case)."""
    return snapshot_template(tmp_path_factory.mktemp("template") / "lambda-template")


def copy(template: Path, dst: Path, data: dict) -> None:
    copier.run_copy(
        str(template),
        str(dst),
        data={"project_name": "my-fn", **data},
        defaults=True,
        unsafe=True,
        quiet=True,
    )


def assert_refused(template: Path, tmp_path: Path, data: dict, *words: str) -> None:
    dst = tmp_path / "my-fn"
    dst.mkdir()
    with pytest.raises(ValueError) as refused:
        copy(template, dst, data)
    message = str(refused.value)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    assert list(dst.iterdir()) == [], "files were written although an answer was refused"


@pytest.mark.parametrize(
    ("question", "bad", "rule"),
    [pytest.param(q, v, r, id=f"{q}={str(v)[:20]!r}") for q, v, r in BAD],
)
def test_bad_answer_is_refused_naming_question_and_rule(template, tmp_path, question, bad, rule):
    assert_refused(template, tmp_path, {**ASKED_WHEN.get(question, {}), question: bad}, f"'{question}'", rule)


def test_a_batch_above_ten_needs_a_batching_window(template, tmp_path):
    assert_refused(template, tmp_path, {"trigger": "sqs", "sqs_batch_size": 11, "sqs_batching_window": 0},
                   "'sqs_batching_window'", "at least 1 second when sqs_batch_size is above 10")


def test_trigger_questions_are_asked_only_for_their_trigger(template, tmp_path):
    """An HTTP API project records none of the other triggers' answers."""
    dst = tmp_path / "my-fn"
    copy(template, dst, {})
    recorded = yaml.safe_load((dst / ".copier-answers.yml").read_text())
    assert recorded["trigger"] == "http-api"
    assert set(ASKED_WHEN) & set(recorded) == set()


@pytest.mark.parametrize(
    ("question", "value", "reason", "context"),
    [pytest.param(q, v, r, c, id=f"{q}={v}") for q, v, r, c in disabled_choices()],
)
def test_disabled_choice_is_refused_with_its_reason(template, tmp_path, question, value, reason, context):
    dst = tmp_path / "my-fn"
    dst.mkdir()
    with pytest.raises(ValueError) as refused:
        copy(template, dst, {**context, question: value})
    message = " ".join(str(refused.value).split())
    assert f"'{question}'" in message and reason in message, message
    assert list(dst.iterdir()) == [], "files were written although an answer was refused"


def test_scratch_is_disabled_only_for_custom():
    assert [(q, v, c["language"]) for q, v, _, c in disabled_choices()] == [("base_image", "scratch", "custom")]


def test_refused_copy_does_not_create_the_destination(template, tmp_path):
    dst = tmp_path / "never-created"
    with pytest.raises(ValueError, match="'memory_size'"):
        copy(template, dst, {"memory_size": 99999})
    assert not dst.exists()


@pytest.mark.parametrize("question", ["memory_size", "timeout"])
@pytest.mark.parametrize("value", ["lots", 256.5, True])
def test_non_integer_is_refused_and_nothing_written(template, tmp_path, question, value):
    dst = tmp_path / "my-fn"
    dst.mkdir()
    with pytest.raises(ValueError, match=f"'{question}'.*must be a whole number"):
        copy(template, dst, {question: value})
    assert list(dst.iterdir()) == []


@pytest.mark.parametrize(
    ("question", "value", "expected"),
    [pytest.param(q, v, e, id=f"{q}={str(v)[:20]}") for q, v, e in GOOD],
)
def test_boundary_answers_are_accepted(template, tmp_path, question, value, expected):
    dst = tmp_path / "my-fn"
    copy(template, dst, {**ASKED_WHEN.get(question, {}), question: value})
    assert yaml.safe_load((dst / ".copier-answers.yml").read_text())[question] == value
    path, text = expected
    assert text in (dst / path).read_text()


def test_every_rule_has_a_row():
    """Each question with a validator or choices has bad answers in the table,
    and every enabled choice is accepted by the table's rule (not refused)."""
    checked = {q for q, _, _ in BAD}
    ruled = {
        q
        for q, spec in COPIER.items()
        if not q.startswith("_") and isinstance(spec, dict) and ("validator" in spec or "choices" in spec)
    }
    assert ruled - checked == set(), "add rows to BAD for these questions"
    for question in ("memory_size", "timeout"):
        assert question in {q for q, _, _ in GOOD}
    disabled = {(q, v) for q, v, _, _ in disabled_choices()}
    for question, bad, _ in BAD:
        if "choices" in COPIER[question]:
            assert bad not in choice_values(question) or (question, bad) in disabled
