"""The GitHub commands the workflows run.

    grader gh pr-context       the PR, read from the API (the event gives only its number)
    grader gh fetch-manifest   the PR's submission folder at the head SHA, as data, through the API
    grader gh add-findings     fold fetch refusals into the validated-submission document
    grader gh check-run        the head SHA's check run: queued, or broken (no grade came)
    grader gh publish          sticky comment, check run, labels; the report also in the job summary
    grader gh regrade-permission  may this `/regrade` commenter ask for one? (refuses politely)
    grader gh find-grade       the grade artifact of a merged PR's head SHA, for the leaderboard
    grader gh collect-history  every graded attempt of a merged PR (each push, each regrade) into the history
    grader gh ensure-labels    create the grader's labels (once, by an instructor)

Values a later step reads (`--github-output "$GITHUB_OUTPUT"`) are numbers, SHAs and names that
were checked against a strict pattern: nothing from a PR's text is ever written there.
Exit codes: 0 done (or, for publish, deliberately not posted), 1 GitHub refused or failed after
retries, 2 bad input (event file, settings, documents).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from grader.atomic import write_atomic
from grader.cli_common import CourseOption, err, friendly, print_findings, resolve_course
from grader.errors import InputError
from grader.exitcodes import ExitCode
from grader.findings import Finding, Location, has_errors

if TYPE_CHECKING:
    from datetime import datetime

    from grader.github.client import GitHubClient, PullRequestInfo

# The `grader gh` group: plumbing the workflows run, not commands a student or an instructor
# types in the course's daily work (ensure-labels is run once, at setup).
commands = typer.Typer(
    name="gh",
    help="GitHub plumbing the workflows run: PR context, manifest fetch, check runs, publishing.",
    no_args_is_help=True,
)
out = Console(highlight=False, soft_wrap=True)

_OUTPUT_VALUE = re.compile(r"^[A-Za-z0-9_.:/+-]*$")
_SHA = re.compile(r"^[0-9a-f]{40}$")

GitHubOutput = Annotated[
    Path | None,
    typer.Option(
        "--github-output",
        envvar="GITHUB_OUTPUT",
        help="Append key=value outputs for later steps here (default: $GITHUB_OUTPUT when set).",
    ),
]
StepSummary = Annotated[
    Path | None,
    typer.Option(
        "--summary",
        envvar="GITHUB_STEP_SUMMARY",
        help="Append the report to this job summary (default: $GITHUB_STEP_SUMMARY when set).",
    ),
]
PrNumber = Annotated[int, typer.Option("--pr", min=1, help="The pull request's number.")]
ExpectedSha = Annotated[
    str, typer.Option("--expected-sha", help="The head commit that was graded (40 hex, from the API).")
]


# --- pr-context ---------------------------------------------------------------------------------


@commands.command("pr-context")
@friendly
def pr_context_command(
    event: Annotated[
        Path | None,
        typer.Option("--event", help="The event payload ($GITHUB_EVENT_PATH): gives the PR number."),
    ] = None,
    pr: Annotated[
        int | None, typer.Option("--pr", min=1, help="The PR number (instead of the event's).")
    ] = None,
    out_file: Annotated[Path, typer.Option("--out", help="Where the PullRequestContext JSON goes.")] = Path(
        "pr.json"
    ),
    github_output: GitHubOutput = None,
) -> None:
    """Read the PR from the GitHub API: head SHA, author, title, base, every changed file, labels."""
    from grader.github.events import load_event, pr_number_from_event, push_time

    payload = load_event(event) if event is not None else {}
    number = pr or pr_number_from_event(payload)
    if number is None:
        raise InputError([_no_pr_number(event)])
    with _github() as client:
        info = client.pull_request(number)
        context = info.context()
        context.event_time = push_time(payload, info.head_sha) or _first_graded(client, info.head_sha)
    write_atomic(out_file, context.model_dump_json(indent=2) + "\n")
    _write_outputs(github_output, {"number": str(number), "head-sha": info.head_sha})
    err.print(
        f"PR #{number} at {info.head_sha[:12]}: {len(context.changed_files)} changed file(s) → {out_file}",
        markup=False,
        highlight=False,
    )


def _first_graded(client: GitHubClient, head_sha: str) -> datetime | None:
    """When this commit was first graded (its oldest grader check run): the push time to judge a
    deadline by when the event itself does not carry one (a title edit, a regrade)."""
    from grader.github.client import GitHubError

    try:
        runs = client.check_runs(head_sha, client.settings.check_name)
    except GitHubError as error:  # a token without `checks: read`: the deadline uses the current time
        logging.getLogger("grader.github").warning("no earlier grading time: %s", error)
        return None
    return next((run.started_at for run in runs if run.started_at is not None), None)


def _no_pr_number(event: Path | None) -> Finding:
    return Finding(
        code="G002",
        location=Location(file=str(event) if event else "<command line>"),
        message="no pull request number: the event is not about a pull request, and --pr was not given",
        expected="a pull_request(_target) or issue_comment event on a PR, a workflow_dispatch with input "
        "`pr`, or --pr N",
        hint="run the grading workflow on a pull request, or pass --pr N",
    )


# --- fetch-manifest and add-findings ---------------------------------------------------------


@commands.command("fetch-manifest")
@friendly
def fetch_manifest_command(
    pr: Annotated[
        Path, typer.Option("--pr", help="The PullRequestContext JSON from `grader gh pr-context`.")
    ],
    out_dir: Annotated[
        Path,
        typer.Option("--out", help="Folder that receives submissions/<team>/hw-<n>/ as in the repo."),
    ],
    report: Annotated[
        Path | None, typer.Option("--report", help="Write what was fetched and refused (JSON) here.")
    ] = None,
    course: CourseOption = None,
    github_output: GitHubOutput = None,
) -> None:
    """Read the manifest folder(s) the PR changes, at its head SHA, through the API: no checkout."""
    from grader.course import load_course
    from grader.github.files import MIB, FetchLimits, fetch_submission, submission_folders
    from grader.validate.document import read_pull_request_context

    context = read_pull_request_context(pr)
    course_limit = load_course(resolve_course(course)).runner.limits.artifact_max_mib * MIB
    limits = FetchLimits(max_total_bytes=min(FetchLimits.max_total_bytes, course_limit))
    with _github() as client:
        result = fetch_submission(client, context.head_sha, context.changed_files, out_dir, limits)
    manifest = _manifest_to_validate(
        result.manifests, submission_folders(context.changed_files), context.title
    )
    if report is not None:
        write_atomic(report, json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n")
    print_findings(result.findings)
    _write_outputs(github_output, {"manifest": manifest, "fetch-ok": _bool(not has_errors(result.findings))})
    err.print(
        f"fetched {len(result.files)} file(s) of {', '.join(result.folders) or 'no submission folder'} "
        f"at {context.head_sha[:12]} → {out_dir}; manifest to validate: {manifest}",
        markup=False,
        highlight=False,
    )


def _manifest_to_validate(fetched: list[str], folders: list[str], title: str) -> str:
    """The manifest `grader validate` should read: the one fetched; with none, where the PR's
    folders or title say it should be, so that validation reports the problem (a missing
    manifest) like any other. A path that cannot be passed on safely is skipped."""
    from grader.validate.pr_rules import parse_title

    candidates = [*fetched, *(f"{folder}/submission.yaml" for folder in folders)]
    parsed = parse_title(title)
    if parsed is not None:
        candidates.append(f"submissions/{parsed[0]}/hw-{parsed[1]}/submission.yaml")
    return next((c for c in candidates if _OUTPUT_VALUE.match(c)), "submissions/unknown/hw-0/submission.yaml")


@commands.command("add-findings")
@friendly
def add_findings_command(
    validated: Annotated[Path, typer.Argument(help="The validated-submission JSON from `grader validate`.")],
    report: Annotated[Path, typer.Argument(help="The JSON `grader gh fetch-manifest --report` wrote.")],
) -> None:
    """Add what fetch-manifest refused (symlinks, LFS pointers, oversized files) to the validated
    submission, so the report explains it and nothing is measured if one is an error."""
    from grader.findings import sort_findings
    from grader.validate.document import ValidatedSubmission

    document = ValidatedSubmission.read(validated)
    try:
        extra = [Finding.model_validate(item) for item in json.loads(report.read_text("utf-8"))["findings"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError([_document_problem(report, str(error))]) from None
    if extra:
        document.findings = sort_findings([*document.findings, *extra])
        document.write(validated)
    err.print(f"{len(extra)} fetch finding(s) added to {validated}", markup=False, highlight=False)
    if not document.ok:
        raise typer.Exit(ExitCode.BAD_INPUT)


# --- check runs and publishing -----------------------------------------------------------------


class CheckRunState(StrEnum):
    QUEUED = "queued"
    BROKEN = "broken"


@commands.command("check-run")
@friendly
def check_run_command(
    pr: PrNumber,
    expected_sha: ExpectedSha,
    state: Annotated[
        CheckRunState,
        typer.Option(
            "--state",
            help="queued: the models wait for the GPU runner; broken: the grading run failed before a "
            "result (the measuring job crashed or timed out), so the check fails with that reason.",
        ),
    ],
    course: CourseOption = None,
) -> None:
    """Set the head commit's check run while no grade exists yet (`publish` completes it otherwise)."""
    from grader.course import load_course
    from grader.github.checks import complete_check_run, start_check_run
    from grader.github.texts import text

    sha = _checked_sha(expected_sha)
    language = load_course(resolve_course(course)).language
    with _github() as client:
        head = client.pull_request(pr, with_files=False).head_sha
        if head != sha:
            err.print(f"PR #{pr} moved to {head[:12]}; check run of {sha[:12]} left alone", markup=False)
            return
        if state is CheckRunState.QUEUED:
            run = start_check_run(client, sha, language)
        else:
            run = complete_check_run(
                client,
                sha,
                conclusion="failure",
                title=text("broken_title", language),
                summary=text("broken_summary", language, url=client.settings.run_url or ""),
                annotations=[],
                language=language,
            )
    err.print(f"check run {run.id} on {sha[:12]}: {run.status}", markup=False, highlight=False)


