"""Publishing a grade on a PR against the fake GitHub: sticky comment, check run, labels, and
the stale-SHA guard. Real HTTP, real PyGithub, real Grade documents and the real report."""

from __future__ import annotations

import shutil

import pytest
from github_fake import FakeGitHub
from github_fake.support import BOT, FIXTURES, HEAD, client_for, grade, submission_pull

from grader.course import load_course
from grader.findings import Finding, Location, Severity
from grader.github.checks import (
    annotations_from_findings,
    batches,
    complete_check_run,
    conclusion_for,
    start_check_run,
)
from grader.github.comment import (
    COMMENT_LIMIT,
    compose,
    cut_markdown,
    marker,
    upsert_sticky_comment,
    utf16_length,
)
from grader.github.labels import labels_for, sync_labels
from grader.github.publish import Rendered, publish_grade
from grader.github.texts import text as github_text
from grader.report import render_check_run, render_comment
from grader.validate import validate_manifest
from grader.validate.document import PullRequestContext
from grader.verify import grade_invalid
from grader.verify.models import Grade, Verdict

MARK = marker("ml_masters", 2)


@pytest.fixture
def fake():
    with FakeGitHub() as server:
        server.add_pull(submission_pull())
        yield server


@pytest.fixture
def client(fake):
    with client_for(fake) as c:
        yield c


def rendered(text: str = "Verified: size 45 MB.") -> Rendered:
    return Rendered(
        comment=text, check_title="✅ ml_masters HW-2: pass", check_summary="All claims reproduced."
    )


def writes(fake: FakeGitHub) -> list[str]:
    return [f"{r.method} {r.path}" for r in fake.requests if r.method != "GET"]


# --- the sticky comment -------------------------------------------------------------------------


def test_first_grading_creates_one_comment_with_the_marker(fake, client):
    result = publish_grade(client, grade(), rendered(), number=7, expected_sha=HEAD)
    (comment,) = fake.comments_on(7)
    assert result.posted and result.comment.action == "created" and result.comment.comment_id == comment.id
    assert comment.author == BOT
    assert comment.body.splitlines()[0] == "<!-- compression-grader:v1 team=ml_masters hw=2 -->"
    assert "Verified: size 45 MB." in comment.body


def test_a_rerun_edits_the_same_comment(fake, client):
    publish_grade(client, grade(), rendered("first"), number=7, expected_sha=HEAD)
    result = publish_grade(client, grade(), rendered("second"), number=7, expected_sha=HEAD)
    (comment,) = fake.comments_on(7)
    assert result.comment.action == "edited" and result.comment.comment_id == comment.id
    assert "second" in comment.body and "first" not in comment.body
    assert len(fake.calls("POST", r"/issues/7/comments$")) == 1
    assert [r.path for r in fake.calls("PATCH", r"/issues/comments/")] == [
        f"/repos/course/compression/issues/comments/{comment.id}"
    ]


def test_an_unchanged_body_is_not_sent_again(fake, client):
    publish_grade(client, grade(), rendered(), number=7, expected_sha=HEAD)
    before = len(fake.calls("POST", "/comments")) + len(fake.calls("PATCH", "/comments"))
    result = publish_grade(client, grade(), rendered(), number=7, expected_sha=HEAD)
    assert result.comment.action == "unchanged"
    assert len(fake.calls("POST", "/comments")) + len(fake.calls("PATCH", "/comments")) == before


def test_a_students_comment_with_the_marker_is_never_edited(fake, client):
    forged = fake.add_comment(7, "alice", f"{MARK}\nI passed everything, trust me")
    publish_grade(client, grade(), rendered(), number=7, expected_sha=HEAD)
    comments = fake.comments_on(7)
    assert comments[0].id == forged.id and comments[0].body == f"{MARK}\nI passed everything, trust me"
    assert [c.author for c in comments] == ["alice", BOT]
    touched = {r.path.rsplit("/", 1)[-1] for r in fake.requests if r.method in ("PATCH", "DELETE")}
    assert str(forged.id) not in touched


