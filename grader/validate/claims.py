"""Claims: every value a team claims, read with the parser for its kind, each problem at its line.

- `size`, `ram`, `vram` are sizes (`455 MB`, `434 MiB`);
- `latency_cpu`, `latency_gpu` are times per input (`19.6 ms`, `0.0196 s/text`, `51 texts/s`);
  per token (`25 ms/token`) only for tasks that generate tokens, since only there the harness
  measures per token; per batch (`80 ms/batch`) is kept as written when the course's batch size
  is above 1, and read as per input (with a warning) when the batch is a single input;
- `speedup_cpu`, `speedup_gpu`, `compression` are ratios over the team's baseline (`1.8x`);
- `quality.<metric>` is a value of one of the task's metrics; metrics bounded to [0, 1] take
  `82.8%` or `0.828` (a bare `82.8` is read as percent, with a warning).
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from grader.course.model import Metric
from grader.findings import Finding, Location, Severity
from grader.manifest.model import ClaimValue
from grader.task_catalog import TASKS, MetricInfo, task_declaration
from grader.units import Parsed, Problem, parse_ratio, parse_score, parse_size, parse_time
from grader.validate.document import ParsedClaim
from grader.yamlio import PathKey, PositionMap

SIZE_CLAIMS = ("size", "ram", "vram")
TIME_CLAIMS = ("latency_cpu", "latency_gpu")
RATIO_CLAIMS = ("speedup_cpu", "speedup_gpu", "compression")

# Tasks whose latency the harness reports per generated token (they declare `generates_tokens`);
# elsewhere a token is not the unit of work, and a per-token time cannot be compared with what is
# measured.
TOKEN_LATENCY_TASKS = frozenset(name for name in TASKS if task_declaration(name).generates_tokens)

_PARSERS: dict[str, Callable[[Any], Parsed]] = {
    **dict.fromkeys(SIZE_CLAIMS, parse_size),
    **dict.fromkeys(TIME_CLAIMS, parse_time),
    **dict.fromkeys(RATIO_CLAIMS, parse_ratio),
}

_CLAIM_VALUE: TypeAdapter[Any] = TypeAdapter(ClaimValue)


@dataclass(frozen=True)
class ClaimRules:
    """What the course and the task say about one entry's claims."""

    task: str | None
    metrics: Mapping[str, MetricInfo] | None  # None: the task is unknown, quality is not checked
    primary: str | None
    batch_size: int
    required: tuple[Metric, ...]  # the homework's required metrics; () when the homework is unknown
    has_baseline: bool  # the manifest has a baseline to compare ratios with
    # Metrics of the task that this grading does not measure, metric → the task param they need
    # and the course leaves unset (causal-lm's bleu / chrf without `prompts`).
    unset: Mapping[str, str] = field(default_factory=dict)


@dataclass
class ClaimsRead:
    claims: list[ParsedClaim]
    findings: list[Finding]
    written: set[str]  # every metric written, readable or not: "size", "quality.accuracy", ...


def read_claims(
    raw: Any, path: PathKey, positions: PositionMap, rules: ClaimRules, *, is_baseline: bool
) -> ClaimsRead:
    """Parse the claims mapping at ``path``; values the schema rejects are left to the schema."""
    out = ClaimsRead(claims=[], findings=[], written=set())
    if raw is None and path not in positions.keys:  # no `claims:`: the homework still asks for them
        out.findings += _no_claims(path, positions, rules)
        return out
    if not isinstance(raw, Mapping):
        return out
    for key, value in raw.items():
        if key == "quality":
            _read_quality(value, (*path, "quality"), positions, rules, out)
        elif key in _PARSERS:
            out.written.add(key)
            if _is_claim_value(value):
                _read_one(key, value, (*path, key), positions, _PARSERS[key], rules, out)
    if is_baseline or not rules.has_baseline:
        out.findings += _ratios_without_baseline(raw, path, positions, is_baseline=is_baseline)
    out.findings += _required_missing(out.written, path, positions, rules)
    return out


