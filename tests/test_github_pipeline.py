"""grade.yml's own scripts, run by bash as the runner runs them, against the fake GitHub.

Each step's `run:` is taken from the workflow file and executed with the step's `env:` (its
`${{ }}` values filled in as GitHub would), so what is tested is what runs in Actions. The PR's
title and folder names try shell injection; they must stay data all the way to the PR comment.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from github_fake import FakeGitHub
from github_fake.support import BOT, FIXTURES, HEAD, grader_env, payload, read_outputs, submission_pull

REPO = Path(__file__).resolve().parents[1]
GRADE = yaml.safe_load((REPO / ".github/workflows/grade.yml").read_text(encoding="utf-8"))
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
VALID_MANIFEST = """schema_version: 1
team: ml_masters
homework: 2
task: text-classification
baseline:
  name: base
  artifact: {hf: ml-masters/base, revision: 86f7e437faa5a7fce15d1ddcb9eaeaea377667b8}
  claims: {size: 118 MB, quality: {accuracy: 87.1%}}
models:
  - name: int8
    method: quantization
    artifact: {hf: ml-masters/int8, revision: 0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c}
    claims: {size: 45 MB, quality: {accuracy: 86.5%}}
"""


GRADER_SHA = "f" * 40  # the default branch's commit the validate job checked out


class Runner:
    """Runs named steps of grade.yml in a workspace, like the Actions runner: bash -eo pipefail,
    the step's working-directory, its env, a fresh $GITHUB_OUTPUT per step."""

    def __init__(self, fake: FakeGitHub, workspace: Path, event: dict[str, Any]) -> None:
        self.fake = fake
        self.workspace = workspace
        self.event_path = workspace / "event.json"
        self.event_path.write_text(json.dumps(event), encoding="utf-8")
        self.context: dict[str, str] = {
            "github.token": fake.token,
            "inputs.pr": "",
            # The validate job's `grader` step runs git in the checkout, which the workspace is
            # not: its output (the grader's commit, for the write jobs to check out) is given here.
            "steps.grader.outputs.sha": GRADER_SHA,
        }

    def run(self, job: str, name: str) -> subprocess.CompletedProcess[str]:
        job_def = GRADE["jobs"][job]
        step = next(s for s in job_def["steps"] if s.get("name") == name)
        script = step["run"]
        assert "${{" not in script
        outputs = self.workspace / f"output-{job}-{step.get('id', 'x')}.txt"
        outputs.unlink(missing_ok=True)
        env = grader_env(
            self.fake,
            GITHUB_EVENT_PATH=str(self.event_path),
            GITHUB_OUTPUT=str(outputs),
            GITHUB_WORKSPACE=str(self.workspace),
            GITHUB_STEP_SUMMARY=str(self.workspace / "summary.md"),
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        )
        for key, value in {**job_def.get("env", {}), **step.get("env", {})}.items():
            env[key] = self.fill(str(value))
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            cwd=self.workspace / step.get("working-directory", "."),
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if step.get("id"):
            for key, value in read_outputs(outputs).items():
                self.context[f"steps.{step['id']}.outputs.{key}"] = value
        return done

    def fill(self, value: str) -> str:
        return EXPRESSION.sub(lambda m: self.context[m.group(1)], value)

    def job_outputs(self, job: str) -> None:
        for key, value in GRADE["jobs"][job].get("outputs", {}).items():
            self.context[f"needs.{job}.outputs.{key}"] = self.fill(value)


@pytest.fixture
def fake():
    with FakeGitHub() as server:
        yield server


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """$GITHUB_WORKSPACE after checkout: src/ is the default branch (course.yaml, templates/)."""
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(FIXTURES / "course.yaml", src / "course.yaml")
    shutil.copytree(REPO / "templates", src / "templates")
    return tmp_path


def pull_request_event() -> dict[str, Any]:
    event = payload("pull_request.opened")
    event["number"] = event["pull_request"]["number"] = 7
    event["pull_request"]["head"]["sha"] = HEAD
    return event


def validate(runner: Runner) -> dict[str, str]:
    for name in ("Read the pull request from the API", "Fetch the submission at the head SHA, as data"):
        done = runner.run("validate", name)
        assert done.returncode == 0, f"{name}:\n{done.stdout}\n{done.stderr}"
    done = runner.run("validate", "Validate the manifest and the PR")
    assert done.returncode == 0, done.stdout + done.stderr
    done = runner.run("validate", "Read the instructor's permission for code formats (TorchScript)")
    assert done.returncode == 0, done.stdout + done.stderr
    runner.job_outputs("validate")
    return {k.rsplit(".", 1)[-1]: v for k, v in runner.context.items() if k.startswith("needs.validate.")}


