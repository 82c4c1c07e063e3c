"""What the templates show, computed from a Grade: cells, ratios, details, findings, hardware.

The templates only lay things out; every figure is written here, in one language, with the
formatting rules of grader.verify.formatting. Text that came from a submission (model names,
details, finding texts) is passed through `md` so it cannot break a table or ping anyone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grader.harness.models import GpuInfo
from grader.harness.stats import Interval
from grader.messages import metric_label, render, render_note
from grader.report.templates import Strings, code, md
from grader.verify import formatting as fmt
from grader.verify.models import EntryGrade, Grade, MetricCheck, MetricStatus, Note, Verdict
from grader.verify.rules import rule_for

STATUS_ICONS: dict[MetricStatus, str] = {
    MetricStatus.REPRODUCED: "✅",
    MetricStatus.OFF: "❌",
    MetricStatus.NOT_CLAIMED: "▫️",
    MetricStatus.NOT_MEASURABLE: "⚪",
    MetricStatus.UNVERIFIABLE: "ℹ️",
    MetricStatus.FAILED: "💥",
    MetricStatus.INCONCLUSIVE: "〰️",
}
VERDICT_ICONS: dict[Verdict, str] = {
    Verdict.PASS: "✅",
    Verdict.CLAIMS_MISMATCH: "❌",
    Verdict.INCOMPLETE: "🟡",
    Verdict.FAILED: "💥",
    Verdict.INCONCLUSIVE: "〰️",
    Verdict.INVALID: "🚫",
}
COLUMNS = ("size", "latency_cpu", "latency_gpu", "ram", "vram", "quality")
EXPLAINED = (
    MetricStatus.OFF,
    MetricStatus.FAILED,
    MetricStatus.INCONCLUSIVE,
    MetricStatus.NOT_MEASURABLE,
    MetricStatus.UNVERIFIABLE,
)


@dataclass
class Detail:
    """One explained problem, possibly shared by several models and metrics."""

    models: list[str]
    metrics: list[str]
    icon: str
    status: str
    reason: str
    hint: str
    source: str = ""
    status_value: str = ""


@dataclass
class View:
    language: str
    verdict: str
    icon: str
    headline: str
    verdict_text: str
    next_step: str
    counts: list[tuple[str, int]]
    header: list[str]
    rows: list[list[str]]
    ratio_header: list[str]
    ratio_rows: list[list[str]]
    details: list[Detail]
    missing: list[str]
    findings: list[dict[str, str]]
    score_rule: str
    scores: list[tuple[str, str]]
    environment: list[tuple[str, str]]
    libraries: list[tuple[str, str]]
    digests: list[tuple[str, str, str]]
    checks: list[dict[str, Any]] = field(default_factory=list)
    footer: str = ""
    # causal-lm: time to first token and per output token, per model and device
    generation_header: list[str] = field(default_factory=list)
    generation_rows: list[list[str]] = field(default_factory=list)
    # private eval sets (grader.verify.private): what a public grade leaves out, the instructors'
    # banner, and the figures on the homework's private set once they may be shown
    private_notice: str = ""
    instructor_banner: str = ""
    private_title: str = ""
    private_header: list[str] = field(default_factory=list)
    private_rows: list[list[str]] = field(default_factory=list)


class Writer:
    """Formats one grade's figures in one language."""

    def __init__(self, grade: Grade, s: Strings) -> None:
        self.grade = grade
        self.s = s
        self.language = s.language
        self.labels = {name: info.label for name, info in grade.quality_metrics.items()}

    # --- words ---
    def note(self, n: Note | None, fallback: str = "") -> str:
        """A verify sentence in this language; its parameters may carry submission text, so they
        are made inert (the sentence itself is ours and keeps its `code` spans)."""
        if n is None:
            return md(fallback) if fallback else ""
        return render_note(n, self.language, self.labels, escape=md)

    def metric(self, metric: str) -> str:
        return metric_label(metric, self.language, self.labels)

    def bounded(self, metric: str) -> bool | None:
        info = self.grade.quality_metrics.get(metric.split(".", 1)[-1])
        return info.bounded if info else None

    def figure(self, metric: str, value: float) -> str:
        return fmt.figure(metric, value, bounded=self.bounded(metric))

    def measured(self, check: MetricCheck) -> str:
        if check.measured is None:
            return "—"
        text = self.figure(check.metric, check.measured)
        if check.unit == "s/token":  # a per-token claim, read against the time per output token
            text += "/token"
        interval = check.interval
        if interval is not None and interval.unit != "x" and fmt.metric_kind(check.metric) == "time":
            text += f" ±{fmt.percent(interval.half_width)}"  # the median's interval, one noise figure
        return text

    def speedup(self, value: float, interval: Interval | None) -> str:
        """`1.84× (95 % CI 1.79–1.89×, 12 rounds)`, or the bare ratio without an interval."""
        if interval is None or interval.unit != "x":
            return fmt.ratio(value)
        params = {
            "value": fmt.ratio(value),
            "confidence": fmt.percent(interval.confidence),
            "interval": fmt.ratio_interval(interval.low, interval.high),
            "rounds": str(interval.rounds),
        }
        return render("figure.ratio_ci", params, self.language, self.labels)

    # --- table cells ---
    def cell(self, check: MetricCheck | None) -> str:
        if check is None:
            return "—"
        s, status = self.s, check.status
        claimed = md(check.claimed_raw) if check.claimed_raw is not None else ""
        measured = self.measured(check)
        if check.compared == "speedup" and status in (
            MetricStatus.REPRODUCED,
            MetricStatus.OFF,
            MetricStatus.INCONCLUSIVE,
        ):
            assert check.claimed_speedup is not None and check.measured_speedup is not None
            params = {
                "measured": measured,
                "claimed": claimed,
                "claimed_speedup": fmt.ratio(check.claimed_speedup),
                "measured_speedup": self.speedup(check.measured_speedup, check.interval),
            }
            key = {
                MetricStatus.REPRODUCED: "cell.speedup_reproduced",
                MetricStatus.OFF: "cell.speedup_off",
            }.get(status, "cell.speedup_inconclusive")
            return s(key, **params)
        if check.source == "ratio" and check.measured is not None and check.interval is not None:
            measured = self.speedup(check.measured, check.interval)
        if status is MetricStatus.OFF:
            delta = self.delta(check)
            return s("cell.off", claimed=claimed, measured=measured, delta=delta)
        if status is MetricStatus.REPRODUCED:
            return s("cell.reproduced", claimed=claimed, measured=measured)
        if status is MetricStatus.NOT_CLAIMED:
            return s("cell.not_claimed", measured=measured)
        if status is MetricStatus.UNVERIFIABLE:
            if check.measured is None:
                return s("cell.unverifiable_unmeasured", claimed=claimed)
            return s("cell.unverifiable", claimed=claimed, measured=measured)
        if status is MetricStatus.INCONCLUSIVE:
            return s("cell.inconclusive", measured=measured)
        if status is MetricStatus.NOT_MEASURABLE:
            return s("cell.not_measurable")
        return s("cell.failed")

    def delta(self, check: MetricCheck) -> str:
        if check.measured is None or check.claimed is None:
            return "—"
        if fmt.metric_kind(check.metric) == "score":
            return fmt.score_delta(check.measured - check.claimed, bounded=self.bounded(check.metric))
        if not check.claimed:
            return "—"
        return fmt.percent((check.measured - check.claimed) / check.claimed, signed=True)

    def quality_cell(self, checks: list[MetricCheck]) -> str:
        if not checks:
            return "—"
        return "<br>".join(f"{md(self.metric(c.metric))}: {self.cell(c)}" for c in checks)

    def method(self, entry: EntryGrade) -> str:
        parts = [" + ".join(self._method_word(m) for m in entry.methods)]
        if entry.format != "safetensors":
            parts.append(
                self.s(f"formats.{entry.format}") if self.s.has(f"formats.{entry.format}") else entry.format
            )
        if entry.transform:
            parts.append(self.s("table.transform", transform=code(entry.transform)))
        text = " · ".join(parts)
        if entry.details:
            text += f"<br><sub>{md(entry.details)}</sub>"
        return text

    def _method_word(self, method: str) -> str:
        key = f"methods.{method}"
        return self.s(key) if self.s.has(key) else md(method)


