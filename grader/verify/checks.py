"""One MetricCheck per (model, metric): the claim against what the harness measured.

Statuses (MetricStatus): reproduced / off / not_claimed / not_measurable / unverifiable / failed
/ inconclusive. How each metric is compared:

- size: strict tolerance against the weight files' bytes, or against the weights as run when
  the entry has a `transform` (the grader converts at load time; the files stay fp32).
- latency_cpu / latency_gpu: an absolute time from the team's hardware cannot be verified. When
  the baseline's time is claimed too, the claimed speed-up (baseline claim / model claim) is
  checked against the measured one (same run, interleaved) with the speed-up tolerance;
  otherwise unverifiable, with the runner's figure shown. One rule, two units of work: a claim
  per item (or per batch) is read against the median time per item of a forward pass; a claim
  per token, on a task that generates tokens (causal-lm), against the median time per output
  token of greedy generation. A speed-up is formed only from two claims in the same unit; a
  per-token claim on any other task never compares.
- speedup_cpu / speedup_gpu: baseline median / model median, speed-up tolerance.

Every speed-up is judged on its confidence interval (paired rounds, grader.harness.stats), not on
the point estimate: the whole interval inside the claim's tolerance band → reproduced, wholly
outside → off, across the band's edge (after the course's whole speed budget) → inconclusive,
shown with its interval and never graded.
- compression: baseline size / model size (the graded sizes), speed-up tolerance.
- ram / vram: memory tolerance.
- quality.<metric>: quality tolerance, in the metric's own scale.

A figure that is missing is never "off": it is failed, not measurable or inconclusive, with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from grader.course.model import IntervalVerdict, Tolerance, Tolerances
from grader.harness.models import ModelMeasurement, RoundInfo
from grader.messages import note, text
from grader.validate.document import ParsedClaim, ValidatedEntry, claim_seconds
from grader.verify import formatting as fmt
from grader.verify.models import MetricCheck, MetricStatus, Note, QualityMetricInfo
from grader.verify.readings import (
    Reading,
    State,
    generation_reading,
    latency_reading,
    memory_reading,
    quality_reading,
    size_reading,
    speedup_reading,
)

UNITS = {"size": "B", "memory": "B", "time": "s", "ratio": "x", "score": ""}
DEVICES = {"latency_cpu": "cpu", "latency_gpu": "cuda", "speedup_cpu": "cpu", "speedup_gpu": "cuda"}


@dataclass
class Subject:
    """One entry of the submission with what was measured for it."""

    entry: ValidatedEntry
    measurement: ModelMeasurement | None
    claims: dict[str, ParsedClaim] = field(default_factory=dict)
    withheld: str | None = None  # its quality is on this private set, left out until the deadline

    @property
    def is_baseline(self) -> bool:
        return self.entry.is_baseline

    @classmethod
    def of(cls, entry: ValidatedEntry, measurement: ModelMeasurement | None) -> Subject:
        return cls(entry, measurement, {c.metric: c for c in entry.claims})


@dataclass
class Context:
    tolerances: Tolerances
    baseline: Subject | None
    quality: dict[str, QualityMetricInfo]
    required: set[str]  # check metrics the homework requires ("size", "latency_cpu", "quality.x", ...)
    per_token: bool = False  # the task generates tokens: per-token latency claims compare (causal-lm)
    withheld_until: str = ""  # the deadline private figures wait for ("": none set yet)


_NOT_REPORTED = Reading(State.FAILED, reason="the harness has no result for this model", phase="model")


def read(subject: Subject, metric: str) -> Reading:
    """The harness's figure for ``metric`` of ``subject`` (not the ratios)."""
    m = subject.measurement
    if m is None:
        return _NOT_REPORTED
    if metric == "size":
        return size_reading(m)
    if metric in ("latency_cpu", "latency_gpu"):
        return latency_reading(m, DEVICES[metric])
    if metric in ("ram", "vram"):
        return memory_reading(m, metric)
    if metric.startswith("quality."):
        return quality_reading(m, metric.split(".", 1)[1])
    raise ValueError(f"no reading for {metric!r}")