@commands.command("publish")
@friendly
def publish_command(
    grade_file: Annotated[Path, typer.Argument(help="The grade JSON from `grader verify`.")],
    pr: PrNumber,
    expected_sha: ExpectedSha,
    summary: StepSummary = None,
    templates: Annotated[
        Path | None, typer.Option("--templates", help="The report templates (default: the repository's).")
    ] = None,
) -> None:
    """Post the grade on the PR: the sticky comment, the check run, the labels.

    The report always goes to the job summary too. Nothing is posted if the PR's head moved since
    `--expected-sha` (exit 0: the newer run posts). If GitHub fails after the retries, the job
    summary keeps the report and the command exits 1.
    """
    from grader.github.client import GitHubError
    from grader.github.publish import Rendered, publish_grade
    from grader.report import render_check_run, render_comment, render_summary
    from grader.verify.models import Grade

    sha = _checked_sha(expected_sha)
    grade = Grade.read(grade_file)
    title, check_summary = render_check_run(grade, templates=templates)
    rendered = Rendered(render_comment(grade, templates=templates), title, check_summary)
    # The full report goes to the job summary first, so it is there whatever happens next.
    _append_summary(summary, render_summary(grade, templates=templates))
    with _github() as client:
        try:
            result = publish_grade(client, grade, rendered, number=pr, expected_sha=sha)
        except GitHubError as error:
            _append_summary(summary, f"> [!CAUTION]\n> Publishing to PR #{pr} failed: {error}")
            _fail_loudly(f"publishing to PR #{pr} failed: {error}. The report is in this job's summary.")
            raise typer.Exit(ExitCode.CHECKS_FAILED) from None
    if not result.posted:
        _append_summary(summary, f"> [!NOTE]\n> {result.reason}")
        err.print(result.reason, style="yellow", markup=False)
        return
    assert result.comment is not None and result.check_run is not None and result.labels is not None
    err.print(
        f"PR #{pr}: comment {result.comment.comment_id} {result.comment.action}"
        + (" (cut to fit)" if result.comment_cut else "")
        + (f", {len(result.comment.pruned)} duplicate(s) deleted" if result.comment.pruned else "")
        + f"; check run {result.check_run.id} {result.check_run.conclusion}"
        + f"; labels +{list(result.labels.added)} -{list(result.labels.removed)}",
        markup=False,
        highlight=False,
    )