def build(grade: Grade, s: Strings) -> View:
    w = Writer(grade, s)
    verdict = grade.verdict
    return View(
        language=s.language,
        verdict=verdict.value,
        icon=VERDICT_ICONS[verdict],
        headline=_headline(grade, s),
        verdict_text=s(f"verdict.{verdict.value}.title"),
        next_step=s(f"verdict.{verdict.value}.next"),
        counts=_counts(grade, s),
        header=[s(f"table.{c}") for c in ("model", "method", *COLUMNS)],
        rows=[_row(w, e) for e in grade.entries],
        ratio_header=[s(f"ratios.{c}") for c in _ratio_columns(grade)],
        ratio_rows=_ratio_rows(w, grade),
        details=_details(w, grade),
        missing=_missing(w, grade),
        findings=_findings(grade, s),
        score_rule=_score_rule(grade, s),
        scores=[(md(e.name), _score_line(w, e)) for e in grade.entries if not e.is_baseline],
        environment=_environment(grade, s),
        libraries=sorted((grade.environment.libraries if grade.environment else {}).items()),
        digests=_digests(grade),
        checks=_all_checks(w, grade),
        footer=_footer(grade, s),
        generation_header=[s(f"generation.{c}") for c in ("model", "device", "ttft", "tpot", "setting")],
        generation_rows=_generation_rows(w, grade),
        private_notice=_private_notice(grade, s),
        instructor_banner=s("private.banner") if grade.instructor_only else "",
        private_title=s("private.title", dataset=md(grade.private_dataset or "")),
        private_header=[s("private.model"), s("private.figures")],
        private_rows=_private_rows(w, grade),
    )


