"""verify and grade_invalid: the verify stage's implementation (the package names it lazily).

`verify(run, course) -> Grade` reads a MeasurementRun (which carries the ValidatedSubmission it
measured) and leaves out figures on private eval sets until the homework's deadline
(grader.verify.private; `include_private=True` keeps them, for the instructors' grade);
`grade_invalid(validated, course) -> Grade` turns a submission that did not validate
into an `invalid` grade that still carries every finding, so the report can explain it. How each
metric is checked: grader.verify.checks; ratios and verdict precedence: grader.verify.scoring;
what each scoring rule scores: grader.verify.rules.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from grader.course.model import Course, Homework, Metric, Scoring, ScoringRule
from grader.errors import InputError
from grader.findings import Finding, Location
from grader.harness.models import MeasurementRun, ModelMeasurement, Status
from grader.messages import note, text
from grader.task_catalog import TASKS, MetricInfo, task_declaration
from grader.validate.document import ValidatedSubmission
from grader.verify.checks import (
    Context,
    Subject,
    latency_check,
    memory_check,
    quality_check,
    ratio_check,
    read,
    size_check,
)
from grader.verify.models import (
    EntryGrade,
    GenerationFigures,
    Grade,
    Measured,
    MetricCheck,
    MetricStatus,
    Note,
    QualityMetricInfo,
    Ratios,
    Verdict,
)
from grader.verify.private import NOTHING, Withheld, private_results, redact_measurement, withheld
from grader.verify.readings import State, generation_reading, phase_problems, seconds, speedup_reading
from grader.verify.rules import Rule, ScoreInputs, rule_for
from grader.verify.scoring import entry_verdict, missing_requirements, ratios, worst

__all__ = ["Grade", "Verdict", "grade_from_document", "grade_invalid", "verify"]

_SCALARS = ("size", "latency_cpu", "latency_gpu", "ram", "vram")
_RATIOS = ("compression", "speedup_cpu", "speedup_gpu")


def verify(
    run: MeasurementRun, course: Course, *, now: datetime | None = None, include_private: bool = False
) -> Grade:
    """Grade a measured submission (see the module docstrings for every rule).

    Figures on private eval sets are left out until the homework's deadline (``now`` is compared
    with it); ``include_private`` keeps them: the instructors' grade, marked `instructor_only`.
    """
    validated = run.submission
    if not validated.ok or validated.submission is None:
        return grade_invalid(validated, course, now=now, run=run)
    original = run
    hidden = NOTHING if include_private else withheld(run, course, now)
    if hidden:
        run = redact_measurement(run, hidden)
    homework = course.homework(validated.submission.homework)
    tolerances = course.tolerances.merged(homework.tolerances if homework else None)
    scoring = homework.scoring if homework else Scoring(rule=ScoringRule.NONE)
    required = list(homework.required) if homework else []
    subjects = [Subject.of(entry, run.model(entry.key)) for entry in validated.entries]
    for subject in subjects:
        subject.withheld = _withheld_set(original.model(subject.entry.key), hidden)
    baseline = next((s for s in subjects if s.is_baseline), None)
    quality_info = _quality_info(run, validated.submission.task)
    primary = _primary(run, validated.submission.task, subjects)
    rule = rule_for(scoring.rule)
    per_token = _generates_tokens(validated.submission.task)

    entries: list[EntryGrade] = []
    scored: dict[str, tuple[float, ScoreInputs]] = {}
    for subject in subjects:
        ctx = Context(
            tolerances=tolerances,
            baseline=baseline,
            quality=quality_info,
            required=_required_checks(required, subject, primary),
            per_token=per_token,
            withheld_until=hidden.until,
        )
        entry, value = _grade_entry(subject, ctx, scoring, required, primary)
        entries.append(entry)
        if value is not None:
            scored[entry.key] = value
    _write_scores(entries, rule, scored)
    _withhold_scores(entries, subjects, scoring, rule, primary, hidden)
    for entry in entries:
        entry.verdict = entry_verdict(
            entry.checks,
            model_failed=_model_failed(run.model(entry.key)),
            missing=entry.missing,
            scored=rule.scored_metrics(scoring, primary),
        )
    return Grade(
        team=validated.submission.team,
        homework=validated.submission.homework,
        homework_title=_title(homework),
        task=validated.submission.task,
        dataset=_dataset(original, validated),
        language=course.language,
        verdict=worst(e.verdict for e in entries) if entries else Verdict.INVALID,
        entries=entries,
        findings=validated.findings,
        manifest_path=validated.manifest_path,
        manifest_sha256=validated.manifest_sha256 or None,
        pull_request=validated.pull_request,
        environment=run.environment,
        scoring_rule=scoring.rule.value,
        graded_at=_stamp(now),
        scoring=scoring,
        tolerances=tolerances,
        speed=course.runner.speed,
        quality_metrics=quality_info,
        grader_version=_version(),
        private_dataset=course.private_eval_for(validated.submission.homework, validated.submission.task),
        withheld=list(hidden.datasets),
        withheld_until=hidden.until if hidden else None,
        instructor_only=include_private and _has_private(original),
    )


def _withheld_set(m: ModelMeasurement | None, hidden: Withheld) -> str | None:
    """The private set this model's (main) quality figure was left out for, if any."""
    if m is not None and m.quality is not None and m.quality.dataset in hidden.datasets:
        return m.quality.dataset
    return None