# --- regrades ----------------------------------------------------------------------------------


@commands.command("regrade-permission")
@friendly
def regrade_permission_command(
    event: Annotated[Path, typer.Option("--event", help="The event payload ($GITHUB_EVENT_PATH).")],
    course: CourseOption = None,
    refusal_comment: Annotated[
        bool,
        typer.Option("--refusal-comment/--no-refusal-comment", help="Answer a refused /regrade politely."),
    ] = True,
    github_output: GitHubOutput = None,
) -> None:
    """Decide whether this event asks for a regrade that may run: `allowed` and `pr` outputs."""
    from grader.course import load_course
    from grader.github.events import comment_command, load_event, pr_number_from_event
    from grader.github.regrade import decide
    from grader.github.texts import text

    payload = load_event(event)
    if "inputs" in payload and "comment" not in payload:  # workflow_dispatch: only writers can start one
        number = pr_number_from_event(payload)
        if number is None:
            raise InputError([_no_pr_number(event)])
        _write_outputs(github_output, {"allowed": "true", "pr": str(number)})
        err.print(f"dispatched regrade of PR #{number}", markup=False)
        return
    comment = comment_command(payload)
    if comment is None:
        _write_outputs(github_output, {"allowed": "false", "pr": ""})
        err.print("not a comment on a pull request; nothing to do", markup=False)
        return
    loaded = load_course(resolve_course(course))
    decision = decide(comment, loaded)
    _write_outputs(github_output, {"allowed": _bool(decision.allowed), "pr": str(comment.number)})
    err.print(f"/regrade on PR #{comment.number}: {decision.reason}", markup=False, highlight=False)
    if decision.is_command and not decision.allowed and refusal_comment:
        with _github() as client:
            client.create_comment(
                comment.number, text("regrade_refused", loaded.language, login=comment.login)
            )