# --- the common part ---------------------------------------------------------------------------


def _base(metric: str, claim: ParsedClaim | None, reading: Reading | None, ctx: Context) -> dict:
    return {
        "metric": metric,
        "unit": UNITS[fmt.metric_kind(metric)],
        "claimed_raw": claim.raw if claim else None,
        "claimed": claim.value if claim else None,
        "measured": reading.value if reading else None,
        "source": reading.source if reading else "",
        "cv": reading.cv if reading else None,
        "interval": reading.interval if reading else None,
        "required": metric in ctx.required,
    }


def _make(
    status: MetricStatus, fields: dict, reason: Note | None = None, hint: Note | None = None
) -> MetricCheck:
    return MetricCheck(
        status=status,
        reason=text(reason),
        hint=text(hint),
        reason_note=reason,
        hint_note=hint,
        **fields,
    )


def _not_ok(reading: Reading, fields: dict, ctx: Context) -> MetricCheck:
    """The check for a figure the harness could not give (or gave too noisy to grade)."""
    if reading.state is State.NOISY:  # a schema-1 measurement, graded by the old noise gate
        cv = fmt.percent(reading.cv) if reading.cv is not None else "?"
        return _make(MetricStatus.INCONCLUSIVE, fields, note("reason.noisy", cv=cv))
    if reading.state is State.NOT_MEASURABLE:
        return _make(MetricStatus.NOT_MEASURABLE, fields, note("reason.not_measurable", text=reading.reason))
    if reading.state is State.UNKNOWN_METRIC:
        return _make(MetricStatus.UNVERIFIABLE, fields, _unknown_metric_note(fields["metric"], reading))
    if reading.state is State.UNMEASURED:
        return _unmeasured(reading, fields)
    return _make(
        MetricStatus.FAILED,
        fields,
        note("reason.failed", phase=f"@phase.{reading.phase}", text=reading.reason),
    )


def _unmeasured(reading: Reading, fields: dict) -> MetricCheck:
    """A metric the task could not measure for this model while its others stand (causal-lm's BLEU
    of a model that cannot generate): a claim of it cannot be verified, which fails nothing; left
    unclaimed, it is not measurable."""
    why = reading.why
    assert why is not None  # quality_reading gives every UNMEASURED reading its note
    metric = f"@{fields['metric']}"  # @quality.<name>: the metric's label, in the reader's language
    if fields["claimed_raw"] is None:
        return _make(
            MetricStatus.NOT_MEASURABLE, fields, note("reason.metric_unmeasured", metric=metric, why=why)
        )
    return _make(
        MetricStatus.UNVERIFIABLE,
        fields,
        note("reason.metric_unmeasured_claim", claim=fields["claimed_raw"], metric=metric, why=why),
    )


def withheld_note(dataset: str, until: str) -> Note:
    if until:
        return note("reason.withheld", dataset=dataset, until=until)
    return note("reason.withheld_open", dataset=dataset)


def _unknown_metric_note(metric: str, reading: Reading) -> Note:
    return note(
        "reason.unknown_metric", metric=metric.split(".", 1)[1], available=", ".join(reading.available)
    )


def compare(
    metric: str,
    claim: ParsedClaim | None,
    reading: Reading,
    tolerance: Tolerance,
    ctx: Context,
    *,
    bounded: bool | None = None,
    hint: Callable[[ParsedClaim, float], Note | None] | None = None,
) -> MetricCheck:
    """The plain comparison of a claimed value with a measured one, within ``tolerance``."""
    fields = _base(metric, claim, reading, ctx)
    fields["tolerance"] = fmt.tolerance_text(tolerance, metric)
    if not reading.ok:
        return _not_ok(reading, fields, ctx)
    assert reading.value is not None
    if claim is None:
        return _make(MetricStatus.NOT_CLAIMED, fields)
    return _judge(
        metric, claim.value, reading.value, tolerance, fields, bounded=bounded, hint=hint, claim=claim
    )


