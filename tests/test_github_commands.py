"""The GitHub commands as workflow steps run them: real event payloads, the fake GitHub over HTTP,
$GITHUB_OUTPUT and $GITHUB_STEP_SUMMARY files, exit codes."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from github_fake import FakeFile, FakeGitHub
from github_fake.support import (
    BOT,
    FIXTURES,
    HEAD,
    grade,
    grader_env,
    payload,
    read_outputs,
    run_grader,
    submission_pull,
)
from typer.testing import CliRunner

from grader.cli import app
from grader.github.client import MODE_SUBMODULE, MODE_SYMLINK
from grader.github.runs import grade_artifact_name
from grader.github.texts import text as github_text
from grader.validate.document import PullRequestContext, ValidatedSubmission
from grader.verify.models import Verdict

MANIFEST = "submissions/ml_masters/hw-2/submission.yaml"
LFS_POINTER = b"version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 9\n"
VALID_MANIFEST = b"""schema_version: 1
team: ml_masters
homework: 2
task: text-classification
models:
  - name: int8
    method: quantization
    artifact: {hf: ml-masters/int8, revision: 86f7e437faa5a7fce15d1ddcb9eaeaea377667b8}
    claims: {size: 45 MB}
"""


@pytest.fixture
def fake():
    with FakeGitHub() as server:
        server.add_pull(submission_pull())
        yield server


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A workflow's workspace: src/ holds the course (the default branch), out/ the documents."""
    (tmp_path / "src").mkdir()
    shutil.copy(FIXTURES / "course.yaml", tmp_path / "src" / "course.yaml")
    (tmp_path / "out").mkdir()
    return tmp_path


def invoke(fake: FakeGitHub, work: Path, args: list[str], **env: str):
    """`grader ARGS` in-process, as a step in src/ with the fake's GITHUB_* environment."""
    step_env = grader_env(fake, GITHUB_OUTPUT=str(work / "out" / "outputs.txt"), **env)
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(work / "src")
        for key in [k for k in os.environ if k.startswith(("GITHUB_", "GRADER_"))]:
            patch.delenv(key)
        return runner.invoke(app, args, env=step_env, catch_exceptions=False)


def write_event(work: Path, data: dict) -> Path:
    path = work / "event.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# --- pr-context ---------------------------------------------------------------------------------


def test_pr_context_takes_only_the_number_from_the_event(fake, work):
    event = payload("pull_request.opened")  # GitHub's own payload: PR #2, another title and SHA
    event["number"] = event["pull_request"]["number"] = 7
    result = invoke(
        fake, work, ["gh", "pr-context", "--event", str(write_event(work, event)), "--out", "../out/pr.json"]
    )
    assert result.exit_code == 0, result.output
    context = PullRequestContext.model_validate_json((work / "out/pr.json").read_text())
    assert context.title == "ml_masters HW-2" != event["pull_request"]["title"]
    assert context.head_sha == HEAD != event["pull_request"]["head"]["sha"]
    assert context.author == "alice" and context.changed_files == [MANIFEST]
    assert context.event_time is None  # the event is about another commit: its time is not this push's
    assert read_outputs(work / "out/outputs.txt") == {"number": "7", "head-sha": HEAD}


def test_pr_context_dates_the_push_from_the_synchronize_event(fake, work):
    event = payload("pull_request.synchronize")
    event["pull_request"]["number"] = 7
    event["pull_request"]["head"]["sha"] = HEAD
    result = invoke(
        fake, work, ["gh", "pr-context", "--event", str(write_event(work, event)), "--out", "../out/pr.json"]
    )
    assert result.exit_code == 0, result.output
    context = PullRequestContext.model_validate_json((work / "out/pr.json").read_text())
    assert context.event_time is not None
    assert context.event_time.isoformat().startswith(event["pull_request"]["updated_at"].rstrip("Z"))