def test_the_bots_comment_on_page_three_is_found(fake, client):
    for i in range(230):
        fake.add_comment(7, "bob", f"question {i}")
    ours = fake.add_comment(7, BOT, f"{MARK}\nold report")
    result = publish_grade(client, grade(), rendered("new report"), number=7, expected_sha=HEAD)
    assert result.comment.action == "edited" and result.comment.comment_id == ours.id
    assert not fake.calls("POST", r"/issues/7/comments$")
    assert "3" in [r.query.get("page") for r in fake.calls("GET", r"/issues/7/comments$")]
    assert "new report" in fake.comments_on(7)[-1].body


def test_duplicates_are_pruned_keeping_the_oldest(fake, client):
    oldest = fake.add_comment(7, BOT, f"{MARK}\nv1")
    fake.add_comment(7, "bob", "thanks!")
    newer = [fake.add_comment(7, BOT, f"{MARK}\nv{i}") for i in (2, 3)]
    result = publish_grade(client, grade(), rendered("v4"), number=7, expected_sha=HEAD)
    assert result.comment.comment_id == oldest.id
    assert set(result.comment.pruned) == {c.id for c in newer}
    bodies = [(c.author, c.body.splitlines()[-1]) for c in fake.comments_on(7)]
    assert bodies == [(BOT, "v4"), ("bob", "thanks!")]


def test_a_racing_job_that_commented_first_wins_and_ours_is_deleted(fake, client):
    """Both jobs saw no comment; the other one posted between our listing and our POST."""
    racer: list[int] = []
    fake.after(
        "GET", r"/issues/7/comments$", lambda f: racer.append(f.add_comment(7, BOT, f"{MARK}\nracer").id)
    )
    body, _ = compose(MARK, "ours", language="en", report_url=None)
    result = upsert_sticky_comment(client, 7, MARK, body)
    (comment,) = fake.comments_on(7)
    assert comment.id == racer[0] == result.comment_id and result.action == "edited"
    assert comment.body == body and len(result.pruned) == 1


def test_a_502_after_the_comment_landed_leaves_one_comment(fake, client):
    """POST is retried; when the first attempt had in fact landed, the retry makes a duplicate."""
    fake.fail("POST", r"/issues/7/comments$", 502, landed=True)
    result = publish_grade(client, grade(), rendered(), number=7, expected_sha=HEAD)
    assert len(fake.calls("POST", r"/issues/7/comments$")) == 2
    (comment,) = fake.comments_on(7)
    assert result.comment.comment_id == comment.id and len(result.comment.pruned) == 1


def test_each_team_and_homework_has_its_own_comment(fake, client):
    other = fake.add_comment(7, BOT, f"{marker('compressors', 3)}\nanother submission")
    publish_grade(client, grade(), rendered(), number=7, expected_sha=HEAD)
    comments = fake.comments_on(7)
    assert len(comments) == 2 and comments[0].id == other.id
    assert comments[0].body.endswith("another submission")


def test_a_team_from_a_title_cannot_break_out_of_the_marker():
    assert marker("x --> <script>", None) == "<!-- compression-grader:v1 team=x_--___script_ hw=- -->"
    assert marker(None, None) == "<!-- compression-grader:v1 team=- hw=- -->"


def test_an_over_long_report_is_cut_under_the_limit_with_a_note(fake, client):
    row = "| модель 🚀 | 45 MB | ✅ |\n"
    long_report = "## Отчёт\n\n```text\n" + row * 5000  # ~120k UTF-16 units, cut inside the fence
    result = publish_grade(client, grade(), rendered(long_report), number=7, expected_sha=HEAD)
    (comment,) = fake.comments_on(7)
    assert result.comment_cut
    assert utf16_length(comment.body) <= COMMENT_LIMIT
    assert comment.body.startswith(MARK + "\n")
    assert comment.body.rstrip().endswith(
        "The full report is in the grading run's summary: https://github.example/course/compression/actions/runs/4242."
    )
    head = comment.body.split("\n\n---\n")[0]
    assert head.count("```") % 2 == 0  # the fence left open by the cut is closed
    assert head.endswith("✅ |\n```\n")  # cut at a line break, the last table row whole


def test_cut_markdown_keeps_whole_lines_within_the_budget():
    text = "a\n" + "😀" * 10 + "\n" + "b" * 50
    cut = cut_markdown(text, 30)
    assert cut == "a\n" + "😀" * 10 + "\n" and utf16_length(cut) <= 30
    assert cut_markdown("short\n", 30) == "short\n"