def _judge(
    metric: str,
    claimed: float,
    measured: float,
    tolerance: Tolerance,
    fields: dict,
    *,
    bounded: bool | None,
    hint: Callable[[ParsedClaim, float], Note | None] | None,
    claim: ParsedClaim,
) -> MetricCheck:
    fields["difference"] = measured - claimed
    fields["relative"] = (claimed - measured) / measured if measured else None
    if tolerance.accepts(claimed, measured):
        return _make(MetricStatus.REPRODUCED, fields)
    delta = fmt.percent((measured - claimed) / claimed, signed=True) if claimed else "—"
    if fmt.metric_kind(metric) == "score":
        delta = fmt.score_delta(measured - claimed, bounded=bounded)
    reason = note(
        "reason.off",
        claimed=claim.raw,
        measured=fmt.figure(metric, measured, bounded=bounded),
        delta=delta,
        tolerance=fields["tolerance"],
    )
    return _make(MetricStatus.OFF, fields, reason, hint(claim, measured) if hint else None)


# --- size --------------------------------------------------------------------------------------

_DECIMAL_TO_BINARY = {"kB": ("KiB", 1e3, 2.0**10), "MB": ("MiB", 1e6, 2.0**20), "GB": ("GiB", 1e9, 2.0**30)}
_BINARY_TO_DECIMAL = {b: (d, bf, df) for d, (b, df, bf) in _DECIMAL_TO_BINARY.items()}


def binary_units_hint(claim: ParsedClaim, measured: float, tolerance: Tolerance) -> Note | None:
    """`418 MB` for a file of 417.7 MiB: the number is right, the unit is the other kind."""
    if claim.unit in _DECIMAL_TO_BINARY:
        other, factor, other_factor = _DECIMAL_TO_BINARY[claim.unit]
    elif claim.unit in _BINARY_TO_DECIMAL:
        other, factor, other_factor = _BINARY_TO_DECIMAL[claim.unit]
    else:
        return None
    number = claim.value / factor
    if not tolerance.accepts(number * other_factor, measured):
        return None
    in_other = f"{measured / other_factor:.1f} {other}"
    in_same = f"{measured / factor:.1f} {claim.unit}"
    return note(
        "hint.binary_units",
        claim=claim.raw,
        other_unit=other,
        measured_other=in_other,
        suggest_other=in_other,
        suggest_same=in_same,
    )


def _close(a: float, b: float, rel: float = 0.10) -> bool:
    return abs(a - b) <= rel * abs(b)


def size_hint(subject: Subject, tolerance: Tolerance) -> Callable[[ParsedClaim, float], Note | None]:
    def hint(claim: ParsedClaim, measured: float) -> Note | None:
        found = binary_units_hint(claim, measured, tolerance)
        if found:
            return found
        m = subject.measurement
        report = m.size if m else None
        if (
            m is not None
            and m.transform
            and report is not None
            and tolerance.accepts(claim.value, report.weights_bytes)
        ):
            return note(
                "hint.as_run_vs_files",
                files=fmt.size_mb(report.weights_bytes),
                transform=m.transform,
                measured=fmt.size_mb(measured),
            )
        if report is None:
            return None
        zeros = fmt.percent(report.zeros_fraction) if report.zeros_fraction is not None else "?"
        if report.sparse_ideal_bytes and _close(claim.value, report.sparse_ideal_bytes):
            return note(
                "hint.ideal_sparse",
                claim=claim.raw,
                ideal=fmt.size_mb(report.sparse_ideal_bytes),
                zeros=zeros,
            )
        if report.codebook_ideal_bytes and _close(claim.value, report.codebook_ideal_bytes):
            return note(
                "hint.ideal_codebook", claim=claim.raw, ideal=fmt.size_mb(report.codebook_ideal_bytes)
            )
        if report.compressed_bytes and _close(claim.value, report.compressed_bytes):
            return note(
                "hint.ideal_compressed",
                claim=claim.raw,
                ideal=fmt.size_mb(report.compressed_bytes),
                codec=report.compressed_codec or "zstd",
            )
        if claim.value < measured and (report.zeros_fraction or 0) >= 0.3:
            if report.sparse_ideal_bytes:
                return note(
                    "hint.dense_zeros_ideal", zeros=zeros, ideal=fmt.size_mb(report.sparse_ideal_bytes)
                )
            return note("hint.dense_zeros", zeros=zeros)
        unique = _max_unique(m)
        if claim.value < measured and unique is not None and unique <= 256:
            if report.codebook_ideal_bytes:
                ideal = fmt.size_mb(report.codebook_ideal_bytes)
                return note("hint.dense_clustered_ideal", unique=str(unique), ideal=ideal)
            return note("hint.dense_clustered", unique=str(unique))
        return note("hint.size_generic", files_count=str(sum(1 for f in report.files if f.role == "weights")))

    return hint