def test_a_regrade_is_dated_by_the_first_grading_of_the_commit(fake, work):
    """A /regrade after the deadline judges the push, not the regrade: the oldest check run of
    the commit (created when it was first graded) stands in for the push time."""
    invoke(fake, work, ["gh", "check-run", "--state", "queued", "--pr", "7", "--expected-sha", HEAD])
    (run,) = fake.repo.check_runs.values()
    event = payload("issue_comment.created.on_pr")
    event["issue"]["number"] = 7
    result = invoke(
        fake, work, ["gh", "pr-context", "--event", str(write_event(work, event)), "--out", "../out/pr.json"]
    )
    assert result.exit_code == 0, result.output
    context = PullRequestContext.model_validate_json((work / "out/pr.json").read_text())
    assert context.number == 7
    assert (
        context.event_time is not None and context.event_time.strftime("%Y-%m-%dT%H:%M:%SZ") == run.started_at
    )


def test_pr_context_from_a_push_event_is_a_finding_not_a_traceback(fake, work):
    result = invoke(fake, work, ["gh", "pr-context", "--event", str(write_event(work, payload("push")))])
    assert result.exit_code == 2
    assert "G002" in result.output and "no pull request number" in result.output
    assert fake.requests == []


# --- fetch-manifest and add-findings -----------------------------------------------------------


def test_fetch_manifest_writes_the_folder_as_data_and_refuses_what_it_must(fake, work):
    folder = "submissions/ml_masters/hw-2"
    fake.add_commit(
        HEAD,
        {
            f"{folder}/submission.yaml": VALID_MANIFEST,
            f"{folder}/model/config.json": b'{"model_type": "bert"}',
            f"{folder}/escape": FakeFile(b"../../../../etc/passwd", mode=MODE_SYMLINK),
            f"{folder}/vendor": FakeFile(b"", mode=MODE_SUBMODULE),
            f"{folder}/big.onnx": b"\0" * (1024 * 1024 + 1),  # over the course's 1 MiB
            f"{folder}/lfs.safetensors": LFS_POINTER,
            "submissions/compressors/hw-2/other.txt": b"another team's file: not fetched",
            "README.md": b"not fetched",
        },
    )
    (work / "out/pr.json").write_text(
        PullRequestContext(
            number=7,
            head_sha=HEAD,
            author="alice",
            title="ml_masters HW-2",
            changed_files=[f"{folder}/submission.yaml"],
        ).model_dump_json()
    )
    args = [
        "gh",
        "fetch-manifest",
        "--pr",
        "../out/pr.json",
        "--out",
        "../pr",
        "--report",
        "../out/fetch.json",
    ]
    result = invoke(fake, work, args)
    assert result.exit_code == 0, result.output
    files = sorted(p.relative_to(work / "pr").as_posix() for p in (work / "pr").rglob("*") if p.is_file())
    assert files == [f"{folder}/model/config.json", f"{folder}/submission.yaml"]
    assert (work / "pr" / folder / "submission.yaml").read_bytes() == VALID_MANIFEST
    report = json.loads((work / "out/fetch.json").read_text())
    codes = {(f["code"], f["location"]["file"].rsplit("/", 1)[-1]) for f in report["findings"]}
    assert codes == {
        ("G003", "escape"),
        ("G003", "vendor"),
        ("G004", "big.onnx"),
        ("G005", "lfs.safetensors"),
    }
    assert read_outputs(work / "out/outputs.txt") == {
        "manifest": f"{folder}/submission.yaml",
        "fetch-ok": "false",
    }

    # The refusals join the validated document: the submission is invalid and says why.
    validated = ValidatedSubmission(manifest_path=f"{folder}/submission.yaml")
    validated.write(work / "out/validated.json")
    result = invoke(fake, work, ["gh", "add-findings", "../out/validated.json", "../out/fetch.json"])
    assert result.exit_code == 2
    merged = ValidatedSubmission.read(work / "out/validated.json")
    assert not merged.ok and {f.code for f in merged.findings} == {"G003", "G004", "G005"}


def test_without_a_manifest_the_title_says_what_to_validate(fake, work):
    fake.add_commit(HEAD, {"submissions/ml_masters/hw-2/model.onnx": b"onnx"})
    (work / "out/pr.json").write_text(
        PullRequestContext(
            number=7,
            head_sha=HEAD,
            author="alice",
            title="ml_masters HW-2",
            changed_files=["submissions/ml_masters/hw-2/model.onnx"],
        ).model_dump_json()
    )
    result = invoke(fake, work, ["gh", "fetch-manifest", "--pr", "../out/pr.json", "--out", "../pr"])
    assert result.exit_code == 0, result.output
    assert read_outputs(work / "out/outputs.txt")["manifest"] == MANIFEST
    assert not (work / "pr").exists()


