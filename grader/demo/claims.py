"""What the demo teams measured on their own machine, before they opened their PRs.

A team measures each model once, quickly, and writes the numbers into its manifest the way
students write them (`0.28 MB`, `0.91 ms`, `97.8%`). Here that measurement runs in this process
with the grader's own building blocks, so the honest claims land inside the course's tolerances:

- size: the bytes of the weight files (`du`), or, for a model the grader converts at load time
  (`transform: dynamic-int8`), the bytes its weights take after the conversion;
- accuracy: the grader's image-classification task on the course's eval set;
- latency: timed in fresh latency children of the grader's own harness, with the course's
  thread count, in rounds that time every model turn by turn, until each speed-up is known to
  ±5 % (a model leaves the rounds once its own is): the baseline's
  figure, and each model's time such that its speed-up over the baseline is the one measured pair
  by pair in those rounds, as a team that ran `grader grade` before pushing has it;
- RAM: peak RSS above the interpreter in a fresh process, the one figure a running process
  cannot measure about itself, so it comes from one measurement child per model.

Rounding is honest: each figure is written with as few digits as keep it well inside the
tolerance the course checks it with.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from grader.course.model import Course
from grader.demo.models import ModelSet, quiet_transformers

if TYPE_CHECKING:
    from grader.harness.backends.base import Backend, LoadSpec
    from grader.harness.jobs import Limits, Phase, PhaseJob
    from grader.harness.runner import ChildOutcome, Runner
    from grader.harness.tasks.base import EvalData, Task

WEIGHT_SUFFIXES = (".safetensors", ".onnx", ".data")
TASK = "image-classification"
# A careful team times its models in the grader's rounds until each speed-up is known to ±5 %
# (on a quiet machine, the grader's minimum of six rounds already does it), or at most 10 rounds:
# on a busy shared host a round of all eight models costs 5-6 s, and the six rounds past the tenth
# that 16 allowed cost the demo half a minute while they moved no estimate by more than 5 %.
TEAM_MIN_ROUNDS = 6
TEAM_MAX_ROUNDS = 10
TEAM_PRECISION = 0.05
PARALLEL_MEMORY_CHILDREN = 2


@dataclass(frozen=True)
class ModelRef:
    """One model as the grader loads it: a factory folder, its format, and any load-time transform."""

    variant: str
    format: str = "safetensors"
    transform: str | None = None

    @property
    def label(self) -> str:
        return self.variant + (f"+{self.transform}" if self.transform else "")


@dataclass(frozen=True)
class Figures:
    size_bytes: int
    latency_s: float | None  # median per item at the course's batch size; None if no round timed
    accuracy: float
    ram_bytes: int | None  # None when the fresh-process run failed (the claim is left out)


def weight_files_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES)


def measure_figures(
    refs: Iterable[ModelRef],
    models: ModelSet,
    course: Course,
    repo_root: Path,
    *,
    runner: Runner | None = None,
) -> dict[ModelRef, Figures]:
    """Measure every distinct model once (see the module docstring). ``runner`` runs the RAM
    children and the latency rounds; pass one from `demo_runner` started early so its imports overlap
    other work."""
    from grader.harness.data import load_eval_data

    unique = list(dict.fromkeys(refs))
    with contextlib.ExitStack() as stack:
        runner = runner or stack.enter_context(demo_runner(course, unique))
        ram = _ram_in_fresh_processes(unique, models, course, runner)
        latency = _latency_in_fresh_processes(unique, models, course, runner)
    data = load_eval_data(course.tasks[TASK].dataset, course, repo_root)
    with _threads(course), quiet_transformers(), contextlib.ExitStack() as loaded:
        backends = {ref: loaded.enter_context(_load(ref, models, course)) for ref in unique}
        sizes = {ref: _size(ref, models, backends[ref]) for ref in unique}
        accuracy = {ref: _accuracy(ref, models, course, backends[ref], data) for ref in unique}
    return {
        ref: Figures(
            size_bytes=sizes[ref],
            latency_s=latency.get(ref),
            accuracy=accuracy[ref],
            ram_bytes=ram.get(ref),
        )
        for ref in unique
    }


@contextlib.contextmanager
def demo_runner(course: Course, refs: Iterable[ModelRef]) -> Iterator[Runner]:
    """A measurement-child runner with the zygotes for ``refs``' backends already starting: the
    teams' measurements and the grader's use the same warm zygotes, as one job grading several
    submissions does, instead of importing torch again for every pull request."""
    from grader.harness.backends import BACKENDS, FORMAT_BACKENDS
    from grader.harness.environment import ThreadPlan
    from grader.harness.runner import Runner

    plan = ThreadPlan.from_course(course.runner.threads)
    with (
        tempfile.TemporaryDirectory(prefix="grader-demo-ram-") as work,
        Runner(Path(work), plan.env()) as runner,
    ):
        preloads = {tuple(BACKENDS.load(FORMAT_BACKENDS[r.format]).preload) for r in refs}
        runner.prestart(preloads | {shared_preload(refs)})
        yield runner


def _spec(ref: ModelRef, models: ModelSet, course: Course) -> LoadSpec:
    from grader.harness.backends.base import LoadSpec
    from grader.harness.environment import ThreadPlan

    plan = ThreadPlan.from_course(course.runner.threads)
    return LoadSpec(
        model_dir=models.folder(ref.variant),
        format=ref.format,
        transform=ref.transform,
        task=TASK,
        intra_op_threads=plan.intra_op,
        inter_op_threads=plan.inter_op,
    )


def _load(ref: ModelRef, models: ModelSet, course: Course) -> Backend:
    from grader.harness.backends import BACKENDS, FORMAT_BACKENDS

    return BACKENDS.load(FORMAT_BACKENDS[ref.format])(_spec(ref, models, course))


def _task(ref: ModelRef, models: ModelSet, course: Course) -> Task:
    from grader.harness.tasks import TASKS

    return TASKS.load(TASK)(models.folder(ref.variant), dict(course.tasks[TASK].params))


def _size(ref: ModelRef, models: ModelSet, backend: Backend) -> int:
    if ref.transform:  # the files stay fp32; what counts is what the weights take once converted
        return int(backend.info.as_run_bytes or 0)
    return weight_files_bytes(models.folder(ref.variant))


def _accuracy(ref: ModelRef, models: ModelSet, course: Course, backend: Backend, data: EvalData) -> float:
    task = _task(ref, models, course)
    return float(task.evaluate(backend, data, course.runner.batch_size)[task.primary])


def _latency_in_fresh_processes(
    refs: list[ModelRef], models: ModelSet, course: Course, runner: Runner
) -> dict[ModelRef, float]:
    """Seconds per item, timed as a careful team does that ran the grader's harness before
    pushing (the README's `grader grade`): rounds of one fresh latency child that times every
    model turn by turn (A B C, then C B A), a model leaving the rounds once its speed-up over the
    baseline (``refs[0]``, which every demo team starts from) is known to ±TEAM_PRECISION, and
    each model's time written so that its speed-up is the one its rounds measured, pair by pair.
    Timed in this process instead, a model's time would carry this process's state (allocator,
    caches, the other models loaded beside it since the accuracy runs)."""
    from grader.harness.affinity import keep_off, latency_cpu
    from grader.harness.environment import ThreadPlan
    from grader.harness.stats import median_interval, ratio_interval, round_figure

    plan = ThreadPlan.from_course(course.runner.threads)
    cpu = latency_cpu(plan.intra_op, course.runner.pin_cpu)
    confidence = course.runner.speed.confidence
    figures_ms: dict[ModelRef, dict[int, float]] = {ref: {} for ref in refs}
    with keep_off(cpu):
        for round_ in range(TEAM_MAX_ROUNDS):
            timing = [refs[0], *_speedups_unknown(figures_ms, refs, confidence, round_)]
            if len(timing) == 1:
                break
            turns = timing if round_ % 2 == 0 else timing[::-1]
            outcomes = _run_round(turns, models, course, runner, cpu, shared_preload(refs))
            for ref, outcome in zip(turns, outcomes, strict=True):
                report = outcome.report if outcome.ok else None
                if report is not None and report.timing is not None and report.timing.samples_ms:
                    figures_ms[ref][round_] = round_figure(report.timing.samples_ms)
    base = refs[0]
    if not figures_ms[base]:
        return {}
    latency = median_interval(list(figures_ms[base].values()), confidence, "ms")
    base_ms = latency.estimate if latency is not None else next(iter(figures_ms[base].values()))
    base_s = base_ms / 1000.0 / course.runner.batch_size
    out = {base: base_s}
    for ref in refs[1:]:
        speedup = ratio_interval(figures_ms[base], figures_ms[ref], confidence)
        if speedup is not None:
            out[ref] = base_s / speedup.estimate
    return out


def _speedups_unknown(
    figures_ms: dict[ModelRef, dict[int, float]], refs: list[ModelRef], confidence: float, rounds: int
) -> list[ModelRef]:
    """The models (not the baseline, ``refs[0]``) whose speed-up is not yet known to within
    TEAM_PRECISION; all of them before TEAM_MIN_ROUNDS rounds."""
    from grader.harness.stats import ratio_interval

    if rounds < TEAM_MIN_ROUNDS:
        return list(refs[1:])
    unknown = []
    for ref in refs[1:]:
        speedup = ratio_interval(figures_ms[refs[0]], figures_ms[ref], confidence)
        if speedup is None or speedup.half_width > TEAM_PRECISION:
            unknown.append(ref)
    return unknown


def _run_round(
    refs: list[ModelRef],
    models: ModelSet,
    course: Course,
    runner: Runner,
    cpu: int | None,
    preload: tuple[str, ...],
) -> list[ChildOutcome]:
    """One round: a child that times ``refs`` turn by turn (the grader's shared round); alone, one
    child each, when that child left no report of every model."""
    from grader.harness.measure import shared_limits
    from grader.harness.runner import split_shared

    jobs = [_job(ref, "latency", models, course, cpu) for ref in refs]
    limits = shared_limits(_limits(course), len(refs))
    job = jobs[0].model_copy(update={"peers": jobs[1:]})
    outcome = runner.run(job, limits, preload=preload, label=f"demo-round-{len(refs)}-models")
    split = split_shared(outcome, len(refs), limits)
    if split is not None:
        return split
    return [_run_job(ref, "latency", models, course, runner, cpu=cpu) for ref in refs]


def _run_job(
    ref: ModelRef, phase: Phase, models: ModelSet, course: Course, runner: Runner, *, cpu: int | None = None
) -> ChildOutcome:
    """One measurement child of the grader's own kind for ``ref``."""
    job = _job(ref, phase, models, course, cpu)
    return runner.run(job, _limits(course), preload=_preload(ref), label=f"demo-{ref.label}-{phase}")


def _job(ref: ModelRef, phase: Phase, models: ModelSet, course: Course, cpu: int | None) -> PhaseJob:
    from grader.harness.backends import FORMAT_BACKENDS
    from grader.harness.jobs import PhaseJob

    settings = course.runner
    spec = _spec(ref, models, course)
    return PhaseJob(
        phase=phase,
        backend=FORMAT_BACKENDS[ref.format],
        model_dir=str(spec.model_dir),
        format=ref.format,
        transform=ref.transform,
        task=TASK,
        task_params=dict(course.tasks[TASK].params),
        batch_size=settings.batch_size,
        intra_op_threads=spec.intra_op_threads,
        inter_op_threads=spec.inter_op_threads,
        seed=settings.seed,
        latency=settings.latency,
        cpu=cpu,
        result_path="",  # the runner puts it in its work folder
    )


def _limits(course: Course) -> Limits:
    from grader.harness.jobs import Limits
    from grader.harness.memory import MIB

    limits = course.runner.limits
    return Limits(timeout_s=limits.phase_timeout_s, memory_bytes=limits.memory_mib * MIB)


def shared_preload(refs: Iterable[ModelRef]) -> tuple[str, ...]:
    """The modules of a shared round's zygote: every model's backend's, once, in one fixed order
    (a zygote is kept per preload tuple)."""
    return tuple(dict.fromkeys(module for ref in refs for module in _preload(ref)))


def _preload(ref: ModelRef) -> tuple[str, ...]:
    from grader.harness.backends import BACKENDS, FORMAT_BACKENDS

    return tuple(BACKENDS.load(FORMAT_BACKENDS[ref.format]).preload)


def _ram_in_fresh_processes(
    refs: list[ModelRef], models: ModelSet, course: Course, runner: Runner
) -> dict[ModelRef, int]:
    from grader.harness.measure import memory_of

    def run(ref: ModelRef) -> tuple[ModelRef, int | None]:
        outcome = _run_job(ref, "memory", models, course, runner)
        # The grader's own reading of a memory child, so the team's figure means what the grader's does.
        result = memory_of(outcome) if outcome.ok else None
        return ref, result.peak_above_interpreter_bytes if result is not None else None

    with ThreadPoolExecutor(max_workers=PARALLEL_MEMORY_CHILDREN) as pool:
        return {ref: value for ref, value in pool.map(run, refs) if value is not None}


@contextlib.contextmanager
def _threads(course: Course) -> Iterator[None]:
    """torch runs with the course's thread count while timing, as in the measurement children."""
    import torch

    from grader.harness.environment import ThreadPlan

    before = torch.get_num_threads()
    torch.set_num_threads(ThreadPlan.from_course(course.runner.threads).intra_op)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# --- written the way students write them ---------------------------------------------------------


def size_text(n_bytes: float, within: float = 0.005) -> str:
    """`0.28 MB`, or `77.1 kB` when two decimals of a megabyte would be more than ``within`` off."""
    for value, unit, digits in ((n_bytes / 1e6, "MB", 2), (n_bytes / 1e3, "kB", 0), (n_bytes / 1e3, "kB", 1)):
        text = f"{value:.{digits}f}"
        if float(text) > 0 and abs(float(text) - value) <= within * value:
            return f"{text} {unit}"
    return f"{n_bytes / 1e3:.2f} kB"


def latency_text(seconds: float) -> str:
    """Three significant figures in milliseconds: `0.912 ms`, `0.0431 ms`, `12.3 ms`."""
    ms = seconds * 1000.0
    digits = max(0, 2 - math.floor(math.log10(ms))) if ms > 0 else 2
    return f"{ms:.{digits}f} ms"


def memory_text(n_bytes: float) -> str:
    mib = n_bytes / 2**20
    return f"{mib:.0f} MiB" if mib >= 10 else f"{mib:.1f} MiB"


def accuracy_text(fraction: float) -> str:
    return f"{fraction * 100:.1f}%"
