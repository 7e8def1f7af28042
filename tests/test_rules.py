"""One rule per name: the region, function name and ECR repository rules are
written in copier.yml, in the CDK app (cdk/lib/config.ts) and in Terraform's
variable validation (terraform/variables.tf.jinja), and each of them judges
every value in tests/rules.yaml as that table says."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import yaml

from conftest import COPIER, ROOT, cdk_node_modules, one_per, render_validator, run
from test_iac import terraform_binary

RULES = yaml.safe_load((ROOT / "tests" / "rules.yaml").read_text())
ROWS = [(q, value, verdict == "good") for q, table in RULES.items() for verdict in ("good", "bad")
        for value in table[verdict]]
# The CDK app's context key for each answer (it takes no region).
CDK_KEY = {"function_name": "functionName", "ecr_repository": "ecrRepository"}
# Every trigger's Terraform project: a trigger may add variables of its own.
TERRAFORM_PER_TRIGGER = [c for c in one_per("iac", "trigger") if c["iac"] == "terraform"]
CDK = next(c for c in one_per("iac") if c["iac"] == "cdk")


def test_the_table_covers_each_rule_both_ways():
    for question, table in RULES.items():
        assert "validator" in COPIER[question], question
        assert table["good"] and table["bad"], question
        assert COPIER[question]["default"] not in table["bad"]


@pytest.mark.parametrize(("question", "value", "good"),
                         [pytest.param(q, v, g, id=f"{q}={v[:24]!r}") for q, v, g in ROWS])
def test_copier_judges_as_the_table(question, value, good):
    message = render_validator(COPIER[question]["validator"], {question: value})
    assert (message == "") == good, message


def test_cdk_judges_as_the_table(render, tmp_path):
    cdk = render(CDK).path / "cdk"
    cdk_node_modules(cdk)
    rows = [(CDK_KEY[q], v) for q, v, _ in ROWS if q in CDK_KEY]
    script = tmp_path / "judge.mts"
    script.write_text(f"""
import {{ ConfigError, readConfig }} from {json.dumps(str(cdk / "lib" / "config.ts"))};
const base: Record<string, unknown> = {{
  stackName: 'stack', functionName: 'fn', ecrRepository: 'repo', imageDigest: 'sha256:' + '0'.repeat(64),
  architecture: 'arm64', memorySize: 128, timeout: 10, logRetentionDays: 14,
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
    expected = [g for q, _, g in ROWS if q in CDK_KEY]
    wrong = [row for row, verdict, want in zip(rows, verdicts, expected) if verdict != want]
    assert wrong == [], f"the CDK app judges these unlike tests/rules.yaml: {wrong}"


def test_terraform_judges_as_the_table(render, tmp_path):
    """Each value as a run of one `terraform test`: a good one plans, a bad one
    fails that variable's validation. The module under test is the rendered
    variables.tf alone: its validation blocks refer to nothing else (a plan
    would fail on the reference if one did), so no provider is needed, and the
    whole table takes about a second, where planning the whole project with
    the mocked AWS provider took some 3 s per row. A question whose variable
    exists for some triggers only is judged by the first project that has it."""
    binary = terraform_binary()
    if binary is None:
        pytest.skip("neither terraform nor tofu is on PATH (script/bootstrap installs terraform)")
    declaring = {}  # question -> the variables.tf that declares it
    for answers in TERRAFORM_PER_TRIGGER:
        if set(declaring) == set(RULES):
            break
        variables = render(answers).path / "terraform" / "variables.tf"
        for question in RULES:
            if question not in declaring and f'variable "{question}" {{' in variables.read_text():
                declaring[question] = variables
    assert set(declaring) == set(RULES), f"no Terraform project declares {set(RULES) - set(declaring)}"
    for variables in dict.fromkeys(declaring.values()):
        rows = [(i, row) for i, row in enumerate(ROWS) if declaring[row[0]] == variables]
        work = tmp_path / f"module-{len(list(tmp_path.iterdir()))}"
        (work / "tftest").mkdir(parents=True)
        shutil.copy2(variables, work / "variables.tf")
        # The project's own test file gives the variables that have no default.
        tftest = (variables.parent / "tftest" / "validation.tftest.hcl").read_text()
        (defaults,) = re.findall(r"^variables \{\n.*?^\}\n", tftest, re.M | re.S)
        runs = [f'run "row_{i}" {{\n  command = plan\n  variables {{\n    {question} = {json.dumps(value)}\n  }}\n'
                + ("" if good else f"  expect_failures = [var.{question}]\n") + "}\n"
                for i, (question, value, good) in rows]
        (work / "tftest" / "rules.tftest.hcl").write_text(defaults + "\n" + "\n".join(runs))
        result = run([binary, "test", "-test-directory=tftest", "-no-color"], work, check=False, timeout=300)
        failed = [ROWS[int(line.split('"row_')[1].split('"')[0])] for line in result.stdout.splitlines()
                  if '"row_' in line and "fail" in line]
        assert failed == [] and result.returncode == 0, (failed, result.stdout[-3000:], result.stderr[-3000:])
        assert f"{len(rows)} passed, 0 failed" in result.stdout, result.stdout[-2000:]
