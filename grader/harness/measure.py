"""`measure_submission`: every model of a validated submission, measured by one harness.

Order of work (DESIGN.md, "The measurement contract"):

1. fetch each artifact (grader.fetch) and analyse its size (grader.harness.size) in this process;
   zygotes start importing their backends meanwhile;
2. memory children (one per model and device) and quality children (one per model, on the first
   requested device its backend can use), two at a time: they time nothing;
3. latency children alone, in many short paired rounds: a round is one fresh child per device
   that times every model of that round turn by turn, 25 ms of each in turn (so that a shared
   host's slow stretches fall on every model alike; grader.harness.timing.measure_turns). The
   first ``speed.min_rounds`` rounds time every model, in order on odd rounds and in reverse on
   even ones (A B C, C B A); then ``speed.step`` rounds at a time time only the models whose figure
   is not decided yet, with the baseline they pair with, until each is decided or has spent
   ``speed.budget_s``. Decided: a claimed speed-up whose confidence interval (grader.harness.stats)
   lies wholly inside or wholly outside the claim's tolerance band; an unclaimed figure known to
   ``speed.precision``. With one thread per child, children are pinned to one CPU and the
   grader keeps off it (grader.harness.affinity). For causal-lm each latency child also times
   greedy generation after the forward calls (time to first token, time per output token);
4. each (model, device) gets its median with a confidence interval and, for a candidate, its
   speed-up over the baseline with one, paired by round; grader.verify judges claims on them.

A phase that breaks is a PhaseResult with status FAILED (or NOT_MEASURABLE) and its reason; the
phases that depend on it are SKIPPED with a reason; every other model and phase still reports.

Quality runs on the task's eval set (or the manifest's `eval:`), and, when the homework names a
`private_eval` set, once more on that set in a child of its own (`private_quality`); each result
carries its dataset's `visibility`, which grader.verify uses to keep private figures out of
public output until the deadline.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from grader.course.model import Course, IntervalVerdict, SpeedSettings, Tolerance, TolerancesOverride
from grader.errors import InputError
from grader.fetch.artifact import FetchedArtifact, FetchError, default_cache_dir, fetch_artifact, team_root_of
from grader.findings import Finding, Location
from grader.harness.affinity import StealWatch, governor, keep_off, latency_cpu
from grader.harness.backends import BACKENDS, FORMAT_BACKENDS
from grader.harness.backends.base import Backend
from grader.harness.environment import ThreadPlan, collect_environment
from grader.harness.gpu import with_gpu_memory
from grader.harness.jobs import EvalJob, Limits, PhaseJob
from grader.harness.memory import MIB, memory_result
from grader.harness.models import (
    DeviceMeasurement,
    GenerationResult,
    LatencyResult,
    LoadResult,
    MeasurementRun,
    MemoryResult,
    ModelMeasurement,
    PhaseResult,
    QualityResult,
    RoundInfo,
    Status,
)
from grader.harness.runner import ChildOutcome, Runner, split_shared
from grader.harness.stats import (
    Interval,
    Samples,
    median_interval,
    ratio_interval,
    robust_cv,
    round_figure,
    summarize,
)
from grader.registry import UnknownNameError
from grader.validate.document import ClaimedSpeedup, ValidatedEntry, ValidatedSubmission, claimed_speedups

PARALLEL_UNTIMED = 2  # memory and quality children that may run side by side
PRIVATE_QUALITY = "private-quality"  # the quality child on the homework's private eval set
LOAD_STAGES = ("setup", "load")


@dataclass(frozen=True)
class ProgressEvent:
    stage: str  # fetch, size, memory, quality, latency, done
    done: int
    total: int
    message: str


ProgressCallback = Callable[[ProgressEvent], None]


@dataclass(frozen=True)
class _Context:
    """What every job of this submission shares: task, data, settings, limits."""

    course: Course
    repo_root: Path
    task: str
    dataset_id: str | None
    params: dict[str, int | float | str | bool]
    devices: list[str]
    plan: ThreadPlan
    limits: Limits
    allow_code_formats: bool = False
    generation: bool = False  # latency children also time generation (causal-lm)
    private_dataset: str | None = None  # the homework's private eval set, measured besides dataset_id
    # the homework's speed-up tolerance: decides when a claim's rounds may stop
    speedup_tolerance: Tolerance = field(default_factory=lambda: Tolerance(rel=0.2))

    def job(self, model: _Model, device: str, phase: str, cpu: int | None = None) -> PhaseJob:
        assert model.fetched is not None
        runner = self.course.runner
        evaluation = None
        dataset_id = self.private_dataset if phase == PRIVATE_QUALITY else self.dataset_id
        if phase in ("quality", PRIVATE_QUALITY) and dataset_id is not None:
            evaluation = EvalJob(
                dataset_id=dataset_id,
                course=self.course.model_dump(mode="json"),
                repo_root=str(self.repo_root),
            )
            phase = "quality"
        return PhaseJob(
            phase=phase,
            backend=model.measurement.backend,
            model_dir=str(model.fetched.root),
            format=model.measurement.format,
            model_file=model.fetched.model_file,
            transform=model.measurement.transform,
            device=device,
            task=self.task,
            task_params=dict(self.params),
            batch_size=runner.batch_size,
            intra_op_threads=self.plan.intra_op,
            inter_op_threads=self.plan.inter_op,
            seed=runner.seed,
            latency=runner.latency,
            eval=evaluation,
            allow_code_formats=self.allow_code_formats,
            input_roles=dict(model.entry.entry.inputs),
            generation=self.generation and phase == "latency",
            cpu=cpu if phase == "latency" else None,
        )


@dataclass
class _Model:
    entry: ValidatedEntry
    measurement: ModelMeasurement
    backend_cls: type[Backend] | None = None
    fetched: FetchedArtifact | None = None
    devices: list[str] = field(default_factory=list)  # requested devices its backend can use here
    blocked: dict[str, tuple[Status, str]] = field(default_factory=dict)  # device → why latency won't run
    memory: dict[str, ChildOutcome] = field(default_factory=dict)
    latency: dict[str, list[ChildOutcome]] = field(default_factory=dict)
    round_numbers: dict[str, list[int]] = field(default_factory=dict)  # device → round of each outcome
    round_info: dict[str, list[RoundInfo]] = field(default_factory=dict)
    stop_reason: dict[str, str] = field(default_factory=dict)  # device → why its rounds ended

    @property
    def key(self) -> str:
        return self.measurement.key

    @property
    def preload(self) -> tuple[str, ...]:
        return tuple(self.backend_cls.preload) if self.backend_cls else ()

    def phase(self, result: PhaseResult) -> None:
        # Two children that failed to load the same model the same way say it once.
        if result.phase == "load":
            for known in self.measurement.phases:
                same = (known.phase, known.device, known.status, known.reason)
                if same == (result.phase, result.device, result.status, result.reason):
                    return
        self.measurement.phases.append(result)


class _Progress:
    def __init__(self, callback: ProgressCallback | None, total: int) -> None:
        self.callback = callback
        self.total = total
        self.done = 0

    def add(self, n: int) -> None:
        self.total += n

    def step(self, stage: str, message: str) -> None:
        self.done += 1
        if self.callback is not None:
            self.callback(ProgressEvent(stage, self.done, self.total, message))

    def note(self, stage: str, message: str) -> None:
        if self.callback is not None:
            self.callback(ProgressEvent(stage, self.done, self.total, message))


def measure_submission(
    validated: ValidatedSubmission,
    course: Course,
    repo_root: Path,
    *,
    devices: list[str] | None = None,
    progress: ProgressCallback | None = None,
    cache_dir: Path | None = None,
    work_dir: Path | None = None,
    use_zygote: bool = True,
    hf_cache_dir: Path | None = None,
    runner: Runner | None = None,
    allow_code_formats: bool = False,
) -> MeasurementRun:
    """Measure every entry of ``validated`` (baseline first) and return the measurement-run document.

    ``devices`` restricts the course's devices (default: course.runner.devices). ``work_dir``
    keeps the children's jobs, reports and logs there (default: a temporary folder, removed).
    ``runner``: an open Runner to reuse (its zygotes stay warm across calls, e.g. for several
    submissions in one job); it must have been made with this course's thread environment.
    ``allow_code_formats``: an instructor reviewed the submission and allows formats that carry
    code (TorchScript); the workflow sets it from the instructor's label, never from the PR.
    """
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    clock = time.perf_counter()
    repo_root = Path(repo_root).resolve()
    context = _context(validated, course, repo_root, devices, allow_code_formats)
    models = [_plan(entry) for entry in validated.entries]
    tracker = _Progress(progress, total=len(models))
    order: list[str] = []
    with _work_dir(work_dir) as work, _runner(runner, work, context, use_zygote) as active:
        # the shared latency rounds' zygote (every backend's modules) starts importing too
        active.prestart({m.preload for m in models if m.backend_cls is not None} | {shared_preload(models)})
        team_root = team_root_of(validated, repo_root)
        for model in models:
            _fetch_and_size(model, context, cache_dir or default_cache_dir(), team_root, hf_cache_dir)
            tracker.step("size", f"{model.measurement.name}: files checked")
        _untimed_phases(models, context, active, tracker)
        order = _latency_phases(models, context, active, tracker)
    baseline = next((m for m in models if m.entry.is_baseline), None)
    for model in models:
        _assemble(model, context, baseline)
    environment = collect_environment(
        context.plan,
        seed=course.runner.seed,
        observed_threads=_observed_threads(models),
        input_shapes=_input_shapes(models),
    )
    tracker.note("done", "measured")
    return MeasurementRun(
        submission=validated,
        models=[m.measurement for m in models],
        environment=environment,
        started_at=started_at,
        wall_s=time.perf_counter() - clock,
        order=order,
    )


# --- planning ------------------------------------------------------------------------------------


def _context(
    validated: ValidatedSubmission,
    course: Course,
    repo_root: Path,
    devices: list[str] | None,
    allow_code_formats: bool = False,
) -> _Context:
    submission = validated.submission
    if submission is None:
        raise InputError(
            [f for f in validated.findings if f.is_error]
            or [
                Finding(
                    code="D004",
                    location=Location(file=validated.manifest_path),
                    message="the validated submission holds no manifest, so there is nothing to measure",
                    hint="fix the findings that `grader validate` reports, then validate again",
                )
            ]
        )
    settings = course.tasks.get(submission.task)
    dataset_id = submission.eval or (settings.dataset if settings else None)
    params = {**(settings.params if settings else {}), **submission.params}
    wanted: list[str] = list(devices) if devices else list(course.runner.devices)
    limits = course.runner.limits
    private = course.private_eval_for(submission.homework, submission.task)
    return _Context(
        course=course,
        repo_root=repo_root,
        task=submission.task,
        dataset_id=dataset_id,
        params=params,
        devices=wanted,
        plan=ThreadPlan.from_course(course.runner.threads),
        limits=Limits(timeout_s=limits.phase_timeout_s, memory_bytes=limits.memory_mib * MIB),
        allow_code_formats=allow_code_formats,
        generation=_times_generation(submission.task, params),
        private_dataset=private if private != dataset_id else None,
        speedup_tolerance=course.tolerances.merged(_homework_tolerances(course, submission.homework)).speedup,
    )


def _homework_tolerances(course: Course, homework_id: int) -> TolerancesOverride | None:
    homework = course.homework(homework_id)
    return homework.tolerances if homework is not None else None


def _times_generation(task: str, params: dict[str, int | float | str | bool]) -> bool:
    """Whether the task generates tokens and the course asks for new ones (``new_tokens`` > 0)."""
    from grader.harness.tasks import TASKS

    try:
        task_cls = TASKS.load(task)
    except (UnknownNameError, ImportError):
        return False
    if not task_cls.generates_tokens:
        return False
    new_tokens = params.get("new_tokens", task_cls.default_params.get("new_tokens", 0))
    return isinstance(new_tokens, int | float) and int(new_tokens) > 0


def _plan(entry: ValidatedEntry) -> _Model:
    model_entry = entry.entry
    backend = FORMAT_BACKENDS.get(model_entry.format, "")
    measurement = ModelMeasurement(
        key=entry.key,
        name=model_entry.name,
        role="baseline" if entry.is_baseline else "candidate",
        backend=backend or "none",
        format=model_entry.format,
        transform=model_entry.transform,
        status=Status.OK,
    )
    model = _Model(entry=entry, measurement=measurement)
    if backend:
        try:
            model.backend_cls = BACKENDS.load(backend)
        except (UnknownNameError, ImportError) as error:
            measurement.reason = f"the {backend} backend cannot be loaded: {error}"
    return model


def _fetch_and_size(
    model: _Model, context: _Context, cache_dir: Path, team_root: Path, hf_cache_dir: Path | None
) -> None:
    from grader.harness.size import analyze_size

    started = time.perf_counter()
    try:
        model.fetched = fetch_artifact(
            model.entry,
            context.repo_root,
            cache_dir,
            team_root=team_root,
            max_bytes=context.course.runner.limits.artifact_max_mib * MIB,
            hf_cache_dir=hf_cache_dir,
        )
    except FetchError as error:
        model.phase(
            PhaseResult(phase="fetch", status=Status.FAILED, reason=str(error), wall_s=_since(started))
        )
        return
    model.measurement.artifact_digests = dict(model.fetched.files)
    model.phase(PhaseResult(phase="fetch", status=Status.OK, wall_s=_since(started)))
    started = time.perf_counter()
    try:
        model.measurement.size = analyze_size(model.fetched.path, model.measurement.format)
        model.phase(PhaseResult(phase="size", status=Status.OK, wall_s=_since(started)))
    except Exception as error:  # SizeError, or any surprise in a malformed file: a result, not a crash
        model.phase(
            PhaseResult(phase="size", status=Status.FAILED, reason=_error_text(error), wall_s=_since(started))
        )


def _since(started: float) -> float:
    return time.perf_counter() - started


def _error_text(error: BaseException) -> str:
    if isinstance(error, InputError):
        return "; ".join(f.message + (f" ({f.hint})" if f.hint else "") for f in error.findings)
    return str(error) or type(error).__name__


@functools.cache
def _has_gpu() -> bool:
    from grader.harness.environment import list_gpus

    return bool(list_gpus())


def _resolve_devices(model: _Model, context: _Context) -> None:
    """Which requested devices this model can run on here; the others are NOT_MEASURABLE."""
    for device in context.devices:
        if device == "cuda" and not _has_gpu():
            reason: str | None = "this runner has no CUDA GPU"
        elif model.backend_cls is None:
            reason = model.measurement.reason or (
                f"the grader has no backend for the {model.measurement.format} format yet"
            )
        else:
            reason = model.backend_cls.unavailable_reason(device)
        if reason is None:
            model.devices.append(device)
        else:
            model.measurement.devices[device] = DeviceMeasurement(
                device=device, status=Status.NOT_MEASURABLE, reason=reason
            )


# --- memory and quality ------------------------------------------------------------------------


def _untimed_phases(models: list[_Model], context: _Context, runner: Runner, tracker: _Progress) -> None:
    jobs: list[tuple[_Model, str, str]] = []
    for model in models:
        if model.fetched is None:
            continue
        _resolve_devices(model, context)
        jobs += [(model, device, "memory") for device in model.devices]
        if model.devices:
            jobs.append((model, model.devices[0], "quality"))
            if context.private_dataset is not None:
                jobs.append((model, model.devices[0], PRIVATE_QUALITY))
        else:
            model.phase(
                PhaseResult(
                    phase="quality",
                    status=Status.NOT_MEASURABLE,
                    reason="no requested device can run this model here",
                )
            )
    tracker.add(len(jobs))

    def run(job: tuple[_Model, str, str]) -> tuple[_Model, str, str, ChildOutcome]:
        model, device, phase = job
        if phase == "quality" and context.dataset_id is None:
            outcome = _no_dataset(context)
        else:
            outcome = _run_child(runner, context, model, device, phase, label=f"{model.key}-{device}-{phase}")
        tracker.step(phase, f"{model.measurement.name}: {phase} on {device} {outcome.status.value}")
        return model, device, phase, outcome

    with ThreadPoolExecutor(max_workers=PARALLEL_UNTIMED, thread_name_prefix="measure") as pool:
        results = list(pool.map(run, jobs))
    for model, device, phase, outcome in results:
        if phase == PRIVATE_QUALITY:
            result = _phase_result("quality", device, None, outcome)
            if result.reason:  # which of the two quality children this was
                result.reason = f"private eval set {context.private_dataset}: {result.reason}"
            model.phase(result)
            if outcome.ok and outcome.report is not None and outcome.report.quality is not None:
                model.measurement.private_quality = _quality_result(
                    context, device, outcome, context.private_dataset
                )
            continue
        model.phase(_phase_result(phase, device, None, outcome))
        if phase == "memory":
            model.memory[device] = outcome
            if not outcome.ok:
                model.blocked[device] = (outcome.status, outcome.reason)
        elif outcome.ok and outcome.report is not None and outcome.report.quality is not None:
            model.measurement.quality = _quality_result(context, device, outcome, context.dataset_id)


def _run_child(
    runner: Runner,
    context: _Context,
    model: _Model,
    device: str,
    phase: str,
    *,
    label: str,
    cpu: int | None = None,
) -> ChildOutcome:
    """One child; a failure of the harness itself (it cannot write a job, spawn a process) is the
    phase's FAILED result too, so the other phases and models still report."""
    try:
        return runner.run(
            context.job(model, device, phase, cpu), context.limits, preload=model.preload, label=label
        )
    except Exception as error:  # whatever broke, this phase gets a result with the reason
        return ChildOutcome(
            id=label,
            status=Status.FAILED,
            reason=f"the harness could not run this phase: {type(error).__name__}: {error}",
            report=None,
            exit=None,
        )