def _is_claim_value(value: Any) -> bool:
    """What the schema accepts as a claim (`yes` too: the parser then says it is not a number)."""
    try:
        _CLAIM_VALUE.validate_python(value)
    except ValidationError:
        return False
    return True


def _read_quality(
    raw: Any, path: PathKey, positions: PositionMap, rules: ClaimRules, out: ClaimsRead
) -> None:
    if not isinstance(raw, Mapping):
        return
    for name, value in raw.items():
        metric = f"quality.{name}"
        out.written.add(metric)
        value_path = (*path, str(name))
        info: MetricInfo | None = None
        if rules.metrics is not None:
            info = rules.metrics.get(str(name))
            if info is None:
                out.findings.append(_unknown_metric(str(name), value_path, positions, rules))
                continue
            if str(name) in rules.unset:
                out.findings.append(_unmeasured_metric(str(name), value_path, positions, rules))
                continue
        if not _is_claim_value(value):
            continue
        parse = functools.partial(parse_score, bounded=info.bounded if info is not None else False)
        _read_one(metric, value, value_path, positions, parse, rules, out)


def _read_one(
    metric: str,
    value: Any,
    path: PathKey,
    positions: PositionMap,
    parse: Callable[[Any], Parsed],
    rules: ClaimRules,
    out: ClaimsRead,
) -> None:
    raw_text = str(value)
    parsed = parse(value)
    location = positions.location(path)
    out.findings += [_problem_finding(p, location, raw_text) for p in parsed.problems]
    quantity = parsed.quantity
    if quantity is None:
        return
    per: str | None = quantity.per
    if metric in TIME_CLAIMS:
        per, findings = _check_per(metric, raw_text, quantity.per, location, rules)
        out.findings += findings
        if per is None:
            return
    out.claims.append(
        ParsedClaim(
            metric=metric,
            raw=raw_text,
            value=quantity.value,
            unit=quantity.unit,
            per=per,
            line=location.line,
        )
    )


def _problem_finding(problem: Problem, location: Location, raw: str) -> Finding:
    return Finding(
        code=problem.code,
        severity=Severity.WARNING if problem.warning else Severity.ERROR,
        location=location,
        message=problem.message,
        expected=problem.expected,
        found=raw,
        hint=problem.hint,
    )


def _check_per(
    metric: str, raw: str, per: str, location: Location, rules: ClaimRules
) -> tuple[str | None, list[Finding]]:
    """The unit of work of a latency claim: None when it cannot be compared with the measurement."""
    if per == "token" and rules.task is not None and rules.task not in TOKEN_LATENCY_TASKS:
        return None, [
            Finding(
                code="M012",
                location=location,
                message=f"{metric} is given per token, but {rules.task} is not measured per token",
                expected="time per input, such as `19.6 ms` or `0.0196 s/text`",
                found=raw,
                hint="give the time of one input (one forward pass) at the course's batch size; "
                "per-token latency is for text generation tasks ("
                + ", ".join(sorted(TOKEN_LATENCY_TASKS))
                + ")",
            )
        ]
    if per == "batch" and rules.batch_size == 1:
        return "item", [
            Finding(
                code="M013",
                severity=Severity.WARNING,
                location=location,
                message=f"{metric} is given per batch; the course's batch size is 1, "
                "so it is read as the time per input",
                expected="time per input, such as `19.6 ms`",
                found=raw,
                hint="write the time without `/batch` to make this explicit",
            )
        ]
    return per, []


def _unknown_metric(name: str, path: PathKey, positions: PositionMap, rules: ClaimRules) -> Finding:
    known = sorted(rules.metrics or {})
    close = difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return Finding(
        code="M011",
        location=positions.location(path, at_key=True),
        message=f"{rules.task} has no quality metric {name!r}",
        expected=f"one of the task's metrics: {', '.join(known)}",
        found=name,
        hint=hint + "the grader measures every metric of the task; claim the ones you measured",
    )


