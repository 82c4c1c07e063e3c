"""`grader validate-course`: course.yaml against its schema, then against the grader (C-codes).

The schema (grader.course.model) catches wrong types and values; these checks catch what only
the grader knows: tasks it implements, datasets that belong to them, files that exist, rosters
that say unambiguously who is in which team, deadlines that name their time zone.
"""

from __future__ import annotations

from pathlib import Path

from grader.course import load_course
from grader.course.model import Course
from grader.errors import InputError
from grader.findings import Finding, Severity
from grader.task_catalog import TASKS
from grader.validate.rules import did_you_mean, task_class
from grader.yamlio import PositionMap, load_yaml_file


def validate_course_file(path: Path) -> tuple[Course | None, list[Finding]]:
    """The course and every finding about it; the course is None when it cannot be used."""
    try:
        course = load_course(path)
    except InputError as error:
        return None, error.findings
    positions = load_yaml_file(path).positions
    return course, check_course(course, positions, path.parent)


def check_course(course: Course, positions: PositionMap, folder: Path) -> list[Finding]:
    return [
        *_unknown_tasks(course, positions),
        *_dataset_tasks(course, positions),
        *_dataset_files(course, positions, folder),
        *_shared_members(course, positions),
        *_naive_deadlines(course, positions),
        *_unknown_params(course, positions),
        *_dataset_params(course, positions),
    ]


def _unknown_tasks(course: Course, positions: PositionMap) -> list[Finding]:
    return [
        Finding(
            code="C002",
            location=positions.location(("tasks", name), at_key=True),
            message=f"the grader has no task {name!r}",
            expected=f"one of the grader's tasks: {', '.join(sorted(TASKS))}",
            found=name,
            hint=did_you_mean(name, TASKS) + "a new task is a module in grader/harness/tasks/",
        )
        for name in course.tasks
        if name not in TASKS
    ]


def _dataset_tasks(course: Course, positions: PositionMap) -> list[Finding]:
    findings = []
    for dataset_id, dataset in course.datasets.items():
        if dataset.task not in TASKS:
            findings.append(
                Finding(
                    code="C003",
                    location=positions.location(("datasets", dataset_id, "task")),
                    message=f"dataset {dataset_id!r} is for task {dataset.task!r}, "
                    "which the grader does not have",
                    expected=f"one of: {', '.join(sorted(TASKS))}",
                    found=dataset.task,
                    hint=did_you_mean(dataset.task, TASKS).rstrip() or "fix the task name",
                )
            )
    for name, settings in course.tasks.items():
        default = course.datasets.get(settings.dataset)
        if name in TASKS and default is not None and default.task != name:
            findings.append(
                Finding(
                    code="C003",
                    location=positions.location(("tasks", name, "dataset")),
                    message=f"the default dataset of {name} is {settings.dataset!r}, "
                    f"a {default.task} dataset",
                    expected=f"a dataset whose `task:` is {name}",
                    found=f"{settings.dataset} (task: {default.task})",
                    hint="pick a dataset for this task, or fix the dataset's `task:`",
                )
            )
    return findings


def _dataset_files(course: Course, positions: PositionMap, folder: Path) -> list[Finding]:
    findings = []
    for dataset_id, dataset in course.datasets.items():
        path = dataset.source.path
        if path and not (folder / path).is_file():
            findings.append(
                Finding(
                    code="C005",
                    location=positions.location(("datasets", dataset_id, "source", "path")),
                    message=f"the file of dataset {dataset_id!r} does not exist",
                    expected="a file relative to course.yaml's folder, committed in the repository",
                    found=path,
                    hint="commit the file, or fix the path",
                )
            )
    return findings


def _shared_members(course: Course, positions: PositionMap) -> list[Finding]:
    first_team: dict[str, str] = {}
    findings = []
    for team, info in course.teams.items():
        for index, login in enumerate(info.members):
            other = first_team.setdefault(login.lower(), team)
            if other != team:
                findings.append(
                    Finding(
                        code="C004",
                        severity=Severity.WARNING,
                        location=positions.location(("teams", team, "members", index)),
                        message=f"{login} is a member of both {other} and {team}",
                        expected="each login in one team",
                        found=f"{login} in {other} and {team}",
                        hint="a student in two teams may open PRs for both; remove one if that is a mistake",
                    )
                )
    return findings


def _naive_deadlines(course: Course, positions: PositionMap) -> list[Finding]:
    findings = []
    for index, homework in enumerate(course.homeworks):
        if homework.deadline is not None and homework.deadline.tzinfo is None:
            findings.append(
                Finding(
                    code="C006",
                    severity=Severity.WARNING,
                    location=positions.location(("homeworks", index, "deadline")),
                    message=f"the deadline of HW-{homework.id} has no time zone, so it is read as UTC",
                    expected="a time with its offset, e.g. 2025-10-01T23:59:00+03:00",
                    found=homework.deadline.isoformat(),
                    hint="add the offset of the course's time zone (Moscow: +03:00)",
                )
            )
    return findings


def _unknown_params(course: Course, positions: PositionMap) -> list[Finding]:
    findings = []
    for name, settings in course.tasks.items():
        cls = task_class(name)
        if cls is None:
            continue  # C002 says it
        known = set(cls.default_params)
        for field in ("params", "allowed_overrides"):
            values = settings.params if field == "params" else settings.allowed_overrides
            for index, param in enumerate(values):
                if param in known:
                    continue
                key = ("tasks", name, field, param if field == "params" else index)
                findings.append(
                    Finding(
                        code="C007",
                        severity=Severity.WARNING,
                        location=positions.location(key, at_key=field == "params"),
                        message=f"{name} has no parameter {param!r}; it would be ignored",
                        expected=f"one of {name}'s parameters: {', '.join(sorted(known)) or '(none)'}",
                        found=param,
                        hint=did_you_mean(param, known) + "remove it or fix its name",
                    )
                )
    return findings


def _dataset_params(course: Course, positions: PositionMap) -> list[Finding]:
    """A task param that names a dataset (causal-lm's `prompts`) names one of that task."""
    findings = []
    for name, settings in course.tasks.items():
        cls = task_class(name)
        for param in sorted(set(cls.metric_params.values()) if cls else ()):
            value = settings.params.get(param)
            dataset = course.datasets.get(str(value)) if value else None
            if not value or (dataset is not None and dataset.task == name):
                continue
            findings.append(
                Finding(
                    code="C003",
                    location=positions.location(("tasks", name, "params", param)),
                    message=f"{name}'s `{param}` names {value!r}, not a {name} dataset of the course",
                    expected=f"a dataset under `datasets:` whose `task:` is {name}",
                    found=str(value) if dataset is None else f"{value} (task: {dataset.task})",
                    hint=did_you_mean(str(value), course.datasets) + "define it or fix the name",
                )
            )
    return findings
