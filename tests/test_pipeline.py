"""grader.pipeline and `grader grade`: every stage's document written, an invalid manifest stopped
after validate with its findings in the comment, any stage re-runnable from the CLI on the files.

The measuring path (a valid manifest) runs in tests/test_demo.py's end-to-end test, on the demo's
real models; here, only that gradings given one runner share its zygotes.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from grader.course import load_course
from grader.demo.run import write_course
from grader.exitcodes import ExitCode
from grader.pipeline import (
    COMMENT,
    GRADE,
    MEASUREMENT,
    SUMMARY,
    VALIDATED,
    GradeOutcome,
    StageEvent,
    grade_manifest,
)
from grader.pipeline_command import default_out_dir
from grader.verify.models import Grade, Verdict

# Each line number below is asserted: keep the text and the numbers together.
BAD_MANIFEST = """\
schema_version: 1
team: alpha
homework: 2
task: image-classification
baseline:
  name: base
  artifact: {path: baseline/}
  claims:
    size: 455
models:
  - name: fp16
    method: quantization
    artifact: {path: missing/}
    claims:
      size: 12 Mb
"""
EXPECTED_FINDINGS = {("U004", 9), ("A002", 13), ("U002", 15)}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write_course(root, "en")
    return root


@pytest.fixture
def bad_manifest(repo: Path) -> Path:
    manifest = repo / "submissions" / "alpha" / "hw-2" / "submission.yaml"
    (manifest.parent / "baseline").mkdir(parents=True)
    manifest.write_text(BAD_MANIFEST, encoding="utf-8")
    return manifest


# The installed `grader` entry point, run as a real process (`python -m grader.cli` would register
# the commands on a second copy of the module).
GRADER = [sys.executable, "-c", "import sys; from grader.cli import main; sys.argv[0] = 'grader'; main()"]


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GRADER, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "HOME": str(cwd)},
    )


def test_invalid_manifest_stops_after_validate_with_every_finding(
    repo: Path, bad_manifest: Path, tmp_path: Path
):
    out = tmp_path / "out"
    out.mkdir()
    (out / MEASUREMENT).write_text('{"kind": "measurement-run"}', encoding="utf-8")  # from an older run
    events: list[StageEvent] = []
    course_file = repo / "course.yaml"

    outcome = grade_manifest(
        bad_manifest, load_course(course_file), repo, out, progress=events.append, course_file=course_file
    )

    assert outcome.verdict == "invalid"
    assert outcome.exit_code == ExitCode.BAD_INPUT
    assert set(outcome.files) == {"validated", "grade", "comment", "summary"}
    assert not (out / MEASUREMENT).exists(), "a stale measurement must not survive next to a new grade"
    found = {(f.code, f.location.line) for f in outcome.grade.findings}
    assert found >= EXPECTED_FINDINGS
    comment = (out / COMMENT).read_text(encoding="utf-8")
    assert comment == outcome.comment
    for code, line in EXPECTED_FINDINGS:
        assert f"submissions/alpha/hw-2/submission.yaml:{line}:" in comment
        assert f"**{code}**" in comment
    assert "did not validate" in comment  # English, as the course asked
    assert (out / SUMMARY).read_text(encoding="utf-8") == outcome.summary != ""
    validated = (out / VALIDATED).read_text(encoding="utf-8")
    assert hashlib.sha256(course_file.read_bytes()).hexdigest() in validated
    assert [e.stage for e in events] == ["validate", "verify", "report"]


def test_language_option_overrides_the_course(repo: Path, bad_manifest: Path, tmp_path: Path):
    outcome = grade_manifest(
        bad_manifest, load_course(repo / "course.yaml"), repo, tmp_path / "ru", language="ru"
    )
    assert "не прошёл проверку" in outcome.comment or "Исправьте" in outcome.comment
    assert "did not validate" not in outcome.comment


def test_stage_documents_rerun_from_the_cli(repo: Path, bad_manifest: Path, tmp_path: Path):
    """The files grade_manifest writes are the ones each stage's own command reads and writes."""
    out = tmp_path / "out"
    grade_manifest(bad_manifest, load_course(repo / "course.yaml"), repo, out)

    report = run_cli("report", str(out / GRADE), "--out", str(tmp_path / "again.md"), cwd=repo)
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "again.md").read_text(encoding="utf-8") == (out / COMMENT).read_text(encoding="utf-8")

    verify = run_cli("verify", str(out / VALIDATED), "--out", str(tmp_path / "grade.json"), cwd=repo)
    assert verify.returncode == ExitCode.CHECKS_FAILED, verify.stderr
    regraded = Grade.read(tmp_path / "grade.json")
    original = Grade.read(out / GRADE)
    assert regraded.verdict is Verdict.INVALID
    assert regraded.findings == original.findings


