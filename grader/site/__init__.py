"""`grader site --out DIR`: a static course page GitHub Pages can serve, built from the records.

The folder holds `index.html` (per-homework tables that sort and filter, size–quality and
speed–quality scatters with Pareto fronts), `teams/<team>.html` (a team's attempts), the records
as JSON (`records.json`, for anyone who wants the data) and the same data as `data.js` (a page
opened from disk, `file://`, may not fetch JSON, but may load a script beside it), plus `app.js`
and `site.css` from grader/data/site/. Nothing is fetched from anywhere else at view time.

Safety: every string from a submission (team and model names, details) is written out with
`visible` (bidi overrides and zero-width characters made visible, as in the PR comment) and put
into the page only through `textContent` by app.js, never as HTML; the JSON in data.js has `<`,
`>` and `&` escaped so that no text can close the script. The HTML shells are written here with
every course string HTML-escaped.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from grader.atomic import write_atomic
from grader.course.model import Course, ScoringRule
from grader.leaderboard.records import AttemptRecord, LeaderboardRecord, load_attempts, load_records
from grader.report.templates import Strings, visible
from grader.verify import formatting as fmt
from grader.verify.messages import metric_label

STATIC = Path(__file__).resolve().parent.parent / "data" / "site"
STATIC_FILES = ("app.js", "site.css")
_TEAM = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")  # a file name of its own under teams/


@dataclass(frozen=True)
class SiteOutcome:
    out_dir: Path
    index: Path
    team_pages: list[Path]
    records: int


def build_site(
    results_dir: Path,
    out_dir: Path,
    course: Course | None,
    *,
    language: str | None = None,
    templates: Path | None = None,
) -> SiteOutcome:
    from grader.report.templates import find_templates, load_strings

    s = load_strings(find_templates(templates), language or (course.language if course else "ru"))
    records = load_records(results_dir)
    attempts = load_attempts(results_dir)
    data = site_data(records, attempts, course, s)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(out_dir / "records.json", _json(_raw(records, attempts), indent=1))
    write_atomic(out_dir / "data.js", f"window.GRADER_SITE = {_json(data)};\n")
    for name in STATIC_FILES:
        write_atomic(out_dir / name, (STATIC / name).read_bytes())
    write_atomic(out_dir / ".nojekyll", "")  # Pages serves the files as they are
    title = s("site.title", course=course.name.get(s.language) if course else "")  # type: ignore[arg-type]
    index = write_atomic(out_dir / "index.html", _shell(title, s, page="index", prefix=""))
    teams_dir = out_dir / "teams"
    if teams_dir.is_dir():
        shutil.rmtree(teams_dir)  # a team page of a removed record must not linger
    pages = [
        write_atomic(
            teams_dir / f"{team}.html",
            _shell(s("site.team_title", team=team), s, page="team", prefix="../", team=team),
        )
        for team in data["teams"]
    ]
    return SiteOutcome(out_dir, index, pages, len(records))


# --- the data ------------------------------------------------------------------------------------


def site_data(
    records: list[LeaderboardRecord], attempts: list[AttemptRecord], course: Course | None, s: Strings
) -> dict[str, Any]:
    from grader.leaderboard import _by_homework, _rule_text, _title

    stamps = sorted(r.source.graded_at for r in records if r.source.graded_at)
    homeworks = []
    for hw_id, group in _by_homework(records, course):
        homeworks.append(
            {
                "id": hw_id,
                "heading": s(
                    "leaderboard.homework", homework=hw_id, title=_title(hw_id, group, course, s.language)
                ),
                "rule": _plain(_rule_text(group, s)),
                **_homework_table(group, s),
            }
        )
    teams = sorted({r.team for r in records} | {a.team for a in attempts})
    return {
        "language": s.language,
        "course": visible(course.name.get(s.language)) if course else "",  # type: ignore[arg-type]
        "repository": course.repository if course and course.repository else None,
        "generated": s("site.generated", count=len(records), when=_when(stamps[-1])) if stamps else "",
        "strings": {
            key.removeprefix("site."): _plain(text) for key, text in s.flat.items() if key.startswith("site.")
        }
        | {
            f"verdict.{k.rsplit('.', 1)[1]}": v
            for k, v in s.flat.items()
            if k.startswith("gradebook.verdicts.")
        }
        | {key: text for key, text in s.flat.items() if key.startswith("history.")},
        "homeworks": homeworks,
        "teams": {team: _team(team, records, attempts, s) for team in teams if _TEAM.match(team)},
    }


def _homework_table(group: list[LeaderboardRecord], s: Strings) -> dict[str, Any]:
    """The leaderboard's own rows and ranks (grader.leaderboard.tables), as cells of text and a
    sort key each, and the points of the scatters (models and baselines)."""
    from grader.leaderboard import tables

    frame = tables.homework_frame(group)
    if frame.empty:
        return {"columns": [], "rows": [], "points": [], "quality": "", "higher": True, "device": "cpu"}
    shown = tables.display_frame(frame, group, s)
    keys = _column_keys(s)
    columns = [{"label": str(label), "key": keys.get(str(label), "quality")} for label in shown.columns]
    rows = []
    for position, raw in enumerate(frame.itertuples()):  # the verdict goes before the PR, the last
        cells = []
        for column, label in zip(columns, shown.columns, strict=True):
            key = column["key"]
            text = _cell_text(key, raw, str(shown.iloc[position][label]), s)
            cells.append({"text": text, "sort": _sort_value(key, raw, text)})
        verdict = s(f"gradebook.verdicts.{raw.verdict}")  # the model's own: what the filter picks
        cells.insert(len(cells) - 1, {"text": verdict, "sort": verdict.casefold()})
        rows.append({"cells": cells, "team": raw.team, "verdict": raw.verdict, "pr": _int(raw.pr)})
    info = tables._quality_info(group)
    metrics = frame["quality_metric"].dropna()
    primary = str(metrics.value_counts().sort_index().idxmax()) if not metrics.empty else None
    q = info.get(primary) if primary else None
    device = next((r.scoring.device for r in group if r.scoring is not None), "cpu")
    labels = {name: qi.label for name, qi in info.items()}
    columns.insert(len(columns) - 1, {"label": s("leaderboard.verdict"), "key": "verdict"})
    return {
        "columns": columns,
        "rows": rows,
        "points": _points(group, primary, device, bounded=bool(q and q.bounded)),
        "quality": visible(metric_label(f"quality.{primary}", s.language, labels)) if primary else "",
        "percent": bool(q and q.bounded),
        "higher": (q.direction == "higher") if q else True,
        "device": device,
        "ranked": tables.rule_of(group) is not ScoringRule.NONE,
    }


def _column_keys(s: Strings) -> dict[str, str]:
    names = ["rank", "team", "model", "method", "size", "latency_cpu", "latency_gpu", "ram", "vram"]
    names += ["compression", "speedup_cpu", "speedup_gpu", "retained", "score", "pr"]
    return {s(f"leaderboard.{name}"): name for name in names} | {s("leaderboard.quality_generic"): "quality"}


_RAW = {
    "rank": "rank",
    "size": "size_bytes",
    "latency_cpu": "latency_cpu_s",
    "latency_gpu": "latency_gpu_s",
    "ram": "ram_bytes",
    "vram": "vram_bytes",
    "quality": "quality",
    "compression": "compression",
    "speedup_cpu": "speedup_cpu",
    "speedup_gpu": "speedup_gpu",
    "retained": "retained",
    "pr": "pr",
}


def _cell_text(key: str, raw: Any, shown: str, s: Strings) -> str:
    """Plain text for the page: the README's cells are Markdown-escaped; names come from the raw row."""
    if key == "team":
        return visible(raw.team)
    if key == "model":
        return visible(raw.model)
    if key == "method":
        words = [s(f"methods.{m}") if s.has(f"methods.{m}") else visible(m) for m in raw.methods]
        text = " + ".join(words)
        if raw.format != "safetensors":
            text += " · " + (
                s(f"formats.{raw.format}") if s.has(f"formats.{raw.format}") else visible(raw.format)
            )
        if isinstance(raw.transform, str) and raw.transform:
            text += f" · {visible(raw.transform)}"
        return text
    return _plain(shown)


