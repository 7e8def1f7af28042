"""One rule per name: the region, function name and ECR repository rules, the
log level's choices, the HTTP triggers' CORS origins, and the trigger's
answers the IaC re-checks, are written in copier.yml, in the CDK
app (cdk/lib/config.ts) and in Terraform's variable validation
(terraform/variables.tf.jinja), and each of them judges every value in
tests/rules.yaml as that table says (a trigger's answers in a project with
that trigger)."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import yaml

from conftest import COPIER, ROOT, cdk_node_modules, choice_values, one_per, render_validator, run
from support.iac import terraform_binary

RULES = yaml.safe_load((ROOT / "tests" / "rules.yaml").read_text())
for _question, _table in RULES.items():  # a question with choices: they are its good values
    _table.setdefault("good", choice_values(_question) if "choices" in COPIER[_question] else [])
ROWS = [(q, value, verdict == "good") for q, table in RULES.items() for verdict in ("good", "bad")
        for value in table[verdict]]
# The CDK app's context key for each answer (it takes no region).
CDK_KEY = {"function_name": "functionName", "ecr_repository": "ecrRepository",
           "sqs_batch_size": "sqsBatchSize", "schedule_expression": "scheduleExpression",
           "cors_allow_origins": "corsAllowOrigins", "log_level": "logLevel",
           "alarm_email": "alarmEmail"}
TRIGGERS = sorted({table.get("trigger", "http-api") for table in RULES.values()})


def project(iac: str, trigger: str) -> dict:
    return next(c for c in one_per("iac", "trigger") if c["iac"] == iac and c["trigger"] == trigger)


def rows_for(trigger: str) -> list:
    return [row for row in ROWS if RULES[row[0]].get("trigger", "http-api") == trigger]


def test_the_table_covers_each_rule_both_ways():
    for question, table in RULES.items():
        assert "validator" in COPIER[question] or "choices" in COPIER[question], question
        assert table["good"] and table["bad"], question
        assert COPIER[question]["default"] not in table["bad"]


@pytest.mark.parametrize(("question", "value", "good"),
                         [pytest.param(q, v, g, id=f"{q}={v[:24] if isinstance(v, str) else v!r}") for q, v, g in ROWS])
def test_copier_judges_as_the_table(question, value, good):
    if "choices" in COPIER[question]:
        message = "" if value in choice_values(question) else f"{value!r} is not a choice"
    else:
        message = render_validator(COPIER[question]["validator"], {question: value})
    assert (message == "") == good, message


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_cdk_judges_as_the_table(render, tmp_path, trigger):
    cdk = render(project("cdk", trigger)).path / "cdk"
    cdk_node_modules(cdk)
    rows = [(CDK_KEY[q], v) for q, v, _ in rows_for(trigger) if q in CDK_KEY]
    script = tmp_path / "judge.mts"
    script.write_text(f"""
import {{ ConfigError, readConfig }} from {json.dumps(str(cdk / "lib" / "config.ts"))};
const base: Record<string, unknown> = {{
  stackName: 'stack', functionName: 'fn', ecrRepository: 'repo', imageDigest: 'sha256:' + '0'.repeat(64),
  architecture: 'arm64', memorySize: 128, timeout: 10, logRetentionDays: 14, reservedConcurrency: -1, logLevel: 'INFO',
  functionUrlAuth: 'AWS_IAM', sqsBatchSize: 10, sqsBatchingWindow: 0, scheduleExpression: 'rate(1 hour)',
  scheduleTimezone: 'UTC', alarmEmail: '',
}};
const rows: [string, string][] = JSON.parse(process.argv[2]);
const verdicts = rows.map(([key, value]) => {{
  const context: Record<string, unknown> = {{ ...base, [key]: value }};
  try {{
    readConfig({{ node: {{ tryGetContext: (k: string) => context[k] }} }} as never);
    return true;
  }} catch (err) {{
    if (err instanceof ConfigError && err.message.includes(`"${{key}}"`)) return false;
    throw err;
  }}
}});
console.log(JSON.stringify(verdicts));
""")
    result = run([str(cdk / "node_modules" / ".bin" / "tsx"), str(script), json.dumps(rows)], cdk, timeout=300)
    verdicts = json.loads(result.stdout.strip().splitlines()[-1])
    expected = [g for q, _, g in rows_for(trigger) if q in CDK_KEY]
    wrong = [row for row, verdict, want in zip(rows, verdicts, expected) if verdict != want]
    assert wrong == [], f"the CDK app judges these unlike tests/rules.yaml: {wrong}"


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_terraform_judges_as_the_table(render, tmp_path, trigger):
    """Each value as a run of one `terraform test`: a good one plans, a bad one
    fails that variable's validation. The module under test is the rendered
    variables.tf alone: its validation blocks refer to nothing else (a plan
    would fail on the reference if one did), so no provider is needed, and the
    whole table takes about a second, where planning the whole project with
    the mocked AWS provider took some 3 s per row."""
    binary = terraform_binary()
    if binary is None:
        pytest.skip("neither terraform nor tofu is on PATH (script/bootstrap installs terraform)")
    variables = render(project("terraform", trigger)).path / "terraform" / "variables.tf"
    rows = rows_for(trigger)
    work = tmp_path / "module"
    (work / "tftest").mkdir(parents=True)
    shutil.copy2(variables, work / "variables.tf")
    # The project's own test file gives the variables that have no default.
    tftest = (variables.parent / "tftest" / "validation.tftest.hcl").read_text()
    (defaults,) = re.findall(r"^variables \{\n.*?^\}\n", tftest, re.M | re.S)
    runs = [f'run "row_{i}" {{\n  command = plan\n  variables {{\n    {question} = {json.dumps(value)}\n  }}\n'
            + ("" if good else f"  expect_failures = [var.{question}]\n") + "}\n"
            for i, (question, value, good) in enumerate(rows)]
    (work / "tftest" / "rules.tftest.hcl").write_text(defaults + "\n" + "\n".join(runs))
    result = run([binary, "test", "-test-directory=tftest", "-no-color"], work, check=False, timeout=300)
    failed = [rows[int(line.split('"row_')[1].split('"')[0])] for line in result.stdout.splitlines()
              if '"row_' in line and "fail" in line]
    assert failed == [] and result.returncode == 0, (failed, result.stdout[-3000:], result.stderr[-3000:])
    assert f"{len(rows)} passed, 0 failed" in result.stdout, result.stdout[-2000:]


def test_terraform_takes_the_questions_log_retention_days(render):
    """variables.tf's list of retention days is copier.yml's choices (a copy:
    Terraform cannot read the question)."""
    variables = (render(project("terraform", "http-api")).path / "terraform" / "variables.tf").read_text()
    (listed,) = re.findall(r"contains\(\[([\d, ]+)\], var\.log_retention_days\)", variables)
    assert [int(days) for days in listed.split(",")] == choice_values("log_retention_days")
