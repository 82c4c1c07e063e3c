"""`torch.export` archives, the worked example of docs/developers.md ("Adding a format"): a format
that carries code (refused without the instructor's label, M010), that has no backend yet (M017
at validate time; every phase but size "not measurable"), and whose size is the archive's bytes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from harness_support import course, make_bert, team_dir, write_reviews
from typer.testing import CliRunner

from grader.cli import app
from grader.course import load_course
from grader.harness.models import MeasurementRun, Status
from grader.harness.size import analyze_size
from grader.validate import validate_manifest

MANIFEST = """\
schema_version: 1
team: team
homework: 2
task: text-classification
baseline:
  name: base
  artifact: {path: base/}
models:
  - name: exported
    method: quantization
    format: torch-export
    artifact: {path: export/model.pt2}
"""
FORMAT_LINE = 11


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A course repository: a baseline checkpoint and a real torch.export archive beside its side files."""
    import torch

    root = tmp_path_factory.mktemp("repo")
    write_reviews(root)
    settings = course().model_dump(mode="json")
    (root / "course.yaml").write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    hw = team_dir(root)
    make_bert(hw / "base")
    exported = hw / "export"
    exported.mkdir()
    program = torch.export.export(torch.nn.Linear(4, 2), (torch.zeros(1, 4),))
    torch.export.save(program, str(exported / "model.pt2"))
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy2(hw / "base" / name, exported / name)
    (hw / "submission.yaml").write_text(MANIFEST, encoding="utf-8")
    return root


def validate(repo: Path, *, allowed: bool):
    manifest = repo / "submissions" / "team" / "hw-2" / "submission.yaml"
    return validate_manifest(manifest, load_course(repo / "course.yaml"), repo, allow_code_formats=allowed)


def test_without_the_label_it_is_refused_as_a_format_that_carries_code(repo: Path) -> None:
    errors = [f for f in validate(repo, allowed=False).findings if f.is_error]
    assert [(f.code, f.location.line) for f in errors] == [("M010", FORMAT_LINE)]


def test_with_the_label_validation_says_only_its_size_is_measured(repo: Path) -> None:
    findings = validate(repo, allowed=True).findings
    assert not [f for f in findings if f.is_error], findings
    warning = next(f for f in findings if f.code == "M017")
    assert warning.location.line == FORMAT_LINE
    assert "no backend for the torch-export format" in warning.message


def test_its_size_is_the_archive_s_bytes(repo: Path) -> None:
    folder = team_dir(repo) / "export"
    report = analyze_size(folder / "model.pt2", "torch-export")
    assert report.weights_bytes == (folder / "model.pt2").stat().st_size > 0
    assert report.params == 0  # the tensors sit in pickles inside the archive, never read


@pytest.mark.slow
def test_grade_measures_its_size_and_says_why_nothing_else(repo: Path, tmp_path: Path) -> None:
    manifest = repo / "submissions" / "team" / "hw-2" / "submission.yaml"
    args = ["grade", str(manifest), "--course", str(repo / "course.yaml"), "--out", str(tmp_path)]
    result = CliRunner().invoke(app, [*args, "--language", "en", "--allow-code-formats"])
    assert "Traceback" not in result.output, result.output
    run = MeasurementRun.read(tmp_path / "measurement.json")
    exported = next(m for m in run.models if m.key == "models[0]")
    assert exported.backend == "none" and exported.size is not None
    cpu = exported.devices["cpu"]
    assert cpu.status is Status.NOT_MEASURABLE
    assert cpu.reason == "the grader has no backend for the torch-export format yet"
