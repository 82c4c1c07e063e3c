"""Reading a figure out of a ModelMeasurement, with its state and, when it is missing, why.

The harness reports every phase with a status; a figure can be missing because the model failed
to load, the device is absent on this runner, or the timing stayed noisy. A Reading carries the
value (base unit: bytes, seconds per item, metric scale) together with that state, so a check
never mistakes "not measured" for "off".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from grader.harness.models import DeviceMeasurement, LatencyResult, ModelMeasurement, PhaseResult, Status
from grader.harness.stats import Interval, Stats, median_interval, ratio_interval
from grader.messages import text as note_text
from grader.notes import Note


class State(StrEnum):
    OK = "ok"
    FAILED = "failed"
    NOT_MEASURABLE = "not_measurable"
    NOISY = "noisy"  # schema 1 documents: above the old noise gate: shown, never graded
    UNKNOWN_METRIC = "unknown_metric"  # the task does not report this metric
    UNMEASURED = "unmeasured"  # the task could not measure this metric for this model; its others stand


@dataclass(frozen=True)
class Reading:
    state: State
    value: float | None = None
    reason: str = ""  # why it is not OK, in the harness's words
    phase: str = ""  # the phase the reason comes from ("load", "latency", ...)
    source: str = ""  # which figure this is (a messages key under `source.`)
    cv: float | None = None
    available: tuple[str, ...] = ()  # UNKNOWN_METRIC: the metrics the task does report
    interval: Interval | None = None  # how well the value is known (a time: ms/item or ms/token)
    why: Note | None = None  # UNMEASURED: the harness's note of why (`reason` is its English text)

    @property
    def ok(self) -> bool:
        return self.state is State.OK and self.value is not None


_TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def seconds(stats: Stats) -> float:
    """The median of ``stats`` in seconds (the harness records milliseconds per call)."""
    factor = _TIME_UNITS.get(stats.unit.split("/")[0].strip())
    if factor is None:
        raise ValueError(f"unknown time unit {stats.unit!r} in a latency result")
    return stats.median * factor


def _phases(m: ModelMeasurement, phase: str, device: str | None) -> list[PhaseResult]:
    return [p for p in m.phases if p.phase == phase and (device is None or p.device in (device, None))]


def _explain(m: ModelMeasurement, device: str | None, wanted: str) -> Reading | None:
    """Why a figure is missing: the first phase that broke on the way to it (a failure before
    a "not measurable"), else the model's own status, else a skipped phase's reason."""
    order = ["fetch", "load", wanted] if wanted != "size" else ["fetch", "size"]
    for bad in (Status.FAILED, Status.NOT_MEASURABLE):
        for phase in order:
            for result in _phases(m, phase, device):
                if result.status is bad:
                    state = State.FAILED if bad is Status.FAILED else State.NOT_MEASURABLE
                    reason = _phase_reason(result) if bad is Status.FAILED else result.reason
                    return Reading(state, reason=reason or "not measurable here", phase=phase)
    if m.status is Status.FAILED:
        return Reading(State.FAILED, reason=m.reason or "the model could not be measured", phase="model")
    if m.status is Status.NOT_MEASURABLE:
        return Reading(State.NOT_MEASURABLE, reason=m.reason or "not measurable here", phase="model")
    for result in _phases(m, wanted, device):
        if result.status is Status.SKIPPED:
            return Reading(State.NOT_MEASURABLE, reason=result.reason or "skipped", phase=wanted)
    return None


def _failure(m: ModelMeasurement, device: str | None, wanted: str) -> Reading:
    where = f" on {device}" if device else ""
    generic = Reading(State.FAILED, reason=f"the harness reported no {wanted} result{where}", phase=wanted)
    return _explain(m, device, wanted) or generic


def _phase_reason(result: PhaseResult) -> str:
    reason = result.reason or "failed"
    if result.signal:
        reason += f" (signal {result.signal})"
    elif result.exit_code not in (None, 0):
        reason += f" (exit code {result.exit_code})"
    return reason


def _device(m: ModelMeasurement, device: str) -> tuple[DeviceMeasurement | None, Reading | None]:
    dm = m.devices.get(device)
    if dm is None:  # the runner did not try this device at all (e.g. devices: [cpu])
        explained = _explain(m, device, "load")
        absent = Reading(State.NOT_MEASURABLE, reason=f"this runner does not measure on {device}")
        return None, explained or absent
    if dm.status is Status.NOT_MEASURABLE:
        return None, Reading(
            State.NOT_MEASURABLE, reason=dm.reason or f"no {device} on this runner", phase="load"
        )
    return dm, None


def _device_failure(m: ModelMeasurement, dm: DeviceMeasurement, device: str, wanted: str) -> Reading:
    """Why a device produced no ``wanted`` figure: the phases tell, else the device's own reason
    (a device that failed as a whole failed to load the model)."""
    explained = _explain(m, device, wanted)
    if explained is not None:
        return explained
    if dm.status is Status.FAILED and dm.reason:
        return Reading(State.FAILED, reason=dm.reason, phase="load")
    return _failure(m, device, wanted)


def size_reading(m: ModelMeasurement) -> Reading:
    """Bytes of the files that hold the weights, or, for a runtime transform, the bytes the
    weights take as the grader runs them (the files stay fp32; the transform happens at load)."""
    if m.transform:
        for device in _load_order(m):
            load = m.devices[device].load
            if load is not None and load.as_run_bytes is not None:
                return Reading(State.OK, float(load.as_run_bytes), source="as_run")
        if any(dm.load is not None for dm in m.devices.values()):
            return Reading(
                State.FAILED,
                reason=f"the backend did not report the weights' size after `{m.transform}`",
                phase="load",
                source="as_run",
            )
        failure = _failure(m, None, "load")
        return Reading(failure.state, reason=failure.reason, phase=failure.phase, source="as_run")
    if m.size is not None:
        return Reading(State.OK, float(m.size.weights_bytes), source="weights_files")
    failure = _failure(m, None, "size")
    return Reading(failure.state, reason=failure.reason, phase=failure.phase, source="weights_files")


def _load_order(m: ModelMeasurement) -> list[str]:
    return sorted(m.devices, key=lambda d: (d != "cpu", d))


def latency_reading(m: ModelMeasurement, device: str) -> Reading:
    """Median time per item on ``device``, from the interleaved rounds."""
    dm, missing = _device(m, device)
    if missing is not None:
        return missing
    assert dm is not None
    latency = dm.latency
    noisy = dm.status is Status.NOISY or any(p.status is Status.NOISY for p in _phases(m, "latency", device))
    if latency is None:
        return _device_failure(m, dm, device, "latency")
    interval = latency_interval(latency)
    value = interval.estimate / 1000.0 if interval is not None else seconds(latency.per_item)
    if noisy:
        reason = next((p.reason for p in _phases(m, "latency", device) if p.status is Status.NOISY), "")
        return Reading(
            State.NOISY, value, reason=reason or dm.reason, phase="latency", cv=latency.per_item.cv
        )
    return Reading(State.OK, value, source="median_per_item", cv=latency.per_item.cv, interval=interval)


CONFIDENCE_OF_OLD_DOCUMENTS = 0.95


def latency_interval(latency: LatencyResult) -> Interval | None:
    """The median time per item with its interval (ms/item); computed from the round medians
    for a schema-1 measurement, which did not store it."""
    if latency.median is not None:
        return latency.median
    medians = [r.median / latency.batch_size for r in latency.rounds]
    return median_interval(medians, CONFIDENCE_OF_OLD_DOCUMENTS, "ms/item")


def _round_medians(latency: LatencyResult) -> dict[int, float]:
    """Round number → median time per item (schema 1 numbered its rounds in order)."""
    numbers = latency.round_numbers or list(range(1, len(latency.rounds) + 1))
    return {n: r.median / latency.batch_size for n, r in zip(numbers, latency.rounds, strict=False)}


def speedup_reading(m: ModelMeasurement, base: ModelMeasurement, device: str, *, per_token: bool) -> Reading:
    """The speed-up of ``m`` over ``base`` on ``device`` (forward latency per item, or time per
    output token), with its interval paired by round; a missing figure says why."""
    own = generation_reading(m, device) if per_token else latency_reading(m, device)
    if not own.ok:
        return own
    theirs = generation_reading(base, device) if per_token else latency_reading(base, device)
    if not theirs.ok:
        return Reading(
            theirs.state, reason=theirs.reason, phase=theirs.phase, cv=theirs.cv, source="baseline"
        )
    assert own.value is not None and theirs.value is not None
    interval = _stored_speedup(m, device, per_token) or _paired_interval(m, base, device, per_token)
    value = interval.estimate if interval is not None else theirs.value / own.value
    return Reading(State.OK, value, source="ratio", cv=own.cv, interval=interval)


def _stored_speedup(m: ModelMeasurement, device: str, per_token: bool) -> Interval | None:
    dm = m.devices.get(device)
    if dm is None:
        return None
    if per_token:
        return dm.generation.tpot_speedup if dm.generation is not None else None
    return dm.latency.speedup if dm.latency is not None else None


def _paired_interval(
    m: ModelMeasurement, base: ModelMeasurement, device: str, per_token: bool
) -> Interval | None:
    """Schema 1 (or a baseline measured in another run): pair the rounds by their numbers."""
    own, theirs = m.devices.get(device), base.devices.get(device)
    if own is None or theirs is None:
        return None
    if per_token:
        if own.generation is None or theirs.generation is None:
            return None
        mine = _token_medians(own.generation.tpot_rounds, own.generation.round_numbers)
        other = _token_medians(theirs.generation.tpot_rounds, theirs.generation.round_numbers)
        return ratio_interval(other, mine, CONFIDENCE_OF_OLD_DOCUMENTS)
    if own.latency is None or theirs.latency is None:
        return None
    return ratio_interval(
        _round_medians(theirs.latency), _round_medians(own.latency), CONFIDENCE_OF_OLD_DOCUMENTS
    )


def _token_medians(rounds: list[Stats], numbers: list[int]) -> dict[int, float]:
    numbers = numbers or list(range(1, len(rounds) + 1))
    return {n: r.median for n, r in zip(numbers, rounds, strict=False)}


def generation_reading(m: ModelMeasurement, device: str) -> Reading:
    """Median time per output token on ``device`` (greedy generation with the KV cache, causal-lm),
    from the interleaved rounds; seconds per token."""
    dm, missing = _device(m, device)
    if missing is not None:
        return missing
    assert dm is not None
    generation = dm.generation
    own = _phases(m, "generation", device)
    if generation is None:
        for bad in (Status.FAILED, Status.NOT_MEASURABLE):
            for result in own:
                if result.status is bad:
                    state = State.FAILED if bad is Status.FAILED else State.NOT_MEASURABLE
                    return Reading(state, reason=result.reason or "not measurable here", phase="generation")
        if dm.latency is None:  # generation runs inside the latency children
            return _device_failure(m, dm, device, "latency")
        return Reading(
            State.NOT_MEASURABLE,
            reason="the harness timed no generation for this model (the course sets no new tokens)",
            phase="generation",
        )
    stats = generation.time_per_output_token.stats
    interval = generation.tpot_median
    value = interval.estimate / 1000.0 if interval is not None else seconds(stats)
    noisy = next((p for p in own if p.status is Status.NOISY), None)
    if noisy is not None:
        return Reading(State.NOISY, value, reason=noisy.reason, phase="generation", cv=stats.cv)
    return Reading(State.OK, value, source="time_per_output_token", cv=stats.cv, interval=interval)


# VRAM: the first figure the run has, in this order. NVML's per-process figure is what
# nvidia-smi shows a student (CUDA context included, whatever the runtime); the torch allocator
# peaks exist only for PyTorch backends; the device delta is the fallback for everything else.
_VRAM_SOURCES = (
    "nvml_process_bytes",
    "torch_peak_reserved_bytes",
    "torch_peak_allocated_bytes",
    "nvml_device_delta_bytes",
)


def memory_reading(m: ModelMeasurement, metric: str) -> Reading:
    """ram: peak RSS above the interpreter's own (cpu run); vram: the GPU figure (cuda run)."""
    device = "cpu" if metric == "ram" else "cuda"
    dm, missing = _device(m, device)
    if missing is not None:
        return missing
    assert dm is not None
    memory = dm.memory
    if memory is None:
        return _device_failure(m, dm, device, "memory")
    if metric == "ram":
        return Reading(State.OK, float(memory.peak_above_interpreter_bytes), source="rss_above_interpreter")
    for name in _VRAM_SOURCES:
        value = getattr(memory, name)
        if value is not None:
            return Reading(State.OK, float(value), source=name.removesuffix("_bytes"))
    return Reading(State.FAILED, reason="the cuda run reported no GPU memory figure", phase="memory")


