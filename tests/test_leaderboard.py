"""Leaderboard: collect's replacement order, records on disk, ranking, the README markers, plots,
idempotence (README and PNG bytes), `--check`, and the CLI."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from golden.cases import NOW, grade_invalid_case, grade_mismatch, grade_pass, leaderboard_grades
from golden.factory import make_course

from grader.errors import InputError
from grader.leaderboard import (
    LeaderboardRecord,
    NotCollectableError,
    collect,
    collect_record,
    load_records,
    render_section,
    update_leaderboard,
)
from grader.leaderboard.readme import END, START, splice
from grader.leaderboard.tables import homework_frame

DAY = timedelta(days=1)


# --- collect -------------------------------------------------------------------------------------


def _record(results: Path, team: str = "ml_masters", hw: int = 2) -> LeaderboardRecord:
    return LeaderboardRecord.read(results / f"hw-{hw}" / f"{team}.json")


def test_collect_files_the_record_where_the_leaderboard_reads_it(tmp_path: Path) -> None:
    path = collect(grade_pass(), tmp_path)
    assert path == tmp_path / "hw-2" / "ml_masters.json"
    record = _record(tmp_path)
    assert record.source.pr_number == 42 and record.verdict.value == "pass"
    assert [e.name for e in record.entries] == ["bert-base-fp32", "bert-int8-dynamic", "bert-fp16"]
    assert "claimed" not in path.read_text(encoding="utf-8")  # only what the grader measured


def test_collect_replacement_order(tmp_path: Path) -> None:
    assert collect_record(grade_pass(pr=42, now=NOW), tmp_path).action == "created"
    first = (tmp_path / "hw-2" / "ml_masters.json").read_bytes()
    assert collect_record(grade_pass(pr=42, now=NOW), tmp_path).action == "unchanged"
    # an older PR, even graded later (e.g. re-run by hand), never replaces a newer PR's record
    kept = collect_record(grade_pass(pr=40, now=NOW + DAY), tmp_path)
    assert kept.action == "kept-newer" and kept.kept is not None and kept.kept.source.pr_number == 42
    assert (tmp_path / "hw-2" / "ml_masters.json").read_bytes() == first
    # a newer PR replaces it, whatever the clocks say
    assert collect_record(grade_pass(pr=45, now=NOW - DAY), tmp_path).action == "replaced"
    assert _record(tmp_path).source.pr_number == 45
    # the same PR re-graded: the later grading wins, an earlier one does not
    assert collect_record(grade_pass(pr=45, now=NOW + 2 * DAY), tmp_path).action == "replaced"
    assert collect_record(grade_pass(pr=45, now=NOW), tmp_path).action == "kept-newer"
    assert _record(tmp_path).source.graded_at == "2025-03-16T10:00:00Z"


def test_without_pull_requests_the_later_grading_wins(tmp_path: Path) -> None:
    later = grade_pass(now=NOW + DAY).model_copy(update={"pull_request": None})
    earlier = grade_pass(now=NOW).model_copy(update={"pull_request": None})
    assert collect_record(later, tmp_path).action == "created"
    assert collect_record(earlier, tmp_path).action == "kept-newer"


def test_nothing_is_collected_from_an_invalid_grade_or_a_bad_team_name(tmp_path: Path) -> None:
    with pytest.raises(NotCollectableError, match="did not validate"):
        collect(grade_invalid_case(), tmp_path)
    with pytest.raises(NotCollectableError, match="not a team name"):
        collect(grade_pass().model_copy(update={"team": "../../etc"}), tmp_path)
    assert not any(tmp_path.rglob("*.json"))


def test_records_in_the_wrong_place_or_broken_are_reported_with_their_file(tmp_path: Path) -> None:
    collect(grade_pass(), tmp_path)
    misplaced = tmp_path / "hw-2" / "compressors.json"
    misplaced.write_bytes((tmp_path / "hw-2" / "ml_masters.json").read_bytes())
    broken = tmp_path / "hw-3" / "quantum.json"
    broken.parent.mkdir()
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError) as error:
        load_records(tmp_path)
    found = {(f.code, Path(f.location.file).name) for f in error.value.findings}
    assert found == {("L002", "compressors.json"), ("D001", "quantum.json")}


# --- ranking --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("results")
    for grade in leaderboard_grades():
        collect(grade, folder)
    return folder


def test_compression_homework_ranks_by_score_and_lists_the_gated_model_last(results: Path) -> None:
    frame = homework_frame([r for r in load_records(results) if r.homework == 2])
    assert list(frame["model"]) == ["rubert-int8", "bert-int8-dynamic", "bert-fp16", "rubert-int8"]
    assert list(frame["team"]) == ["compressors", "ml_masters", "ml_masters", "quantum"]
    assert list(frame["rank"][:3]) == [1, 2, 3] and frame["rank"].iloc[3] is None
    assert frame["score"].iloc[0] == pytest.approx(437_935_112 / 120_500_000)
    assert "base" not in " ".join(frame["model"])  # baselines are the reference, not rows


def test_equal_scores_share_a_rank(results: Path) -> None:
    records = [r for r in load_records(results) if r.homework == 2 and r.team == "ml_masters"]
    twin = records[0].model_copy(update={"team": "twins"})
    frame = homework_frame([records[0], twin])
    assert list(frame["rank"]) == [1, 1, 3, 3]


def test_pareto_homework_ranks_every_teams_models_together(results: Path) -> None:
    frame = homework_frame([r for r in load_records(results) if r.homework == 4])
    assert list(frame["pareto_rank"]) == [1, 1, 1]
    assert list(frame["model"]) == ["tiny-4l", "mini-4l-312", "distil-6l"]  # within a front: by compression


# --- the README section -----------------------------------------------------------------------------


def test_markers_are_added_at_the_end_when_missing() -> None:
    text = "# Course\n\nIntro.\n"
    out = splice(text, "TABLE\n")
    assert out == f"# Course\n\nIntro.\n\n{START}\nTABLE\n{END}\n"
    assert splice("", "T") == f"{START}\nT\n{END}\n"
    assert splice("no newline at the end", "T").startswith("no newline at the end\n\n")


def test_only_the_text_between_the_markers_changes() -> None:
    before = f"# Title\n\nThe table lives between `{START}` and `{END}`.\n\n{START}\n"
    after = f"{END}\n\n## After\nkept   \r\nas is\n"
    out = splice(before + "old table\n" + after, "new table\n")
    assert out == before + "new table\n" + after


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (f"a\n{START}\nx\n", 2),
        (f"a\n{END}\nb\n{START}\n", 2),
        (f"{START}\n{START}\n{END}\n", 2),
    ],
)
def test_broken_markers_are_a_located_finding(text: str, line: int) -> None:
    with pytest.raises(InputError) as error:
        splice(text, "T", "README.md")
    finding = error.value.findings[0]
    assert finding.code == "L001" and finding.location.line == line


def test_section_text_in_both_languages(results: Path) -> None:
    records = load_records(results)
    ru = render_section(records, make_course(), language="ru")
    en = render_section(records, make_course(), language="en")
    assert "### ДЗ-2 · Квантизация и прунинг" in ru and "### HW-2 · Quantization and pruning" in en
    assert "| Место" in ru and "| Rank" in en
    assert "quantum / rubert-int8" in en and "below the 95 %" in en


def test_update_is_idempotent_and_check_detects_staleness(tmp_path: Path, results: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# Course\n\nSee the leaderboard below.\n", encoding="utf-8")
    plots = tmp_path / "leaderboard" / "plots"
    course = make_course()
    first = update_leaderboard(results, readme, plots, course)
    assert first.readme_changed and first.records == 6
    names = sorted(p.name for p in plots.iterdir())
    assert names == [
        "hw-2-size-quality.png",
        "hw-2-speedup-quality.png",
        "hw-3-size-quality.png",
        "hw-3-speedup-quality.png",
        "hw-4-size-quality.png",
        "hw-4-speedup-quality.png",
    ]
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# Course\n\nSee the leaderboard below.\n\n" + START)
    assert "](leaderboard/plots/hw-2-size-quality.png)" in text
    snapshot = {p.name: p.read_bytes() for p in plots.iterdir()}
    for png in snapshot.values():
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        assert b"matplotlib" not in png.lower()  # no version stamp that would change the bytes
    second = update_leaderboard(results, readme, plots, course)
    assert not second.readme_changed and second.plots_written == []
    assert readme.read_text(encoding="utf-8") == text
    assert {p.name: p.read_bytes() for p in plots.iterdir()} == snapshot
    assert not update_leaderboard(results, readme, plots, course, check=True).stale
    # a new merged grade makes the README stale until regenerated
    collect(grade_pass(team="quantum", pr=80, now=NOW + 9 * DAY), results)
    stale = update_leaderboard(results, readme, plots, course, check=True)
    assert stale.stale and stale.readme_changed
    assert readme.read_text(encoding="utf-8") == text  # --check writes nothing
    (results / "hw-2" / "quantum.json").unlink()
    collect(leaderboard_grades()[2], results)  # put the fixture back as it was
    (plots / "hw-3-size-quality.png").unlink()
    assert update_leaderboard(results, readme, plots, course, check=True).missing_plots == [
        plots / "hw-3-size-quality.png"
    ]


def test_plots_are_byte_identical_across_renders(results: Path, tmp_path: Path) -> None:
    from grader.leaderboard.plots import plot_homework
    from grader.report.templates import find_templates, load_strings

    records = [r for r in load_records(results) if r.homework == 4]
    strings = load_strings(find_templates(), "ru")
    frame = homework_frame(records)
    a = plot_homework(4, frame, records, strings)
    b = plot_homework(4, homework_frame(records), records, strings)
    assert [p.png for p in a] == [p.png for p in b]
    assert len(a) == 2 and len(a[0].png) > 5_000


# --- the CLI --------------------------------------------------------------------------------------


def _grader(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from grader.cli import main; main()", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_collect_and_leaderboard_through_the_cli(tmp_path: Path) -> None:
    (tmp_path / "course.yaml").write_text(
        yaml.safe_dump(make_course().model_dump(mode="json", exclude_none=True), allow_unicode=True),
        encoding="utf-8",
    )
    (tmp_path / "README.md").write_text("# Course\n", encoding="utf-8")
    grade = grade_mismatch().write(tmp_path / "grade.json")
    invalid = grade_invalid_case().write(tmp_path / "invalid.json")
    collected = _grader("collect", str(grade), cwd=tmp_path)
    assert collected.returncode == 0, collected.stderr
    assert (tmp_path / "leaderboard" / "results" / "hw-3" / "compressors.json").is_file()
    refused = _grader("collect", str(invalid), cwd=tmp_path)
    assert refused.returncode == 1 and "not collected" in refused.stderr
    stale = _grader("leaderboard", "--check", cwd=tmp_path)
    assert stale.returncode == 1 and "stale" in stale.stderr
    made = _grader("leaderboard", "--language", "en", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    readme = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert "### HW-3 · Weight clustering" in readme
    assert (tmp_path / "leaderboard" / "plots" / "hw-3-size-quality.png").is_file()
    fresh = _grader("leaderboard", "--check", "--language", "en", cwd=tmp_path)
    assert fresh.returncode == 0, fresh.stderr