def _generation_rows(w: Writer, grade: Grade) -> list[list[str]]:
    """One row per model and device that generation was timed (or tried) on."""
    rows = []
    for e in grade.entries:
        for device, g in e.measured.generation.items():
            name, where = f"**{md(e.name)}**", device.upper()
            if g.status != "ok" or g.ttft_s is None or g.tpot_s is None:
                status = MetricStatus(g.status)
                cell = f"{STATUS_ICONS[status]} {w.s(f'status.{status.value}')}"
                rows.append([name, where, cell, cell, md(g.reason)])
                continue
            ttft = fmt.time_ms(g.ttft_s)
            tpot = f"{fmt.time_ms(g.tpot_s)}/token" + (
                f" ±{fmt.percent(g.tpot_ci.half_width)}" if g.tpot_ci is not None else ""
            )
            setting = w.s(
                "generation.setting_text",
                prompt=g.prompt_tokens if g.prompt_tokens is not None else "?",
                new=g.new_tokens if g.new_tokens is not None else "?",
            ) + (w.s("generation.kv_cache") if g.kv_cache else "")
            rows.append([name, where, ttft, tpot, setting])
    return rows


def _private_notice(grade: Grade, s: Strings) -> str:
    if not grade.withheld:
        return ""
    datasets = ", ".join(code(d) for d in grade.withheld)
    if grade.withheld_until:
        return s("private.notice", datasets=datasets, until=grade.withheld_until)
    return s("private.notice_open", datasets=datasets)


def _private_rows(w: Writer, grade: Grade) -> list[list[str]]:
    """The figures on the homework's private set (present only where they may be shown)."""
    rows = []
    for e in grade.entries:
        if not e.measured.private_quality:
            continue
        figures = [
            f"{md(w.metric(f'quality.{name}'))}: {w.figure(f'quality.{name}', value)}"
            for name, value in sorted(e.measured.private_quality.items())
        ]
        rows.append([f"**{md(e.name)}**", "<br>".join(figures)])
    return rows