def _has_private(run: MeasurementRun) -> bool:
    return bool(private_results(run))


def _withhold_scores(
    entries: list[EntryGrade],
    subjects: list[Subject],
    scoring: Scoring,
    rule: Rule,
    primary: str | None,
    hidden: Withheld,
) -> None:
    """A score that needs the quality of a withheld set is not given yet, and says why."""
    if not hidden or not rule.ranked:
        return
    needs_quality = scoring.min_quality_retained is not None or rule.needs_quality
    blocked = any(s.withheld is not None for s in subjects)
    if not (needs_quality and primary and blocked):
        return
    why = note("score.withheld", until=hidden.until) if hidden.until else note("score.withheld_open")
    for e in entries:
        if not e.is_baseline:
            e.pareto_rank = None
            _set_score(e, None, why)


def grade_invalid(
    validated: ValidatedSubmission,
    course: Course,
    *,
    now: datetime | None = None,
    run: MeasurementRun | None = None,
) -> Grade:
    """The grade of a submission that did not validate: verdict `invalid`, every finding kept."""
    submission = validated.submission
    team, hw_id = (submission.team, submission.homework) if submission else _identify(validated)
    homework = course.homework(hw_id) if hw_id is not None else None
    return Grade(
        team=team,
        homework=hw_id,
        homework_title=_title(homework),
        task=submission.task if submission else None,
        language=course.language,
        verdict=Verdict.INVALID,
        findings=validated.findings,
        manifest_path=validated.manifest_path,
        manifest_sha256=validated.manifest_sha256 or None,
        pull_request=validated.pull_request,
        environment=run.environment if run else None,
        scoring_rule=homework.scoring.rule.value if homework else None,
        graded_at=_stamp(now),
        scoring=homework.scoring if homework else None,
        tolerances=course.tolerances.merged(homework.tolerances if homework else None),
        speed=course.runner.speed,
        grader_version=_version(),
    )


def grade_from_document(path: Path, course: Course, *, now: datetime | None = None) -> Grade:
    """Grade the document at ``path``: a measurement run, or a validated submission that did not
    validate (a valid one must be measured first: InputError V001)."""
    kind = _kind_of(path)
    if kind == ValidatedSubmission.KIND:
        validated = ValidatedSubmission.read(path)
        if validated.ok:
            raise InputError(
                [
                    Finding(
                        code="V001",
                        location=Location(file=str(path), field="kind"),
                        message="this submission is valid but has not been measured yet",
                        expected="a measurement-run document",
                        found=f"kind: {kind}",
                        hint=f"measure it first: grader measure {path} --out measurement.json",
                    )
                ]
            )
        return grade_invalid(validated, course, now=now)
    return verify(MeasurementRun.read(path), course, now=now)


