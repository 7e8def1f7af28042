"""The post-copy hook (hooks/post_copy.py).

Through copier: the hook runs on copy from a local template repository, from a
git URL and from a plain folder, never on update, and stays out of an existing
repository. Directly: the git identity rules, missing git, a failing
commit and mise, each in an environment the test controls; a template recorded
by a relative path gets the warning that keeps `copier update` working.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import copier
import pytest
import yaml

from conftest import COPIER, ROOT, run
from support.releases import COPIER_PIN, IDENTITY, README_TEMPLATE, first_release, git, release, snapshot, status

HOOK = ROOT / "hooks" / "post_copy.py"
REAL_GIT = shutil.which("git")
ANSWERS_FILE = (
    "# Changes here will be overwritten by Copier; NEVER EDIT MANUALLY\n"
    "_commit: v2.3.0\n"
    "_src_path: gh:example/lambda-template\n"
    "iac: terraform\n"
    "log_retention_days: 30\n"
    "project_name: my-fn\n"
)


pytestmark = pytest.mark.usefixtures("git_identity")


@pytest.fixture(scope="module")
def template_repo(tmp_path_factory) -> Path:
    return first_release(tmp_path_factory.mktemp("template"))


def copy(src: str, dst: Path, **kwargs) -> Path:
    copier.run_copy(
        src,
        str(dst),
        data={"project_name": "my-fn"},
        defaults=True,
        unsafe=True,
        **{"quiet": True, **kwargs},
    )
    return dst


def log(repo: Path, fmt: str = "%s") -> list[str]:
    return git(repo, "log", f"--format={fmt}").splitlines()


def post_copy():
    """The hook as a module, for its functions."""
    sys.path.insert(0, str(HOOK.parent))
    try:
        import post_copy
    finally:
        sys.path.pop(0)
    return post_copy


def printed_update(out: str) -> str:
    """The update command the hook printed, without its comment."""
    (line,) = [line for line in out.splitlines() if " update --trust" in line]
    return line.split("#")[0].strip()


# ------------------------------------------------------------- through copier


def assert_first_commit(dst: Path, version: str) -> None:
    assert (dst / ".git").is_dir()
    assert git(dst, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    assert log(dst) == [f"Generate the project from template version {version}"]
    assert status(dst) == ""
    committed = set(git(dst, "ls-files").split())
    assert {".copier-answers.yml", "README.md", "internal/handler/handler.go"} <= committed
    # What .gitignore keeps out stays out.
    assert not any(name.startswith("build/") for name in committed)


def test_copy_from_a_local_template_repository_makes_the_first_commit(template_repo, tmp_path, capfd):
    dst = copy(str(template_repo), tmp_path / "my-fn", vcs_ref="v1.0.0", quiet=False)
    assert_first_commit(dst, "v1.0.0")
    out = capfd.readouterr().out
    assert f"Made {dst} a git repository: branch main" in out
    assert printed_update(out) == f"uvx copier@{COPIER_PIN} update --trust --defaults"
    assert log(dst, "%an <%ae>") == [f"{IDENTITY['GIT_AUTHOR_NAME']} <{IDENTITY['GIT_AUTHOR_EMAIL']}>"]
    body = git(dst, "log", "-1", "--format=%b")
    assert f"Template: {template_repo}" in body


def test_copy_from_a_git_url_makes_the_first_commit(template_repo, tmp_path, monkeypatch):
    # Copier caches remote templates under the user cache folder: keep it here.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    url = f"git+file://{template_repo}"
    dst = copy(url, tmp_path / "my-fn", vcs_ref="v1.0.0")
    assert_first_commit(dst, "v1.0.0")
    assert yaml.safe_load((dst / ".copier-answers.yml").read_text())["_src_path"] == url


def test_copy_from_a_plain_folder_names_no_version(template_repo, tmp_path, capfd):
    plain = snapshot(tmp_path / "plain-template")
    dst = copy(str(plain), tmp_path / "my-fn", quiet=False)
    assert log(dst) == ["Generate the project from an unversioned template"]
    assert status(dst) == ""
    # No update command works without a template in git: none is offered.
    out = capfd.readouterr().out
    assert "`copier update` needs a template in git" in out
    assert " update --trust" not in out


# ------------------------------------------------- the printed update command


LATER_LINE = "A line added by a later template version."


def template_with_requirements(parent: Path) -> Path:
    """A throwaway template repository holding this working tree's template and
    requirements.txt (where the hook reads the Copier pin) as v1.0.0."""
    repo = snapshot(parent / "lambda-template")
    shutil.copy2(ROOT / "requirements.txt", repo / "requirements.txt")
    git(repo, "init", "-q", "-b", "main")
    release(repo, "v1.0.0", "First release")
    return repo


def later_change(repo: Path) -> None:
    readme = repo / README_TEMPLATE
    readme.write_text(readme.read_text() + "\n" + LATER_LINE + "\n")
    git(repo, "commit", "-q", "-am", "A later template change")


def run_printed(command: str, project: Path, check: bool = True) -> subprocess.CompletedProcess:
    """The printed command, verbatim, in the project: uvx from this Python's
    folder (the tests' venv) or PATH, uv's Python downloads off."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return run(["sh", "-c", command], project, env={"PATH": path, "UV_PYTHON_DOWNLOADS": "never"},
               timeout=900, check=check)