def _no_dataset(context: _Context) -> ChildOutcome:
    return ChildOutcome(
        id="quality",
        status=Status.NOT_MEASURABLE,
        reason=f"course.yaml names no eval dataset for the task {context.task!r} "
        f"(tasks.{context.task}.dataset)",
        report=None,
        exit=None,
    )


def _quality_result(
    context: _Context, device: str, outcome: ChildOutcome, dataset_id: str | None
) -> QualityResult:
    from grader.harness.tasks import TASKS

    assert outcome.report is not None and outcome.report.quality is not None
    quality = outcome.report.quality
    task_cls = TASKS.load(context.task)
    dataset = context.course.datasets.get(dataset_id or "")
    return QualityResult(
        task=context.task,
        dataset=dataset_id or "",
        dataset_digest=quality.dataset_digest,
        device=device,
        n=quality.n,
        seed=dataset.seed if dataset else context.course.runner.seed,
        metrics=quality.metrics,
        directions={name: info.direction for name, info in task_cls.metrics.items()},
        primary=task_cls.primary,
        params=dict(context.params),
        seconds=quality.seconds,
        visibility=dataset.visibility if dataset else "public",
        unmeasured=dict(quality.unmeasured),
    )


def _phase_result(phase: str, device: str | None, round_: int | None, outcome: ChildOutcome) -> PhaseResult:
    report = outcome.report
    at_load = not outcome.ok and report is not None and report.error_stage in LOAD_STAGES
    return PhaseResult(
        phase="load" if at_load else phase,
        device=device,
        round=round_,
        status=outcome.status,
        reason=outcome.reason,
        stderr_tail=outcome.stderr_tail if outcome.status is Status.FAILED else "",
        wall_s=outcome.exit.wall_s if outcome.exit else None,
        exit_code=outcome.exit.exit_code if outcome.exit else None,
        signal=outcome.exit.signal if outcome.exit else None,
    )