def _kind_of(path: Path) -> str | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # the document reader reports the problem with its location
    return data.get("kind") if isinstance(data, dict) else None


_MANIFEST_PATH = re.compile(r"(?:^|/)submissions/([a-z0-9][a-z0-9_-]{0,39})/hw-(\d+)/[^/]+$")


def _identify(validated: ValidatedSubmission) -> tuple[str | None, int | None]:
    """Team and homework of a manifest that could not be read: from the PR's title, else from
    where the manifest lies (both only label the report; nothing is filed for an invalid grade)."""
    if validated.pull_request is not None:
        from grader.validate.pr_rules import parse_title

        parsed = parse_title(validated.pull_request.title)
        if parsed is not None:
            return parsed
    match = _MANIFEST_PATH.search(validated.manifest_path.replace("\\", "/"))
    return (match.group(1), int(match.group(2))) if match else (None, None)


# --- one model ------------------------------------------------------------------------------------


def _checks(subject: Subject, ctx: Context, primary: str | None) -> list[MetricCheck]:
    checks = [size_check(subject, ctx)]
    checks += [latency_check(subject, metric, ctx) for metric in ("latency_cpu", "latency_gpu")]
    checks += [memory_check(subject, metric, ctx) for metric in ("ram", "vram")]
    quality = [name.split(".", 1)[1] for name in subject.claims if name.startswith("quality.")]
    if primary and primary not in quality:
        quality.insert(0, primary)
    checks += [quality_check(subject, name, ctx) for name in quality]
    checks += [ratio_check(subject, metric, ctx) for metric in _RATIOS if metric in subject.claims]
    return [c for c in checks if _worth_showing(c)]


def _worth_showing(check: MetricCheck) -> bool:
    """GPU rows exist only where a GPU was asked about: claimed, required or measured."""
    if check.metric not in ("latency_gpu", "vram"):
        return True
    return check.claimed_raw is not None or check.required or check.status is not MetricStatus.NOT_MEASURABLE


def _grade_entry(
    subject: Subject,
    ctx: Context,
    scoring: Scoring,
    required: list[Metric],
    primary: str | None,
) -> tuple[EntryGrade, tuple[float, ScoreInputs] | None]:
    """One model's grade, and its score with what it was computed from (None: no score; the
    grade's note says why). The note of a score is written once every model is scored."""
    entry = subject.entry.entry
    checks = _checks(subject, ctx, primary)
    by_metric = {c.metric: c for c in checks}
    measured = _measured(subject, primary)
    grade = EntryGrade(
        key=subject.entry.key,
        name=entry.name,
        methods=[m.value for m in entry.method],
        details=entry.details,
        format=entry.format,
        transform=entry.transform,
        is_baseline=subject.is_baseline,
        measured=measured,
        checks=checks,
        verdict=Verdict.PASS,  # set once every entry is graded (Pareto ranks need them all)
        problems=phase_problems(subject.measurement) if subject.measurement else ["not measured"],
        missing=missing_requirements(
            required, set(subject.claims), by_metric, is_baseline=subject.is_baseline
        ),
        backend=subject.measurement.backend if subject.measurement else None,
        artifact_digests=dict(sorted(subject.measurement.artifact_digests.items()))
        if subject.measurement
        else {},
    )
    rule = rule_for(scoring.rule)
    if subject.is_baseline:
        if rule.ranked:
            _set_score(grade, None, note("score.reference"))
        return grade, None
    base = ctx.baseline
    info = ctx.quality.get(primary) if primary else None
    if base is not None:
        grade.ratios = ratios(_graded(subject, primary), _graded(base, primary), primary, info)
        _speedups(grade.ratios, subject, base)
    inputs = ScoreInputs(
        scoring=scoring,
        ratios=grade.ratios,
        quality_value=measured.quality.get(primary) if primary else None,
        primary=primary,
        info=info,
        checks=by_metric,
    )
    outcome = rule.score(inputs, has_baseline=base is not None)
    if isinstance(outcome, Note):
        _set_score(grade, None, outcome)
        return grade, None
    return grade, (outcome, inputs)