def _headline(grade: Grade, s: Strings) -> str:
    who = md(grade.team) if grade.team else s("headline.unknown_team")
    hw = f"HW-{grade.homework}" if grade.homework is not None else s("headline.unknown_homework")
    title = grade.homework_title.get(s.language) or grade.homework_title.get("en")
    return s("headline.with_title", team=who, homework=hw, title=md(title)) if title else f"{who} · {hw}"


def _counts(grade: Grade, s: Strings) -> list[tuple[str, int]]:
    found: dict[MetricStatus, int] = {}
    for e in grade.entries:
        for c in e.checks:
            if c.claimed_raw is not None or c.status in (MetricStatus.FAILED, MetricStatus.INCONCLUSIVE):
                found[c.status] = found.get(c.status, 0) + 1
    order = [
        MetricStatus.REPRODUCED,
        MetricStatus.OFF,
        MetricStatus.UNVERIFIABLE,
        MetricStatus.NOT_MEASURABLE,
        MetricStatus.INCONCLUSIVE,
        MetricStatus.FAILED,
    ]
    return [(f"{STATUS_ICONS[st]} {s(f'status.{st.value}')}", found[st]) for st in order if found.get(st)]


def _row(w: Writer, e: EntryGrade) -> list[str]:
    by = {c.metric: c for c in e.checks}
    name = f"**{md(e.name)}**"
    cells = [w.cell(by.get(m)) for m in COLUMNS if m != "quality"]
    quality = [c for c in e.checks if c.metric.startswith("quality.")]
    return [name, w.method(e), *cells, w.quality_cell(quality)]


def _ratio_columns(grade: Grade) -> list[str]:
    columns = ["model", "compression", "speedup_cpu"]
    if any(e.ratios.speedup_gpu is not None for e in grade.entries):
        columns.append("speedup_gpu")
    columns += ["quality_delta", "quality_retained"]
    if rule_for(grade.scoring_rule).ranked:
        columns.append("score")
    return columns


def _ratio_rows(w: Writer, grade: Grade) -> list[list[str]]:
    candidates = [e for e in grade.entries if not e.is_baseline]
    if not candidates or not any(e.is_baseline for e in grade.entries):
        return []
    columns = _ratio_columns(grade)
    rows = []
    for e in candidates:
        r = e.ratios
        primary = e.measured.quality_primary
        bounded = w.bounded(f"quality.{primary}") if primary else None
        values = {
            "model": f"**{md(e.name)}**",
            "compression": fmt.ratio(r.compression) if r.compression else "—",
            "speedup_cpu": w.speedup(r.speedup_cpu, r.speedup_cpu_ci) if r.speedup_cpu else "—",
            "speedup_gpu": w.speedup(r.speedup_gpu, r.speedup_gpu_ci) if r.speedup_gpu else "—",
            "quality_delta": fmt.score_delta(r.quality_delta, bounded=bounded)
            if r.quality_delta is not None
            else "—",
            "quality_retained": fmt.percent(r.quality_retained) if r.quality_retained is not None else "—",
            "score": score_text(w, e),
        }
        rows.append([values[c] for c in columns])
    return rows


def score_text(w: Writer, e: EntryGrade) -> str:
    """The score as the rule means it: `2.41×`, `91.25 %`, `Pareto 1 · 2.41×`, or `—`."""
    if e.score is None:
        return "—"
    primary = e.measured.quality_primary or ""
    return rule_for(w.grade.scoring_rule).score_text(
        e.score, rank=e.pareto_rank, compression=None, bounded=w.bounded(f"quality.{primary}"), strings=w.s
    )


def _score_line(w: Writer, e: EntryGrade) -> str:
    return w.note(e.score_reason, e.score_note)