def _max_unique(m: ModelMeasurement | None) -> int | None:
    if m is None or m.size is None:
        return None
    values = [t.unique for t in m.size.tensors if t.unique is not None and len(t.shape) >= 2]
    return max(values) if values else None


def size_check(subject: Subject, ctx: Context) -> MetricCheck:
    tolerance = ctx.tolerances.size
    return compare(
        "size",
        subject.claims.get("size"),
        read(subject, "size"),
        tolerance,
        ctx,
        hint=size_hint(subject, tolerance),
    )


# --- memory ------------------------------------------------------------------------------------


def memory_check(subject: Subject, metric: str, ctx: Context) -> MetricCheck:
    tolerance = ctx.tolerances.memory
    reading = read(subject, metric)

    def hint(claim: ParsedClaim, measured: float) -> Note | None:
        found = binary_units_hint(claim, measured, tolerance)
        if found:
            return found
        key = "hint.memory" if metric == "ram" else "hint.vram"
        return note(key, source=f"@source.{reading.source}")

    return compare(metric, subject.claims.get(metric), reading, tolerance, ctx, hint=hint)


# --- quality -----------------------------------------------------------------------------------


def quality_check(subject: Subject, name: str, ctx: Context) -> MetricCheck:
    metric = f"quality.{name}"
    info = ctx.quality.get(name)
    bounded = info.bounded if info else None
    tolerance = ctx.tolerances.quality
    m = subject.measurement
    if subject.withheld is not None:
        fields = _base(metric, subject.claims.get(metric), None, ctx) | {
            "tolerance": fmt.tolerance_text(tolerance, metric)
        }
        return _make(MetricStatus.UNVERIFIABLE, fields, withheld_note(subject.withheld, ctx.withheld_until))

    def hint(claim: ParsedClaim, _measured: float) -> Note | None:
        quality = m.quality if m else None
        if quality is None:
            return None
        for other, value in sorted(quality.metrics.items()):
            if other != name and tolerance.accepts(claim.value, value):
                other_info = ctx.quality.get(other)
                return note(
                    "hint.quality_other_metric",
                    claim=claim.raw,
                    claim_raw=claim.raw,
                    other=other,
                    other_value=fmt.score_value(value, bounded=other_info.bounded if other_info else None),
                )
        return note(
            "hint.quality",
            dataset=quality.dataset,
            n=str(quality.n),
            digest=quality.dataset_digest[:19],
        )

    return compare(
        metric, subject.claims.get(metric), read(subject, metric), tolerance, ctx, bounded=bounded, hint=hint
    )


# --- latency -------------------------------------------------------------------------------------


def _batch_size(subject: Subject, device: str) -> int:
    m = subject.measurement
    dm = m.devices.get(device) if m else None
    return dm.latency.batch_size if dm is not None and dm.latency is not None else 1


def _claimed_time(subject: Subject, claim: ParsedClaim, device: str) -> float:
    """The claim in the unit it is compared in: seconds per token, or seconds per item."""
    return claim_seconds(claim, _batch_size(subject, device))


def _time_reading(subject: Subject, metric: str, per_token: bool) -> Reading:
    if per_token and subject.measurement is not None:
        return generation_reading(subject.measurement, DEVICES[metric])
    return read(subject, metric)