def _unmeasured_metric(name: str, path: PathKey, positions: PositionMap, rules: ClaimRules) -> Finding:
    param = rules.unset[name]
    return Finding(
        code="M018",
        location=positions.location(path, at_key=True),
        message=f"{rules.task} measures {name!r} only when the course sets `{param}`, and it is not set",
        expected=f"course.yaml `tasks.{rules.task}.params.{param}` set (causal-lm: a prompt set, e.g. qa-ru)",
        found=f"{param}: (unset)",
        hint=f"remove the {name} claim, or ask the instructors to set `{param}` for {rules.task} "
        f"(where the course allows it, a manifest may set it: `params: {{{param}: qa-en}}`)",
    )


def _ratios_without_baseline(
    raw: Mapping[str, Any], path: PathKey, positions: PositionMap, *, is_baseline: bool
) -> list[Finding]:
    findings = []
    for key in RATIO_CLAIMS:
        if key not in raw:
            continue
        if is_baseline:
            reason = "a ratio of the baseline over itself is 1x by definition"
            hint = f"remove `{key}` from the baseline; claim it for the compressed models"
        else:
            reason = "there is no `baseline:` in this manifest to compare with"
            hint = "add your baseline model under `baseline:`, or remove this claim"
        findings.append(
            Finding(
                code="M015",
                severity=Severity.WARNING,
                location=positions.location((*path, key), at_key=True),
                message=f"{key} cannot be checked: {reason}",
                expected="ratio claims on compressed models of a manifest with a baseline",
                found=f"{key}: {raw[key]}",
                hint=hint,
            )
        )
    return findings


def _missing_metrics(written: set[str], rules: ClaimRules) -> list[str]:
    """The homework's required metrics that ``written`` does not claim (quality: the primary one)."""
    missing = []
    for metric in rules.required:
        if metric is Metric.QUALITY:
            if rules.primary and f"quality.{rules.primary}" not in written:
                missing.append(f"quality.{rules.primary}")
            elif not rules.primary and not any(w.startswith("quality.") for w in written):
                missing.append("quality")
        elif metric.value not in written:
            missing.append(metric.value)
    return missing


def _no_claims(path: PathKey, positions: PositionMap, rules: ClaimRules) -> list[Finding]:
    missing = _missing_metrics(set(), rules)
    if not missing:
        return []
    return [
        Finding(
            code="M008",
            severity=Severity.WARNING,
            location=_entry_location(path, positions),
            message=f"no `claims:`, though the homework asks for: {', '.join(missing)}",
            expected="a `claims:` block with every metric the homework requires: "
            + ", ".join(m.value for m in rules.required),
            found="no claims",
            hint="add `claims:` with what you measured; the grader measures these anyway, but with "
            "nothing to verify the grade is `incomplete`",
        )
    ]


def _entry_location(path: PathKey, positions: PositionMap) -> Location:
    """Where the missing `claims:` belongs: the entry's key (`baseline:`), or the line a list
    item (`- name: ...`) starts on, with the claims' own field name."""
    entry = path[:-1]
    found = positions.location(entry, at_key=entry in positions.keys)
    return found.model_copy(update={"field": positions.location(path).field})


def _required_missing(
    written: set[str], path: PathKey, positions: PositionMap, rules: ClaimRules
) -> list[Finding]:
    missing = _missing_metrics(written, rules)
    if not missing:
        return []
    return [
        Finding(
            code="M008",
            severity=Severity.WARNING,
            location=positions.location(path, at_key=True),
            message=f"not claimed, though the homework asks for it: {', '.join(missing)}",
            expected="a claim for every metric the homework requires: "
            + ", ".join(m.value for m in rules.required),
            found=", ".join(sorted(written)) or "no claims",
            hint="the grader measures these anyway; claim what you measured so it can be verified",
        )
    ]