# --- latency: adaptive paired rounds --------------------------------------------------------------


@dataclass
class _Target:
    """One (model, device) whose latency is timed, with the question its rounds must answer."""

    model: _Model
    device: str
    baseline: _Target | None  # the baseline on the same device (None for the baseline itself)
    claims: list[ClaimedSpeedup]
    spent_s: float = 0.0  # wall time of its latency children so far
    done: str = ""  # why it runs no more rounds: decided, budget, max_rounds, failed, paired
    # A baseline with candidates on its device asks no question of its own: it runs to pair with
    # them, as long as one of them still needs rounds.
    pairs_only: bool = False

    @property
    def outcomes(self) -> list[ChildOutcome]:
        return self.model.latency.setdefault(self.device, [])

    @property
    def failed(self) -> bool:
        return any(not o.ok for o in self.outcomes)


def _latency_phases(models: list[_Model], context: _Context, runner: Runner, tracker: _Progress) -> list[str]:
    """Rounds of every timed (model, device), interleaved, until each one's figure is decided.

    The first `min_rounds` rounds run every target; then `step` rounds at a time run only the
    targets still undecided (and their baselines, which every round pairs them with), until
    none is left or each has spent its budget. Round r runs the targets in order when r is odd
    and in reverse when it is even (A B C, C B A): a drift of the machine's speed during a batch
    affects every model alike.
    """
    targets = _latency_targets(models, context)
    speed = context.course.runner.speed
    cpu = latency_cpu(context.plan.intra_op, context.course.runner.pin_cpu)
    preload = shared_preload(models)
    order: list[str] = []
    round_ = 0
    with keep_off(cpu):
        while active := _active(targets):
            batch = speed.min_rounds if round_ == 0 else speed.step
            tracker.add(batch * len(active))
            for _ in range(batch):
                round_ += 1
                turns = active if round_ % 2 else active[::-1]
                for device in dict.fromkeys(t.device for t in turns):
                    group = [t for t in turns if t.device == device]
                    order += _run_shared_round(group, round_, context, runner, tracker, cpu, preload)
            for target in targets:
                target.done = target.done or _stop_reason(target, speed, context.speedup_tolerance)
    for target in targets:
        target.model.stop_reason[target.device] = "paired" if target.pairs_only else target.done
    return order