def latency_check(subject: Subject, metric: str, ctx: Context) -> MetricCheck:
    device = DEVICES[metric]
    claim = subject.claims.get(metric)
    per_token = claim is not None and claim.per == "token"
    if claim is not None and per_token and not ctx.per_token:
        return _per_token_elsewhere(subject, metric, claim, ctx)
    reading = _time_reading(subject, metric, per_token)
    fields = _base(metric, claim, reading, ctx)
    if per_token:
        fields["unit"] = "s/token"
    if not reading.ok:
        return _not_ok(reading, fields, ctx)
    assert reading.value is not None
    measured = fmt.time_ms(reading.value) + ("/token" if per_token else "")
    if claim is None:
        return _make(MetricStatus.NOT_CLAIMED, fields)
    fields["claimed"] = _claimed_time(subject, claim, device)
    if subject.is_baseline:
        return _make(MetricStatus.UNVERIFIABLE, fields, note("reason.baseline_reference", measured=measured))
    base = ctx.baseline
    base_claim = base.claims.get(metric) if base else None
    if base is None or base_claim is None:
        return _make(
            MetricStatus.UNVERIFIABLE,
            fields,
            note("reason.absolute_time", measured=measured, metric=f"@metric.{metric}"),
        )
    if (base_claim.per == "token") != per_token:
        key = "reason.baseline_per_token" if base_claim.per == "token" else "reason.baseline_per_item"
        return _make(MetricStatus.UNVERIFIABLE, fields, note(key, claim=base_claim.raw))
    base_reading = _time_reading(base, metric, per_token)
    if not base_reading.ok:
        return _baseline_not_ok(base_reading, fields)
    assert base.measurement is not None and subject.measurement is not None
    speed = speedup_reading(subject.measurement, base.measurement, device, per_token=per_token)
    if not speed.ok:
        return _baseline_not_ok(speed, fields)
    assert speed.value is not None
    tolerance = ctx.tolerances.speedup
    claimed_speedup = _claimed_time(base, base_claim, device) / fields["claimed"]
    tolerance_text = fmt.tolerance_text(tolerance, f"speedup_{device}")
    fields |= {
        "compared": "speedup",
        "claimed_speedup": claimed_speedup,
        "measured_speedup": speed.value,
        "tolerance": tolerance_text,
        "difference": reading.value - fields["claimed"],
        "relative": (claimed_speedup - speed.value) / speed.value,
    }
    reason = note(
        "reason.speedup_compared",
        claimed_speedup=fmt.ratio(claimed_speedup),
        measured_speedup=measured_ratio_text(speed),
        baseline_claim=base_claim.raw,
        claim=claim.raw,
        tolerance=tolerance_text,
    )
    return judge_speed(
        claimed_speedup,
        speed,
        tolerance,
        fields,
        reason=reason,
        claim_text=claim.raw,
        rounds_ran_on=_round_info(subject, device) + _round_info(base, device),
    )


def _round_info(subject: Subject, device: str) -> list[RoundInfo]:
    m = subject.measurement
    dm = m.devices.get(device) if m is not None else None
    return list(dm.latency.round_info) if dm is not None and dm.latency is not None else []


def measured_ratio_text(reading: Reading) -> str | Note:
    """`1.84× (95 % CI 1.79–1.89×, 12 rounds)` as a note (rendered in the sentence's language),
    or the bare ratio without an interval."""
    assert reading.value is not None
    interval = reading.interval
    if interval is None:
        return fmt.ratio(reading.value)
    return note(
        "figure.ratio_ci",
        value=fmt.ratio(interval.estimate),
        confidence=fmt.percent(interval.confidence),
        interval=fmt.ratio_interval(interval.low, interval.high),
        rounds=str(interval.rounds),
    )