def _set_score(grade: EntryGrade, score: float | None, why: Note) -> None:
    grade.score = score
    grade.score_reason = why
    grade.score_note = text(why)


def _write_scores(
    entries: list[EntryGrade], rule: Rule, scored: dict[str, tuple[float, ScoreInputs]]
) -> None:
    """The scores and their notes, once every model is scored: a rule that ranks the models
    together (Pareto) places them first, and a model it cannot place is not scored."""
    ranks = rule.ranks({key: inputs for key, (_, inputs) in scored.items()})
    for e in entries:
        if e.key not in scored:
            continue
        value, inputs = scored[e.key]
        if ranks is not None and e.key not in ranks:
            _set_score(e, None, note("score.no_quality", why="@why.not_measured"))
            continue
        e.pareto_rank = ranks[e.key] if ranks is not None else None
        _set_score(e, value, rule.note(inputs, value, e.pareto_rank))


def _speedups(out: Ratios, subject: Subject, base: Subject) -> None:
    """Speed-ups as the rounds measured them: paired by round, with their intervals."""
    if subject.measurement is None or base.measurement is None:
        return
    for device, suffix in (("cpu", "cpu"), ("cuda", "gpu")):
        reading = speedup_reading(subject.measurement, base.measurement, device, per_token=False)
        ok = reading.ok and getattr(out, f"speedup_{suffix}") is not None
        setattr(out, f"speedup_{suffix}", reading.value if ok else None)
        setattr(out, f"speedup_{suffix}_ci", reading.interval if ok else None)


def _graded(subject: Subject, primary: str | None) -> dict[str, float | None]:
    """The figures ratios are formed from: only clean readings (never noisy or failed ones)."""
    out: dict[str, float | None] = {}
    for name in ("size", "latency_cpu", "latency_gpu"):
        reading = read(subject, name)
        out[name] = reading.value if reading.ok else None
    if primary:
        reading = read(subject, f"quality.{primary}")
        out["quality"] = reading.value if reading.ok else None
    return out


def _measured(subject: Subject, primary: str | None) -> Measured:
    m = subject.measurement
    if m is None:
        return Measured()
    out = Measured(quality_primary=primary)
    if m.size is not None:
        out.size_bytes = m.size.weights_bytes
        out.files_bytes = m.size.files_bytes
        out.params = m.size.params
        out.zeros_fraction = m.size.zeros_fraction
        uniques = [t.unique for t in m.size.tensors if t.unique is not None and len(t.shape) >= 2]
        out.max_unique_per_tensor = max(uniques) if uniques else None
    size = read(subject, "size")
    if size.value is not None:
        out.graded_size_bytes = int(size.value)
        out.size_source = size.source
        if size.source == "as_run":
            out.as_run_bytes = int(size.value)
    for device, prefix in (("cpu", "latency_cpu"), ("cuda", "latency_gpu")):
        reading = read(subject, prefix)
        if reading.ok:  # an undecided figure is shown in its check, never recorded as verified
            setattr(out, f"{prefix}_s", reading.value)
            setattr(out, f"{prefix}_cv", reading.cv)
            setattr(out, f"{prefix}_ci", reading.interval)
        dm = m.devices.get(device)
        if device == "cpu" and dm is not None and dm.load is not None:
            out.load_s = dm.load.load_s
    for metric in ("ram", "vram"):
        reading = read(subject, metric)
        if reading.ok and reading.value is not None:
            setattr(out, f"{metric}_bytes", int(reading.value))
            setattr(out, f"{metric}_source", reading.source)
    if m.quality is not None:
        out.quality = dict(m.quality.metrics)
    if m.private_quality is not None:
        out.private_quality = dict(m.private_quality.metrics)
    out.generation = _generation_figures(m)
    return out


