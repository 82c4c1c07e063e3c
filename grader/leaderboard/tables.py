"""Per-homework tables: one row per verified model, ranked by the homework's scoring rule.

Ranking (the rules themselves, and how each ranks a table: grader.verify.rules):
- none: not ranked; rows by team, then model;
- compression / speedup / quality: by score, highest first; equal scores share a rank;
- pareto: every team's models of the homework are ranked together by non-dominated sorting on
  (compression, speed-up on the scoring device, quality retained), all against each team's own
  baseline; within one front by compression; equal (front, compression) share a rank.
A model without a score (below the quality gate, a figure missing or undecided) is listed after the
ranked ones, without a rank, with the reason under the table. Baselines are the reference and are
not listed, except in a homework that ranks nothing (there every model is a baseline measurement).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, cast

import pandas as pd

from grader.course.model import ScoringRule
from grader.leaderboard.records import LeaderboardRecord, RecordEntry
from grader.messages import metric_label, render_note
from grader.notes import Note
from grader.report.templates import Strings, md
from grader.verify import formatting as fmt
from grader.verify.models import QualityMetricInfo
from grader.verify.rules import ParetoRule, Rule, pareto_point, rule_for
from grader.verify.scoring import pareto_ranks

RAW_COLUMNS = [
    "rank",
    "team",
    "model",
    "methods",
    "format",
    "transform",
    "size_bytes",
    "latency_cpu_s",
    "latency_gpu_s",
    "ram_bytes",
    "vram_bytes",
    "quality_metric",
    "quality",
    "compression",
    "speedup_cpu",
    "speedup_gpu",
    "retained",
    "score",
    "pareto_rank",
    "verdict",
    "pr",
    "unranked_reason",
]


def rule_of(records: list[LeaderboardRecord]) -> ScoringRule:
    """The homework's rule as its newest record applied it (records of one homework share it)."""
    for record in sorted(records, key=lambda r: r.source.graded_at or "", reverse=True):
        if record.scoring is not None:
            return record.scoring.rule
    return ScoringRule.NONE


def rule_object(records: list[LeaderboardRecord]) -> Rule:
    """The object of the homework's rule (grader.verify.rules)."""
    return rule_for(rule_of(records))


def homework_frame(records: list[LeaderboardRecord]) -> pd.DataFrame:
    """The rows of one homework in base units, ranked and sorted (see the module docstring)."""
    rule = rule_object(records)
    rows = []
    for record in records:
        for entry in record.entries:
            if entry.is_baseline and rule.ranked:
                continue
            rows.append(_row(record, entry))
    frame = pd.DataFrame(rows, columns=RAW_COLUMNS)
    if frame.empty:
        return frame
    if not rule.ranked:
        frame["rank"] = None
        return frame.sort_values(["team", "model"], kind="stable").reset_index(drop=True)
    if isinstance(rule, ParetoRule):  # every team's models are placed together, not by score alone
        _rank_pareto(frame, records)
    keys = [column for column, _ in rule.order]
    ascending = [up for _, up in rule.order]
    ranked = frame[frame["score"].notna()].sort_values(
        [*keys, "team", "model"], ascending=[*ascending, True, True], kind="stable"
    )
    ranked = ranked.reset_index(drop=True)
    ranked["rank"] = _shared_ranks(ranked, keys)
    unranked = frame[frame["score"].isna()].sort_values(["team", "model"], kind="stable")
    unranked = unranked.assign(rank=None)
    return pd.concat([ranked, unranked], ignore_index=True)