# --- check runs and publish -----------------------------------------------------------------------


def test_check_run_queued_then_broken(fake, work):
    assert (
        invoke(
            fake, work, ["gh", "check-run", "--state", "queued", "--pr", "7", "--expected-sha", HEAD]
        ).exit_code
        == 0
    )
    result = invoke(fake, work, ["gh", "check-run", "--state", "broken", "--pr", "7", "--expected-sha", HEAD])
    assert result.exit_code == 0, result.output
    (run,) = fake.repo.check_runs.values()
    assert [u.get("status") for u in run.updates] == ["queued", "in_progress", "completed"]
    assert run.conclusion == "failure" and run.output["title"] == github_text("broken_title", "en")


def test_check_run_leaves_a_moved_pr_alone(fake, work):
    result = invoke(
        fake, work, ["gh", "check-run", "--state", "queued", "--pr", "7", "--expected-sha", "9" * 40]
    )
    assert result.exit_code == 0 and fake.repo.check_runs == {}


def test_a_bad_sha_is_refused_before_any_request(fake, work):
    result = invoke(
        fake, work, ["gh", "check-run", "--state", "queued", "--pr", "7", "--expected-sha", "HEAD~1"]
    )
    assert result.exit_code == 2 and "G001" in result.output and fake.requests == []


def test_publish_posts_and_keeps_the_report_in_the_job_summary(fake, work):
    grade(Verdict.CLAIMS_MISMATCH).write(work / "out/grade.json")
    summary = work / "out/summary.md"
    args = ["gh", "publish", "../out/grade.json", "--pr", "7", "--expected-sha", HEAD]
    result = invoke(fake, work, args, GITHUB_STEP_SUMMARY=str(summary))
    assert result.exit_code == 0, result.output
    (comment,) = fake.comments_on(7)
    assert comment.author == BOT and "claims" in comment.body.lower()
    assert fake.repo.pulls[7].labels == ["claims-mismatch", "graded"]
    assert "ml_masters" in summary.read_text()
    assert "comment" in result.output and "created" in result.output


def test_publish_that_fails_keeps_the_report_and_fails_loudly(fake, work):
    grade(Verdict.PASS).write(work / "out/grade.json")
    fake.fail("POST", r"/issues/7/comments$", 500, times=50, message="boom")
    summary = work / "out/summary.md"
    args = ["gh", "publish", "../out/grade.json", "--pr", "7", "--expected-sha", HEAD]
    result = invoke(fake, work, args, GITHUB_STEP_SUMMARY=str(summary), GITHUB_ACTIONS="true")
    assert result.exit_code == 1
    assert "::error title=grader::publishing to PR #7 failed" in result.output
    text = summary.read_text()
    assert "Publishing to PR #7 failed" in text and "500 boom" in text
    assert "ml_masters" in text  # the report itself is there
    assert len(fake.calls("POST", r"/issues/7/comments$")) == 3  # one try, two retries


def test_publish_on_a_moved_pr_posts_nothing_and_says_so(fake, work):
    grade().write(work / "out/grade.json")
    summary = work / "out/summary.md"
    args = ["gh", "publish", "../out/grade.json", "--pr", "7", "--expected-sha", "9" * 40]
    result = invoke(fake, work, args, GITHUB_STEP_SUMMARY=str(summary))
    assert result.exit_code == 0
    assert "not posted" in summary.read_text() and fake.comments_on(7) == []


# --- regrade-permission ------------------------------------------------------------------------------


def regrade_event(work: Path, *, login: str, association: str, body: str = "/regrade") -> Path:
    event = payload("issue_comment.created.on_pr")
    event["issue"]["number"] = 7
    event["comment"].update({"body": body, "author_association": association})
    event["comment"]["user"]["login"] = login
    return write_event(work, event)


