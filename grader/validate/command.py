"""`grader validate`, `grader validate-course`, `grader schema`, `grader codes`.

Heavy imports stay inside the commands so that `grader --help` is fast.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from grader.cli_common import CourseOption, find_repo_root, friendly, print_findings, resolve_course
from grader.exitcodes import ExitCode
from grader.findings import Finding, has_errors
from grader.validate.document import read_pull_request_context

commands = typer.Typer()  # added to `grader` by grader.cli
out = Console(highlight=False, soft_wrap=True)


class OutputFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    GITHUB = "github"


@commands.command("validate")
@friendly
def validate_command(
    manifest: Annotated[Path, typer.Argument(help="submissions/<team>/hw-<n>/submission.yaml")],
    course: CourseOption = None,
    repo: Annotated[
        Path | None,
        typer.Option(
            "--repo", help="Repository root (default: the folder above the manifest with course.yaml)."
        ),
    ] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Also write the validated-submission JSON here.")
    ] = None,
    output: Annotated[
        OutputFormat,
        typer.Option(
            "--format", help="text: compiler-style lines; json: the document; github: workflow annotations."
        ),
    ] = OutputFormat.TEXT,
    pr_file: Annotated[
        Path | None,
        typer.Option("--pr", help="PullRequestContext JSON (from the GitHub API): also check the PR rules."),
    ] = None,
    allow_code_formats: Annotated[
        bool,
        typer.Option("--allow-code-formats", help="An instructor allows TorchScript for this submission."),
    ] = False,
) -> None:
    """Check a submission manifest: schema, course rules, claims, artifacts (and the PR). Exit 2 on errors."""
    from grader.course import load_course
    from grader.validate.manifest import validate_manifest

    course_path = resolve_course(course, near=manifest.parent)
    loaded_course = load_course(course_path)
    repo_root = repo or find_repo_root(manifest.parent) or course_path.parent
    pr = read_pull_request_context(pr_file) if pr_file else None
    result = validate_manifest(
        manifest, loaded_course, repo_root, pr=pr, allow_code_formats=allow_code_formats
    )
    result.course_sha256 = hashlib.sha256(course_path.read_bytes()).hexdigest()
    if out_file is not None:
        result.write(out_file)
    _emit(result.findings, output, subject=result.manifest_path, document=result.to_json())
    if not result.ok:
        raise typer.Exit(ExitCode.BAD_INPUT)


@commands.command("validate-course")
@friendly
def validate_course_command(
    path: Annotated[Path | None, typer.Argument(help="course.yaml (default: the repository's)")] = None,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="text or github (json prints the findings).")
    ] = OutputFormat.TEXT,
) -> None:
    """Check course.yaml: its schema, and the tasks, datasets, roster and deadlines it names."""
    from grader.validate.course_checks import validate_course_file

    course_path = resolve_course(path)
    course, findings = validate_course_file(course_path)
    document = json.dumps([f.model_dump(mode="json") for f in findings], indent=2, ensure_ascii=False) + "\n"
    _emit(findings, output, subject=str(course_path), document=document)
    if course is None or has_errors(findings):
        raise typer.Exit(ExitCode.BAD_INPUT)


@commands.command("schema")
@friendly
def schema_command(
    check: Annotated[bool, typer.Option("--check", help="Exit 1 if the file is not current.")] = False,
    path: Annotated[
        Path | None, typer.Option("--out", help="Where the schema goes (default: submissions/schema.json).")
    ] = None,
) -> None:
    """Write the manifest's JSON Schema (submissions/schema.json), or check that it is current."""
    from grader.manifest.schema import SCHEMA_PATH, schema_is_current, write_schema

    target = path or (find_repo_root() or Path.cwd()) / SCHEMA_PATH
    if check:
        if not schema_is_current(target):
            out.print(f"{target} is stale or missing; regenerate it with `grader schema`", style="red")
            raise typer.Exit(ExitCode.CHECKS_FAILED)
        out.print(f"{target} is current")
        return
    write_schema(target)
    out.print(f"wrote {target}")


@commands.command("codes")
def codes_command(
    markdown: Annotated[bool, typer.Option("--markdown", help="Print docs/findings.md's text.")] = False,
    path: Annotated[Path | None, typer.Option("--out", help="Write the Markdown to this file.")] = None,
) -> None:
    """List every finding code: what it means, an example, and the fix."""
    from grader.codes import all_codes
    from grader.validate.output import codes_markdown

    codes = all_codes()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(codes_markdown(codes), encoding="utf-8")
        out.print(f"wrote {path}")
        return
    if markdown:
        typer.echo(codes_markdown(codes), nl=False)
        return
    for doc in codes.values():
        out.print(f"[bold]{doc.code}[/bold]  {doc.title}", markup=True)
        out.print(f"      fix: {doc.fix}", markup=False)


def _emit(findings: list[Finding], output: OutputFormat, *, subject: str, document: str) -> None:
    from grader.validate.output import github_annotation, summary

    if output is OutputFormat.JSON:
        typer.echo(document, nl=False)
    elif output is OutputFormat.GITHUB:
        for finding in findings:
            typer.echo(github_annotation(finding))
        typer.echo(summary(findings, subject))
    else:
        print_findings(findings, out)
        style = "bold red" if has_errors(findings) else "bold green"
        out.print(summary(findings, subject), style=style, markup=False)