def _details(w: Writer, grade: Grade) -> list[Detail]:
    """Every check that needs a word, grouped: one line for "no GPU" shared by every model."""
    groups: dict[tuple[str, str, str], Detail] = {}
    for e in grade.entries:
        for c in e.checks:
            if c.status not in EXPLAINED:
                continue
            if c.status is MetricStatus.NOT_MEASURABLE and c.claimed_raw is None and not c.required:
                continue  # e.g. no GPU for a homework that does not ask about it
            reason = w.note(c.reason_note, c.reason)
            hint = w.note(c.hint_note, c.hint)
            key = (c.status.value, reason, hint)
            if key not in groups:
                groups[key] = Detail(
                    models=[],
                    metrics=[],
                    icon=STATUS_ICONS[c.status],
                    status=w.s(f"status.{c.status.value}"),
                    reason=reason,
                    hint=hint,
                    source=_source(w, c) if c.status is MetricStatus.OFF else "",
                    status_value=c.status.value,
                )
            detail = groups[key]
            if md(e.name) not in detail.models:
                detail.models.append(md(e.name))
            label = md(w.metric(c.metric))
            if label not in detail.metrics:
                detail.metrics.append(label)
    order = {st.value: i for i, st in enumerate(EXPLAINED)}
    return sorted(groups.values(), key=lambda d: order[d.status_value])


def _source(w: Writer, c: MetricCheck) -> str:
    key = f"source.{c.source}"
    if not c.source or c.source.startswith("quality:") or c.compared == "speedup":
        return ""  # quality: the reason names the dataset; a speed-up: the reason says how
    from grader.messages import MESSAGES

    return w.s("details.source", source=render(key, {}, w.language)) if key in MESSAGES else ""


def _missing(w: Writer, grade: Grade) -> list[str]:
    """Required metrics a model lacks: not claimed (one line each, with the runner's figure), or
    not measurable on this runner (models with the same gaps share one line)."""
    lines = []
    unmeasurable: dict[tuple[str, ...], list[str]] = {}
    for e in grade.entries:
        by = {c.metric: c for c in e.checks}
        gaps: list[str] = []
        for metric in e.missing:
            check = by.get(metric) or next((c for c in e.checks if c.metric.startswith(f"{metric}.")), None)
            label = md(w.metric(metric))
            if check is not None and check.status is MetricStatus.NOT_MEASURABLE:
                gaps.append(label)
            elif check is not None and check.measured is not None:
                lines.append(
                    w.s(
                        "details.missing_not_claimed",
                        model=md(e.name),
                        metric=label,
                        measured=w.measured(check),
                    )
                )
            else:
                lines.append(w.s("details.missing_not_claimed_unmeasured", model=md(e.name), metric=label))
        if gaps:
            unmeasurable.setdefault(tuple(gaps), []).append(md(e.name))
    for shared, models in unmeasurable.items():
        lines.append(
            w.s("details.missing_not_measurable", models=", ".join(models), metrics=", ".join(shared))
        )
    return lines


def _findings(grade: Grade, s: Strings) -> list[dict[str, str]]:
    from grader.findings import sort_findings

    out = []
    for f in sort_findings(grade.findings):
        out.append(
            {
                "icon": "❌" if f.is_error else "⚠️",
                "where": code(str(f.location)),
                "field": code(f.location.field) if f.location.field else "",
                "code": f.code,
                "severity": s(f"findings.{f.severity.value}"),
                "message": md(f.message),
                "expected": md(f.expected) if f.expected else "",
                "found": md(f.found) if f.found else "",
                "hint": md(f.hint) if f.hint else "",
            }
        )
    return out


def _score_rule(grade: Grade, s: Strings) -> str:
    scoring = grade.scoring
    if scoring is None:
        return ""
    text = s(f"rules.{scoring.rule.value}", device=scoring.device.upper())
    if rule_for(scoring.rule).ranked and scoring.min_quality_retained is not None:
        text += " " + s("rules.gate", required=fmt.percent(scoring.min_quality_retained))
    return text