def judge_speed(
    claimed: float,
    reading: Reading,
    tolerance: Tolerance,
    fields: dict,
    *,
    reason: Note,
    claim_text: str,
    rounds_ran_on: list[RoundInfo],
) -> MetricCheck:
    """A claimed speed-up against the measured one's interval (see the module docstring)."""
    assert reading.value is not None
    interval = reading.interval
    fields["interval"] = interval
    if interval is None:  # fewer than two paired rounds: only the point estimate is known
        verdict = (
            IntervalVerdict.INSIDE if tolerance.accepts(claimed, reading.value) else IntervalVerdict.OUTSIDE
        )
    else:
        verdict = tolerance.judge_interval(claimed, interval.low, interval.high)
    if verdict is IntervalVerdict.INSIDE:
        return _make(MetricStatus.REPRODUCED, fields, reason)
    band_low, band_high = tolerance.band(claimed)
    if verdict is IntervalVerdict.OUTSIDE:
        if _off_despite_contention(claimed, reading, tolerance, rounds_ran_on):
            return _make(MetricStatus.OFF, fields, reason, note("hint.speedup"))
        # the runner, not the claim, may be what moved
        busy = note(
            "reason.contended",
            claim=claim_text,
            measured=measured_ratio_text(reading),
            band=fmt.ratio_interval(band_low, band_high),
            waited=max_waited_share(rounds_ran_on) or 0.0,
        )
        return _make(MetricStatus.INCONCLUSIVE, fields, busy, conditions_note(rounds_ran_on))
    undecided = note(
        "reason.inconclusive",
        claim=claim_text,
        measured=measured_ratio_text(reading),
        band=fmt.ratio_interval(band_low, band_high),
    )
    return _make(MetricStatus.INCONCLUSIVE, fields, undecided, conditions_note(rounds_ran_on))


# A round whose timed calls waited this share of their window for a CPU held by other work ran
# on a contended runner: that wait is in every sample, and it slows a model of many small operators
# (PyTorch's eager calls) more than a fused graph, so the ratio itself moves. An "off" verdict then
# says more about the runner than about the claim: such a claim is left undecided instead.
CONTENDED_SHARE = 0.05


def max_waited_share(info: list[RoundInfo]) -> float | None:
    shares = [r.waited_share for r in info if r.waited_share is not None]
    return max(shares) if shares else None


def contended(info: list[RoundInfo]) -> bool:
    """Whether any round's timed calls waited for their CPU long enough to move a speed-up."""
    share = max_waited_share(info)
    return share is not None and share >= CONTENDED_SHARE


def _off_despite_contention(
    claimed: float, reading: Reading, tolerance: Tolerance, info: list[RoundInfo]
) -> bool:
    """Whether the claim is off even if every round's wait for its CPU had moved the ratio the
    most it can: a sample that waited share w of its time is at most 1 / (1 − w) too long, so the
    interval, widened by that factor both ways, must still lie outside the claim's band."""
    share = max_waited_share(info)
    if share is None or share < CONTENDED_SHARE:
        return True
    interval = reading.interval
    low, high = (interval.low, interval.high) if interval is not None else (reading.value, reading.value)
    assert low is not None and high is not None
    factor = 1 / (1 - min(share, 0.9))
    return tolerance.judge_interval(claimed, low / factor, high * factor) is IntervalVerdict.OUTSIDE


def conditions_note(info: list[RoundInfo]) -> Note:
    """What the rounds ran on, said beside an undecided result (grader.harness.affinity)."""
    cpus = sorted({r.cpu for r in info if r.cpu is not None})
    steal = [r.steal_s for r in info if r.steal_s is not None]
    governors = sorted({r.governor for r in info if r.governor})
    said = {
        "cpu": ", ".join(str(c) for c in cpus) or "—",
        "steal": f"{sum(steal):.2f} s" if steal else "—",
        "governor": ", ".join(governors) or "—",
    }
    waited = max_waited_share(info)
    if waited is None:  # rounds of an older harness, or a kernel without schedstats
        return note("hint.inconclusive", **said)
    return note("hint.inconclusive_waited", waited=waited, **said)


def _per_token_elsewhere(subject: Subject, metric: str, claim: ParsedClaim, ctx: Context) -> MetricCheck:
    """A per-token claim on a task that does not generate tokens: nothing measured compares."""
    reading = read(subject, metric)
    fields = _base(metric, claim, reading, ctx)
    if not reading.ok:
        return _not_ok(reading, fields, ctx)
    assert reading.value is not None
    return _make(
        MetricStatus.UNVERIFIABLE,
        fields,
        note("reason.per_token", claim=claim.raw, measured=fmt.time_ms(reading.value)),
        note("hint.per_token"),
    )


