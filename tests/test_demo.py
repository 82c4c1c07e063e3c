"""`grader demo`: the demo course, the teams' manifests and claims, and the whole demo end to end.

The end-to-end tests (marked slow) run the real `grader demo` command in a fresh process, reusing
the models tests/test_demo_models.py built (same folder), then `grader grade` on one of the demo's
manifests; they check the PR comments, the leaderboard and its plots, and that the one
deliberately wrong claim comes out off with the measured value while the honest ones reproduce.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from grader.course import load_course
from grader.demo.claims import Figures, ModelRef, accuracy_text, latency_text, memory_text, size_text
from grader.demo.models import CLUSTERED, FactorySettings, cache_dir
from grader.demo.run import (
    DEMO_COURSE,
    MARKER,
    DemoGraded,
    DemoResult,
    OutputFolderError,
    run_demo,
    write_course,
)
from grader.demo.submissions import SUBMISSIONS, DemoSubmission, codebook_claim_bytes, manifest_of
from grader.pipeline import GradeOutcome
from grader.units import parse_score, parse_size, parse_time
from grader.verify.models import EntryGrade, Grade, Measured, MetricCheck, MetricStatus, Verdict

REPO_ROOT = Path(__file__).resolve().parents[1]
GRADER = [sys.executable, "-c", "import sys; from grader.cli import main; sys.argv[0] = 'grader'; main()"]
SHARED = "grader-demo-shared"  # tests/test_demo_models.py builds the models here


# --- the demo course ------------------------------------------------------------------------------


def test_demo_course_copies_the_real_courses_homeworks():
    demo = load_course(DEMO_COURSE)
    real = load_course(REPO_ROOT / "course.yaml")
    assert [hw.id for hw in demo.homeworks] == [hw.id for hw in real.homeworks]
    for ours, theirs in zip(demo.homeworks, real.homeworks, strict=True):
        assert ours.title == theirs.title
        assert ours.methods == theirs.methods
        assert ours.scoring == theirs.scoring
        assert ours.points == theirs.points  # the gradebook's rules too
        assert ours.needs_baseline == theirs.needs_baseline
        # The demo runner is a CPU: it drops only the GPU metrics from what a homework requires.
        assert ours.required == [m for m in theirs.required if m.value not in ("latency_gpu", "vram")]
    assert demo.tolerances == real.tolerances
    assert demo.runner.devices == ["cpu"]
    assert set(demo.teams) == {"alpha", "beta", "gamma"}
    assert demo.tasks["image-classification"].dataset == "digits-test"


def test_write_course_sets_the_language_and_keeps_the_rest(tmp_path: Path):
    english = load_course(write_course(tmp_path / "en", "en"))
    russian = load_course(write_course(tmp_path / "ru", "ru"))
    default = load_course(write_course(tmp_path / "default", None))
    assert (english.language, russian.language, default.language) == ("en", "ru", "ru")
    assert english.model_copy(update={"language": "ru"}) == russian == default
    assert "# The demo course" in (tmp_path / "en" / "course.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize(("language", "heading"), [("ru", "## Ведомость"), ("en", "## Gradebook")])
def test_the_demo_readme_gets_the_gradebook_after_the_leaderboard(
    tmp_path: Path, language: str, heading: str
):
    """As `grader demo` writes the README (its text, then `_leaderboard`), without running the demo."""
    from grader.demo.run import _leaderboard, _write_readme

    course = load_course(write_course(tmp_path, language))
    _write_readme(tmp_path, course, language)
    readme, _ = _leaderboard([], tmp_path, course)
    text = readme.read_text(encoding="utf-8")
    assert text.index("<!-- leaderboard:end -->") < text.index("<!-- gradebook:start -->\n" + heading)
    assert text.count("<!-- gradebook:start -->") == 1 and text.endswith("<!-- gradebook:end -->\n")


def test_demo_refuses_a_folder_it_did_not_make(tmp_path: Path):
    precious = tmp_path / "work"
    (precious / "repo").mkdir(parents=True)
    (precious / "repo" / "thesis.tex").write_text("do not delete", encoding="utf-8")
    with pytest.raises(OutputFolderError, match="not made by `grader demo`"):
        run_demo(precious)
    assert (precious / "repo" / "thesis.tex").read_text(encoding="utf-8") == "do not delete"
    result = subprocess.run(
        [*GRADER, "demo", "--out", str(precious)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COLUMNS": "200"},
    )
    assert result.returncode == 2
    assert "--out" in result.stderr and "Traceback" not in result.stderr
    assert (precious / "repo" / "thesis.tex").read_text(encoding="utf-8") == "do not delete"


def test_every_demo_submission_fits_its_homework():
    course = load_course(DEMO_COURSE)
    for submission in SUBMISSIONS:
        homework = course.homework(submission.homework)
        assert homework is not None
        assert submission.team in course.teams
        for entry in submission.models:
            assert {m for m in entry.methods} <= {m.value for m in homework.methods}, entry.name
    wrong = [e for s in SUBMISSIONS for e in s.entries() if e.wrong_size]
    assert [e.ref.variant for e in wrong] == [CLUSTERED], "exactly one deliberately wrong claim"


# --- claims, written the way students write them -----------------------------------------------------


@pytest.mark.parametrize("n_bytes", [281_024, 142_612, 77_064, 78_512, 303_489, 111_104, 46_000, 3_100_000])
def test_size_claims_are_rounded_inside_the_size_tolerance(n_bytes: int):
    text = size_text(n_bytes)
    parsed = parse_size(text).quantity
    assert parsed is not None, text
    assert parsed.value == pytest.approx(n_bytes, rel=0.01), text  # the course allows 2 %


@pytest.mark.parametrize("seconds", [0.000604, 0.0000668, 0.00128, 0.0123, 0.4])
def test_latency_claims_keep_three_significant_figures(seconds: float):
    text = latency_text(seconds)
    assert text.endswith(" ms")
    parsed = parse_time(text).quantity
    assert parsed is not None and parsed.value == pytest.approx(seconds, rel=0.01), text


def test_memory_and_accuracy_claims_parse_back():
    assert memory_text(35.3 * 2**20) == "35 MiB"
    assert memory_text(7.25 * 2**20) == "7.2 MiB"
    assert accuracy_text(0.975555) == "97.6%"
    parsed = parse_score(accuracy_text(0.975555), bounded=True).quantity
    assert parsed is not None and parsed.value == pytest.approx(0.975555, abs=0.001)


def test_manifest_claims_come_from_the_figures_except_the_wrong_one(tmp_path: Path, monkeypatch):
    figures = Figures(size_bytes=281_024, latency_s=0.000604, accuracy=0.9733, ram_bytes=35 * 2**20)
    submission = next(s for s in SUBMISSIONS if s.homework == 3)
    models = _FakeModels(tmp_path)
    manifest = manifest_of(submission, {e.ref: figures for e in submission.entries()}, models, "en")
    assert manifest["baseline"]["claims"] == {
        "size": "0.28 MB",
        "latency_cpu": "0.604 ms",
        "ram": "35 MiB",
        "quality": {"accuracy": "97.3%"},
    }
    wrong = manifest["models"][0]["claims"]
    ideal = codebook_claim_bytes(tmp_path / CLUSTERED)
    assert ideal < 32 * 32 * 4 / 4  # 4-bit indices instead of 32-bit floats, plus 16 centroids
    assert wrong["size"] == size_text(ideal)
    assert wrong["latency_cpu"] == "0.604 ms"
    assert yaml.safe_load(yaml.safe_dump(manifest)) == manifest


class _FakeModels:
    """A ModelSet stand-in whose clustered folder holds a small clustered checkpoint."""

    def __init__(self, root: Path) -> None:
        import numpy as np
        from safetensors.numpy import save_file

        self.root = root
        folder = root / CLUSTERED
        folder.mkdir(parents=True)
        values = np.linspace(-0.2, 0.2, 16).astype(np.float32)
        save_file({"w": np.resize(values, (32, 32))}, str(folder / "model.safetensors"))

    def folder(self, variant: str) -> Path:
        return self.root / variant


# --- what the demo counts as having gone wrong -------------------------------------------------------


def _check(metric: str, status: MetricStatus) -> MetricCheck:
    return MetricCheck(
        metric=metric, status=status, unit="B", claimed_raw="46 kB", claimed=46e3, measured=281024
    )


def _graded(submission: DemoSubmission, size_status: MetricStatus, verdict: Verdict) -> DemoGraded:
    entries = [
        EntryGrade(
            key=f"models[{i}]",
            name=e.name,
            methods=list(e.methods),
            format=e.ref.format,
            is_baseline=False,
            measured=Measured(size_bytes=281024),
            checks=[_check("size", size_status if e.wrong_size else MetricStatus.REPRODUCED)],
            verdict=verdict,
        )
        for i, e in enumerate(submission.models)
    ]
    grade = Grade(team=submission.team, homework=submission.homework, verdict=verdict, entries=entries)
    outcome = GradeOutcome(grade=grade, out_dir=Path(), files={"comment": Path("comment.md")})
    return DemoGraded(submission=submission, manifest=Path("submission.yaml"), outcome=outcome)


def _result(graded: list[DemoGraded]) -> DemoResult:
    return DemoResult(Path(), Path("repo"), "en", None, graded, Path("README.md"), [])  # type: ignore[arg-type]


def test_unexpected_is_empty_when_the_wrong_claim_is_caught():
    graded = [
        _graded(s, MetricStatus.OFF, Verdict.CLAIMS_MISMATCH if s.homework == 3 else Verdict.PASS)
        for s in SUBMISSIONS
    ]
    result = _result(graded)
    assert result.unexpected() == []
    note = next(r.note for r in result.rows() if r.model == "k-means 16")
    assert note == "size: claimed 46 kB, measured 0.281 MB"


def test_unexpected_reports_a_wrong_claim_that_passed_and_a_failed_submission():
    graded = [_graded(s, MetricStatus.REPRODUCED, Verdict.PASS) for s in SUBMISSIONS]
    graded[0] = _graded(SUBMISSIONS[0], MetricStatus.REPRODUCED, Verdict.FAILED)
    problems = _result(graded).unexpected()
    assert len(problems) == 2
    assert "alpha HW-2 came out failed" in problems[0]
    assert "k-means 16: the wrong size claim came out reproduced, not off" in problems[1]


def test_an_honest_speed_claim_that_came_out_off_is_a_note_not_a_failure():
    graded = [
        _graded(s, MetricStatus.OFF, Verdict.CLAIMS_MISMATCH if s.homework == 3 else Verdict.PASS)
        for s in SUBMISSIONS
    ]
    last = graded[-1].outcome.grade.entries[-1]
    last.checks.append(_check("speedup_cpu", MetricStatus.OFF))
    result = _result(graded)
    assert result.unexpected() == []  # `grader demo` still exits 0
    team, homework = SUBMISSIONS[-1].team, SUBMISSIONS[-1].homework
    expected = f"{team} HW-{homework} {last.name}: the honest speed claim came out off"
    assert result.speed_surprises() == [expected]


# --- end to end -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.getbasetemp() / SHARED
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).touch()
    result = subprocess.run(
        [*GRADER, "demo", "--out", str(out), "--language", "en"],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=out,
        env={"PATH": "/usr/bin:/bin", "HOME": str(out), "COLUMNS": "160"},
    )
    return out, result


def _comment(out: Path, slug: str) -> str:
    return (out / "grades" / slug / "comment.md").read_text(encoding="utf-8")


def _grade(out: Path, slug: str) -> Grade:
    return Grade.read(out / "grades" / slug / "grade.json")


@pytest.mark.slow
def test_demo_runs_and_reports_where_everything_is(demo):
    out, result = demo
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "What the grader verified" in result.stdout
    assert re.search(r"done in \d+ s", result.stdout)
    for slug in ("alpha-hw-2", "beta-hw-3", "beta-hw-4", "gamma-hw-5"):
        for name in ("validated.json", "measurement.json", "grade.json", "comment.md", "summary.md"):
            assert (out / "grades" / slug / name).is_file(), f"{slug}/{name}"
        assert _comment(out, slug).startswith("## ")
        assert "Verified figures" in _comment(out, slug)  # English, as asked
    assert (cache_dir(out, FactorySettings())).is_dir()


@pytest.mark.slow
def test_demo_catches_the_wrong_claim_with_the_measured_value(demo):
    out, _ = demo
    grade = _grade(out, "beta-hw-3")
    assert grade.verdict is Verdict.CLAIMS_MISMATCH
    clustered = next(e for e in grade.entries if e.name == "k-means 16")
    size = next(c for c in clustered.checks if c.metric == "size")
    file_bytes = (
        (out / "repo" / "submissions" / "beta" / "hw-3" / CLUSTERED / "model.safetensors").stat().st_size
    )
    manifest = yaml.safe_load(
        (out / "repo" / "submissions" / "beta" / "hw-3" / "submission.yaml").read_text()
    )
    assert size.status is MetricStatus.OFF
    assert size.measured == file_bytes
    assert size.claimed_raw == manifest["models"][0]["claims"]["size"]
    assert size.claimed is not None and size.claimed < file_bytes / 3
    comment = _comment(out, "beta-hw-3")
    assert f"{size.claimed_raw} claimed, measured {file_bytes / 1e6:.3f} MB" in comment


@pytest.mark.slow
def test_the_honest_size_and_quality_claims_reproduce(demo):
    """Size and accuracy do not depend on the machine's load, so every honest claim of them must
    reproduce. (Timings and peak RSS do; the grader reports them as it finds them.)"""
    out, _ = demo
    off = []
    for slug in ("alpha-hw-2", "beta-hw-3", "beta-hw-4", "gamma-hw-5"):
        for entry in _grade(out, slug).entries:
            for check in entry.checks:
                honest = check.metric == "size" or check.metric.startswith("quality.")
                claimed = check.claimed_raw is not None
                if honest and claimed and check.status is not MetricStatus.REPRODUCED:
                    off.append((slug, entry.name, check.metric, check.status.value))
    assert off == [("beta-hw-3", "k-means 16", "size", "off")]


@pytest.mark.slow
def test_demo_leaderboard_and_plots(demo):
    out, _ = demo
    readme = (out / "repo" / "README.md").read_text(encoding="utf-8")
    assert readme.count("<!-- leaderboard:start -->") == 1 and readme.count("<!-- leaderboard:end -->") == 1
    assert readme.count("<!-- gradebook:start -->") == 1 and readme.count("<!-- gradebook:end -->") == 1
    for team in ("alpha", "beta", "gamma"):
        assert f"| {team}" in readme
    for homework in (2, 3, 4, 5):
        assert (out / "repo" / "leaderboard" / "results" / f"hw-{homework}").is_dir()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", readme)
    assert links, "the README links its plots"
    for link in links:
        png = (out / "repo" / link).read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n"), link


@pytest.mark.slow
def test_demo_writes_the_gradebook_and_the_course_page(demo):
    out, result = demo
    book = out / "repo" / "leaderboard" / "gradebook"
    markdown = (book / "gradebook.md").read_text(encoding="utf-8")
    assert markdown.startswith("## Gradebook") and "| alpha" in markdown  # English, as asked
    header = (book / "gradebook.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("team,hw1_score,") and header.endswith(",total_points")
    site = out / "site"
    assert (site / "index.html").is_file() and (site / "records.json").is_file()
    assert {p.name for p in (site / "teams").iterdir()} == {"alpha.html", "beta.html", "gamma.html"}
    where = " ".join(result.stdout.split())
    assert f"gradebook: {book / 'gradebook.md'}" in where and f"course page: {site / 'index.html'}" in where
    shot = out / "repo" / "leaderboard" / "plots" / "course-page.png"
    if shutil.which("chromium", path="/usr/bin:/bin"):
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"its screenshot: {shot}" in where
    else:
        assert "its screenshot: none: Chromium is not installed" in where


@pytest.mark.slow
def test_grade_command_on_a_demo_manifest_writes_the_demo_comment(demo, tmp_path: Path):
    """`grader grade` through the real CLI: the same stages as the demo, so the same comment.

    Timings and memory are measured again (they differ run to run), so the two comments are
    compared where they do not depend on them: the headline, every model's size and quality
    cells, and the explanation of the wrong claim; and each comment is exactly what `grader report`
    renders from its own grade.
    """
    out, _ = demo
    manifest = out / "repo" / "submissions" / "beta" / "hw-3" / "submission.yaml"
    graded = tmp_path / "graded"
    result = subprocess.run(
        [*GRADER, "grade", str(manifest), "--out", str(graded)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=out / "repo",
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COLUMNS": "160"},
    )
    assert result.returncode == 1, result.stderr  # a claim is off
    ours = (graded / "comment.md").read_text(encoding="utf-8")
    theirs = _comment(out, "beta-hw-3")
    for folder, text in ((graded, ours), (out / "grades" / "beta-hw-3", theirs)):
        rendered = subprocess.run(
            [*GRADER, "report", str(folder / "grade.json")],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=out / "repo",
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        )
        assert rendered.stdout == text
    assert ours.splitlines()[0] == theirs.splitlines()[0]
    assert _stable_cells(ours) == _stable_cells(theirs)
    assert _line(ours, "- ❌ **k-means 16**") == _line(theirs, "- ❌ **k-means 16**")


@pytest.mark.slow
def test_demo_measurement_verifies_again_to_the_same_grade(demo, tmp_path: Path):
    """The demo's measurement.json is a stage document `grader verify` re-grades as the demo did."""
    out, _ = demo
    folder = out / "grades" / "alpha-hw-2"
    result = subprocess.run(
        [*GRADER, "verify", str(folder / "measurement.json"), "--out", str(tmp_path / "grade.json")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=out / "repo",
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    again, original = Grade.read(tmp_path / "grade.json"), Grade.read(folder / "grade.json")
    assert result.returncode == (0 if original.verdict is Verdict.PASS else 1), result.stderr
    assert again.model_dump(exclude={"graded_at"}) == original.model_dump(exclude={"graded_at"})


def _stable_cells(comment: str) -> list[tuple[str, ...]]:
    """Model, method, size and quality cells of the "Verified figures" table."""
    lines = comment.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| Model | Method | Weights size"))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    keep = [header.index(name) for name in ("Model", "Method", "Weights size", "Quality")]
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows.append(tuple(cells[i] for i in keep))
    return rows


def _line(comment: str, prefix: str) -> str:
    return next(line for line in comment.splitlines() if line.startswith(prefix))


def test_model_refs_are_distinct_models():
    from grader.demo.submissions import model_refs

    refs = model_refs()
    assert len(refs) == len(set(refs)) == 8
    assert ModelRef("baseline", transform="dynamic-int8") in refs
