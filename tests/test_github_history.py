"""Every graded attempt of a merged PR goes to the history (issue #13): `grader gh collect-history`
lists the PR's commits and their grade artifacts through the API (the fake GitHub over HTTP, which
PyGithub talks to), downloads each grade, checks it against the API like the merged one (L004),
and files it; `grader history TEAM` shows the attempts in order with what changed."""

from __future__ import annotations

import io
import json
import os
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from github_fake import FakeGitHub
from github_fake.support import grader_env, submission_pull
from golden.cases import NOW, grade_pass
from typer.testing import CliRunner

from grader.cli import app
from grader.github.runs import grade_artifact_name
from grader.leaderboard.records import AttemptRecord, LeaderboardRecord, load_records
from grader.verify.models import Grade, Verdict

PUSHES = ["a1" * 20, "b2" * 20, "c3" * 20]  # the PR's three pushes; the last one is merged
MERGED = PUSHES[-1]


def attempt(sha: str, hours: int, *, verdict: Verdict | None = None, team: str = "ml_masters") -> Grade:
    """The golden pass grade, as graded for PR #7 at ``sha``, ``hours`` after NOW."""
    grade = grade_pass(pr=7, team=team, now=NOW + timedelta(hours=hours))
    assert grade.pull_request is not None
    pull = grade.pull_request.model_copy(update={"number": 7, "head_sha": sha})
    changes: dict = {"pull_request": pull}
    if verdict is not None:
        changes["verdict"] = verdict
    return grade.model_copy(update=changes)


def archive(grade: Grade | None, **extra: bytes) -> bytes:
    """The zip GitHub serves for a grade artifact: grade.json and the public measurement."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        if grade is not None:
            bundle.writestr("grade.json", grade.to_json())
        bundle.writestr("measurement.public.json", b"{}")
        for name, data in extra.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


def upload(fake: FakeGitHub, workflow: str, sha: str, data: bytes, **run: object) -> int:
    made = fake.add_run(workflow, artifacts=(grade_artifact_name(7, sha),), **run)  # type: ignore[arg-type]
    made.artifacts[0].archive = data
    made.artifacts[0].size_in_bytes = len(data)
    return made.id


@pytest.fixture
def fake():
    with FakeGitHub() as server:
        server.add_pull(submission_pull(head_sha=MERGED, merged=True, state="closed", commits=PUSHES))
        yield server


@pytest.fixture
def graded(fake: FakeGitHub) -> dict[str, int]:
    """Three graded pushes and an instructor's /regrade of the last, plus what must be refused."""
    runs = {
        "push1": upload(
            fake, "grade.yml", PUSHES[0], archive(attempt(PUSHES[0], 0, verdict=Verdict.CLAIMS_MISMATCH))
        ),
        "push2": upload(fake, "grade.yml", PUSHES[1], archive(attempt(PUSHES[1], 1))),
        "push3": upload(fake, "grade.yml", PUSHES[2], archive(attempt(PUSHES[2], 2))),
        "regrade": upload(fake, "regrade.yml", MERGED, archive(attempt(MERGED, 3)), event="issue_comment"),
        # A fork's `pull_request` run executes the fork's copy of grade.yml: any grade it uploads is forged.
        "fork": upload(fake, "grade.yml", MERGED, archive(attempt(MERGED, 5)), event="pull_request"),
        # From a trusted run, under the PR's name, but the grade inside is another team's.
        "other-team": upload(
            fake, "grade.yml", PUSHES[1], archive(attempt(PUSHES[1], 4, team="compressors"))
        ),
        "no-grade": upload(fake, "grade.yml", PUSHES[0], archive(None)),
    }
    # A commit that is not the PR's (the API does not list it): never even looked up.
    upload(fake, "grade.yml", "d4" * 20, archive(attempt("d4" * 20, 6)))
    return runs


def collect_history(fake: FakeGitHub, tmp_path: Path):
    env = grader_env(fake)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        for key in [k for k in os.environ if k.startswith(("GITHUB_", "GRADER_"))]:
            patch.delenv(key)
        args = ["gh", "collect-history", "--pr", "7", "--results", str(tmp_path / "results")]
        return CliRunner().invoke(app, args, env=env, catch_exceptions=False)