@pytest.mark.parametrize("ref", ["release", "HEAD"])
def test_the_printed_update_command_works_verbatim(tmp_path, capfd, ref):
    repo = template_with_requirements(tmp_path)
    if ref == "HEAD":
        later_change(repo)  # HEAD is then a commit past v1.0.0, not a release
    capfd.readouterr()
    dst = copy(str(repo), tmp_path / "my-fn", vcs_ref="v1.0.0" if ref == "release" else "HEAD", quiet=False)
    command = printed_update(capfd.readouterr().out)
    pinned = f"uvx copier@{COPIER_PIN} update --trust --defaults"
    if ref == "release":
        assert command == pinned
    else:
        assert command == pinned + " --vcs-ref=HEAD"
        # Without --vcs-ref=HEAD the update goes back to v1.0.0, and Copier refuses.
        refused = run_printed(pinned, dst, check=False)
        assert refused.returncode != 0 and "Downgrades are not supported" in refused.stderr, refused.stderr

    # The next template version arrives through the printed command.
    readme = repo / README_TEMPLATE
    readme.write_text(readme.read_text() + "\nAnd another, in the next version.\n")
    if ref == "release":
        later_change(repo)
        release(repo, "v1.1.0", "A later release")
    else:
        git(repo, "commit", "-q", "-am", "Another template change")
    run_printed(command, dst)
    assert "And another, in the next version." in (dst / "README.md").read_text()
    assert {line[3:] for line in status(dst).splitlines()} == {".copier-answers.yml", "README.md",
                                                                 "sam/samconfig.toml"}  # its template-version tag


@pytest.mark.parametrize(("commit", "released"), [
    ("v1.0.0", True), ("1.2.3", True), ("v2.0.0rc1", True),
    ("v1.0.0-3-gabc1234", False), ("abc1234", False), ("1234567", False),
    ("latest", False), (None, False)])
def test_a_release_is_a_version_tag(commit, released):
    assert post_copy().is_release(commit) is released


def test_the_pin_is_requirements_txts(tmp_path):
    hook_module = post_copy()
    assert hook_module.copier_pin() == COPIER_PIN
    (tmp_path / "requirements.txt").write_text("pytest==9.2.0\ncopier==1.2.3\n")
    assert hook_module.copier_pin(tmp_path) == "1.2.3"


def test_copy_from_a_relative_path_is_told_how_to_keep_update_working(template_repo, tmp_path):
    # As from a shell in the template's parent folder: `copier copy <relative> <dst>`.
    cwd = template_repo.parent
    proc = run([sys.executable, "-m", "copier", "copy", "--trust", "--defaults", "--vcs-ref=v1.0.0",
                template_repo.name, str(tmp_path / "my-fn")], cwd, env={"PWD": str(cwd)})
    assert "Traceback" not in proc.stderr
    dst = tmp_path / "my-fn"
    recorded = f"_src_path: {template_repo.name}"
    assert recorded in (dst / ".copier-answers.yml").read_text()
    assert "copier update`, run in the project, would look for it there and not find it" in proc.stderr
    fix = f"change the line `{recorded}` to `_src_path: {template_repo}`"
    assert fix in proc.stderr, proc.stderr

    # Following the advice makes `copier update` work.
    answers = dst / ".copier-answers.yml"
    answers.write_text(answers.read_text().replace(recorded, f"_src_path: {template_repo}"))
    git(dst, "commit", "-q", "-am", "Record the template's absolute path")
    run([sys.executable, "-m", "copier", "update", "--trust", "--defaults", "--vcs-ref=v1.0.0"], dst)
    assert status(dst) == ""


