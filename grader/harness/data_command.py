"""`grader eval-data`: what the grader will score quality on.

grader eval-data show sentiment-ru          # items, labels, the digest every grade will name
grader eval-data sha256 data/reviews.jsonl  # the value to pin as `sha256:` in course.yaml
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from grader.cli_common import CourseOption, friendly, resolve_course
from grader.errors import InputError
from grader.findings import Finding, Location

commands = typer.Typer(  # the `grader eval-data` group, added by grader.cli
    name="eval-data",
    help="The course's eval data: show what the grader scores on, or compute a digest to pin.",
    no_args_is_help=True,
)
out = Console(highlight=False, soft_wrap=True)


@commands.command("show")
@friendly
def show_command(
    dataset: Annotated[str, typer.Argument(help="A dataset id from course.yaml `datasets:`.")],
    course: CourseOption = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Override the dataset's `limit:`.")] = None,
    items: Annotated[int, typer.Option("--items", help="How many items to print.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary instead.")] = False,
) -> None:
    """Load a dataset as the grader does: item count, labels, digest and the first items."""
    from grader.course import load_course
    from grader.harness.data import load_eval_data

    course_path = resolve_course(course)
    data = load_eval_data(dataset, load_course(course_path), course_path.parent, limit=limit)
    summary = _summary(data)
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False, indent=2))
        return
    sampled = f" (a sample of {data.total}, seed {data.seed})" if data.seed is not None else ""
    out.print(f"[bold]{dataset}[/bold]: {summary['n']} items{sampled}", markup=True)
    out.print(f"digest: {data.digest}", markup=False)
    if summary["label_counts"]:
        counts = ", ".join(f"{name} {count}" for name, count in summary["label_counts"].items())
        out.print(f"labels: {counts}", markup=False)
    for index, item in enumerate(data.items[:items]):
        out.print(f"  {index + 1}. {_describe(item)}", markup=False)


@commands.command("sha256")
@friendly
def sha256_command(
    path: Annotated[Path, typer.Argument(help="The data file or folder that `path:` names.")],
) -> None:
    """The sha256 to write as `sha256:` for a `path:` source (a file, or a folder of files)."""
    from grader.harness.data import source_sha256

    if not path.exists():
        raise InputError(
            [
                Finding(
                    code="E002",
                    location=Location(file=str(path)),
                    message="the path does not exist",
                    hint="give the data file or folder, relative to where you run the command",
                )
            ]
        )
    typer.echo(source_sha256(path))


def _summary(data: Any) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    for item in data.items:
        label = item.get("label")
        if isinstance(label, str):
            counts[label] += 1
    return {
        "dataset": data.dataset_id,
        "n": len(data.items),
        "total": data.total,
        "seed": data.seed,
        "labels": data.labels,
        "label_counts": {name: counts[name] for name in (data.labels or [])} if counts else {},
        "digest": data.digest,
    }


def _describe(item: dict[str, Any]) -> str:
    parts = []
    for field, value in item.items():
        if hasattr(value, "shape"):
            parts.append(f"{field}: array {tuple(value.shape)} {value.dtype}")
        elif isinstance(value, dict) and "array" in value:
            parts.append(f"{field}: {len(value['array'])} samples at {value.get('sampling_rate')} Hz")
        else:
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            parts.append(f"{field}: {text[:100]}")
    return "; ".join(parts)