def _environment(grade: Grade, s: Strings) -> list[tuple[str, str]]:
    env = grade.environment
    if env is None:
        return []
    rows = [
        (s("env.cpu"), md(f"{env.cpu_model} · {s.count('env.cores', env.cpu_count)}")),
        (s("env.threads"), ", ".join(f"{k} {v}" for k, v in sorted(env.threads.items())) or "—"),
        (s("env.gpu"), md("; ".join(_gpu(g) for g in env.gpus)) if env.gpus else s("env.no_gpu")),
        (s("env.ram"), fmt.memory_mib(env.ram_total_bytes)),
        (s("env.governor"), md(env.cpu_governor or "—")),
        (s("env.python"), md(f"{env.python} · {env.platform}")),
        (s("env.harness"), md(env.harness_version + (f" ({env.git_commit[:12]})" if env.git_commit else ""))),
        (s("env.providers"), md(", ".join(env.onnxruntime_providers) or "—")),
        (s("env.seed"), str(env.seed)),
    ]
    if env.input_shapes:
        shapes = ", ".join(f"{k} {list(v)}" for k, v in sorted(env.input_shapes.items()))
        rows.append((s("env.inputs"), md(shapes)))
    if grade.dataset:
        rows.append((s("env.dataset"), md(grade.dataset)))
    return rows


def _gpu(g: GpuInfo) -> str:
    parts = [g.name]
    if g.memory_bytes:
        parts.append(fmt.memory_mib(g.memory_bytes))
    if g.driver:
        parts.append(f"driver {g.driver}")
    if g.cuda:
        parts.append(f"CUDA {g.cuda}")
    return ", ".join(parts)


def _digests(grade: Grade) -> list[tuple[str, str, str]]:
    """(what, file, sha256) for the manifest and every artifact file that was measured."""
    out = []
    if grade.manifest_path and grade.manifest_sha256:
        out.append(("manifest", code(grade.manifest_path), code(grade.manifest_sha256)))
    for e in grade.entries:
        for path, digest in e.artifact_digests.items():
            out.append((md(e.name), code(path), code(digest)))
    return out


def _all_checks(w: Writer, grade: Grade) -> list[dict[str, Any]]:
    """Every check of every model, for the job summary's full table."""
    out = []
    for e in grade.entries:
        for c in e.checks:
            out.append(
                {
                    "model": md(e.name),
                    "metric": md(w.metric(c.metric)),
                    "status": f"{STATUS_ICONS[c.status]} {w.s(f'status.{c.status.value}')}",
                    "claimed": md(c.claimed_raw) if c.claimed_raw is not None else "—",
                    "measured": w.measured(c),
                    "delta": w.delta(c) if c.status in (MetricStatus.OFF, MetricStatus.REPRODUCED) else "—",
                    "tolerance": c.tolerance or "—",
                    "source": _plain_source(w, c),
                }
            )
    return out


def _plain_source(w: Writer, c: MetricCheck) -> str:
    from grader.messages import MESSAGES

    if c.compared == "speedup":
        return w.s("details.compared_speedup")
    key = f"source.{c.source.split(':')[0]}"
    return render(key, {}, w.language) if key in MESSAGES else "—"


def _footer(grade: Grade, s: Strings) -> str:
    parts = [s("footer.grader", version=grade.grader_version or "?")]
    if grade.graded_at:
        parts.append(s("footer.graded_at", when=grade.graded_at.replace("T", " ").replace("Z", " UTC")))
    if grade.tolerances is not None:
        t = grade.tolerances
        parts.append(
            s(
                "footer.tolerances",
                size=fmt.tolerance_text(t.size, "size"),
                quality=fmt.tolerance_text(t.quality, "quality.x"),
                speedup=fmt.tolerance_text(t.speedup, "speedup_cpu"),
                memory=fmt.tolerance_text(t.memory, "ram"),
            )
        )
    return " · ".join(parts)
