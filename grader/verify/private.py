"""Private eval splits: which quality figures stay out of public output, and until when.

A quality figure is private when its dataset has `visibility: private` in course.yaml: the task's
own eval set, a manifest's `eval:`, or the set a homework names as `private_eval` (measured for
every model besides the public one). Until the homework's `deadline` has passed (a homework
without a deadline: until an instructor sets one), private figures are *withheld*:

- the public grade (`verify`, what the PR comment, the check run, the job summary and the
  leaderboard are made from) is graded from the measurement with the private figures removed:
  a quality claim on a private set is `unverifiable` ("checked after the deadline"), the
  quality ratios and any score that needs quality are left out, and the grade lists the
  withheld sets (`Grade.withheld`) so the comment can say that they exist;
- the instructors' grade (`verify(..., include_private=True)`) keeps everything and is marked
  `instructor_only`; grader.report.private writes it as `private.json` plus its job summary as
  `private-summary.md`, for a place only instructors read (docs/instructors.md: a folder on the
  self-hosted runner, never a workflow artifact, which anyone who can read the repository can
  download);
- `redact_measurement` is the measurement document with the withheld figures removed, the copy a
  public workflow artifact may carry.

After the deadline nothing is withheld: a regrade publishes the private figures like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from grader.course.model import Course
from grader.harness.models import MeasurementRun, QualityResult


@dataclass(frozen=True)
class Withheld:
    """The private datasets whose figures this grade leaves out, and until when."""

    datasets: tuple[str, ...]
    deadline: datetime | None  # None: the homework has no deadline (withheld until one is set)

    def __bool__(self) -> bool:
        return bool(self.datasets)

    @property
    def until(self) -> str:
        """`2025-04-01 23:59 UTC`, or "" when there is no deadline."""
        if self.deadline is None:
            return ""
        moment = self.deadline if self.deadline.tzinfo else self.deadline.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


NOTHING = Withheld((), None)


def private_results(run: MeasurementRun) -> list[QualityResult]:
    """Every quality result of the run on a private dataset (as the harness labelled it)."""
    out = []
    for model in run.models:
        for result in (model.quality, model.private_quality):
            if result is not None and result.visibility == "private":
                out.append(result)
    return out


def withheld(run: MeasurementRun, course: Course, now: datetime | None = None) -> Withheld:
    """What to leave out of public output at ``now`` (default: the current time)."""
    private = sorted({r.dataset for r in private_results(run)} | _private_sets(run, course))
    if not private:
        return NOTHING
    submission = run.submission.submission
    homework = course.homework(submission.homework) if submission is not None else None
    deadline = homework.deadline if homework is not None else None
    if deadline is not None and _aware(now or datetime.now(UTC)) >= _aware(deadline):
        return NOTHING
    return Withheld(tuple(private), deadline)


def _private_sets(run: MeasurementRun, course: Course) -> set[str]:
    """The private sets this run was meant to measure, whether or not a result came back (so a
    failed private child does not turn a private set public)."""
    submission = run.submission.submission
    if submission is None:
        return set()
    settings = course.tasks.get(submission.task)
    wanted = {
        submission.eval or (settings.dataset if settings else None),
        course.private_eval_for(submission.homework, submission.task),
    }
    return {
        name
        for name in wanted
        if name is not None and name in course.datasets and course.datasets[name].visibility == "private"
    }


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def redact_measurement(run: MeasurementRun, hidden: Withheld) -> MeasurementRun:
    """``run`` without the quality results on the ``hidden`` datasets (a deep copy)."""
    copy = run.model_copy(deep=True)
    for model in copy.models:
        if model.quality is not None and model.quality.dataset in hidden.datasets:
            model.quality = None
        if model.private_quality is not None and model.private_quality.dataset in hidden.datasets:
            model.private_quality = None
    return copy


def __getattr__(name: str) -> object:
    """The instructors' output files moved to grader.report.private (verify does not render);
    grader.verify.command still imports them from here until it is changed to import them there."""
    if name in ("write_private_outputs", "PRIVATE_GRADE", "PRIVATE_SUMMARY"):
        from grader.report import private as report_private

        return getattr(report_private, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