def _sort_value(key: str, raw: Any, text: str) -> float | str | None:
    if key == "score":
        if pd.isna(raw.score):
            return None
        # Pareto: the front first (lower is better), then compression; as one number, higher is better.
        return (
            -float(raw.pareto_rank) * 1e6 + float(raw.compression) if pd.notna(raw.pareto_rank) else raw.score
        )
    column = _RAW.get(key)
    if column is None:
        return text.casefold()
    value = getattr(raw, column)
    return None if value is None or pd.isna(value) else float(value)


def _points(group: list[LeaderboardRecord], primary: str | None, device: str, *, bounded: bool) -> list[dict]:
    out = []
    scale = 100.0 if bounded else 1.0
    for record in group:
        for entry in record.entries:
            m, r = entry.measured, entry.ratios
            quality = m.quality.get(primary) if primary else None
            size = m.graded_size_bytes if m.graded_size_bytes is not None else m.size_bytes
            speed = r.speedup_gpu if device == "cuda" else r.speedup_cpu
            if entry.is_baseline:
                speed = 1.0  # the reference every speed-up is measured against
            if quality is None:
                continue
            out.append(
                {
                    "team": record.team,
                    "model": visible(entry.name),
                    "baseline": entry.is_baseline,
                    "size_mb": size / 1e6 if size else None,
                    "speedup": speed,
                    "quality": quality * scale,
                    "verdict": entry.verdict.value,
                }
            )
    return sorted(out, key=lambda p: (p["team"], p["baseline"] is False, p["model"]))


