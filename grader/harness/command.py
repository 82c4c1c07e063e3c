"""`grader measure` and `grader selftest`. Heavy imports stay inside the commands."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from grader.cli_common import CourseOption, err, find_repo_root, friendly, print_findings, resolve_course
from grader.exitcodes import ExitCode

if TYPE_CHECKING:
    from grader.course.model import Course
    from grader.fetch.document import FetchedArtifacts
    from grader.findings import Finding
    from grader.harness.models import DeviceMeasurement, MeasurementRun
    from grader.validate.document import ValidatedSubmission

commands = typer.Typer()  # added to `grader` by grader.cli
DEVICES = ("cpu", "cuda")


@commands.command("measure")
@friendly
def measure_command(
    submission: Annotated[
        Path,
        typer.Argument(
            help="validated.json from `grader validate --out`, fetched.json from `grader fetch --out` "
            "(its files are measured, not fetched again), or a submission.yaml (validated first)."
        ),
    ],
    course: CourseOption = None,
    out: Annotated[Path, typer.Option("--out", help="Where to write the measurement-run JSON.")] = Path(
        "measurement.json"
    ),
    devices: Annotated[
        str | None,
        typer.Option("--devices", help="Comma-separated subset of the course's devices: cpu,cuda."),
    ] = None,
    repo: Annotated[
        Path | None, typer.Option("--repo", help="Repository root (default: the folder with course.yaml).")
    ] = None,
    keep: Annotated[
        Path | None,
        typer.Option("--keep", help="Keep every child's job, report and log in this folder (for debugging)."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    allow_code_formats: Annotated[
        bool,
        typer.Option(
            "--allow-code-formats",
            help="An instructor allows TorchScript for this submission (the workflow passes it "
            "when the PR has the `allow-torchscript` label).",
        ),
    ] = False,
) -> None:
    """Measure every model of a submission (size, latency, memory, quality), each phase in a fresh process."""
    from grader.course import load_course
    from grader.harness.measure import measure_submission

    course_path = resolve_course(course, near=submission.parent)
    loaded = load_course(course_path)
    repo_root = repo or find_repo_root(course_path.parent) or course_path.parent
    wanted = _devices(devices)
    fetched = _read_fetched(submission)
    validated = _read_submission(submission, loaded, repo_root, fetched)
    if fetched is not None:
        _check_fetched_present(fetched, submission)
    with _ProgressBar(quiet) as progress, _no_downloads(fetched is not None):
        run = measure_submission(
            validated,
            loaded,
            repo_root,
            devices=wanted,
            progress=progress,
            cache_dir=Path(fetched.cache_dir) if fetched is not None else None,
            work_dir=keep,
            allow_code_formats=allow_code_formats,
        )
    if fetched is not None:
        _check_same_files(run, fetched, submission)
    run.write(out)
    print_measurement_summary(run)
    err.print(f"wrote {out}", highlight=False)


@commands.command("selftest")
@friendly
def selftest_command(
    device: Annotated[
        str, typer.Option("--device", help="cpu, or cuda on GPU runners (exit 3 where there is no GPU).")
    ] = "cpu",
    mib: Annotated[
        int, typer.Option("--mib", min=16, max=65536, help="Memory to allocate and read back.")
    ] = 512,
) -> None:
    """Check this runner's harness: memory and timing readings within 3 %, limits and crashes caught.

    --device cuda: VRAM (torch allocator, NVML) and GPU timers (CUDA events, synchronize) within 3 %.

    Exit 0: every check passed; 1: a reading is off; 3: no CUDA device here, skipped (reason printed).
    """
    from rich.table import Table

    from grader.harness.selftest import run_selftest

    if device not in DEVICES:
        raise typer.BadParameter(
            f"{device!r} is not a device: use {' or '.join(DEVICES)}", param_hint="--device"
        )
    result = run_selftest(device=device, mib=mib, progress=lambda label: err.print(f"… {label}", style="dim"))
    if result.skipped:
        err.print(result.skipped, style="yellow", markup=False, highlight=False)
        raise typer.Exit(ExitCode.SKIPPED)
    table = Table(title=f"harness self-test on {device}")
    for column in ("check", "expected", "measured", "", "detail"):
        table.add_column(column)
    for check in result.checks:
        verdict = "[green]ok[/green]" if check.ok else "[red]OFF[/red]"
        if check.skipped:
            verdict = "[yellow]n/a[/yellow]"
        table.add_row(check.name, check.expected, check.measured, verdict, check.detail)
    err.print(table)
    if not result.ok:
        err.print("the harness's readings are off on this runner; do not grade here", style="bold red")
        raise typer.Exit(ExitCode.CHECKS_FAILED)


def _devices(raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    names = [d.strip() for d in raw.split(",") if d.strip()]
    bad = [d for d in names if d not in DEVICES]
    if bad or not names:
        raise typer.BadParameter(
            f"unknown device {', '.join(bad) or repr(raw)}: "
            f"give a comma-separated list of {', '.join(DEVICES)}",
            param_hint="--devices",
        )
    return names


def _read_fetched(path: Path) -> FetchedArtifacts | None:
    """The fetch stage's document when ``path`` is one (by its `kind`), else None."""
    from grader.fetch.document import FetchedArtifacts

    if path.suffix.lower() in (".yaml", ".yml") or _document_kind(path) != FetchedArtifacts.KIND:
        return None
    return FetchedArtifacts.read(path)