def report(runner: Runner) -> subprocess.CompletedProcess[str]:
    runner.context["needs.measure.result"] = "skipped"
    done = runner.run("report", "Grade an invalid submission")
    assert done.returncode == 0, done.stdout + done.stderr
    return runner.run("report", "Publish")


# Every trick in one title: command substitution, backticks, breaking out of quotes, and lines
# that would be workflow commands if they were ever echoed.
INJECTION = (
    'ml_masters HW-2 $(touch "$CANARY/dollar") `touch "$CANARY/backtick"` "; touch "$CANARY/quote"; echo "'
    "\n::set-output name=valid::true\n::error::forged"
)


@pytest.mark.slow
def test_a_title_that_tries_shell_injection_stays_data(fake, workspace, tmp_path):
    canary = tmp_path / "canary"
    canary.mkdir()
    fake.add_pull(submission_pull(title=INJECTION))
    fake.add_commit(HEAD, {"submissions/ml_masters/hw-2/submission.yaml": VALID_MANIFEST.encode()})
    runner = Runner(fake, workspace, pull_request_event())
    os.environ["CANARY"] = str(canary)  # what an injected command would use, if one ever ran
    try:
        outputs = validate(runner)
        # P001: not `<team> HW-<n>`; the permission step read only the labels of that PR
        assert outputs == {
            "pr": "7",
            "head-sha": HEAD,
            "valid": "false",
            "code-formats": "none",
            "grader-sha": GRADER_SHA,
        }
        done = report(runner)
    finally:
        del os.environ["CANARY"]
    assert done.returncode == 0, done.stdout + done.stderr
    assert list(canary.iterdir()) == []  # nothing the title said was ever executed
    assert json.loads((workspace / "out/pr.json").read_text())["title"] == INJECTION  # kept verbatim, as data
    (comment,) = fake.comments_on(7)
    assert comment.author == BOT and "P001" in comment.body
    assert "\n::error::forged" not in comment.body  # quoted on one line, control characters escaped
    assert fake.repo.pulls[7].labels == ["invalid-submission"]


@pytest.mark.slow
def test_folder_names_that_try_shell_injection_stay_data(fake, workspace, tmp_path):
    canary = tmp_path / "canary"
    canary.mkdir()
    folder = 'submissions/$(touch "$CANARY/folder")/hw-2'
    fake.add_pull(submission_pull(files=[{"filename": f"{folder}/submission.yaml", "status": "added"}]))
    fake.add_commit(HEAD, {f"{folder}/submission.yaml": VALID_MANIFEST.encode()})
    runner = Runner(fake, workspace, pull_request_event())
    os.environ["CANARY"] = str(canary)
    try:
        outputs = validate(runner)
        done = report(runner)
    finally:
        del os.environ["CANARY"]
    assert outputs["valid"] == "false"
    assert done.returncode == 0, done.stdout + done.stderr
    assert list(canary.iterdir()) == []
    # The odd name is refused (G003) rather than written; the manifest handed to the next step is
    # one whose path can travel safely, and validation reports what is wrong with the PR.
    assert not (workspace / "pr" / folder).exists()
    assert runner.context["steps.fetch.outputs.manifest"] == "submissions/ml_masters/hw-2/submission.yaml"
    (comment,) = fake.comments_on(7)
    assert "G003" in comment.body and "P004" in comment.body  # refused file; files outside the team's folder


@pytest.mark.slow
def test_a_valid_submission_goes_on_to_the_gpu_runner(fake, workspace):
    fake.add_pull(submission_pull())
    fake.add_commit(HEAD, {"submissions/ml_masters/hw-2/submission.yaml": VALID_MANIFEST.encode()})
    runner = Runner(fake, workspace, pull_request_event())
    # code-formats: the PR has no `allow-torchscript` label, so measure gets no --allow-code-formats
    assert validate(runner) == {
        "pr": "7",
        "head-sha": HEAD,
        "valid": "true",
        "code-formats": "none",
        "grader-sha": GRADER_SHA,
    }
    done = runner.run("announce", "Queue the check run")
    assert done.returncode == 0, done.stdout + done.stderr
    (run,) = fake.repo.check_runs.values()
    assert (run.head_sha, run.status) == (HEAD, "queued")
    # What the measuring job receives: the PR's files as data, and the validated document.
    assert (workspace / "pr/submissions/ml_masters/hw-2/submission.yaml").read_text() == VALID_MANIFEST
    assert '"kind": "validated-submission"' in (workspace / "out/validated.json").read_text()