# --- leaderboard ---------------------------------------------------------------------------------


_MANIFEST_PATH = re.compile(
    r"^submissions/([a-z0-9][a-z0-9_-]{0,39})/hw-([1-9][0-9]{0,3})/submission\.ya?ml$"
)


def submission_identity(paths: list[str]) -> tuple[str, int] | None:
    """(team, homework) of the one manifest the PR changes, from its path; None unless exactly one."""
    found = {(m.group(1), int(m.group(2))) for m in map(_MANIFEST_PATH.match, paths) if m}
    return found.pop() if len(found) == 1 else None


def _submission_pull(
    client: GitHubClient, pr: int, *, require_merged: bool
) -> tuple[PullRequestInfo, tuple[str, int]]:
    """The PR from the API and whose submission it is (team, homework, from its one changed
    manifest); exits when it is not merged (if required) or the team cannot be told."""
    info = client.pull_request(pr, with_files=True)
    if require_merged and not info.merged:
        err.print(f"PR #{pr} is not merged; nothing goes to the leaderboard", style="red", markup=False)
        raise typer.Exit(ExitCode.CHECKS_FAILED)
    identity = submission_identity(info.touched_paths())
    if identity is None:
        err.print(
            f"PR #{pr} does not change exactly one submissions/<team>/hw-<n>/submission.yaml; "
            "whose record it would be cannot be told from the API",
            style="red",
            markup=False,
        )
        raise typer.Exit(ExitCode.BAD_INPUT)
    return info, identity