def _baseline_not_ok(base_reading: Reading, fields: dict) -> MetricCheck:
    if base_reading.state is State.NOISY:  # a schema-1 measurement, graded by the old noise gate
        cv = fmt.percent(base_reading.cv) if base_reading.cv is not None else "?"
        return _make(MetricStatus.INCONCLUSIVE, fields, note("reason.baseline_noisy", cv=cv))
    status = (
        MetricStatus.NOT_MEASURABLE if base_reading.state is State.NOT_MEASURABLE else MetricStatus.FAILED
    )
    return _make(status, fields, note("reason.baseline_missing_figure", text=base_reading.reason))


# --- ratios: speed-up and compression claims --------------------------------------------------------


def ratio_check(subject: Subject, metric: str, ctx: Context) -> MetricCheck:
    """speedup_cpu / speedup_gpu / compression: measured as baseline figure / this figure."""
    claim = subject.claims.get(metric)
    figure = "size" if metric == "compression" else f"latency_{metric.split('_')[1]}"
    tolerance = ctx.tolerances.speedup
    fields = _base(metric, claim, None, ctx) | {
        "tolerance": fmt.tolerance_text(tolerance, metric),
        "source": "ratio",
    }
    own = read(subject, figure)
    if not own.ok:
        fields["cv"] = own.cv
        return _not_ok(own, fields, ctx)
    if subject.is_baseline:  # the baseline against itself: 1× by definition
        fields["measured"] = 1.0
        return _judge_ratio(metric, claim, tolerance, fields, reason=note("reason.speedup_baseline"))
    if ctx.baseline is None:
        return _make(MetricStatus.UNVERIFIABLE, fields, note("reason.no_baseline"))
    base = read(ctx.baseline, figure)
    if not base.ok:
        return _baseline_not_ok(base, fields)
    assert base.value is not None and own.value is not None
    if metric == "compression":
        fields["measured"] = base.value / own.value
        return _judge_ratio(metric, claim, tolerance, fields)
    return _speedup_claim(subject, metric, claim, tolerance, fields, ctx)


def _speedup_claim(
    subject: Subject, metric: str, claim: ParsedClaim | None, tolerance: Tolerance, fields: dict, ctx: Context
) -> MetricCheck:
    """speedup_cpu / speedup_gpu: the claim against the measured speed-up's interval."""
    assert (
        ctx.baseline is not None and ctx.baseline.measurement is not None and subject.measurement is not None
    )
    speed = speedup_reading(subject.measurement, ctx.baseline.measurement, DEVICES[metric], per_token=False)
    if not speed.ok:
        return _baseline_not_ok(speed, fields)
    assert speed.value is not None
    fields |= {"measured": speed.value, "interval": speed.interval}
    if claim is None:
        return _make(MetricStatus.NOT_CLAIMED, fields)
    fields |= {"difference": speed.value - claim.value, "relative": (claim.value - speed.value) / speed.value}
    reason = note(
        "reason.speedup_measured",
        claimed=claim.raw,
        measured=measured_ratio_text(speed),
        tolerance=fields["tolerance"],
    )
    return judge_speed(
        claim.value,
        speed,
        tolerance,
        fields,
        reason=reason,
        claim_text=claim.raw,
        rounds_ran_on=_round_info(subject, DEVICES[metric]) + _round_info(ctx.baseline, DEVICES[metric]),
    )


def _judge_ratio(
    metric: str,
    claim: ParsedClaim | None,
    tolerance: Tolerance,
    fields: dict,
    *,
    reason: Note | None = None,
    hint: Note | None = None,
) -> MetricCheck:
    if claim is None:
        return _make(MetricStatus.NOT_CLAIMED, fields, reason)
    check = _judge(
        metric,
        claim.value,
        fields["measured"],
        tolerance,
        fields,
        bounded=None,
        hint=lambda _claim, _measured: hint,
        claim=claim,
    )
    if reason is not None and check.status is MetricStatus.REPRODUCED:
        return check.model_copy(update={"reason_note": reason, "reason": text(reason)})
    return check