def _team(team: str, records: list[LeaderboardRecord], attempts: list[AttemptRecord], s: Strings) -> dict:
    from grader.leaderboard.gradebook_command import best_score, changes, same_record, trigger, why

    current = {(r.team, r.homework): r for r in records if r.team == team}
    rows = []
    previous: AttemptRecord | None = None
    for attempt in [a for a in attempts if a.team == team]:  # by homework, oldest first
        record = current.get((team, attempt.homework))
        rows.append(
            {
                "homework": attempt.homework,
                "graded_at": _when(attempt.source.graded_at),
                "graded_sort": attempt.source.graded_at or "",
                "pr": attempt.source.pr_number,
                "head_sha": attempt.source.head_sha,
                "trigger": trigger(attempt, s),
                "verdict": attempt.verdict.value,
                "best": best_score(attempt),
                "changed": changes(previous, attempt, s),
                "current": record is not None and same_record(attempt, record),
                "why": why(attempt, s),
                "models": [
                    {
                        "name": visible(e.name),
                        "baseline": e.is_baseline,
                        "size": _size_text(e.measured.graded_size_bytes or e.measured.size_bytes),
                        "verdict": e.verdict.value,
                    }
                    for e in attempt.entries
                ],
            }
        )
        previous = attempt
    return {"attempts": rows}


def _size_text(n_bytes: int | None) -> str:
    return fmt.size_mb(n_bytes) if n_bytes else "—"


def _raw(records: list[LeaderboardRecord], attempts: list[AttemptRecord]) -> dict[str, Any]:
    """The records as they are filed (records.json): what the page is made from."""
    return {
        "records": [r.model_dump(mode="json") for r in records],
        "attempts": [a.model_dump(mode="json") for a in attempts],
    }


# --- writing -------------------------------------------------------------------------------------


def _json(data: Any, *, indent: int | None = None) -> str:
    text = json.dumps(data, ensure_ascii=False, indent=indent, sort_keys=False, default=_default)
    # Inert inside a <script> and in any HTML context the text might end up in.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _default(value: Any) -> Any:
    if isinstance(value, float) and pd.isna(value):
        return None
    return str(value)


def _shell(title: str, s: Strings, *, page: str, prefix: str, team: str = "") -> str:
    e = html.escape
    # Everything, scripts and styles included, comes from this folder: nothing is fetched elsewhere.
    policy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:"
    return (
        "<!doctype html>\n"
        f'<html lang="{e(s.language)}">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{e(visible(title))}</title>\n"
        f'<link rel="stylesheet" href="{prefix}site.css">\n</head>\n'
        f'<body data-page="{e(page)}" data-team="{e(team)}" data-root="{e(prefix)}">\n'
        f'<main id="app"><h1>{e(visible(title))}</h1>\n'
        f"<noscript><p>{e(s('site.noscript'))}</p></noscript></main>\n"
        f'<script src="{prefix}data.js"></script>\n<script src="{prefix}app.js"></script>\n'
        "</body>\n</html>\n"
    )


def _plain(text: str) -> str:
    """A README cell or line as plain text: the Markdown escapes and emphasis removed."""
    text = re.sub(r"\\([\\`*\[\]<>|~#_])", r"\1", text).replace("@\u2060", "@")
    return re.sub(r"\*\*(.+?)\*\*", r"\1", text).replace("`", "")


def _when(stamp: str | None) -> str:
    return stamp.replace("T", " ").replace("Z", " UTC") if stamp else "—"


def _int(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)