def _row(record: LeaderboardRecord, entry: RecordEntry) -> dict:
    m, r = entry.measured, entry.ratios
    primary = m.quality_primary
    return {
        "rank": None,
        "team": record.team,
        "model": entry.name,
        "methods": list(entry.methods),
        "format": entry.format,
        "transform": entry.transform,
        "size_bytes": m.graded_size_bytes if m.graded_size_bytes is not None else m.size_bytes,
        "latency_cpu_s": m.latency_cpu_s,
        "latency_gpu_s": m.latency_gpu_s,
        "ram_bytes": m.ram_bytes,
        "vram_bytes": m.vram_bytes,
        "quality_metric": primary,
        "quality": m.quality.get(primary) if primary else None,
        "compression": r.compression,
        "speedup_cpu": r.speedup_cpu,
        "speedup_gpu": r.speedup_gpu,
        "retained": r.quality_retained,
        "score": entry.score,
        "pareto_rank": None,
        "verdict": entry.verdict.value,
        "pr": record.source.pr_number,
        "unranked_reason": entry.score_reason,
    }


def _rank_pareto(frame: pd.DataFrame, records: list[LeaderboardRecord]) -> None:
    """Every team's scored models placed together (grader.verify.rules.ParetoRule); a model that
    cannot be placed (a figure missing) loses its score and is listed unranked."""
    scoring = next((r.scoring for r in records if r.scoring is not None), None)
    device = "speedup_gpu" if scoring is not None and scoring.device == "cuda" else "speedup_cpu"
    points = {}
    for i, row in frame.iterrows():
        point = pareto_point(_value(row.compression), _value(getattr(row, device)), _value(row.retained))
        if pd.notna(row.score) and point is not None:
            points[i] = point
    ranks = pareto_ranks(points)
    frame["pareto_rank"] = [ranks.get(i) for i in frame.index]
    frame.loc[frame["pareto_rank"].isna(), "score"] = None


def _value(cell: Any) -> float | None:
    """A frame cell as a float, None where pandas holds a missing value (None or NaN)."""
    return None if cell is None or pd.isna(cell) else float(cell)


def _shared_ranks(frame: pd.DataFrame, keys: list[str]) -> list[int]:
    """Competition ranking ("1, 1, 3"): rows equal on every key share the better rank."""
    out: list[int] = []
    previous = None
    for position, values in enumerate(frame[keys].itertuples(index=False, name=None), start=1):
        if values != previous:
            rank = position
            previous = values
        out.append(rank)
    return out


# --- the table as the README shows it ------------------------------------------------------------


def display_frame(frame: pd.DataFrame, records: list[LeaderboardRecord], s: Strings) -> pd.DataFrame:
    """The same rows as strings, with localized headers; columns without data are left out."""
    info = _quality_info(records)
    labels = {name: q.label for name, q in info.items()}
    metrics = Counter(m for m in frame["quality_metric"] if m)
    single = len(metrics) == 1
    primary = next(iter(metrics)) if single else None
    rule = rule_object(records)
    columns: list[tuple[str, list[str]]] = []
    if rule.ranked:
        columns.append((s("leaderboard.rank"), [str(int(v)) if pd.notna(v) else "—" for v in frame["rank"]]))
    columns += [
        (s("leaderboard.team"), [md(v) for v in frame["team"]]),
        (s("leaderboard.model"), [md(v) for v in frame["model"]]),
        (s("leaderboard.method"), [_method(s, row) for row in frame.itertuples()]),
        (s("leaderboard.size"), [_fmt(v, fmt.size_mb) for v in frame["size_bytes"]]),
        (s("leaderboard.latency_cpu"), [_fmt(v, _ms_number) for v in frame["latency_cpu_s"]]),
    ]
    if frame["latency_gpu_s"].notna().any():
        columns.append((s("leaderboard.latency_gpu"), [_fmt(v, _ms_number) for v in frame["latency_gpu_s"]]))
    columns.append((s("leaderboard.ram"), [_fmt(v, fmt.memory_mib) for v in frame["ram_bytes"]]))
    if frame["vram_bytes"].notna().any():
        columns.append((s("leaderboard.vram"), [_fmt(v, fmt.memory_mib) for v in frame["vram_bytes"]]))
    quality_header = (
        s("leaderboard.quality", metric=md(metric_label(f"quality.{primary}", s.language, labels)))
        if primary
        else s("leaderboard.quality_generic")
    )
    columns.append(
        (quality_header, [_quality(row, info, labels, s, show_name=not single) for row in frame.itertuples()])
    )
    if rule.ranked:
        columns += [
            (s("leaderboard.compression"), [_fmt(v, fmt.ratio) for v in frame["compression"]]),
            (s("leaderboard.speedup_cpu"), [_fmt(v, fmt.ratio) for v in frame["speedup_cpu"]]),
        ]
        if frame["speedup_gpu"].notna().any():
            columns.append((s("leaderboard.speedup_gpu"), [_fmt(v, fmt.ratio) for v in frame["speedup_gpu"]]))
        columns += [
            (s("leaderboard.retained"), [_fmt(v, fmt.percent) for v in frame["retained"]]),
            (s("leaderboard.score"), [_score(row, rule, info, s) for row in frame.itertuples()]),
        ]
    columns.append((s("leaderboard.pr"), [f"#{int(v)}" if pd.notna(v) else "—" for v in frame["pr"]]))
    return pd.DataFrame(dict(columns))