@commands.command("find-grade")
@friendly
def find_grade_command(
    pr: PrNumber,
    require_merged: Annotated[
        bool, typer.Option("--require-merged/--any-state", help="Refuse a PR that was not merged.")
    ] = True,
    github_output: GitHubOutput = None,
) -> None:
    """Find the grade artifact of the PR's head commit (from a grader workflow run, via the API)."""
    from grader.github.runs import find_grade_artifact, grade_artifact_name

    with _github() as client:
        info, identity = _submission_pull(client, pr, require_merged=require_merged)
        found = find_grade_artifact(client, pr, info.head_sha)
    # The publish job checks the grade against these (grader collect --pr --expected-sha --team
    # --homework): all four come from the API here, never from the artifact.
    outputs = {
        "found": _bool(found is not None),
        "head-sha": info.head_sha,
        "artifact": found.name if found else grade_artifact_name(pr, info.head_sha),
        "run-id": str(found.run_id) if found else "",
        "team": identity[0],
        "homework": str(identity[1]),
    }
    _write_outputs(github_output, outputs)
    if found:
        err.print(f"grade of PR #{pr} at {info.head_sha[:12]}: {found.name} in {found.run_url}", markup=False)
    else:
        err.print(f"no grade of PR #{pr} at {info.head_sha[:12]}: it will be graded again", markup=False)


@commands.command("collect-history")
@friendly
def collect_history_command(
    pr: PrNumber,
    results: Annotated[
        Path | None,
        typer.Option("--results", help="The records folder (default: leaderboard/results at the root)."),
    ] = None,
) -> None:
    """Collect every graded attempt of a merged PR: each push's grade and each regrade's.

    The grades are the PR's grade artifacts, listed through the API per commit of the PR, each
    from a grader workflow run, each checked like the merged grade (PR, head SHA, team, homework
    from the API; L004). Each goes to leaderboard/results/hw-<n>/history/<team>/ with its head SHA,
    grading time, verdict, the run that graded it and which later attempt replaced it; the merged
    commit's newest grade becomes the team's record. A refused artifact is reported with its
    reason and not collected. Running it again writes nothing new.
    """
    from grader.cli_common import find_repo_root
    from grader.github.history import pull_attempts
    from grader.leaderboard.records import NotCollectableError, collect_attempts

    with _github() as client:
        info, identity = _submission_pull(client, pr, require_merged=True)
        found = pull_attempts(client, pr, identity[0], identity[1])
    folder = results or (find_repo_root() or Path.cwd()) / "leaderboard" / "results"
    for refused in found.refused:
        _warn(f"not collected: {refused.artifact} (run {refused.run_id}): {refused.reason}")
    try:
        outcomes = collect_attempts(found.attempts, folder, info.head_sha)
    except NotCollectableError as error:  # unreachable after the L004 check, which names team and homework
        err.print(f"not collected: {error}", style="yellow", markup=False)
        raise typer.Exit(ExitCode.CHECKS_FAILED) from None
    written = [o for o in outcomes if o.attempt is not None]
    err.print(
        f"PR #{pr}: {len(found.attempts)} graded attempt(s) in {found.commits} commit(s), "
        f"{len(written)} new in the history, {len(found.refused)} refused",
        markup=False,
        highlight=False,
    )
    for outcome in written:
        err.print(f"  {outcome.action}: {outcome.attempt}", markup=False, highlight=False)


