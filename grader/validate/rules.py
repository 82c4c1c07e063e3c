"""Course rules: the manifest against course.yaml (M-codes), and where the manifest lives.

Each check reads only the parts of the manifest that are valid on their own (see salvage), so a
schema mistake in one place does not hide a course mistake in another.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from grader.course.model import Course, Homework, Method
from grader.findings import Finding, Location, Severity
from grader.formats import code_formats, find_spec, format_backends
from grader.task_catalog import TASKS, TaskDeclaration, task_declaration
from grader.validate.pr_rules import CODE_FORMAT_LABEL
from grader.validate.read import Entry
from grader.validate.salvage import Part
from grader.validate.task_names import task_hint
from grader.yamlio import PositionMap

# Formats whose files carry code the runtime would execute; measured only with an instructor's
# permission (the CODE_FORMAT_LABEL PR label, or `--allow-code-formats`: pr_rules.code_formats_allowed).
CODE_FORMATS = code_formats()  # as each format declares it (grader.formats: FormatSpec.carries_code)

MANIFEST_NAME = "submission.yaml"
EXAMPLES_DIR = "_examples"  # submissions/_examples/hw-<n>/: documentation, not a team


def task_class(name: str) -> type[TaskDeclaration] | None:
    """The task's declarations (imports only its module, not torch), or None for an unknown task."""
    return task_declaration(name) if name in TASKS else None


