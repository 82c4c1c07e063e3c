"""The `inputs:` mapping of a model entry (M019), and an ONNX graph's inputs against it (A019).

`inputs:` maps a graph input's name to the role the task feeds it (grader.input_roles). The
mapping is checked on its own first: the task must declare roles, the format must be one whose
backends feed by role (ONNX, OpenVINO), each role must be one of the task's, and no role given
twice. Then, where the ONNX graph is parsed (grader.validate.artifacts), every graph input must
take a role (mapped, or a name the task guesses) and every mapped name must be a graph input, so
a model the harness could not feed is refused here, not reported FAILED after its measurement.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from grader.findings import Finding, Location
from grader.input_roles import ROLE_FORMATS, ROLES, DeclaresInputs, guessed_names, resolve
from grader.task_catalog import TASKS, task_declaration
from grader.validate.read import Entry
from grader.validate.rules import did_you_mean
from grader.yamlio import PathKey, PositionMap

_FIELD = "inputs"


def task_inputs(task: str | None) -> type[DeclaresInputs] | None:
    """The task's input declarations, when it is a registered task."""
    return task_declaration(task) if task in TASKS else None  # type: ignore[arg-type]


def mapping_findings(entry: Entry, task: str | None, positions: PositionMap) -> list[Finding]:
    """The entry's `inputs:` on its own: a task that feeds roles, a format that takes them, known
    roles, none twice (M019)."""
    mapping: dict[str, str] = entry.part.get(_FIELD) or {}
    declared = task_inputs(task)
    if not mapping or declared is None:
        return []
    base = entry.part.path_of(_FIELD)
    fmt = entry.part.get("format") or "safetensors"
    if not declared.input_roles:
        return [
            _m019(
                positions.location(base, at_key=True),
                f"the {task} task feeds its models' inputs by their names and takes no `inputs:`",
                expected="no `inputs:` mapping",
                found=", ".join(mapping),
                hint="export the model with the input names the task's checkpoints use, and remove `inputs:`",
            )
        ]
    if fmt not in ROLE_FORMATS:
        return [
            _m019(
                positions.location(base, at_key=True),
                f"`inputs:` applies to {' and '.join(ROLE_FORMATS)} models only; this model's format "
                f"is {fmt}, whose inputs its own loader fixes",
                expected=f"format: {' or '.join(ROLE_FORMATS)}",
                found=f"format: {fmt}",
                hint="remove `inputs:`, or submit the ONNX / OpenVINO export it describes",
            )
        ]
    findings = [
        _unknown_role(positions.location((*base, name)), name, role, task or "", declared)
        for name, role in mapping.items()
        if role not in declared.input_roles
    ]
    by_role: dict[str, list[str]] = {}
    for name, role in mapping.items():
        by_role.setdefault(role, []).append(name)
    for role, names in by_role.items():
        if len(names) > 1 and role in declared.input_roles:
            findings.append(
                _m019(
                    positions.location((*base, names[1])),
                    f"{len(names)} graph inputs take the role {role}: {', '.join(names)}",
                    expected="each role given to one graph input",
                    found=", ".join(f"{name}: {role}" for name in names),
                    hint="map each graph input to the role it really takes",
                )
            )
    return findings


def _unknown_role(
    location: Location, name: str, role: str, task: str, declared: type[DeclaresInputs]
) -> Finding:
    roles = ", ".join(declared.input_roles)
    known = ROLES.get(role)
    problem = (
        f"the {task} task does not feed {role} ({known.what})"
        if known
        else f"{role!r} is not a role the grader knows"
    )
    return _m019(
        location,
        f"`inputs: {{{name}: {role}}}`: {problem}",
        expected=f"one of the {task} task's roles: {roles}",
        found=role,
        hint=did_you_mean(role, declared.input_roles)
        + "submissions/README.md says what the grader feeds for each role",
    )


def _m019(location: Location, message: str, *, expected: str, found: str, hint: str) -> Finding:
    return Finding(code="M019", location=location, message=message, expected=expected, found=found, hint=hint)


# --- the graph against the mapping (A019) ---------------------------------------------------------


def graph_input_findings(
    model: Any,
    model_file: Path,
    location: Location,
    task: str | None,
    mapping: dict[str, str],
    mapping_path: PathKey | None,
    positions: PositionMap,
) -> list[Finding]:
    """Graph inputs no role is fed to, mapped names the graph lacks, no main input (A019)."""
    declared = task_inputs(task)
    if declared is None or not declared.input_roles:
        return []  # causal LM with its cache, seq2seq: fed by name, checked when measured
    constants = {tensor.name for tensor in model.graph.initializer}  # old exports list them as inputs
    names = [i.name for i in model.graph.input if i.name not in constants]
    mapping = {name: role for name, role in mapping.items() if role in declared.input_roles}  # else M019
    resolution = resolve(declared, names, mapping)
    findings = []
    for name in resolution.absent:
        where = positions.location((*mapping_path, name), at_key=True) if mapping_path else location
        findings.append(
            _a019(
                where,
                f"`inputs:` maps {name!r}, which is not an input of {model_file.name}",
                expected=f"graph inputs: {', '.join(names) or 'none'}",
                found=name,
                hint=did_you_mean(name, names) + "use the input names the graph declares (Netron shows "
                "them, or `[i.name for i in onnx.load(path).graph.input]`)",
            )
        )
    if resolution.unfed or resolution.missing_main:
        findings.append(_unfed(declared, task or "", names, resolution.unfed, model_file, location))
    return findings


def _unfed(
    declared: type[DeclaresInputs],
    task: str,
    names: list[str],
    unfed: list[str],
    model_file: Path,
    location: Location,
) -> Finding:
    guessed = guessed_names(declared)
    main = " or ".join(ROLES[role].key for role in declared.main_input_roles)
    problem = (
        f"the grader does not know what to feed {', '.join(unfed[:5])}"
        if unfed
        else f"none of its inputs takes {main}"
    )
    example = ", ".join(f"{name}: <role>" for name in unfed[:2]) or f"<input>: {declared.main_input_roles[0]}"
    return _a019(
        location,
        f"{model_file.name} takes inputs the {task} task cannot feed: {problem}",
        expected=f"inputs named {', '.join(guessed)}, or an `inputs:` mapping to the task's roles "
        f"({', '.join(declared.input_roles)})",
        found=", ".join(names) or "no inputs",
        hint=f"say which role each input takes in the model's entry: `inputs: {{{example}}}` "
        "(submissions/README.md lists the roles), or export with the standard input names; inputs "
        "the grader does not feed make every phase fail",
    )


def _a019(location: Location, message: str, *, expected: str, found: str, hint: str) -> Finding:
    return Finding(code="A019", location=location, message=message, expected=expected, found=found, hint=hint)
