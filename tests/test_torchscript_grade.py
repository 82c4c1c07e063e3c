"""TorchScript through `grader grade`: refused without permission, graded with `--allow-code-formats`
(what the workflow passes for the PR's `allow-torchscript` label), and one label name in every
message, rule, doc and workflow.

The model is a tiny BERT classifier traced by the test; the archive holds the same weights as the
safetensors baseline, so its measured accuracy must equal the baseline's exactly.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from harness_support import bert_inputs, course, make_bert, team_dir, write_reviews
from typer.testing import CliRunner

from grader.cli import app
from grader.harness.backends.torchscript import GATE_REASON
from grader.harness.models import MeasurementRun, Status
from grader.validate.document import PullRequestContext
from grader.validate.pr_rules import CODE_FORMAT_LABEL, DEADLINE_LABEL, code_formats_allowed

REPO = Path(__file__).resolve().parents[1]

MANIFEST = """\
schema_version: 1
team: team
homework: 2
task: text-classification
baseline:
  name: base
  artifact: {path: base/}
models:
  - name: scripted
    method: quantization
    format: torchscript
    artifact: {path: ts/model.pt}
"""


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A course repository: the harness tests' fast course, a baseline and its traced archive."""
    import torch

    root = tmp_path_factory.mktemp("repo")
    write_reviews(root)
    settings = course().model_dump(mode="json")
    (root / "course.yaml").write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    hw = team_dir(root)
    model = make_bert(hw / "base")
    scripted = hw / "ts"
    scripted.mkdir()
    sample = {k: torch.from_numpy(v) for k, v in bert_inputs(batch=2).items()}
    with torch.no_grad():
        archive = torch.jit.trace(model, (sample["input_ids"], sample["attention_mask"]), strict=False)
    archive.save(str(scripted / "model.pt"))
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):  # labels and tokenizer
        shutil.copy2(hw / "base" / name, scripted / name)
    (hw / "submission.yaml").write_text(MANIFEST, encoding="utf-8")
    return root


def grade(repo: Path, out: Path, *options: str):
    manifest = repo / "submissions" / "team" / "hw-2" / "submission.yaml"
    args = ["grade", str(manifest), "--course", str(repo / "course.yaml"), "--out", str(out)]
    return CliRunner().invoke(app, [*args, "--language", "en", *options])


def by_key(run: MeasurementRun) -> dict:
    return {m.key: m for m in run.models}


@pytest.mark.slow
def test_grade_refuses_torchscript_without_permission(repo: Path, tmp_path: Path) -> None:
    result = grade(repo, tmp_path)
    assert result.exit_code == 2, result.output
    comment = (tmp_path / "comment.md").read_text(encoding="utf-8")
    assert "M010" in comment and CODE_FORMAT_LABEL in comment
    assert not (tmp_path / "measurement.json").exists()


@pytest.mark.slow
def test_grade_with_the_flag_measures_the_archive_like_its_checkpoint(repo: Path, tmp_path: Path) -> None:
    result = grade(repo, tmp_path, "--allow-code-formats")
    assert result.exit_code in (0, 1), result.output  # 1: nothing claimed, so incomplete
    assert "Traceback" not in result.output
    models = by_key(MeasurementRun.read(tmp_path / "measurement.json"))
    base, scripted = models["baseline"], models["models[0]"]
    assert scripted.backend == "torchscript"
    assert scripted.status is Status.OK, scripted.reason
    assert scripted.devices["cpu"].status is Status.OK, scripted.devices["cpu"].reason
    assert base.quality is not None and scripted.quality is not None
    assert scripted.quality.n == base.quality.n == 8
    assert scripted.quality.metrics == base.quality.metrics  # the same weights, the same answers


def workflow_steps(job: str) -> tuple[dict[str, dict], dict]:
    """The job's steps by name, and the job."""
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "grade.yml").read_text(encoding="utf-8"))
    return {step.get("name", ""): step for step in workflow["jobs"][job]["steps"]}, workflow["jobs"][job]