def _generation_figures(m: ModelMeasurement) -> dict[str, GenerationFigures]:
    """Per device, the generation medians, or why there are none (causal-lm runs only)."""
    out: dict[str, GenerationFigures] = {}
    for device, dm in sorted(m.devices.items()):
        tried = dm.generation is not None or any(
            p.phase == "generation" and p.device == device for p in m.phases
        )
        if not tried:
            continue
        reading = generation_reading(m, device)
        figures = GenerationFigures(status=reading.state.value, reason=reading.reason)
        if reading.state is State.OK and dm.generation is not None:
            g = dm.generation
            figures = GenerationFigures(
                status="ok",
                ttft_s=seconds(g.time_to_first_token.stats),
                tpot_s=reading.value,  # the figure the checks judge: the rounds' estimate
                ttft_cv=g.time_to_first_token.stats.cv,
                tpot_cv=g.time_per_output_token.stats.cv,
                tpot_ci=g.tpot_median,
                prompt_tokens=g.prompt_tokens,
                new_tokens=g.new_tokens,
                kv_cache=g.kv_cache,
            )
        out[device] = figures
    return out


def _model_failed(m: ModelMeasurement | None) -> bool:
    return m is None or m.status is Status.FAILED


def _required_checks(required: list[Metric], subject: Subject, primary: str | None) -> set[str]:
    out = {m.value for m in required if m is not Metric.QUALITY}
    if Metric.QUALITY in required:
        claimed = {name for name in subject.claims if name.startswith("quality.")}
        out |= claimed or ({f"quality.{primary}"} if primary else set())
    return out


# --- the submission -----------------------------------------------------------------------------


def _primary(run: MeasurementRun, task: str, subjects: list[Subject]) -> str | None:
    for m in run.models:
        if m.quality is not None:
            return m.quality.primary
    declared = _task_metrics(task)
    if declared is not None:
        return declared[0]
    for subject in subjects:
        for name in subject.claims:
            if name.startswith("quality."):
                return name.split(".", 1)[1]
    return None


def _task_metrics(task: str) -> tuple[str, dict[str, MetricInfo]] | None:
    """(primary, metrics) from the task's declaration; None for a task the grader does not know
    (an old grade's task, since renamed): then the run's own figures say which way is better.

    Only "no such task" falls back: a task module that fails to import is a bug in the grader,
    and hiding it would silently grade with guessed metric directions."""
    if task not in TASKS:
        return None
    declaration = task_declaration(task)
    return declaration.primary, dict(declaration.metrics)


def _generates_tokens(task: str) -> bool:
    """Whether the task's latency is timed per generated token (its declaration says so)."""
    return task in TASKS and task_declaration(task).generates_tokens


def _quality_info(run: MeasurementRun, task: str) -> dict[str, QualityMetricInfo]:
    declared = _task_metrics(task)
    metrics = declared[1] if declared else {}
    out: dict[str, QualityMetricInfo] = {}
    for name, info in metrics.items():
        out[name] = QualityMetricInfo(
            direction=info.direction, bounded=info.bounded, label={"ru": info.label_ru, "en": info.label_en}
        )
    for m in run.models:
        if m.quality is None:
            continue
        for name, direction in m.quality.directions.items():
            if name in out:
                continue
            values = [
                mm.quality.metrics[name] for mm in run.models if mm.quality and name in mm.quality.metrics
            ]
            bounded = direction == "higher" and all(0.0 <= v <= 1.0 for v in values)
            out[name] = QualityMetricInfo(direction=direction, bounded=bounded)
    return dict(sorted(out.items()))


def _dataset(run: MeasurementRun, validated: ValidatedSubmission) -> str | None:
    for m in run.models:
        if m.quality is not None:
            return m.quality.dataset
    return validated.submission.eval if validated.submission else None


def _title(homework: Homework | None) -> dict[str, str]:
    return {"ru": homework.title.ru, "en": homework.title.en} if homework else {}


def _stamp(now: datetime | None) -> str:
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _version() -> str:
    from grader import __version__

    return __version__