def _latency_targets(models: list[_Model], context: _Context) -> list[_Target]:
    targets: list[_Target] = []
    baselines: dict[str, _Target] = {}
    baseline_entry = next((m.entry for m in models if m.entry.is_baseline), None)
    for model in models:
        for device in model.devices:
            if device in model.blocked:
                status, reason = model.blocked[device]
                model.phase(
                    PhaseResult(
                        phase="latency",
                        device=device,
                        status=Status.SKIPPED,
                        reason=f"not run: the memory phase on {device} ended {status.value} ({reason})",
                    )
                )
                continue
            base = None if model.entry.is_baseline else baselines.get(device)
            claims = (
                claimed_speedups(model.entry, baseline_entry, device, context.course.runner.batch_size)
                if base is not None
                else []
            )
            target = _Target(model, device, base, claims)
            if model.entry.is_baseline:
                baselines[device] = target
            elif base is not None:
                base.pairs_only = True
            targets.append(target)
    return targets


def _active(targets: list[_Target]) -> list[_Target]:
    """The targets the next rounds run: the undecided ones, and the baselines they pair with."""
    running = {id(t) for t in targets if not t.done and not t.pairs_only}
    running |= {id(t.baseline) for t in targets if id(t) in running and t.baseline is not None}
    return [t for t in targets if id(t) in running and not t.failed]