@pytest.mark.parametrize("source", ["gh:example/lambda-template", "https://example.com/t.git",
                                    "git@example.com:t.git", "git+file:///srv/t", "/srv/t", "~/t"])
def test_sources_update_can_find_get_no_warning(source):
    assert post_copy().relative_source_warning(source) == ""
    assert "not find it" in post_copy().relative_source_warning("../t")


def test_copy_into_an_existing_repository_makes_no_new_one(template_repo, tmp_path, capfd):
    outer = tmp_path / "monorepo"
    outer.mkdir()
    git(outer, "init", "-q", "-b", "main")
    git(outer, "commit", "-q", "--allow-empty", "-m", "Monorepo")
    capfd.readouterr()
    dst = copy(str(template_repo), outer / "services" / "my-fn", vcs_ref="v1.0.0", quiet=False)
    assert not (dst / ".git").exists()
    assert log(outer) == ["Monorepo"]
    assert "services/" in status(outer)
    out = capfd.readouterr().out
    assert f"inside the git repository {outer}" in out
    assert "Next steps with git:" in out
    assert printed_update(out) == f"uvx copier@{COPIER_PIN} update --trust --defaults"


def test_update_makes_no_commit(template_repo, tmp_path):
    dst = copy(str(template_repo), tmp_path / "my-fn", vcs_ref="v1.0.0")
    (dst / "README.md").write_text((dst / "README.md").read_text() + "\nMine.\n")
    git(dst, "commit", "-q", "-am", "Mine")
    copier.run_update(str(dst), vcs_ref="v1.0.0", data={"memory_size": 512},
                      defaults=True, overwrite=True, unsafe=True, quiet=True)
    # The update changed files but made no commit: that is the user's to make.
    assert log(dst) == ["Mine", "Generate the project from template version v1.0.0"]
    assert "sam/template.yaml" in status(dst)


def test_tasks_are_wired_in_copier_yml():
    (task,) = COPIER["_tasks"]
    assert task["when"] == "{{ _copier_operation == 'copy' }}"
    assert task["command"][:2] == ["{{ _copier_python }}", "{{ _copier_conf.src_path }}/hooks/post_copy.py"]
    # No migrations until a release renames a question or a choice value.
    assert "_migrations" not in COPIER
    assert COPIER["_envops"]["undefined"] == "jinja2.StrictUndefined"
    min_version = tuple(int(p) for p in COPIER["_min_copier_version"].split("."))
    assert min_version >= (9, 5, 0)  # `_copier_operation` is new in 9.5.0
    assert tuple(int(p) for p in copier.__version__.split(".")[:3]) >= min_version


# ---------------------------------------------------------- the hook directly


@pytest.fixture
def bare_env(tmp_path) -> dict:
    """An environment with no git identity at all: an empty HOME, no system
    config, no GIT_*/EMAIL variables, and no mise."""
    home = tmp_path / "home"
    home.mkdir()
    drop = {"EMAIL", "GIT_CONFIG_GLOBAL", "GIT_DIR", "GIT_WORK_TREE", *IDENTITY}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(REAL_GIT, bin_dir / "git")
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               GIT_CONFIG_NOSYSTEM="1", PATH=str(bin_dir))
    return env


@pytest.fixture
def generated(tmp_path) -> Path:
    """A folder as copier leaves it just before the hook runs."""
    dst = tmp_path / "my-fn"
    dst.mkdir()
    (dst / ".copier-answers.yml").write_text(ANSWERS_FILE)
    (dst / "main.go").write_text("package main\n")
    (dst / ".gitignore").write_text("/build/\n")
    (dst / "build").mkdir()
    (dst / "build" / "bootstrap").write_text("binary\n")
    return dst