def history_files(results: Path) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes() for p in sorted((results / "hw-2" / "history" / "ml_masters").glob("*.json"))
    }


def test_three_pushes_and_a_regrade_are_four_attempts_and_the_newest_is_on_the_leaderboard(
    fake: FakeGitHub, graded: dict[str, int], tmp_path: Path
) -> None:
    result = collect_history(fake, tmp_path)
    assert result.exit_code == 0, result.output
    results = tmp_path / "results"
    attempts = [
        AttemptRecord.read(results / "hw-2" / "history" / "ml_masters" / n) for n in history_files(results)
    ]
    assert [(a.source.head_sha, a.origin.trigger if a.origin else None) for a in attempts] == [
        (PUSHES[0], "push"),
        (PUSHES[1], "push"),
        (PUSHES[2], "push"),
        (MERGED, "regrade"),
    ]
    assert [a.origin.run_id for a in attempts if a.origin] == [
        graded[k] for k in ("push1", "push2", "push3", "regrade")
    ]
    assert [a.verdict for a in attempts] == [
        Verdict.CLAIMS_MISMATCH,
        Verdict.PASS,
        Verdict.PASS,
        Verdict.PASS,
    ]
    # Why each was replaced, and by which attempt.
    whys = [
        (
            a.collection.action,
            a.collection.reason,
            a.collection.other.head_sha if a.collection.other else None,
        )
        for a in attempts
    ]
    assert whys == [
        ("superseded", "new-push", PUSHES[1]),
        ("superseded", "new-push", PUSHES[2]),
        ("superseded", "regraded", MERGED),
        ("created", "first", None),
    ]
    # The leaderboard shows the newest verified attempt: the regrade of the merged commit.
    (record,) = load_records(results)
    assert (record.source.head_sha, record.source.graded_at) == (MERGED, attempts[-1].source.graded_at)
    assert record == LeaderboardRecord.read(results / "hw-2" / "ml_masters.json")
    assert "4 graded attempt(s) in 3 commit(s), 4 new in the history, 3 refused" in result.output


def test_forged_and_unverifiable_artifacts_are_not_recorded_and_say_why(
    fake: FakeGitHub, graded: dict[str, int], tmp_path: Path
) -> None:
    result = collect_history(fake, tmp_path)
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    fork = graded["fork"]
    assert f"(run {fork}): uploaded by run {fork} of .github/workflows/grade.yml (pull_request)" in output
    assert (
        f"(run {graded['other-team']}): the grade does not belong to PR #7 at {PUSHES[1][:12]}: team"
        in output
    )
    assert f"(run {graded['no-grade']}): the artifact holds no grade.json" in output
    kept = [AttemptRecord.read(p) for p in (tmp_path / "results").rglob("history/*/*.json")]
    assert {a.team for a in kept} == {"ml_masters"} and len(kept) == 4
    assert all(a.origin and a.origin.run_id not in (graded["fork"], graded["other-team"]) for a in kept)
    # The token went to the API only, never to the storage host the download was redirected to.
    blobs = fake.calls("GET", "^/_blobs/")
    assert blobs and not any(call.authorized for call in blobs)
    assert not fake.calls("GET", "d4d4d4")  # a commit the PR does not have is never looked up


def test_collecting_twice_writes_nothing_new(
    fake: FakeGitHub, graded: dict[str, int], tmp_path: Path
) -> None:
    assert collect_history(fake, tmp_path).exit_code == 0
    results = tmp_path / "results"
    before = history_files(results), (results / "hw-2" / "ml_masters.json").read_bytes()
    again = collect_history(fake, tmp_path)
    assert again.exit_code == 0, again.output
    assert "0 new in the history" in again.output
    assert (history_files(results), (results / "hw-2" / "ml_masters.json").read_bytes()) == before
    assert not list(results.rglob(".*.tmp"))  # atomic writes leave no temporary file behind


