"""`grader size PATH --format FORMAT`: the size report of one model, as the grader will measure it.

Students can run it before opening a PR to see what their files really hold; the JSON is the
same SizeReport the measurement embeds.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from grader.cli_common import err, friendly
from grader.exitcodes import ExitCode

commands = typer.Typer()  # added to `grader` by grader.cli

if TYPE_CHECKING:
    from grader.harness.models import SizeReport


@commands.command("size")
@friendly
def size_command(
    path: Annotated[
        Path, typer.Argument(help="The model: a folder, or a single file (model.onnx, model.xml).")
    ],
    format: Annotated[
        str, typer.Option("--format", "-f", help="safetensors, onnx, tensorrt, openvino or torchscript.")
    ] = "safetensors",
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the SizeReport as JSON to this file.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the SizeReport as JSON.")] = False,
    language: Annotated[str, typer.Option("--language", help="Language of the notes: en or ru.")] = "en",
    tensors: Annotated[bool, typer.Option("--tensors", help="List every tensor.")] = False,
    max_unique_scan_mib: Annotated[
        int | None,
        typer.Option(
            "--max-unique-scan-mib", help="Count distinct values exactly up to this tensor size (default: 8)."
        ),
    ] = None,
) -> None:
    """Files, parameters, dtypes, zeros, distinct values and ideal encodings of one model."""
    from grader.harness.size import SizeError, analyze_size
    from grader.harness.size_scan import DEFAULT_MAX_UNIQUE_SCAN_BYTES

    if language not in ("en", "ru"):
        err.print(f"error: --language must be en or ru, not {language!r}", style="red", markup=False)
        raise typer.Exit(ExitCode.BAD_INPUT)
    limit = DEFAULT_MAX_UNIQUE_SCAN_BYTES if max_unique_scan_mib is None else max_unique_scan_mib << 20
    try:
        report = analyze_size(path, format, max_unique_scan_bytes=limit)
    except (SizeError, OSError) as error:
        err.print(f"error: {error}", style="red", markup=False)
        raise typer.Exit(ExitCode.BAD_INPUT) from None
    text = report.model_dump_json(indent=2)
    if out is not None:
        from grader.atomic import write_atomic

        write_atomic(out, text + "\n")
    if as_json:
        typer.echo(text)
        return
    _print(report, language, tensors)


def _print(report: SizeReport, language: str, tensors: bool) -> None:
    from grader.units import human_bytes

    console = Console(highlight=False)
    summary = Table(show_header=False, box=None)
    rows = [
        (
            "files",
            f"{human_bytes(report.files_bytes)} ({report.files_bytes:,} bytes, {len(report.files)} files)",
        ),
        ("weights", f"{human_bytes(report.weights_bytes)} ({report.weights_bytes:,} bytes)"),
        ("parameters", f"{report.params:,}"),
    ]
    if report.effective_bits_per_weight is not None:
        rows.append(("bits per weight", f"{report.effective_bits_per_weight:.2f}"))
    if report.packed_bits_per_weight is not None:
        rows.append(("packed layers", f"{report.packed_bits_per_weight:.2f} bits per weight"))
    if report.zeros_fraction is not None:
        rows.append(("zeros", f"{report.zeros_fraction * 100:.1f} %"))
    for label, value in (
        ("ideal sparse", report.sparse_ideal_bytes),
        ("ideal codebook", report.codebook_ideal_bytes),
        (f"compressed ({report.compressed_codec})", report.compressed_bytes),
    ):
        if value is not None:
            rows.append((label, f"{human_bytes(value)} ({value:,} bytes)"))
    for label, text in rows:
        summary.add_row(label, text)
    console.print(summary)
    dtypes = Table("dtype", "params", "bytes", title="by stored dtype")
    for name, share in report.dtypes.items():
        dtypes.add_row(name, f"{share.params:,}", f"{share.bytes:,}")
    console.print(dtypes)
    if tensors:
        table = Table("tensor", "dtype", "shape", "bytes", "zeros", "distinct", title="tensors")
        for t in report.tensors:
            distinct = (
                str(t.unique)
                if t.unique is not None
                else (f"≥{t.unique_at_least}" if t.unique_at_least else "")
            )
            zeros = "" if t.zeros is None else f"{t.zeros:,}"
            table.add_row(t.name, t.dtype, str(t.shape), f"{t.bytes:,}", zeros, distinct)
        console.print(table)
    from grader.messages import render_note  # the one catalog writes the notes, in this language

    for note in report.notes:
        console.print(f"• {render_note(note, language)}", markup=False)