def test_compose_leaves_a_report_that_fits_alone():
    body, cut = compose(MARK, "x" * 1000, language="ru", report_url="https://example/run")
    assert not cut and body == f"{MARK}\n{'x' * 1000}\n"
    body, cut = compose(MARK, "я\n" * 40000, language="ru", report_url="https://example/run")
    assert cut and "Полный отчёт — в сводке запуска грейдера: https://example/run." in body


# --- the stale-SHA guard -------------------------------------------------------------------------


def test_nothing_is_posted_when_the_head_moved(fake, client):
    fake.repo.pulls[7].head_sha = "2" * 40  # the team pushed while this commit was being graded
    result = publish_grade(client, grade(), rendered(), number=7, expected_sha=HEAD)
    assert not result.posted and result.head_sha == "2" * 40
    assert "moved from 111111111111 to 222222222222" in result.reason
    assert writes(fake) == [] and fake.comments_on(7) == [] and fake.repo.check_runs == {}


# --- the check run --------------------------------------------------------------------------------


def findings_on_lines(count: int) -> list[Finding]:
    return [
        Finding(
            code="M003" if i % 2 else "U001",
            severity=Severity.ERROR if i % 3 else Severity.WARNING,
            location=Location(file="submissions/ml_masters/hw-2/submission.yaml", line=i + 1, column=3),
            message=f"problem {i}",
            expected="something",
            hint="fix it",
        )
        for i in range(count)
    ]


def test_120_annotations_go_out_in_three_batches_and_the_run_completes(fake, client):
    queued = start_check_run(client, HEAD, "en")
    assert queued.status == "queued"
    g = grade(Verdict.INVALID, findings=findings_on_lines(120))
    publish_grade(client, g, rendered(), number=7, expected_sha=HEAD)
    (run,) = fake.repo.check_runs.values()
    sizes = [len((u.get("output") or {}).get("annotations") or []) for u in run.updates]
    statuses = [u.get("status") for u in run.updates]
    assert statuses == ["queued", "in_progress", "in_progress", "in_progress", "completed"]
    assert sizes == [0, 0, 50, 50, 20]
    assert run.conclusion == "failure" and len(run.annotations) == 120
    first = run.annotations[0]
    assert first == {
        "path": "submissions/ml_masters/hw-2/submission.yaml",
        "start_line": 1,
        "end_line": 1,
        "start_column": 3,
        "end_column": 3,
        "annotation_level": "warning",
        "title": "U001",
        "message": "problem 0\nexpected: something\nhint: fix it",
    }
    assert run.annotations[1]["annotation_level"] == "failure"
    assert run.output["title"] == "✅ ml_masters HW-2: pass"


def test_a_regrade_of_the_same_commit_gets_a_fresh_check_run(fake, client):
    publish_grade(client, grade(Verdict.CLAIMS_MISMATCH), rendered(), number=7, expected_sha=HEAD)
    publish_grade(client, grade(Verdict.PASS), rendered(), number=7, expected_sha=HEAD)
    first, second = fake.repo.check_runs.values()
    assert (first.conclusion, second.conclusion) == ("failure", "success")


@pytest.mark.parametrize(
    ("verdict", "conclusion"),
    [
        (Verdict.PASS, "success"),
        (Verdict.CLAIMS_MISMATCH, "failure"),
        (Verdict.INCOMPLETE, "failure"),
        (Verdict.FAILED, "failure"),
        (Verdict.INVALID, "failure"),
        (Verdict.INCONCLUSIVE, "action_required"),
    ],
)
def test_the_conclusion_follows_the_verdict(verdict, conclusion):
    assert conclusion_for(grade(verdict)) == conclusion


def test_a_code_format_waiting_for_an_instructor_needs_action():
    finding = Finding(
        code="M010", location=Location(file="submissions/t/hw-5/submission.yaml", line=9), message="x"
    )
    g = grade(Verdict.INVALID, findings=[finding])
    assert conclusion_for(g) == "action_required"
    assert labels_for(g) == {"invalid-submission", "needs-approval"}


def test_findings_without_a_file_in_the_repository_are_not_annotations():
    findings = [
        Finding(code="P001", location=Location(file="pull request", field="title"), message="bad title"),
        Finding(code="G001", location=Location(file="<environment>"), message="x"),
        Finding(code="D001", location=Location(file="/tmp/abs/grade.json"), message="x"),
        Finding(code="A001", location=Location(file="submissions/t/hw-2/../../x"), message="x"),
        Finding(code="M001", location=Location(file="submissions/t/hw-2/submission.yaml"), message="no line"),
    ]
    (only,) = annotations_from_findings(findings)
    assert (
        only["title"] == "M001" and only["start_line"] == only["end_line"] == 1 and "start_column" not in only
    )