def hook(dst: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, str(HOOK), *args], cwd=dst, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc


def author(dst: Path, env: dict) -> str:
    return run(["git", "log", "-1", "--format=%an <%ae>|%cn <%ce>"], cwd=dst, env=env).stdout.strip()


def test_no_identity_uses_the_fallback_for_that_commit_only(generated, bare_env):
    proc = hook(generated, bare_env)
    assert author(generated, bare_env) == "Copier <copier@example.invalid>|Copier <copier@example.invalid>"
    assert "git has no identity for you" in proc.stdout
    # No configuration was written anywhere.
    assert list(Path(bare_env["HOME"]).iterdir()) == []
    local_config = run(["git", "config", "--local", "--list"], cwd=generated, env=bare_env).stdout
    assert "user." not in local_config
    message = run(["git", "log", "-1", "--format=%B"], cwd=generated, env=bare_env).stdout
    assert message.startswith("Generate the project from template version v2.3.0\n")
    assert "Template: gh:example/lambda-template" in message
    assert run(["git", "ls-files"], cwd=generated, env=bare_env).stdout.split() == [
        ".copier-answers.yml", ".gitignore", "main.go"]


def test_configured_identity_is_used_and_left_alone(generated, bare_env):
    config = Path(bare_env["HOME"]) / ".gitconfig"
    config.write_text("[user]\n\tname = Dana Developer\n\temail = dana@example.com\n")
    before = config.read_text()
    proc = hook(generated, bare_env)
    assert author(generated, bare_env) == "Dana Developer <dana@example.com>|Dana Developer <dana@example.com>"
    assert "no identity" not in proc.stdout
    assert config.read_text() == before


def test_identity_from_the_environment_is_used(generated, bare_env):
    env = {**bare_env, "GIT_AUTHOR_NAME": "Env Author", "GIT_AUTHOR_EMAIL": "author@example.com",
           "GIT_COMMITTER_NAME": "Env Committer", "GIT_COMMITTER_EMAIL": "committer@example.com"}
    hook(generated, env)
    assert author(generated, env) == "Env Author <author@example.com>|Env Committer <committer@example.com>"


def test_missing_git_is_a_note_not_a_failure(generated, bare_env):
    (Path(bare_env["PATH"]) / "git").unlink()
    proc = hook(generated, bare_env)
    assert "git is not installed" in proc.stdout
    assert "git init -b main && git add -A" in proc.stdout
    assert not (generated / ".git").exists()


def test_failing_commit_is_a_note_not_a_failure(generated, bare_env):
    # Signing with a program that always fails makes `git commit` fail.
    config = Path(bare_env["HOME"]) / ".gitconfig"
    config.write_text("[user]\n\tname = D\n\temail = d@example.com\n[commit]\n\tgpgsign = true\n"
                      "[gpg]\n\tprogram = false\n")
    proc = hook(generated, bare_env)
    assert "`git commit` failed" in proc.stdout
    assert "Finish by hand" in proc.stdout
    assert run(["git", "rev-parse", "--verify", "-q", "HEAD"], cwd=generated, env=bare_env,
               check=False).returncode != 0


def test_quiet_prints_nothing(generated, bare_env):
    proc = hook(generated, bare_env, "--quiet=True")
    assert proc.stdout == ""
    assert run(["git", "rev-list", "--count", "HEAD"], cwd=generated, env=bare_env).stdout.strip() == "1"


@pytest.mark.parametrize("exit_code", [0, 1])
def test_mise_trust_is_tried_and_may_fail(generated, bare_env, exit_code):
    (generated / "mise.toml").write_text("[tools]\n")
    calls = generated.parent / "mise-calls"
    mise = Path(bare_env["PATH"]) / "mise"
    mise.write_text(f'#!/bin/sh\necho "$PWD $*" >> {calls}\nexit {exit_code}\n')
    mise.chmod(0o755)
    proc = hook(generated, bare_env)
    assert calls.read_text().split()[:2] == [str(generated), "trust"]
    assert ("mise trust` did not succeed" in proc.stdout) == bool(exit_code)
    assert run(["git", "rev-list", "--count", "HEAD"], cwd=generated, env=bare_env).stdout.strip() == "1"