def shared_preload(models: list[_Model]) -> tuple[str, ...]:
    """The modules a shared round's zygote imports: every backend's of this submission, once."""
    return tuple(dict.fromkeys(module for model in models for module in model.preload))


def _run_shared_round(
    group: list[_Target],
    round_: int,
    context: _Context,
    runner: Runner,
    tracker: _Progress,
    cpu: int | None,
    preload: tuple[str, ...],
) -> list[str]:
    """Round ``round_`` of the targets of one device, in one child that times them turn by turn
    (grader.harness.timing.measure_turns). A target whose earlier round failed runs no more; when
    the shared child leaves no report of every model (it crashed, or hit a limit), each target
    runs this round alone, so the one that broke is the one that fails."""
    order: list[str] = []
    live = [t for t in group if not t.failed]
    for target in group:
        if target.failed:
            order += _run_round(target, round_, context, runner, tracker, cpu)
    if len(live) < 2:
        return order + [x for t in live for x in _run_round(t, round_, context, runner, tracker, cpu)]
    jobs = [context.job(t.model, t.device, "latency", cpu) for t in live]
    limits = shared_limits(context.limits, len(live))
    label = f"round-{round_}-{live[0].device}-{len(live)}-models"
    steal = StealWatch(cpu)
    try:
        outcome = runner.run(
            jobs[0].model_copy(update={"peers": jobs[1:]}), limits, preload=preload, label=label
        )
        split = split_shared(outcome, len(live), limits)
    except Exception:  # the harness could not run it: alone, each target gets its own reason
        outcome, split = None, None
    if outcome is None or split is None:
        return order + [x for t in live for x in _run_round(t, round_, context, runner, tracker, cpu)]
    wall = outcome.exit.wall_s if outcome.exit else None
    keys, steal_s = [t.model.key for t in live], steal.seconds()
    for target, own in zip(live, split, strict=True):
        _record_round(target, round_, own, steal_s, wall, cpu, tracker, keys)
        order.append(f"{target.model.key}@{target.device}#{round_}")
    return order