def did_you_mean(name: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(name.lower(), list(options), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}? " if close else ""


def _listing(options: Iterable[Any]) -> str:
    items = [str(o) for o in options]
    return ", ".join(items) if items else "(none configured)"


def check_team(top: Part, course: Course, positions: PositionMap) -> list[Finding]:
    team = top.get("team")
    if team is None or team in course.teams:
        return []
    return [
        Finding(
            code="M001",
            location=positions.location(top.path_of("team")),
            message=f"team {team!r} is not on the course roster",
            expected=f"one of the teams in course.yaml: {_listing(course.teams)}",
            found=team,
            hint=did_you_mean(team, course.teams)
            + "use your team's name exactly as course.yaml spells it; a new team asks the instructors",
        )
    ]


def find_homework(top: Part, course: Course, positions: PositionMap) -> tuple[Homework | None, list[Finding]]:
    number = top.get("homework")
    if number is None:
        return None, []
    homework = course.homework(number)
    if homework is not None:
        return homework, []
    ids = [hw.id for hw in course.homeworks]
    return None, [
        Finding(
            code="M002",
            location=positions.location(top.path_of("homework")),
            message=f"the course has no homework {number}",
            expected=f"one of the homework numbers: {_listing(ids)}",
            found=str(top.raw_value("homework")),
            hint="write the number of the homework this submission is for, e.g. `homework: 2`",
        )
    ]


def check_task(top: Part, course: Course, positions: PositionMap) -> list[Finding]:
    task = top.get("task")
    if task is None or (task in course.tasks and task in TASKS):
        return []
    graded = [name for name in course.tasks if name in TASKS]
    message = f"this course does not grade task {task!r}" if task in TASKS else f"unknown task {task!r}"
    return [
        Finding(
            code="M004",
            location=positions.location(top.path_of("task")),
            message=message,
            expected=f"one of the tasks the course grades: {_listing(graded)}",
            found=task,
            hint=task_hint(task, graded),
        )
    ]


def check_eval(top: Part, course: Course, positions: PositionMap) -> list[Finding]:
    dataset_id, task = top.get("eval"), top.get("task")
    task = task if task in course.tasks else None  # an unknown task is M004's to report
    if dataset_id is None:
        return []
    location = positions.location(top.path_of("eval"))
    for_task = [name for name, d in course.datasets.items() if task is None or d.task == task]
    dataset = course.datasets.get(dataset_id)
    if dataset is None:
        return [
            Finding(
                code="M005",
                location=location,
                message=f"unknown eval dataset {dataset_id!r}",
                expected=f"a dataset id from course.yaml{f' for {task}' if task else ''}: "
                + _listing(for_task),
                found=dataset_id,
                hint=did_you_mean(dataset_id, course.datasets)
                + "or remove `eval:` to use the task's default dataset",
            )
        ]
    if task is not None and dataset.task != task:
        return [
            Finding(
                code="M005",
                location=location,
                message=f"eval dataset {dataset_id!r} is for {dataset.task}, not {task}",
                expected=f"a dataset for {task}: {_listing(for_task)}",
                found=f"{dataset_id} ({dataset.task})",
                hint="remove `eval:` to use the task's default dataset",
            )
        ]
    return []


def check_params(top: Part, course: Course, positions: PositionMap) -> list[Finding]:
    params, task = top.get("params"), top.get("task")
    settings = course.tasks.get(task) if task else None
    if not params or settings is None:
        return []
    cls = task_class(task)
    defaults: dict[str, Any] = {**(cls.default_params if cls else {}), **settings.params}
    allowed = settings.allowed_overrides
    findings = []
    for name, value in params.items():
        path = (*top.path_of("params"), name)
        if name not in allowed:
            findings.append(
                Finding(
                    code="M006",
                    location=positions.location(path, at_key=True),
                    message=f"the course does not let teams set {name!r} for {task}",
                    expected=f"only these parameters: {_listing(allowed)}"
                    if allowed
                    else f"no `params:` ({task} settings are fixed by the course)",
                    found=f"{name}: {value}",
                    hint=did_you_mean(name, allowed)
                    + "the course fixes task settings so that every team is measured the same way",
                )
            )
        elif cls is not None and name in cls.metric_params.values() and value:
            findings += _dataset_param(name, value, task, course, positions.location(path))
        elif name in defaults and not _same_kind(defaults[name], value):
            findings.append(
                Finding(
                    code="M006",
                    location=positions.location(path),
                    message=f"{name} should be {_kind(defaults[name])}",
                    expected=f"{_kind(defaults[name])}, like the course's default {defaults[name]!r}",
                    found=repr(value),
                    hint=f"write it as {_kind(defaults[name])}",
                )
            )
    return findings


def _dataset_param(name: str, value: Any, task: str, course: Course, location: Location) -> list[Finding]:
    """A param that names a dataset (causal-lm's `prompts`) names a public one of the task: a
    private set's figures would otherwise reach the team's PR comment."""
    dataset = course.datasets.get(str(value))
    if dataset is not None and dataset.task == task and dataset.visibility == "public":
        return []
    offered = sorted(n for n, d in course.datasets.items() if d.task == task and d.visibility == "public")
    return [
        Finding(
            code="M006",
            location=location,
            message=f"{name} {value!r} is not a public {task} dataset of the course",
            expected=f"one of: {_listing(offered)}",
            found=f"{name}: {value}",
            hint=did_you_mean(str(value), offered) + "course.yaml `datasets:` lists the sets",
        )
    ]


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    return "text"


def _same_kind(default: Any, value: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int)
    if isinstance(default, float):
        return isinstance(value, int | float)
    return isinstance(value, str)


def check_baseline_present(top: Part, homework: Homework | None, positions: PositionMap) -> list[Finding]:
    if homework is None or not homework.needs_baseline or top.raw_value("baseline") is not None:
        return []  # a baseline written wrongly is the schema's to report
    return [
        Finding(
            code="M007",
            location=positions.location(top.path_of("models"), at_key=True),
            message=f"HW-{homework.id} compares your models with your baseline, and there is none",
            expected="a `baseline:` entry: the uncompressed model you started from",
            found="no `baseline:`",
            hint="add `baseline:` with `name`, `artifact` and the claims you measured for it; "
            "speed-up and compression are measured against it",
        )
    ]


def check_methods(entries: list[Entry], homework: Homework | None, positions: PositionMap) -> list[Finding]:
    if homework is None:
        return []
    findings = []
    allowed = homework.methods
    for entry in entries:
        methods: list[Method] | None = entry.part.get("method")
        if methods is None and entry.part.written("method"):
            continue  # the schema reported it
        methods = methods or [Method.BASELINE]
        location = positions.location(entry.part.path_of("method"))
        if entry.is_baseline:
            if methods != [Method.BASELINE]:
                findings.append(
                    Finding(
                        code="M003",
                        location=location,
                        message="the baseline entry is the uncompressed model, so its method is baseline",
                        expected="method: baseline (or no `method:`)",
                        found=", ".join(m.value for m in methods),
                        hint="move compressed models to `models:`; `baseline:` is the model you started from",
                    )
                )
            continue
        refused = [m for m in methods if m not in allowed]
        if not refused:
            continue
        unwritten = not entry.part.written("method")
        findings.append(
            Finding(
                code="M003",
                location=location,
                message=(
                    f"`method:` is missing, so it defaults to baseline, which HW-{homework.id} does not take"
                    if unwritten
                    else f"HW-{homework.id} does not take {', '.join(m.value for m in refused)}"
                ),
                expected=f"methods of HW-{homework.id}: {_listing(m.value for m in allowed)}",
                found=", ".join(m.value for m in methods),
                hint=f"add `method: {allowed[0].value}` (or a list) to this model"
                if unwritten
                else "use the methods this homework is about; a combination is a list: "
                f"[{', '.join(m.value for m in allowed[:2])}]",
            )
        )
    return findings


def check_unique_names(entries: list[Entry], positions: PositionMap) -> list[Finding]:
    seen: dict[str, int | None] = {}
    findings = []
    for entry in entries:
        name = entry.part.get("name")
        if name is None:
            continue
        location = positions.location(entry.part.path_of("name"))
        key = name.strip().casefold()
        if key in seen:
            first = seen[key]
            findings.append(
                Finding(
                    code="M009",
                    location=location,
                    message=f"two models are named {name!r}",
                    expected="a different name for every model (each is one row of the table)",
                    found=f"{name!r} again" + (f" (first at line {first})" if first else ""),
                    hint="name each model by what makes it different, e.g. `int8-dynamic`, `int4-gptq`",
                )
            )
        else:
            seen[key] = location.line
    return findings


def check_code_formats(entries: list[Entry], positions: PositionMap, *, allowed: bool) -> list[Finding]:
    if allowed:
        return []
    findings = []
    for entry in entries:
        fmt = entry.part.get("format")
        if fmt in CODE_FORMATS:
            findings.append(
                Finding(
                    code="M010",
                    location=positions.location(entry.part.path_of("format")),
                    message=f"{fmt} files contain code that would run on the grading machine",
                    expected="safetensors, onnx, openvino or tensorrt (built by the runner from ONNX)",
                    found=f"format: {fmt}",
                    hint="export to ONNX or save a safetensors checkpoint; if the homework needs "
                    f"{fmt}, ask an instructor to add the `{CODE_FORMAT_LABEL}` label to your PR",
                )
            )
    return findings


def check_measurable_formats(entries: list[Entry], positions: PositionMap) -> list[Finding]:
    """A format no backend loads yet (FormatSpec.backend is None): said now, not after the GPU
    job, that only its size will be measured."""
    findings = []
    for entry in entries:
        fmt = entry.part.get("format")
        spec = find_spec(fmt)
        if spec is None or spec.backend is not None:
            continue
        findings.append(
            Finding(
                code="M017",
                severity=Severity.WARNING,
                location=positions.location(entry.part.path_of("format")),
                message=f"the grader has no backend for the {fmt} format yet: only the size of its files "
                "is measured",
                expected=f"a format the grader runs: {', '.join(format_backends())}",
                found=f"format: {fmt}",
                hint='its latency, memory and quality claims will read "not measurable here"; to have '
                "them verified, export to ONNX or save a safetensors checkpoint",
            )
        )
    return findings


@dataclass(frozen=True)
class ManifestPlace:
    """Where the manifest stands, and the folder its `path:` artifacts must stay inside."""

    path: Path  # absolute, normalised, symlinks not resolved
    repo_root: Path  # absolute, normalised
    display: str  # relative to the repository root when inside it, else as given

    @classmethod
    def of(cls, manifest: Path, repo_root: Path) -> ManifestPlace:
        path = Path(_normalise(manifest))
        # The root as given, else as resolved (the CLI finds it resolved; the working directory
        # may be reached through a link). The manifest's own path is never resolved.
        roots = [Path(_normalise(repo_root)), repo_root.resolve()]
        root = next((r for r in roots if _relative(path, r) is not None), roots[0])
        rel = _relative(path, root)
        return cls(path=path, repo_root=root, display=rel.as_posix() if rel else str(manifest))

    @property
    def relative(self) -> PurePosixPath | None:
        rel = _relative(self.path, self.repo_root)
        return PurePosixPath(rel.as_posix()) if rel else None

    @property
    def in_submissions(self) -> bool:
        rel = self.relative
        return rel is not None and len(rel.parts) >= 2 and rel.parts[0] == "submissions"

    @property
    def team_folder(self) -> str | None:
        """<folder> of submissions/<folder>/..., the folder the manifest is filed under."""
        rel = self.relative
        return rel.parts[1] if self.in_submissions and rel is not None and len(rel.parts) > 2 else None

    @property
    def is_example(self) -> bool:
        return self.team_folder == EXAMPLES_DIR

    @property
    def team_root(self) -> Path:
        """submissions/<folder>/ for a manifest inside one; otherwise the manifest's own folder."""
        folder = self.team_folder
        return self.repo_root / "submissions" / folder if folder else self.path.parent

    @property
    def link(self) -> Path | None:
        """A symlink on the way to the manifest inside the repository (the manifest included)."""
        return first_link(self.repo_root, self.path) if self.relative else None

    def to_repo(self, path: Path) -> str:
        """``path`` relative to the repository root (POSIX), or absolute when outside it."""
        rel = _relative(path, self.repo_root)
        return rel.as_posix() if rel else str(path)


def _normalise(path: Path) -> str:
    # Lexically, never resolving symlinks: a link on the way must be seen, not followed.
    return os.path.normpath(Path.cwd() / path)


def first_link(folder: Path, path: Path) -> Path | None:
    """The first symlink on the way from ``folder`` down to ``path`` (itself included), if any."""
    current = folder
    for part in path.relative_to(folder).parts:
        current = current / part
        if current.is_symlink():
            return current
    return None


def _relative(path: Path, root: Path) -> Path | None:
    try:
        return path.relative_to(root)
    except ValueError:
        return None


_HW_FOLDER = re.compile(r"hw-(\d+)")


def check_location(place: ManifestPlace, top: Part, course: Course, positions: PositionMap) -> list[Finding]:
    """submissions/<team>/hw-<n>/submission.yaml, with <team> and <n> as in the manifest.

    A team that is not on the roster is M001's to report: the folder is then likely right.
    """
    rel = place.relative
    if rel is None or not place.in_submissions or place.is_example:
        return []  # a manifest checked outside the course's submissions folder: no place to check
    team, number = top.get("team"), top.get("homework")
    parts = rel.parts
    folder = _HW_FOLDER.fullmatch(parts[2]) if len(parts) == 4 else None
    if folder is None or parts[3] != MANIFEST_NAME:
        want = f"submissions/{team or '<team>'}/hw-{number or '<n>'}/{MANIFEST_NAME}"
        return [
            Finding(
                code="M014",
                location=Location(file=place.display),
                message="the manifest is not where the grader looks for it",
                expected=f"submissions/<team>/hw-<n>/{MANIFEST_NAME}",
                found=rel.as_posix(),
                hint=f"move it to {want}",
            )
        ]
    findings = []
    if team is not None and team in course.teams and team != parts[1]:
        findings.append(
            Finding(
                code="M014",
                location=positions.location(top.path_of("team")),
                message=f"the manifest is in team folder {parts[1]!r} but names team {team!r}",
                expected=f"team: {parts[1]}",
                found=f"team: {team}",
                hint=f"a team submits only inside its own folder: submissions/{team}/",
            )
        )
    if number is not None and int(folder.group(1)) != number:
        findings.append(
            Finding(
                code="M014",
                location=positions.location(top.path_of("homework")),
                message=f"the manifest is in folder {parts[2]!r} but is for homework {number}",
                expected=f"homework: {int(folder.group(1))} (or move it to hw-{number}/)",
                found=f"homework: {number}",
                hint=f"each homework has its own folder: submissions/{parts[1]}/hw-{number}/{MANIFEST_NAME}",
            )
        )
    return findings
