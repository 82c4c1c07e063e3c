"""Leaderboard plots: weights size vs quality and speed-up vs quality, one pair per homework.

Re-running on the same records must not change a byte, so every plot is drawn on a standalone
Agg canvas (no pyplot global state) with fixed figure settings, the bundled DejaVu Sans font,
and no PNG metadata that varies (matplotlib's "Software" version string is removed). Files are
written only when their bytes change.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from grader.atomic import write_atomic
from grader.leaderboard.records import LeaderboardRecord
from grader.report.templates import Strings
from grader.verify.messages import metric_label
from grader.verify.models import QualityMetricInfo

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

PLOT_NAME = re.compile(r"^hw-\d+-(size|speedup)-quality\.png$")
_STYLE: dict[RcKeyType, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "savefig.dpi": 100,
    "path.simplify": False,
    "svg.hashsalt": "compression-grader",
}
# Colour-blind-safe (Okabe-Ito), assigned to teams in name order so a team keeps its colour.
_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


@dataclass(frozen=True)
class Plot:
    name: str  # file name inside the plots folder
    kind: str  # "size" or "speedup"
    png: bytes


def plot_homework(
    homework: int,
    frame: pd.DataFrame,
    records: list[LeaderboardRecord],
    s: Strings,
    *,
    device: str = "cpu",
    render: bool = True,
) -> list[Plot]:
    """The homework's plots (none when no model has both figures a plot needs). With
    ``render=False`` only which plots there are (names, kinds; empty bytes): `--check` needs no PNG."""
    info: dict[str, QualityMetricInfo] = {}
    for record in records:
        for name, metric in record.quality_metrics.items():
            info.setdefault(name, metric)
    metrics = frame["quality_metric"].dropna()
    if metrics.empty:
        return []
    primary = str(metrics.value_counts().sort_index().idxmax())  # the most common; ties by name
    rows = frame[(frame["quality_metric"] == primary) & frame["quality"].notna()]
    q = info.get(primary)
    scale = 100.0 if q is not None and q.bounded else 1.0
    labels = {name: qi.label for name, qi in info.items()}
    y_label = s("leaderboard.axis_quality", metric=metric_label(f"quality.{primary}", s.language, labels))
    if scale == 100.0:
        y_label += ", %"
    teams = sorted(set(frame["team"]))
    colours = {team: _COLOURS[i % len(_COLOURS)] for i, team in enumerate(teams)}
    speed = "speedup_gpu" if device == "cuda" else "speedup_cpu"
    bases = _baselines(records, primary, teams)
    baseline_label = s("leaderboard.baseline_marker")
    out = []
    size_rows = rows[rows["size_bytes"].notna()]
    if not size_rows.empty:
        png = render and _scatter(
            [
                (team, model, size / 1e6, value * scale)
                for team, model, size, value in _cells(size_rows, "size_bytes")
            ],
            [(team, size / 1e6, value * scale) for team, size, value in bases if size is not None],
            colours,
            labels=(s("leaderboard.plot_size"), s("leaderboard.axis_size"), y_label, baseline_label),
            log_label=s("leaderboard.axis_size_log"),
        )
        out.append(Plot(f"hw-{homework}-size-quality.png", "size", png or b""))
    speed_rows = rows[rows[speed].notna()]
    if not speed_rows.empty:
        png = render and _scatter(
            [(team, model, x, value * scale) for team, model, x, value in _cells(speed_rows, speed)],
            [(team, 1.0, value * scale) for team, _, value in bases],  # a baseline is 1× itself
            colours,
            labels=(
                s("leaderboard.plot_speedup"),
                s("leaderboard.axis_speedup", device=device.upper()),
                y_label,
                baseline_label,
            ),
        )
        out.append(Plot(f"hw-{homework}-speedup-quality.png", "speedup", png or b""))
    return out


def _cells(rows: pd.DataFrame, x: str) -> Iterator[tuple[Any, Any, Any, Any]]:
    """(team, model, x, quality) of each row, as itertuples() gives them (a frame's cells are untyped)."""
    return zip(rows["team"], rows["model"], rows[x], rows["quality"], strict=True)


def _baselines(
    records: list[LeaderboardRecord], primary: str, teams: list[str]
) -> list[tuple[str, float | None, float]]:
    """(team, size bytes, quality) of each listed team's baseline: where the team started."""
    out = []
    for record in records:
        if record.team not in teams:
            continue
        for entry in record.entries:
            value = entry.measured.quality.get(primary)
            if entry.is_baseline and value is not None:
                size = entry.measured.graded_size_bytes or entry.measured.size_bytes
                out.append((record.team, float(size) if size else None, value))
    return out


def _scatter(
    points: list[tuple[str, str, float, float]],
    baselines: list[tuple[str, float, float]],
    colours: dict[str, str],
    *,
    labels: tuple[str, str, str, str],
    log_label: str | None = None,
) -> bytes:
    """A scatter of models (filled) and baselines (hollow), coloured by team. With ``log_label``
    the x axis turns logarithmic, and is labelled so, when the values span a factor of 10."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, NullFormatter

    title, x_label, y_label, baseline_label = labels
    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(7.2, 4.2), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        for team in sorted({p[0] for p in points}):
            mine = [p for p in points if p[0] == team]
            ax.scatter(
                [p[2] for p in mine], [p[3] for p in mine], s=36, color=colours[team], label=team, zorder=3
            )
            for _, model, x, y in mine:
                ax.annotate(
                    model, (x, y), xytext=(4, 4), textcoords="offset points", fontsize=7, color="#333333"
                )
        for team, x, y in baselines:
            ax.scatter([x], [y], s=44, facecolors="none", edgecolors=colours[team], linewidths=1.2, zorder=2)
        if baselines:  # one grey legend entry for every team's baseline
            ax.scatter(
                [], [], s=44, facecolors="none", edgecolors="#666666", linewidths=1.2, label=baseline_label
            )
        xs = [p[2] for p in points] + [b[1] for b in baselines]
        if log_label is not None and min(xs) > 0 and max(xs) / min(xs) >= 10:
            x_label = log_label
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.margins(x=0.12, y=0.12)  # room for the labels next to the outermost points
        ax.set_title(title)
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
        fig.subplots_adjust(left=0.09, right=0.80, top=0.92, bottom=0.12)  # fixed: no layout search
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return buffer.getvalue()


def write_plots(plots: list[Plot], folder: Path) -> list[Path]:
    """Write the plots whose bytes changed, remove our stale ones; return the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    wanted = {p.name for p in plots}
    for plot in plots:
        path = folder / plot.name
        if not path.exists() or path.read_bytes() != plot.png:
            write_atomic(path, plot.png)
            written.append(path)
    for path in sorted(folder.iterdir()):
        if PLOT_NAME.match(path.name) and path.name not in wanted and path.is_file():
            path.unlink()  # a homework with no plottable models any more: only files we name
    return written