def quality_reading(m: ModelMeasurement, metric: str) -> Reading:
    quality = m.quality
    if quality is None:
        return _failure(m, None, "quality")
    why = quality.unmeasured.get(metric)
    if why is not None:
        return Reading(State.UNMEASURED, reason=note_text(why), phase="quality", why=why)
    if metric not in quality.metrics:
        return Reading(
            State.UNKNOWN_METRIC,
            reason=f"the task reports {', '.join(sorted(quality.metrics))}, not {metric}",
            phase="quality",
            available=tuple(sorted(quality.metrics)),
        )
    return Reading(State.OK, float(quality.metrics[metric]), source=f"quality:{quality.dataset}")


def phase_problems(m: ModelMeasurement) -> list[str]:
    """Every phase that did not run cleanly, in words, for the record."""
    problems = []
    if m.status in (Status.FAILED, Status.NOT_MEASURABLE) and m.reason:
        problems.append(f"{m.status.value}: {m.reason}")
    if m.quality is not None:
        problems += [
            f"quality: {name} not measured: {note_text(why)}"
            for name, why in sorted(m.quality.unmeasured.items())
        ]
    for p in m.phases:
        if p.status in (Status.FAILED, Status.NOT_MEASURABLE, Status.NOISY):
            where = f" on {p.device}" if p.device else ""
            rnd = f" (round {p.round})" if p.round is not None else ""
            problems.append(f"{p.phase}{where}{rnd}: {p.status.value}: {_phase_reason(p)}")
    for name, dm in sorted(m.devices.items()):
        if dm.status in (Status.FAILED, Status.NOT_MEASURABLE) and dm.reason:
            text = f"{name}: {dm.status.value}: {dm.reason}"
            if not any(dm.reason in problem for problem in problems):
                problems.append(text)
    return problems