def _document_kind(path: Path) -> str | None:
    """The `kind` a JSON stage document declares; None when unreadable (its reader then says why)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data.get("kind") if isinstance(data, dict) else None


def _read_submission(
    path: Path, course: Course, repo_root: Path, fetched: FetchedArtifacts | None = None
) -> ValidatedSubmission:
    from grader.validate.document import ValidatedSubmission

    if fetched is not None:
        validated = fetched.submission
    elif path.suffix.lower() in (".yaml", ".yml"):
        from grader.validate.manifest import validate_manifest

        validated = validate_manifest(path, course, repo_root)
    else:
        validated = ValidatedSubmission.read(path)
    if not validated.ok:
        print_findings(validated.findings)
        errors = sum(1 for f in validated.findings if f.is_error)
        err.print(
            f"{errors} error(s): the submission did not validate, so it is not measured; "
            "fix them (`grader validate` lists them), then measure again",
            style="bold red",
        )
        raise typer.Exit(ExitCode.BAD_INPUT)
    return validated


# --- measuring what `grader fetch` fetched --------------------------------------------------------


@contextmanager
def _no_downloads(active: bool) -> Iterator[None]:
    """While active, Hugging Face artifacts come only from the local hub cache.

    Measuring fetched.json measures the files `grader fetch` got: measure_submission checks and
    digests each artifact again (from the same cache: a URL's folder is keyed by its sha256, a
    Hub revision is staged from the hub cache), but must not download anything a second time.
    """
    if not active:
        yield
        return
    previous = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"  # grader.fetch.hf then asks for local files only
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = previous


def _check_fetched_present(fetched: FetchedArtifacts, path: Path) -> None:
    """Every fetched artifact's folder is still here (not fetched on another machine, not cleaned)."""
    from grader.errors import InputError

    missing = [
        _stale(path, index, item.key, f"its folder {item.root} is gone", "the folder `grader fetch` filled")
        for index, item in enumerate(fetched.artifacts)
        if item.ok and item.root and not Path(item.root).is_dir()
    ]
    if missing:
        raise InputError(missing)


def _check_same_files(run: MeasurementRun, fetched: FetchedArtifacts, path: Path) -> None:
    """The files measured are the files fetched, byte for byte (by their sha256)."""
    from grader.errors import InputError

    changed = []
    for model in run.models:
        item = fetched.item(model.key)
        if item is None or not item.ok or not model.artifact_digests or model.artifact_digests == item.files:
            continue
        differ = sorted(
            name
            for name in set(item.files) | set(model.artifact_digests)
            if item.files.get(name) != model.artifact_digests.get(name)
        )
        index = fetched.artifacts.index(item)
        changed.append(
            _stale(
                path,
                index,
                item.key,
                f"{', '.join(differ[:5])} changed since it was fetched",
                "the same files",
            )
        )
    if changed:
        raise InputError(changed)


def _stale(path: Path, index: int, key: str, what: str, expected: str) -> Finding:
    from grader.findings import Finding, Location

    return Finding(
        code="D005",
        location=Location(file=str(path), field=f"artifacts[{index}]"),
        message=f"{key}: {what}, so these are not the files that were fetched and checked",
        expected=expected,
        hint="run `grader fetch` again and measure the fetched.json it writes (or measure validated.json)",
    )


class _ProgressBar:
    """A rich progress bar fed by measure_submission's ProgressEvents (or nothing with --quiet)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def __enter__(self):  # -> Callable[[ProgressEvent], None] | None
        if self.quiet:
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(
            TextColumn("[bold]{task.fields[stage]:<8}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=err,
            transient=False,
        )
        self.bar.start()
        self.task = self.bar.add_task("starting", total=None, stage="measure")

        def update(event) -> None:  # event: ProgressEvent
            self.bar.update(
                self.task,
                completed=event.done,
                total=event.total,
                description=event.message,
                stage=event.stage,
            )

        return update

    def __exit__(self, *exc: object) -> None:
        if not self.quiet:
            self.bar.stop()


def print_measurement_summary(run: MeasurementRun) -> None:
    from rich.table import Table

    from grader.units import human_bytes

    table = Table(title="measured")
    for column in (
        "model",
        "status",
        "weights",
        "device",
        "latency / item",
        "peak RAM above interp.",
        "quality",
    ):
        table.add_column(column)
    for model in run.models:
        quality = ""
        if model.quality is not None and model.quality.visibility == "private":
            quality = "private set: withheld from this log"  # job logs are public; see grader.verify.private
        elif model.quality is not None:
            primary = model.quality.primary
            quality = f"{primary} {model.quality.metrics.get(primary, float('nan')):.4f}"
        weights = human_bytes(model.size.weights_bytes) if model.size else "—"
        rows: list[DeviceMeasurement | None] = [*model.devices.values()] or [None]
        for index, dm in enumerate(rows):
            latency = f"{dm.latency.per_item.median:.3f} ms" if dm and dm.latency else "—"
            memory = human_bytes(dm.memory.peak_above_interpreter_bytes) if dm and dm.memory else "—"
            status = dm.status.value if dm else model.status.value
            table.add_row(
                model.name if index == 0 else "",
                status if dm is None or not dm.reason else f"{status}: {dm.reason[:80]}",
                weights if index == 0 else "",
                dm.device if dm else "—",
                latency,
                memory,
                quality if index == 0 else "",
            )
        if model.status.value != "ok" and model.reason:
            table.add_row("", f"[red]{model.status.value}[/red]: {model.reason[:120]}", "", "", "", "", "")
    err.print(table)