def test_grade_command_on_an_invalid_manifest(repo: Path, bad_manifest: Path, tmp_path: Path):
    out = tmp_path / "graded"
    result = run_cli("grade", str(bad_manifest), "--out", str(out), cwd=repo)
    assert result.returncode == ExitCode.BAD_INPUT, result.stderr
    assert "Traceback" not in result.stderr
    assert "invalid" in result.stderr
    assert str(out / COMMENT) in result.stderr.replace("\n", "")
    for name in (VALIDATED, GRADE, COMMENT, SUMMARY):
        assert (out / name).is_file(), name
    assert "**U004**" in (out / COMMENT).read_text(encoding="utf-8")


def test_grade_command_without_a_course_is_a_located_error(tmp_path: Path):
    manifest = tmp_path / "submission.yaml"
    manifest.write_text(BAD_MANIFEST, encoding="utf-8")
    result = run_cli("grade", str(manifest), cwd=tmp_path)
    assert result.returncode == ExitCode.BAD_INPUT
    assert "C001" in result.stderr and "course.yaml" in result.stderr
    assert "Traceback" not in result.stderr


def test_grade_command_on_a_missing_manifest(repo: Path, tmp_path: Path):
    result = run_cli(
        "grade", "submissions/alpha/hw-9/submission.yaml", "--out", str(tmp_path / "o"), cwd=repo
    )
    assert result.returncode == ExitCode.BAD_INPUT
    assert "Traceback" not in result.stderr
    assert "hw-9/submission.yaml" in (tmp_path / "o" / COMMENT).read_text(encoding="utf-8")


def test_default_out_dir_names_team_and_homework():
    assert default_out_dir(Path("submissions/alpha/hw-2/submission.yaml")) == Path("out/alpha-hw-2")


@pytest.mark.parametrize(
    ("verdict", "code"),
    [
        (Verdict.PASS, ExitCode.OK),
        (Verdict.CLAIMS_MISMATCH, ExitCode.CHECKS_FAILED),
        (Verdict.INCONCLUSIVE, ExitCode.CHECKS_FAILED),
        (Verdict.FAILED, ExitCode.CHECKS_FAILED),
        (Verdict.INCOMPLETE, ExitCode.CHECKS_FAILED),
        (Verdict.INVALID, ExitCode.BAD_INPUT),
    ],
)
def test_exit_code_follows_the_verdict(verdict: Verdict, code: ExitCode, tmp_path: Path):
    grade = Grade(team="alpha", homework=2, verdict=verdict)
    assert GradeOutcome(grade=grade, out_dir=tmp_path).exit_code == code


def test_gradings_that_share_a_runner_share_its_zygotes(repo: Path, tmp_path: Path) -> None:
    """`grader demo` grades its four pull requests through one runner: the second grading forks its
    children from the zygotes the first one started, instead of importing torch again."""
    from harness_support import SAME_FILE_MANIFEST, make_vit

    from grader.harness.environment import ThreadPlan
    from grader.harness.runner import Runner

    hw = repo / "submissions" / "alpha" / "hw-2"
    make_vit(hw / "base", layers=1)
    manifest = hw / "submission.yaml"
    manifest.write_text(SAME_FILE_MANIFEST, encoding="utf-8")
    course = load_course(repo / "course.yaml")
    (tmp_path / "work").mkdir()
    with Runner(tmp_path / "work", ThreadPlan.from_course(course.runner.threads).env()) as runner:
        first = grade_manifest(manifest, course, repo, tmp_path / "first", runner=runner)
        zygotes = {key: info["pid"] for key, info in runner.zygote_info().items()}
        second = grade_manifest(manifest, course, repo, tmp_path / "second", runner=runner)
        after = {key: info["pid"] for key, info in runner.zygote_info().items()}
    for outcome in (first, second):
        measured = json.loads((outcome.out_dir / MEASUREMENT).read_text(encoding="utf-8"))
        assert [m["status"] for m in measured["models"]] == ["ok", "ok"]
    assert zygotes and after == zygotes  # the same zygote processes, none started for the second
    children = list((tmp_path / "work").glob("*.job.json"))
    assert len(children) >= 2 * 2 * 2  # both gradings' children ran through the shared runner