def shared_limits(limits: Limits, models: int) -> Limits:
    """A shared round's child gets each model's allowance of time and memory."""
    memory = limits.memory_bytes * models if limits.memory_bytes is not None else None
    return limits.model_copy(update={"timeout_s": limits.timeout_s * models, "memory_bytes": memory})


def _run_round(
    target: _Target, round_: int, context: _Context, runner: Runner, tracker: _Progress, cpu: int | None
) -> list[str]:
    """Round ``round_`` of one target alone, in a child of its own."""
    model, device = target.model, target.device
    if target.failed:  # a round already broke: more rounds would only repeat it
        model.phase(
            PhaseResult(
                phase="latency",
                device=device,
                round=round_,
                status=Status.SKIPPED,
                reason="not run: an earlier latency round of this model failed",
            )
        )
        tracker.step("latency", f"{model.measurement.name}: round {round_} skipped")
        return []
    label = f"{model.key}-{device}-latency-{round_}"
    steal = StealWatch(cpu)
    outcome = _run_child(runner, context, model, device, "latency", label=label, cpu=cpu)
    wall = outcome.exit.wall_s if outcome.exit else None
    _record_round(target, round_, outcome, steal.seconds(), wall, cpu, tracker, [])
    return [f"{model.key}@{device}#{round_}"]


def _record_round(
    target: _Target,
    round_: int,
    outcome: ChildOutcome,
    steal_s: float | None,
    wall: float | None,
    cpu: int | None,
    tracker: _Progress,
    shared_with: list[str],
) -> None:
    model, device = target.model, target.device
    # a shared child's wall time counts against each of its models' budgets in equal parts
    target.spent_s += (wall or 0.0) / max(1, len(shared_with))
    target.outcomes.append(outcome)
    model.round_numbers.setdefault(device, []).append(round_)
    model.round_info.setdefault(device, []).append(
        RoundInfo(
            round=round_,
            cpu=cpu,
            steal_s=steal_s,
            governor=governor(cpu),
            wall_s=wall,
            waited_share=_waited_share(outcome),
            models=shared_with,
        )
    )
    model.phase(_phase_result("latency", device, round_, outcome))
    tracker.step("latency", f"{model.measurement.name}: round {round_} on {device} {outcome.status.value}")


def _waited_share(outcome: ChildOutcome) -> float | None:
    timing = outcome.report.timing if outcome.report is not None else None
    if timing is None or timing.waited_s is None or timing.measure_s <= 0:
        return None
    return min(1.0, max(0.0, timing.waited_s / timing.measure_s))


def _stop_reason(target: _Target, speed: SpeedSettings, tolerance: Tolerance) -> str:
    """Why ``target`` needs no more rounds ("" while it does)."""
    if target.failed or (target.baseline is not None and target.baseline.failed):
        return "failed"
    if _decided(target, speed, tolerance):
        return "decided"
    if target.spent_s >= speed.budget_s:
        return "budget"
    if len(target.outcomes) >= speed.max_rounds:
        return "max_rounds"
    return ""


def _decided(target: _Target, speed: SpeedSettings, tolerance: Tolerance) -> bool:
    """A claimed speed-up: its interval lies inside or outside the claim's tolerance band. An
    unclaimed figure (or the baseline's): its interval is within the course's precision."""
    if target.baseline is None:
        medians = _forward_medians(target.model, target.device)
        interval = median_interval(list(medians.values()), speed.confidence, "ms/item")
        return interval is not None and interval.half_width <= speed.precision
    verdicts = []
    for claim in target.claims:
        interval = _speedup_interval(target, speed.confidence, per_token=claim.per_token)
        if interval is None:
            return False
        verdicts.append(tolerance.judge_interval(claim.value, interval.low, interval.high))
    if target.claims:
        return IntervalVerdict.UNDECIDED not in verdicts
    interval = _speedup_interval(target, speed.confidence, per_token=False)
    return interval is not None and interval.half_width <= speed.precision


def _speedup_interval(target: _Target, confidence: float, *, per_token: bool) -> Interval | None:
    assert target.baseline is not None
    medians = _generation_medians if per_token else _forward_medians
    base, own = target.baseline, target
    return ratio_interval(medians(base.model, base.device), medians(own.model, own.device), confidence)


def _numbered(model: _Model, device: str) -> list[tuple[int, ChildOutcome]]:
    return list(zip(model.round_numbers.get(device, []), model.latency.get(device, []), strict=True))