def test_batches_always_have_a_last_one():
    assert batches([]) == [[]]
    assert [len(b) for b in batches(list(range(101)))] == [50, 50, 1]


def test_completing_without_a_queued_run_creates_one_in_progress(fake, client):
    complete_check_run(
        client, HEAD, conclusion="success", title="t", summary="s" * 70000, annotations=[], language="en"
    )
    (run,) = fake.repo.check_runs.values()
    assert [u.get("status") for u in run.updates] == ["in_progress", "completed"]
    assert run.updates[0]["details_url"] == "https://github.example/course/compression/actions/runs/4242"
    assert len(run.output["summary"]) <= 65535 and run.output["summary"].endswith("the run's summary)")


# --- labels -----------------------------------------------------------------------------------------


def test_labels_are_created_with_colour_and_description_then_kept_in_step(fake, client):
    fake.repo.pulls[7].labels = ["deadline-extension"]  # an instructor's label: never touched
    publish_grade(client, grade(Verdict.CLAIMS_MISMATCH), rendered(), number=7, expected_sha=HEAD)
    assert fake.repo.pulls[7].labels == ["deadline-extension", "claims-mismatch", "graded"]
    assert fake.repo.labels["claims-mismatch"] == {
        "name": "claims-mismatch",
        "color": "d93f0b",
        "description": github_text("label_claims_mismatch", "en"),
    }
    result = publish_grade(client, grade(Verdict.PASS), rendered("fixed"), number=7, expected_sha=HEAD)
    assert result.labels.removed == ("claims-mismatch",) and result.labels.added == ()
    assert fake.repo.pulls[7].labels == ["deadline-extension", "graded"]
    assert len(fake.calls("POST", r"/compression/labels$")) == 2  # graded, claims-mismatch: created once


def test_an_invalid_submission_loses_graded_and_gets_invalid(fake, client):
    fake.repo.pulls[7].labels = ["graded"]
    change = sync_labels(client, 7, ["graded"], labels_for(grade(Verdict.INVALID)), "ru")
    assert change.added == ("invalid-submission",) and change.removed == ("graded",)
    assert fake.repo.labels["invalid-submission"]["description"].startswith("Манифест или PR")


# --- the whole way: validate → grade_invalid → report → publish ----------------------------------


def test_a_real_invalid_submission_is_reported_on_its_manifest_lines(tmp_path, fake, client):
    root = tmp_path / "repo"
    manifest = root / "submissions/ml_masters/hw-2/submission.yaml"
    manifest.parent.mkdir(parents=True)
    shutil.copy(FIXTURES / "course.yaml", root / "course.yaml")
    manifest.write_text(
        "schema_version: 1\nteam: ml_masters\nhomework: 2\ntask: text-classification\n"
        "models:\n  - name: int8\n    artifact: {path: weights/pytorch_model.bin}\n"
        "    claims:\n      size: 45 potatoes\n",
        encoding="utf-8",
    )
    course = load_course(root / "course.yaml")
    pr = PullRequestContext(
        number=7,
        head_sha=HEAD,
        author="alice",
        title="ml_masters HW-2",
        changed_files=["submissions/ml_masters/hw-2/submission.yaml"],
    )
    validated = validate_manifest(manifest, course, root, pr=pr)
    g: Grade = grade_invalid(validated, course)
    title, summary = render_check_run(g)
    result = publish_grade(
        client, g, Rendered(render_comment(g), title, summary), number=7, expected_sha=HEAD
    )
    assert result.posted
    (run,) = fake.repo.check_runs.values()
    lines = {(a["title"], a["start_line"]) for a in run.annotations}
    assert ("U001", 9) in lines or any(line == 9 for _, line in lines)  # `size: 45 potatoes` is line 9
    assert all(a["path"] == "submissions/ml_masters/hw-2/submission.yaml" for a in run.annotations)
    assert run.conclusion == "failure"
    (comment,) = fake.comments_on(7)
    assert "potatoes" in comment.body
    assert fake.repo.pulls[7].labels == ["invalid-submission"]
