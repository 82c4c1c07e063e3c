"""A grade goes on the leaderboard only if it belongs to the merged PR the API names (issue #10):
its PR number, head SHA, team and homework are checked by `grader collect` against the values the
leaderboard workflow's find job reads from the GitHub API; a forged grade replaces nobody's record."""

from __future__ import annotations

from pathlib import Path

import pytest
from golden.cases import grade_pass
from typer.testing import CliRunner

from grader.cli import app
from grader.leaderboard.records import Provenance, provenance_findings

HEAD = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # the golden grade's head SHA


def expected(**changes) -> Provenance:
    facts = {"pr": 42, "head_sha": HEAD, "team": "ml_masters", "homework": 2} | changes
    return Provenance(**facts)


def test_a_grade_of_the_merged_pr_is_accepted() -> None:
    grade = grade_pass()
    assert (grade.pull_request.number, grade.pull_request.head_sha, grade.team, grade.homework) == (
        42,
        HEAD,
        "ml_masters",
        2,
    )
    assert provenance_findings(grade, expected(), "grade.json") == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"pr": 43}, "pull_request.number"),
        ({"head_sha": "1" * 40}, "pull_request.head_sha"),
        ({"team": "compressors"}, "team"),
        ({"homework": 3}, "homework"),
    ],
)
def test_each_fact_that_disagrees_with_the_api_is_a_finding(changes: dict, field: str) -> None:
    (finding,) = provenance_findings(grade_pass(), expected(**changes), "grade.json")
    assert finding.code == "L004" and finding.location.field == field


def test_a_grade_without_its_pull_request_is_refused() -> None:
    grade = grade_pass().model_copy(update={"pull_request": None})
    fields = {f.location.field for f in provenance_findings(grade, expected(), "grade.json")}
    assert fields == {"pull_request.number", "pull_request.head_sha"}


def _collect(tmp_path: Path, *extra: str):
    grade = grade_pass().write(tmp_path / "grade.json")
    results = tmp_path / "results"
    args = ["collect", str(grade), "--results", str(results), *extra]
    return CliRunner().invoke(app, args), results


def test_collect_refuses_a_forged_grade_and_writes_nothing(tmp_path: Path) -> None:
    facts = ["--pr", "42", "--expected-sha", HEAD, "--team", "compressors", "--homework", "2"]
    result, results = _collect(tmp_path, *facts)
    assert result.exit_code == 2 and "L004" in result.output and "Traceback" not in result.output
    assert not results.exists()


def test_collect_files_the_grade_of_the_merged_pr(tmp_path: Path) -> None:
    facts = ["--pr", "42", "--expected-sha", HEAD, "--team", "ml_masters", "--homework", "2"]
    result, results = _collect(tmp_path, *facts)
    assert result.exit_code == 0, result.output
    assert (results / "hw-2" / "ml_masters.json").is_file()


def test_collect_wants_all_four_facts_or_none(tmp_path: Path) -> None:
    result, results = _collect(tmp_path, "--pr", "42")
    assert result.exit_code == 2 and not results.exists()