@pytest.mark.parametrize(
    ("login", "association", "allowed"),
    [
        ("the-instructor", "NONE", True),  # listed in course.yaml `instructors`
        ("ta-member", "MEMBER", True),
        ("repo-owner", "OWNER", True),
        ("alice", "COLLABORATOR", False),  # on a team's roster: a student, whatever her association
        ("stranger", "CONTRIBUTOR", False),
        ("drive-by", "NONE", False),
    ],
)
def test_who_may_regrade(fake, work, login, association, allowed):
    result = invoke(
        fake,
        work,
        [
            "gh",
            "regrade-permission",
            "--event",
            str(regrade_event(work, login=login, association=association)),
        ],
    )
    assert result.exit_code == 0, result.output
    assert read_outputs(work / "out/outputs.txt") == {"allowed": str(allowed).lower(), "pr": "7"}
    comments = fake.comments_on(7)
    if allowed:
        assert comments == []
    else:
        (refusal,) = comments
        assert refusal.body.startswith(
            f"@{login}, a regrade (`/regrade`) is started by the course's instructors"
        )


def test_a_comment_that_is_not_a_regrade_gets_no_answer(fake, work):
    event = regrade_event(
        work, login="drive-by", association="NONE", body="/regrade-ish please? no.\n/regrade"
    )
    result = invoke(fake, work, ["gh", "regrade-permission", "--event", str(event)])
    assert result.exit_code == 0
    assert read_outputs(work / "out/outputs.txt")["allowed"] == "false" and fake.comments_on(7) == []


def test_a_dispatched_regrade_is_allowed(fake, work):
    event = payload("workflow_dispatch")
    event["inputs"] = {"pr": "7"}
    result = invoke(fake, work, ["gh", "regrade-permission", "--event", str(write_event(work, event))])
    assert result.exit_code == 0
    assert read_outputs(work / "out/outputs.txt") == {"allowed": "true", "pr": "7"}


# --- find-grade ---------------------------------------------------------------------------------------


def test_find_grade_takes_only_an_artifact_from_a_grader_run(fake, work):
    fake.repo.pulls[7].merged = True
    name = grade_artifact_name(7, HEAD)
    # A fork's `pull_request` run executes the fork's copy of grade.yml and could upload this name.
    fake.add_run("grade.yml", event="pull_request", artifacts=(name,))
    trusted = fake.add_run("grade.yml", event="pull_request_target", artifacts=(name,))
    fake.add_run("ci.yml", event="pull_request", artifacts=(name,))  # newest, and forged too
    result = invoke(fake, work, ["gh", "find-grade", "--pr", "7"])
    assert result.exit_code == 0, result.output
    assert read_outputs(work / "out/outputs.txt") == {
        "found": "true",
        "head-sha": HEAD,
        "artifact": name,
        "run-id": str(trusted.id),
        "team": "ml_masters",  # from the PR's changed files, via the API: collect checks the grade
        "homework": "2",
    }


def test_find_grade_without_a_grade_asks_for_a_regrade(fake, work):
    fake.repo.pulls[7].merged = True
    fake.add_run("grade.yml", artifacts=(grade_artifact_name(7, "2" * 40),))  # an older commit's grade
    fake.add_run("regrade.yml", event="issue_comment", artifacts=(grade_artifact_name(7, HEAD),)).artifacts[
        0
    ].expired = True
    result = invoke(fake, work, ["gh", "find-grade", "--pr", "7"])
    assert result.exit_code == 0, result.output
    assert read_outputs(work / "out/outputs.txt") == {
        "found": "false",
        "head-sha": HEAD,
        "artifact": grade_artifact_name(7, HEAD),
        "run-id": "",
        "team": "ml_masters",
        "homework": "2",
    }


def test_find_grade_refuses_a_pr_whose_team_cannot_be_told(fake, work):
    fake.repo.pulls[7].merged = True
    fake.repo.pulls[7].files = [
        {"filename": "submissions/ml_masters/hw-2/submission.yaml", "status": "modified"},
        {"filename": "submissions/compressors/hw-3/submission.yaml", "status": "added"},
    ]
    result = invoke(fake, work, ["gh", "find-grade", "--pr", "7"])
    assert result.exit_code == 2 and "exactly one" in result.output