def bash(script: str, cwd: Path, env: dict[str, str], bin_dir: Path) -> subprocess.CompletedProcess[str]:
    # GitHub's `shell: bash` is `bash --noprofile --norc -eo pipefail {0}`; bin_dir comes first on
    # PATH, so its stand-in `grader` is the one the script calls.
    full = {"PATH": f"{bin_dir}:{os.environ['PATH']}", **env}
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq (on GitHub's runners) is not installed here")
@pytest.mark.parametrize(
    "labels", [[CODE_FORMAT_LABEL, DEADLINE_LABEL], [DEADLINE_LABEL], ["allow-code-formats"]]
)
def test_the_workflow_hands_the_label_to_the_measuring_job(tmp_path: Path, labels: list[str]) -> None:
    # The measuring job has no token: the validate job reads the label from the API's pr.json and
    # passes it as an output; the measure step turns it into --allow-code-formats. Both scripts run
    # here as the workflow runs them, with a stand-in `grader` that prints its arguments.
    validate_steps, validate_job = workflow_steps("validate")
    permission = validate_steps["Read the instructor's permission for code formats (TorchScript)"]
    assert validate_job["outputs"]["code-formats"] == "${{ steps.permission.outputs.code-formats }}"
    (tmp_path / "out").mkdir()
    pr = PullRequestContext(number=3, head_sha="c" * 40, author="someone", title="team HW-2", labels=labels)
    (tmp_path / "out" / "pr.json").write_text(pr.model_dump_json(), encoding="utf-8")
    output = tmp_path / "github_output"
    output.write_text("", encoding="utf-8")
    done = bash(permission["run"], tmp_path, {"GITHUB_OUTPUT": str(output)}, tmp_path / "bin")
    assert done.returncode == 0, done.stderr
    allowed = CODE_FORMAT_LABEL in labels
    assert output.read_text(encoding="utf-8") == f"code-formats={'allowed' if allowed else 'none'}\n"

    measure_steps, _ = workflow_steps("measure")
    measure = measure_steps["Measure"]
    assert measure["env"] == {"CODE_FORMATS": "${{ needs.validate.outputs.code-formats }}"}
    (tmp_path / "bin").mkdir()
    fake = tmp_path / "bin" / "grader"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n', encoding="utf-8")
    fake.chmod(0o755)
    (tmp_path / "src").mkdir()
    value = "allowed" if allowed else "none"
    ran = bash(measure["run"], tmp_path / "src", {"CODE_FORMATS": value}, tmp_path / "bin")
    assert ran.returncode == 0, ran.stderr
    arguments = ran.stdout.splitlines()
    assert arguments[:2] == ["measure", "../out/validated.json"]
    assert ("--allow-code-formats" in arguments) is allowed


def test_code_formats_allowed_by_the_flag_or_the_label_only() -> None:
    pr = PullRequestContext(number=1, head_sha="b" * 40, author="a", title="t HW-1")
    assert not code_formats_allowed(None)
    assert not code_formats_allowed(pr.model_copy(update={"labels": ["allow-code-formats", DEADLINE_LABEL]}))
    assert code_formats_allowed(pr.model_copy(update={"labels": [CODE_FORMAT_LABEL]}))
    assert code_formats_allowed(None, flag=True)


# Backticked label-like names (`allow-…`); the command-line flag is written `--allow-code-formats`.
_LABEL = re.compile(r"`(allow-[a-z-]+)`")


def test_one_label_name_everywhere() -> None:
    assert f"`{CODE_FORMAT_LABEL}` label" in GATE_REASON and "--allow-code-formats" in GATE_REASON
    places = [
        *(REPO / "grader").rglob("*.py"),
        *(REPO / ".github" / "workflows").glob("*.yml"),
        *(REPO / "docs").glob("*.md"),
        REPO / "README.md",
        REPO / "submissions" / "README.md",
        *(REPO / "templates").rglob("*.*"),
    ]
    named = {
        (path.relative_to(REPO).as_posix(), label)
        for path in places
        if path.is_file()
        for label in _LABEL.findall(path.read_text(encoding="utf-8", errors="replace"))
    }
    assert {label for _, label in named} == {CODE_FORMAT_LABEL}, sorted(named)
    workflow = (REPO / ".github" / "workflows" / "grade.yml").read_text(encoding="utf-8")
    assert f"`{CODE_FORMAT_LABEL}`" in workflow