@commands.command("ensure-labels")
@friendly
def ensure_labels_command(course: CourseOption = None) -> None:
    """Create the grader's labels (graded, claims-mismatch, ...) with colours and descriptions."""
    from grader.course import load_course
    from grader.github.labels import MANAGED, ensure_labels

    language = load_course(resolve_course(course)).language
    with _github() as client:
        created = ensure_labels(client, MANAGED, language)
    out.print(f"created: {', '.join(created)}" if created else "all grader labels exist")


# --- helpers ---------------------------------------------------------------------------------------


@contextmanager
def _github() -> Iterator[GitHubClient]:
    """The adapter, built from the step's environment. A GitHub failure after the retries ends
    the command with one clear line (and an Actions error annotation), exit 1."""
    from grader.github.client import GitHubClient, GitHubError
    from grader.github.settings import GitHubSettings

    _log_to_stderr()
    client = GitHubClient(GitHubSettings.from_env(os.environ))
    try:
        yield client
    except GitHubError as error:
        _fail_loudly(str(error))
        raise typer.Exit(ExitCode.CHECKS_FAILED) from None
    finally:
        client.close()


def _warn(message: str) -> None:
    from grader.validate.output import escape_data

    if os.environ.get("GITHUB_ACTIONS") == "true":
        typer.echo(f"::warning title=grader::{escape_data(message)}")
    err.print(f"warning: {message}", style="yellow", markup=False, highlight=False)


def _fail_loudly(message: str) -> None:
    from grader.validate.output import escape_data

    if os.environ.get("GITHUB_ACTIONS") == "true":
        typer.echo(f"::error title=grader::{escape_data(message)}")
    err.print(f"error: {message}", style="bold red", markup=False, highlight=False)


class _ConsoleHandler(logging.Handler):
    """Log lines on the CLI's stderr console (looked up at each line, as the console does)."""

    def emit(self, record: logging.LogRecord) -> None:
        err.print(self.format(record), markup=False, highlight=False)


def _log_to_stderr() -> None:
    logger = logging.getLogger("grader.github")
    if not any(isinstance(h, _ConsoleHandler) for h in logger.handlers):
        handler = _ConsoleHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def _write_outputs(path: Path | None, values: dict[str, str]) -> None:
    """`key=value` lines for $GITHUB_OUTPUT. Values are checked: a newline or `=` from anywhere
    could otherwise forge another output."""
    for key, value in values.items():
        if not _OUTPUT_VALUE.match(value) or not re.fullmatch(r"[a-z][a-z0-9-]*", key):
            raise ValueError(f"refusing to write output {key}={value!r}")
    if path is None:
        return
    with path.open("a", encoding="utf-8") as handle:
        handle.writelines(f"{key}={value}\n" for key, value in values.items())


def _append_summary(path: Path | None, markdown: str) -> None:
    if path is None:
        return
    limit = 1024 * 1024 - 1024  # GitHub shows at most 1 MiB of summary per step
    data = markdown.encode("utf-8")[:limit].decode("utf-8", "ignore")
    with path.open("a", encoding="utf-8") as handle:
        handle.write(data.rstrip() + "\n\n")


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _checked_sha(value: str) -> str:
    if not _SHA.match(value):
        raise InputError(
            [
                Finding(
                    code="G001",
                    location=Location(file="<command line>", field="--expected-sha"),
                    message="not a commit SHA",
                    expected="40 lowercase hex digits",
                    found=repr(value)[:60],
                    hint="pass the head SHA that `grader gh pr-context` wrote",
                )
            ]
        )
    return value


def _document_problem(path: Path, found: str) -> Finding:
    return Finding(
        code="D001",
        location=Location(file=str(path)),
        message="cannot read the document",
        expected="a JSON document written by the grader",
        found=found[:200],
        hint="produce it with the grader command that writes it (see `grader --help`)",
    )