def unranked_notes(frame: pd.DataFrame, records: list[LeaderboardRecord], s: Strings) -> list[str]:
    if not rule_object(records).ranked:
        return []
    labels = {name: q.label for name, q in _quality_info(records).items()}
    notes = []
    row: Any  # a DataFrame itertuples() row: its cells are untyped
    for row in frame.itertuples():
        if pd.isna(row.rank) and row.unranked_reason is not None:
            why = cast(Note, row.unranked_reason)  # the column holds the grade's Note objects
            reason = render_note(why, s.language, labels, escape=md)
            notes.append(f"**{md(row.team)} / {md(row.model)}** — {reason}")
    return notes


def to_markdown(frame: pd.DataFrame) -> str:
    # Cells are already text; parsing them as numbers would re-align and re-round them.
    return frame.to_markdown(index=False, tablefmt="github", disable_numparse=True)


def _quality_info(records: list[LeaderboardRecord]) -> dict[str, QualityMetricInfo]:
    info: dict[str, QualityMetricInfo] = {}
    for record in records:
        for name, q in record.quality_metrics.items():
            info.setdefault(name, q)
    return info


def _fmt(value: float | None, formatter: Callable[[float], str]) -> str:
    return formatter(value) if value is not None and pd.notna(value) else "—"


def _ms_number(seconds: float) -> str:
    return fmt.time_ms(seconds).removesuffix(" ms")


def _method(s: Strings, row: Any) -> str:  # row: a DataFrame itertuples() row
    words = [s(f"methods.{m}") if s.has(f"methods.{m}") else md(m) for m in row.methods]
    text = " + ".join(words)
    if row.format != "safetensors":
        text += " · " + (s(f"formats.{row.format}") if s.has(f"formats.{row.format}") else md(row.format))
    if isinstance(row.transform, str) and row.transform:  # pandas keeps a missing one as NaN
        text += f" · {md(row.transform)}"
    return text


def _quality(row: Any, info: dict, labels: dict, s: Strings, *, show_name: bool) -> str:
    if row.quality is None or pd.isna(row.quality):
        return "—"
    q = info.get(row.quality_metric)
    value = fmt.score_value(row.quality, bounded=q.bounded if q else None)
    if show_name:
        return f"{md(metric_label(f'quality.{row.quality_metric}', s.language, labels))} {value}"
    return value


def _score(row: Any, rule: Rule, info: dict, s: Strings) -> str:
    if row.score is None or pd.isna(row.score):
        return "—"
    q = info.get(row.quality_metric)
    return rule.score_text(
        row.score,
        rank=int(row.pareto_rank) if pd.notna(row.pareto_rank) else None,
        compression=_value(row.compression),
        bounded=q.bounded if q else None,
        strings=s,
    )