def test_find_grade_refuses_an_unmerged_pr(fake, work):
    result = invoke(fake, work, ["gh", "find-grade", "--pr", "7"])
    assert result.exit_code == 1 and "not merged" in result.output


def test_ensure_labels_creates_the_four(fake, work):
    result = invoke(fake, work, ["gh", "ensure-labels"])
    assert result.exit_code == 0, result.output
    assert sorted(fake.repo.labels) == ["claims-mismatch", "graded", "invalid-submission", "needs-approval"]
    assert fake.repo.labels["needs-approval"]["color"] == "fbca04"


def test_missing_settings_are_reported_before_any_request(fake, work):
    result = invoke(fake, work, ["gh", "find-grade", "--pr", "7"], GITHUB_TOKEN="")
    assert result.exit_code == 2 and "G001" in result.output and "GITHUB_TOKEN is not set" in result.output


def test_the_entry_point_runs_a_step_in_a_fresh_process(fake, work):
    """One end-to-end check through the installed entry point (a new interpreter, real env)."""
    event = payload("pull_request.opened")
    event["pull_request"]["number"] = 7
    env = grader_env(fake, GITHUB_OUTPUT=str(work / "out/outputs.txt"))
    done = run_grader(
        ["gh", "pr-context", "--event", str(write_event(work, event)), "--out", "../out/pr.json"],
        env=env,
        cwd=work / "src",
    )
    assert done.returncode == 0, done.stderr
    assert read_outputs(work / "out/outputs.txt")["head-sha"] == HEAD


def test_a_pr_that_does_not_exist_is_a_clear_failure_not_a_bug(fake, work):
    result = invoke(
        fake, work, ["gh", "pr-context", "--pr", "404", "--out", "../out/pr.json"], GITHUB_ACTIONS="true"
    )
    assert result.exit_code == 1
    assert "could not read pull request #404: 404 Not Found" in result.output
    assert "::error title=grader::" in result.output and "internal error" not in result.output
    assert not (work / "out/pr.json").exists()


def test_publish_without_a_token_still_leaves_the_report(fake, work):
    grade().write(work / "out/grade.json")
    summary = work / "out/summary.md"
    args = ["gh", "publish", "../out/grade.json", "--pr", "7", "--expected-sha", HEAD]
    result = invoke(fake, work, args, GITHUB_STEP_SUMMARY=str(summary), GITHUB_TOKEN="")
    assert result.exit_code == 2 and "G001" in result.output
    assert "ml_masters" in summary.read_text() and fake.requests == []


def test_a_pr_touching_another_teams_folder_is_reported(fake, work):
    """The files come from the API across pages, renames count where they came from, and the PR
    rules see them all: here a file moved out of the other team's folder."""
    files = [{"filename": MANIFEST, "status": "added"}]
    files += [
        {"filename": f"submissions/ml_masters/hw-2/notes/{i:03}.md", "status": "added"} for i in range(120)
    ]
    files.append(
        {
            "filename": "submissions/ml_masters/hw-2/model.onnx",
            "status": "renamed",
            "previous_filename": "submissions/compressors/hw-2/model.onnx",
        }
    )
    fake.add_pull(submission_pull(files=files))
    fake.add_commit(HEAD, {MANIFEST: VALID_MANIFEST})
    event = payload("pull_request.opened")
    event["pull_request"]["number"] = 7
    assert (
        invoke(
            fake,
            work,
            ["gh", "pr-context", "--event", str(write_event(work, event)), "--out", "../out/pr.json"],
        ).exit_code
        == 0
    )
    fetched = invoke(fake, work, ["gh", "fetch-manifest", "--pr", "../out/pr.json", "--out", "../pr"])
    assert fetched.exit_code == 0, fetched.output
    result = invoke(
        fake,
        work,
        [
            "validate",
            f"../pr/{MANIFEST}",
            "--course",
            "course.yaml",
            "--repo",
            "../pr",
            "--pr",
            "../out/pr.json",
        ],
    )
    assert result.exit_code == 2
    assert "P004" in result.output and "submissions/compressors/hw-2/model.onnx" in result.output