def _forward_medians(model: _Model, device: str) -> dict[int, float]:
    """Round number → that round's time per call (ms; grader.harness.stats.round_figure), for the
    rounds that timed."""
    out = {}
    for number, outcome in _numbered(model, device):
        if outcome.ok and outcome.report and outcome.report.timing and outcome.report.timing.samples_ms:
            out[number] = round_figure(outcome.report.timing.samples_ms)
    return out


def _generation_medians(model: _Model, device: str) -> dict[int, float]:
    out = {}
    for number, outcome in _numbered(model, device):
        generation = outcome.report.generation if outcome.report else None
        if generation is not None and generation.tpot_ms:
            out[number] = float(np.median(generation.tpot_ms))
    return out


def _complete(model: _Model, device: str) -> bool:
    outcomes = model.latency.get(device, [])
    return bool(outcomes) and all(o.ok and o.report and o.report.timing for o in outcomes)


# --- assembling the measurement --------------------------------------------------------------


def _assemble(model: _Model, context: _Context, baseline: _Model | None) -> None:
    for device in model.devices:
        model.measurement.devices[device] = _device_measurement(model, device, context, baseline)
    model.measurement.status, model.measurement.reason = _model_status(model)


def _device_measurement(
    model: _Model, device: str, context: _Context, baseline: _Model | None
) -> DeviceMeasurement:
    outcomes = model.latency.get(device, [])
    memory_outcome = model.memory.get(device)
    latency = _latency_result(model, device, context, baseline) if _complete(model, device) else None
    memory = None
    if memory_outcome is not None and memory_outcome.ok:
        memory = memory_of(memory_outcome)
    generation = _generation_result(model, device, context, baseline) if latency is not None else None
    status, reason = _device_status(model, device)
    return DeviceMeasurement(
        device=device,
        status=status,
        reason=reason,
        load=_load_result(outcomes, memory_outcome),
        latency=latency,
        memory=memory,
        generation=generation,
        # onnxruntime on a GPU: who ran the nodes, even when that failed the phase (a CPU fallback)
        providers=list(memory_outcome.report.execution) if memory_outcome and memory_outcome.report else [],
    )


def _paired(baseline: _Model | None, model: _Model, device: str) -> bool:
    """Whether a speed-up of ``model`` over ``baseline`` on ``device`` can be formed."""
    return baseline is not None and baseline is not model and _complete(baseline, device)


def _generation_result(
    model: _Model, device: str, context: _Context, baseline: _Model | None
) -> GenerationResult | None:
    """The rounds' generation timings merged, like the forward latency's; or a `generation` phase
    result that says why there is none (said once: every round would say the same)."""
    if not context.generation:
        return None
    reports = [o.report for o in model.latency[device] if o.report is not None]
    broken = next((r for r in reports if r.generation is None), None)
    if broken is not None:
        failed = broken.generation_error_kind == "failed"
        model.phase(
            PhaseResult(
                phase="generation",
                device=device,
                status=Status.FAILED if failed else Status.NOT_MEASURABLE,
                reason=broken.generation_error or "the latency child reported no generation timing",
            )
        )
        return None
    timings = [r.generation for r in reports if r.generation is not None]
    first = timings[0]
    confidence = context.course.runner.speed.confidence
    tpot = [v for t in timings for v in t.tpot_ms]
    medians = _generation_medians(model, device)
    return GenerationResult(
        prompt_tokens=first.prompt_tokens,
        new_tokens=first.new_tokens,
        kv_cache=all(t.kv_cache for t in timings),
        time_to_first_token=Samples.of([v for t in timings for v in t.ttft_ms], "ms"),
        time_per_output_token=Samples.of(tpot, "ms/token"),
        ttft_rounds=[summarize(t.ttft_ms, "ms") for t in timings],
        tpot_rounds=[summarize(t.tpot_ms, "ms/token") for t in timings],
        repeats=first.repeats,
        noise_cv=robust_cv(tpot),
        round_numbers=list(model.round_numbers.get(device, [])),
        tpot_median=median_interval(list(medians.values()), confidence, "ms/token"),
        tpot_speedup=(
            ratio_interval(_generation_medians(baseline, device), medians, confidence)
            if baseline is not None and _paired(baseline, model, device)
            else None
        ),
    )


def _latency_result(model: _Model, device: str, context: _Context, baseline: _Model | None) -> LatencyResult:
    timings = [o.report.timing for o in model.latency[device] if o.report and o.report.timing]
    batch = context.course.runner.batch_size
    confidence = context.course.runner.speed.confidence
    rounds = [t.samples_ms for t in timings]
    samples = [s for r in rounds for s in r]
    medians = _forward_medians(model, device)
    return LatencyResult(
        batch_size=batch,
        samples=Samples.of(samples, "ms"),
        per_item=summarize([s / batch for s in samples], "ms/item"),
        rounds=[summarize(r, "ms") for r in rounds],
        warmup_iters=sum(t.warmup_iters for t in timings),
        warmup_s=sum(t.warmup_s for t in timings),
        stable=all(t.stable for t in timings),
        timer=timings[0].timer,
        noise_cv=robust_cv(samples),
        round_numbers=list(model.round_numbers.get(device, [])),
        round_info=list(model.round_info.get(device, [])),
        median=median_interval([m / batch for m in medians.values()], confidence, "ms/item"),
        speedup=(
            ratio_interval(_forward_medians(baseline, device), medians, confidence)
            if baseline is not None and _paired(baseline, model, device)
            else None
        ),
        stop_reason=model.stop_reason.get(device, ""),
    )


