"""The course, as `course.yaml` describes it: homeworks, tasks, eval data, tolerances, scoring,
roster, language and runner settings. Pure data: no I/O, no environment changes."""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

COURSE_SCHEMA_VERSION: Final = 1  # Final: its type is Literal[1], as the field's

Language = Literal["ru", "en"]
Device = Literal["cpu", "cuda"]
_DEVICES: tuple[Device, ...] = ("cpu", "cuda")

# Logins: GitHub allows letters, digits and single hyphens; bots end in [bot].
Login = Annotated[str, Field(pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?$")]
TeamName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Localized(Strict):
    ru: str
    en: str

    def get(self, language: Language) -> str:
        return self.ru if language == "ru" else self.en


class Method(StrEnum):
    """How a model was compressed. A manifest may combine several (pruning + quantization)."""

    BASELINE = "baseline"
    QUANTIZATION = "quantization"
    PRUNING = "pruning"
    CLUSTERING = "clustering"
    DISTILLATION = "distillation"
    EXPORT = "export"
    AUTOMATIC = "automatic"  # Optimum and similar pipelines that choose for you


class Metric(StrEnum):
    """What a homework can require a team to report (and the grader to measure)."""

    SIZE = "size"
    LATENCY_CPU = "latency_cpu"
    LATENCY_GPU = "latency_gpu"
    RAM = "ram"
    VRAM = "vram"
    QUALITY = "quality"


class Tolerance(Strict):
    """A claim is reproduced when it is within ``abs`` OR within ``rel`` of the measured value."""

    abs: float | None = Field(default=None, ge=0)
    rel: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one_given(self) -> Tolerance:
        if self.abs is None and self.rel is None:
            raise ValueError("give `abs`, `rel`, or both")
        return self

    def accepts(self, claimed: float, measured: float) -> bool:
        diff = abs(claimed - measured)
        if self.abs is not None and diff <= self.abs + 1e-12:
            return True
        return self.rel is not None and diff <= self.rel * abs(measured) + 1e-12

    def band(self, claimed: float) -> tuple[float, float]:
        """The measured values that `accepts` ``claimed``: one interval, since each condition is
        convex in the measured value and both contain the claim (rel: c/(1+rel) … c/(1-rel))."""
        low, high = claimed, claimed
        if self.abs is not None:
            low, high = claimed - self.abs, claimed + self.abs
        if self.rel is not None and claimed > 0:
            low = min(low, claimed / (1 + self.rel))
            high = max(high, claimed / (1 - self.rel) if self.rel < 1 else math.inf)
        return low, high

    def judge_interval(self, claimed: float, low: float, high: float) -> IntervalVerdict:
        """Whether the whole confidence interval [low, high] of the measured value lies inside
        the claim's band (reproduced), entirely outside it (off), or across its edge (undecided)."""
        band_low, band_high = self.band(claimed)
        if band_low - 1e-12 <= low and high <= band_high + 1e-12:
            return IntervalVerdict.INSIDE
        if high < band_low or low > band_high:
            return IntervalVerdict.OUTSIDE
        return IntervalVerdict.UNDECIDED


class IntervalVerdict(StrEnum):
    INSIDE = "inside"
    OUTSIDE = "outside"
    UNDECIDED = "undecided"


class Tolerances(Strict):
    size: Tolerance = Tolerance(rel=0.02)  # bytes do not depend on hardware: strict
    quality: Tolerance = Tolerance(abs=0.01)  # same weights, same data: small
    speedup: Tolerance = Tolerance(rel=0.20)  # ratios survive a change of hardware, roughly
    memory: Tolerance = Tolerance(rel=0.25)  # allocators and runtimes differ between machines

    def merged(self, override: TolerancesOverride | None) -> Tolerances:
        if override is None:
            return self
        return self.model_copy(update={k: v for k, v in override if v is not None})


class TolerancesOverride(Strict):
    size: Tolerance | None = None
    quality: Tolerance | None = None
    speedup: Tolerance | None = None
    memory: Tolerance | None = None


class ScoringRule(StrEnum):
    NONE = "none"  # measured and verified, not ranked (e.g. HW-1 baselines)
    COMPRESSION = "compression"  # baseline size / size
    SPEEDUP = "speedup"  # baseline latency / latency (CPU unless `device: cuda`)
    QUALITY = "quality"  # the task's primary metric, direction-aware
    PARETO = "pareto"  # non-dominated on (size, latency, quality), then by compression


class Scoring(Strict):
    rule: ScoringRule = ScoringRule.COMPRESSION
    device: Device = "cpu"
    # An entry scores only if it keeps at least this share of the baseline's primary metric
    # (direction-aware: for perplexity/WER, the baseline's value divided by the entry's).
    min_quality_retained: float | None = Field(default=0.95, gt=0, le=1)


# --- points: how a homework's result becomes points in the gradebook (grader.leaderboard.gradebook)

# The verdicts that can earn points; `invalid` never does (nothing was measured).
EarningVerdict = Literal["pass", "inconclusive", "incomplete", "claims_mismatch", "failed"]
_EARNING: tuple[EarningVerdict, ...] = ("pass", "inconclusive")


class _Points(Strict):
    # What a team must fix earns nothing by default; an undecided speed claim is the runner's fault.
    verdicts: list[EarningVerdict] = Field(default_factory=lambda: list(_EARNING), min_length=1)
    late_factor: float = Field(default=1.0, ge=0, le=1)  # points × this when submitted after the deadline


class FlatPoints(_Points):
    """The same points for every submission with an earning verdict (a homework that ranks nothing)."""

    rule: Literal["flat"]
    points: float = Field(gt=0)


class RankPoints(_Points):
    """Points by the team's place among the teams (its best model's rank on the leaderboard)."""

    rule: Literal["rank"]
    by_rank: list[float] = Field(min_length=1)  # the points of place 1, 2, 3, ...
    otherwise: float = Field(default=0, ge=0)  # a ranked team placed below the list


class Threshold(Strict):
    score: float
    points: float = Field(ge=0)


class ThresholdPoints(_Points):
    """The points of the highest threshold the team's best score reaches; below them all, 0."""

    rule: Literal["threshold"]
    thresholds: list[Threshold] = Field(min_length=1)


class LinearPoints(_Points):
    """0 points at a score of ``low`` or below, ``points`` at ``high`` or above, linear between."""

    rule: Literal["linear"]
    low: float
    high: float
    points: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> LinearPoints:
        if self.high <= self.low:
            raise ValueError("`high` must be above `low`")
        return self


PointsRule = Annotated[FlatPoints | RankPoints | ThresholdPoints | LinearPoints, Field(discriminator="rule")]


def max_points(rule: PointsRule) -> float:
    """The most a homework can give (the gradebook's "of N")."""
    if isinstance(rule, RankPoints):
        return max([*rule.by_rank, rule.otherwise])
    if isinstance(rule, ThresholdPoints):
        return max(t.points for t in rule.thresholds)
    return rule.points


class Homework(Strict):
    id: int = Field(ge=1)
    title: Localized
    branch: str | None = None
    deadline: datetime | None = None
    open: bool = True
    methods: list[Method] = Field(min_length=1)
    required: list[Metric] = Field(default_factory=lambda: [Metric.SIZE, Metric.LATENCY_CPU, Metric.QUALITY])
    needs_baseline: bool = True
    tolerances: TolerancesOverride | None = None
    scoring: Scoring = Scoring()
    points: PointsRule | None = None  # none: the gradebook shows score and verdict, no points
    # A dataset (`visibility: private`) every model of this homework is also measured on. Its
    # figures go to instructor-only output until `deadline` has passed (grader.verify.private).
    private_eval: str | None = None


class LatencySettings(Strict):
    """Adaptive timing. Warm-up runs blocks until consecutive block medians agree within
    ``warmup_tolerance``; measurement stops once ``min_iters`` and ``min_time_s`` are both
    reached and the running median is stable within ``stable_tolerance``, or at a bound."""

    warmup_block: int = Field(default=5, ge=1)
    warmup_tolerance: float = Field(default=0.05, gt=0)
    warmup_max_s: float = Field(default=5.0, gt=0)
    min_iters: int = Field(default=20, ge=3)
    min_time_s: float = Field(default=0.5, ge=0)
    max_time_s: float = Field(default=10.0, gt=0)
    max_iters: int = Field(default=5000, ge=3)
    stable_tolerance: float = Field(default=0.02, gt=0)


class Threads(Strict):
    intra_op: int = Field(default=2, ge=1)
    inter_op: int = Field(default=1, ge=1)


class Limits(Strict):
    phase_timeout_s: float = Field(default=600, gt=0)
    memory_mib: int = Field(default=32768, gt=0)
    artifact_max_mib: int = Field(default=20000, gt=0)
    # Every model costs every phase on the GPU runner: a submission names a handful, never thousands.
    max_models: int = Field(default=16, gt=0)


class SpeedSettings(Strict):
    """How many interleaved latency rounds to run (each a fresh, short child) and when to stop.

    Rounds run in batches of ``step`` until every timing figure is decided: a claimed speed-up
    whose confidence interval lies inside or outside the claim's tolerance band, an unclaimed
    figure known to within ``precision`` (half the interval's width over the estimate). Past
    ``budget_s`` seconds of latency children per model and device, or ``max_rounds``, a claim
    still undecided is reported inconclusive with its interval.
    """

    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    min_rounds: int = Field(default=6, ge=2)
    max_rounds: int = Field(default=40, ge=2)
    step: int = Field(default=2, ge=1)  # rounds added at a time: 2 keeps the A B / B A order balanced
    budget_s: float = Field(default=120, gt=0)  # latency children's wall time per model and device
    precision: float = Field(default=0.03, gt=0, lt=1)

    @model_validator(mode="after")
    def _ordered(self) -> SpeedSettings:
        if self.max_rounds < self.min_rounds:
            raise ValueError("`max_rounds` must be at least `min_rounds`")
        return self


class RunnerSettings(Strict):
    labels: list[str] = Field(default_factory=lambda: ["self-hosted", "gpu"])
    devices: list[Device] = Field(default_factory=lambda: list(_DEVICES))
    threads: Threads = Threads()
    batch_size: int = Field(default=1, ge=1)
    speed: SpeedSettings = SpeedSettings()  # the interleaved rounds and the verdict gate
    latency: LatencySettings = LatencySettings()  # the timing inside one round
    # One latency child per CPU: with one intra-op thread, pin each to a CPU of its own and keep
    # the grader's own process off it while it waits (grader.harness.affinity).
    pin_cpu: bool = True

    @model_validator(mode="before")
    @classmethod
    def _replaced_settings(cls, data: object) -> object:
        # A course file written for the fixed two-round noise gate says what replaced it.
        if isinstance(data, dict):
            old = [key for key in ("rounds", "noise_gate_cv") if key in data]
            if old:
                raise ValueError(
                    f"`{'`, `'.join(old)}` no longer exist: speed is now decided on a confidence "
                    "interval over adaptive rounds; remove them and set `speed:` "
                    "(min_rounds, max_rounds, budget_s, precision, confidence) instead"
                )
        return data

    limits: Limits = Limits()
    seed: int = 0


class DatasetSource(Strict):
    """Exactly one of: a file in the course repo (with its sha256), data the grader ships
    (``builtin``), or a Hugging Face dataset at a pinned revision read from the local cache."""

    path: str | None = None
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    builtin: str | None = None
    hf: str | None = None
    revision: str | None = Field(default=None, pattern=r"^[0-9a-f]{40}$")
    config: str | None = None
    split: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> DatasetSource:
        given = [name for name in ("path", "builtin", "hf") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError("give exactly one of `path`, `builtin` or `hf`")
        if self.hf and not self.revision:
            raise ValueError(
                "a Hugging Face dataset needs `revision:` (a 40-hex commit) so the data cannot change"
            )
        return self


class Dataset(Strict):
    task: str
    source: DatasetSource
    format: str | None = None  # jsonl, csv, parquet, txt, npz, ...; inferred from the file name if omitted
    columns: dict[str, str] = Field(default_factory=dict)  # task field → column name in the file
    labels: list[str] | None = None
    limit: int | None = Field(default=None, ge=1)
    seed: int = 0
    visibility: Literal["public", "private"] = "public"
    description: Localized | None = None


class TaskSettings(Strict):
    """Per-task defaults fixed by the course, so that teams cannot pick settings that flatter them."""

    dataset: str  # default eval dataset id
    params: dict[str, int | float | str | bool] = Field(default_factory=dict)
    allowed_overrides: list[str] = Field(default_factory=list)  # params a manifest may set


class Team(Strict):
    members: list[Login] = Field(min_length=1)
    title: str | None = None


class Course(Strict):
    schema_version: Literal[1] = COURSE_SCHEMA_VERSION
    name: Localized
    language: Language = "ru"
    repository: str | None = None  # owner/name, for links in comments
    instructors: list[Login] = Field(default_factory=list)
    runner: RunnerSettings = RunnerSettings()
    tolerances: Tolerances = Tolerances()
    tasks: dict[str, TaskSettings] = Field(default_factory=dict)
    datasets: dict[str, Dataset] = Field(default_factory=dict)
    homeworks: list[Homework] = Field(min_length=1)
    teams: dict[TeamName, Team] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Course:
        ids = [hw.id for hw in self.homeworks]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"homework ids must be unique; repeated: {duplicates}")
        for name, task in self.tasks.items():
            if task.dataset not in self.datasets:
                raise ValueError(f"tasks.{name}.dataset {task.dataset!r} is not defined under `datasets:`")
        for hw in self.homeworks:
            if hw.private_eval is None:
                continue
            dataset = self.datasets.get(hw.private_eval)
            if dataset is None:
                raise ValueError(
                    f"homework {hw.id}: private_eval {hw.private_eval!r} is not defined under `datasets:`"
                )
            if dataset.visibility != "private":
                raise ValueError(
                    f"homework {hw.id}: private_eval {hw.private_eval!r} must be a dataset with "
                    "`visibility: private` (its figures are kept from students until the deadline)"
                )
        return self

    def homework(self, hw_id: int) -> Homework | None:
        return next((hw for hw in self.homeworks if hw.id == hw_id), None)

    def private_eval_for(self, hw_id: int, task: str) -> str | None:
        """The homework's `private_eval` set when it is a set of ``task`` (a homework open to
        several tasks measures the private set only for submissions of its task)."""
        homework = self.homework(hw_id)
        name = homework.private_eval if homework is not None else None
        dataset = self.datasets.get(name) if name is not None else None
        return name if dataset is not None and dataset.task == task else None

    def team_of(self, login: str) -> list[str]:
        wanted = login.lower()
        return [name for name, team in self.teams.items() if wanted in (m.lower() for m in team.members)]

    def is_instructor(self, login: str) -> bool:
        return login.lower() in (i.lower() for i in self.instructors)