def test_the_merged_grade_collected_first_is_not_collected_twice(
    fake: FakeGitHub, graded: dict[str, int], tmp_path: Path
) -> None:
    """The leaderboard workflow also runs `grader collect` on the merged grade it downloaded."""
    results = tmp_path / "results"
    grade_file = attempt(MERGED, 3).write(tmp_path / "grade.json")
    collected = CliRunner().invoke(app, ["collect", str(grade_file), "--results", str(results)])
    assert collected.exit_code == 0, collected.output
    assert collect_history(fake, tmp_path).exit_code == 0
    assert len(history_files(results)) == 4
    (record,) = load_records(results)
    assert record.source.graded_at == attempt(MERGED, 3).graded_at


def test_history_shows_the_attempts_in_order_with_what_changed(
    fake: FakeGitHub, graded: dict[str, int], tmp_path: Path
) -> None:
    from grader.leaderboard.gradebook_command import changes, why
    from grader.leaderboard.records import load_attempts
    from grader.report.templates import find_templates, load_strings

    assert collect_history(fake, tmp_path).exit_code == 0
    results = tmp_path / "results"
    args = ["history", "ml_masters", "--results", str(results), "--language", "en"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    heads = [line.split("│")[4].strip() for line in result.output.splitlines() if line.count("│") > 8]
    assert [h for h in heads if h] == [sha[:7] for sha in (*PUSHES, MERGED)]  # oldest first
    assert "regrade" in result.output and "push" in result.output

    s = load_strings(find_templates(), "en")
    attempts = load_attempts(results, "ml_masters")
    what = [changes(before, after, s) for before, after in zip([None, *attempts], attempts, strict=False)]
    assert what == [
        "—",
        f"new commit {PUSHES[1][:7]}; verdict claim off → pass",
        f"new commit {PUSHES[2][:7]}; same figures",
        "same commit; same figures",
    ]
    assert why(attempts[0], s).startswith(f"replaced by the grading of {PUSHES[1][:7]} (")
    assert why(attempts[2], s).endswith("the same commit graded again")
    assert why(attempts[3], s) == "the first record of this homework"


def test_an_unmerged_pr_collects_nothing(fake: FakeGitHub, graded: dict[str, int], tmp_path: Path) -> None:
    fake.repo.pulls[7].merged = False
    result = collect_history(fake, tmp_path)
    assert result.exit_code == 1 and "not merged" in result.output
    assert not (tmp_path / "results").exists()


def test_an_invalid_push_stays_in_the_history_only(fake: FakeGitHub, tmp_path: Path) -> None:
    invalid = attempt(PUSHES[0], 0).model_copy(update={"verdict": Verdict.INVALID, "entries": []})
    upload(fake, "grade.yml", PUSHES[0], archive(invalid))
    upload(fake, "grade.yml", MERGED, archive(attempt(MERGED, 1)))
    assert collect_history(fake, tmp_path).exit_code == 0
    results = tmp_path / "results"
    first, last = (
        AttemptRecord.read(results / "hw-2" / "history" / "ml_masters" / n) for n in history_files(results)
    )
    assert (first.verdict, first.entries, first.collection.action) == (Verdict.INVALID, [], "superseded")
    assert last.collection.action == "created"
    assert json.loads((results / "hw-2" / "ml_masters.json").read_text())["source"]["head_sha"] == MERGED


def test_the_course_page_shows_why_each_attempt_was_graded_and_what_changed(
    fake: FakeGitHub, graded: dict[str, int], tmp_path: Path
) -> None:
    from grader.leaderboard.records import load_attempts
    from grader.report.templates import find_templates, load_strings
    from grader.site import site_data

    assert collect_history(fake, tmp_path).exit_code == 0
    results = tmp_path / "results"
    s = load_strings(find_templates(), "en")
    data = site_data(load_records(results), load_attempts(results), None, s)
    rows = data["teams"]["ml_masters"]["attempts"]
    assert [(r["trigger"], r["current"]) for r in rows] == [
        ("push", False),
        ("push", False),
        ("push", False),
        ("regrade", True),
    ]
    assert rows[1]["changed"] == f"new commit {PUSHES[1][:7]}; verdict claim off → pass"