def memory_of(outcome: ChildOutcome) -> MemoryResult | None:
    """The graded memory figures of a finished memory child (None when it left no reading)."""
    report, info = outcome.report, outcome.exit
    if report is None or report.rss_before_load_bytes is None or info is None:
        return None
    try:
        result = memory_result(
            rss_before_load=report.rss_before_load_bytes,
            ru_maxrss=info.ru_maxrss_bytes,
            vmhwm=max(report.vmhwm_bytes or 0, info.hwm_seen_bytes or 0) or None,
        )
    except ValueError:
        return None
    return with_gpu_memory(result, report.gpu)  # VRAM figures of a GPU run, each labelled


def _load_result(latency: list[ChildOutcome], memory: ChildOutcome | None) -> LoadResult | None:
    """Load and first-call times from the latency children (they ran alone), else the memory child."""
    loaded = [o for o in latency if o.ok and o.report and o.report.load]
    if not loaded and memory is not None and memory.ok and memory.report and memory.report.load:
        loaded = [memory]
    if not loaded:
        return None
    reports = [o.report.load for o in loaded if o.report and o.report.load]
    first = reports[0]
    return LoadResult(
        load_s=statistics.median(r.load_s for r in reports),
        first_call_s=statistics.median(r.first_call_s for r in reports),
        build_s=first.build_s,
        as_run_bytes=first.as_run_bytes,
        providers=first.providers,
        notes=[*first.notes, f"each phase ran in a fresh process, {loaded[0].process}"],
    )


def _device_status(model: _Model, device: str) -> tuple[Status, str]:
    phases = [
        p for p in model.measurement.phases if p.device == device and p.phase in ("load", "memory", "latency")
    ]
    for wanted in (Status.FAILED, Status.NOT_MEASURABLE):
        for phase in phases:
            if phase.status is wanted:
                return wanted, f"{phase.phase}: {phase.reason}"
    return Status.OK, ""


def _model_status(model: _Model) -> tuple[Status, str]:
    """FAILED if anything broke, else NOT_MEASURABLE if nothing could run, else OK.

    A device that this runner lacks (no GPU) does not make the model NOT_MEASURABLE: that device's
    own status says so, and the figures of the other devices stand.
    """
    # Generation figures are supplementary: their own phase result (and the check of a per-token
    # claim) says why they are missing, while the model's other figures stand.
    phases = [p for p in model.measurement.phases if p.phase != "generation"]
    for phase in phases:
        if phase.status is Status.FAILED:
            where = f" on {phase.device}" if phase.device else ""
            return Status.FAILED, f"{phase.phase}{where}: {phase.reason}"
    for phase in phases:
        if phase.status is Status.NOT_MEASURABLE:
            where = f" on {phase.device}" if phase.device else ""
            return Status.NOT_MEASURABLE, f"{phase.phase}{where}: {phase.reason}"
    if not model.devices:
        reasons = {dm.reason for dm in model.measurement.devices.values() if dm.reason}
        return Status.NOT_MEASURABLE, "; ".join(sorted(reasons)) or model.measurement.reason
    return Status.OK, ""


def _observed_threads(models: list[_Model]) -> dict[str, int]:
    """What the runtimes reported after the children set them (torch_intra_op, ...), per backend."""
    out: dict[str, int] = {}
    for model in models:
        for outcome in [o for outcomes in model.latency.values() for o in outcomes]:
            if outcome.report:
                for name, value in outcome.report.threads.items():
                    if name.startswith(("torch_", "onnxruntime_")):
                        out.setdefault(name, value)
    return out


def _input_shapes(models: list[_Model]) -> dict[str, list[int]]:
    for model in models:
        for outcomes in [*model.latency.values(), list(model.memory.values())]:
            for outcome in outcomes:
                if outcome.report and outcome.report.input_shapes:
                    return dict(outcome.report.input_shapes)
    return {}


@contextlib.contextmanager
def _runner(given: Runner | None, work: Path, context: _Context, use_zygote: bool) -> Iterator[Runner]:
    if given is not None:
        yield given  # the caller closes it
        return
    with Runner(work, context.plan.env(), use_zygote=use_zygote) as runner:
        yield runner


@contextlib.contextmanager
def _work_dir(work_dir: Path | None) -> Iterator[Path]:
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
        yield work_dir
        return
    folder = Path(tempfile.mkdtemp(prefix="grader-measure-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
