"""The verify stage's output: the `grade` document (claims vs measured, ratios, score, verdict)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict

from grader.course.model import Scoring, SpeedSettings, Tolerances
from grader.documents import Document
from grader.findings import Finding
from grader.harness.models import Environment
from grader.harness.stats import Interval
from grader.notes import Note  # shared with the harness: one message catalog renders both
from grader.validate.document import PullRequestContext

GRADE_SCHEMA_VERSION = 2  # 2: speed judged on confidence intervals; 1 is still read


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MetricStatus(StrEnum):
    REPRODUCED = "reproduced"  # within the course's tolerance
    OFF = "off"  # measured, and the claim is outside the tolerance (by how much: see the check)
    NOT_CLAIMED = "not_claimed"  # measured, nothing claimed
    NOT_MEASURABLE = "not_measurable"  # cannot be measured on this runner (reason says why)
    UNVERIFIABLE = "unverifiable"  # claimed, but cannot be checked (absolute time on other hardware)
    FAILED = "failed"  # the measurement broke (reason says how)
    # The confidence interval straddles the claim's tolerance band after the course's whole
    # speed budget: shown with its interval, not graded; a re-run on a quiet runner settles it.
    INCONCLUSIVE = "inconclusive"

    @classmethod
    def _missing_(cls, value: object) -> MetricStatus | None:
        return cls.INCONCLUSIVE if value == "noisy" else None  # schema 1's name for it


class Verdict(StrEnum):
    PASS = "pass"  # every claim reproduced, every required metric measured
    CLAIMS_MISMATCH = "claims_mismatch"  # at least one claim is off
    INCOMPLETE = "incomplete"  # a required metric is missing or could not be measured
    FAILED = "failed"  # a measurement failed
    INCONCLUSIVE = "inconclusive"  # a speed figure could not be decided within the course's budget
    INVALID = "invalid"  # the submission did not validate

    @classmethod
    def _missing_(cls, value: object) -> Verdict | None:
        return cls.INCONCLUSIVE if value == "noisy" else None  # schema 1's name for it


class MetricCheck(Model):
    metric: str  # "size", "latency_cpu", "speedup_cpu", "ram", "quality.accuracy", ...
    status: MetricStatus
    claimed_raw: str | None = None
    claimed: float | None = None  # base unit
    measured: float | None = None  # base unit
    unit: str  # base unit: "B", "s", "x", "" (score)
    difference: float | None = None  # measured - claimed, base unit
    relative: float | None = None  # (claimed - measured) / measured
    tolerance: str = ""  # as the course set it: "±2 %", "±0.01"
    reason: str = ""
    hint: str = ""
    # What the measured figure is (a messages key under `source.`): "weights_files", "as_run",
    # "rss_above_interpreter", "nvml_process", ... so a reader knows which reading was compared.
    source: str = ""
    # "speedup": an absolute latency checked as the speed-up over the team's own baseline; then
    # `relative` and `tolerance` apply to the speed-ups, and claimed/measured stay the times.
    compared: Literal["value", "speedup"] = "value"
    claimed_speedup: float | None = None
    measured_speedup: float | None = None
    cv: float | None = None  # latency: the samples' coefficient of variation (information only)
    # Speed: the confidence interval of the figure the verdict was decided on (the speed-up for a
    # compared claim, in "x"; the median time per item otherwise, in "ms/item").
    interval: Interval | None = None
    required: bool = False  # the homework requires this metric
    reason_note: Note | None = None  # `reason`, translatable
    hint_note: Note | None = None  # `hint`, translatable


class Ratios(Model):
    compression: float | None = None  # baseline weights / these weights
    speedup_cpu: float | None = None  # baseline median latency / this median latency, same run
    speedup_gpu: float | None = None
    speedup_cpu_ci: Interval | None = None  # the speed-up's confidence interval, paired by round
    speedup_gpu_ci: Interval | None = None
    quality_delta: float | None = None  # primary metric: this - baseline
    quality_retained: float | None = None  # direction-aware share of the baseline's primary metric


class GenerationFigures(Model):
    """Generation latency on one device (causal-lm): the medians, or why there are none."""

    status: Literal["ok", "noisy", "inconclusive", "not_measurable", "failed"]
    reason: str = ""  # in the harness's words, when not ok
    ttft_s: float | None = None  # median time to first token (the prompt's forward pass)
    tpot_s: float | None = None  # median time per output token after the first
    ttft_cv: float | None = None
    tpot_cv: float | None = None
    tpot_ci: Interval | None = None  # ms/token
    prompt_tokens: int | None = None
    new_tokens: int | None = None
    kv_cache: bool | None = None


class Measured(Model):
    """The verified figures of one model, in base units, as tables show them."""

    size_bytes: int | None = None
    files_bytes: int | None = None
    as_run_bytes: int | None = None
    params: int | None = None
    zeros_fraction: float | None = None
    max_unique_per_tensor: int | None = None
    latency_cpu_s: float | None = None  # median per item
    latency_cpu_cv: float | None = None
    latency_cpu_ci: Interval | None = None  # the median's confidence interval, ms/item
    latency_gpu_s: float | None = None
    latency_gpu_cv: float | None = None
    latency_gpu_ci: Interval | None = None
    ram_bytes: int | None = None
    vram_bytes: int | None = None
    load_s: float | None = None
    quality: dict[str, float] = {}
    quality_primary: str | None = None
    size_source: str | None = None  # "weights_files", or "as_run" when the grader applied a transform
    graded_size_bytes: int | None = None  # the size claims and ratios are checked against
    ram_source: str | None = None
    vram_source: str | None = None  # "nvml_process", "torch_peak_reserved", ...
    generation: dict[str, GenerationFigures] = {}  # device → figures (causal-lm)
    private_quality: dict[str, float] = {}  # the homework's private eval set (Grade.private_dataset)


class EntryGrade(Model):
    key: str
    name: str
    methods: list[str]
    details: str | None = None
    format: str
    transform: str | None = None
    is_baseline: bool
    measured: Measured
    checks: list[MetricCheck]
    ratios: Ratios = Ratios()
    score: float | None = None
    score_note: str = ""
    verdict: Verdict
    problems: list[str] = []  # failed or not-measurable phases, in words
    score_reason: Note | None = None  # `score_note`, translatable
    pareto_rank: int | None = None  # pareto rule: 1 = non-dominated among this submission's models
    missing: list[str] = []  # required metrics (Metric values) not claimed or not measurable
    backend: str | None = None  # the harness backend that loaded it
    artifact_digests: dict[str, str] = {}  # file → sha256 of what was measured


class QualityMetricInfo(Model):
    direction: Literal["higher", "lower"]
    bounded: bool | None = None  # lies in [0, 1]: shown as a percentage
    label: dict[str, str] = {}  # {"ru": ..., "en": ...}


class Grade(Document):
    KIND = "grade"
    VERSION = GRADE_SCHEMA_VERSION
    PRODUCER = "grader verify"
    READS = frozenset({1})

    team: str | None
    homework: int | None
    homework_title: dict[str, str] = {}  # {"ru": ..., "en": ...}
    task: str | None = None
    dataset: str | None = None
    language: str = "ru"
    verdict: Verdict
    entries: list[EntryGrade] = []
    findings: list[Finding] = []  # from validation: shown in the comment and as annotations
    manifest_path: str | None = None
    manifest_sha256: str | None = None
    pull_request: PullRequestContext | None = None
    environment: Environment | None = None
    scoring_rule: str | None = None
    graded_at: str | None = None  # ISO 8601, UTC
    scoring: Scoring | None = None  # the homework's rule as applied
    tolerances: Tolerances | None = None  # as applied (course defaults merged with the homework's)
    noise_gate_cv: float | None = None  # schema 1 only
    speed: SpeedSettings | None = None  # the rounds and the interval the speed verdicts used
    quality_metrics: dict[str, QualityMetricInfo] = {}  # direction, bounds and labels of each metric
    grader_version: str | None = None
    # Private eval splits (grader.verify.private): the homework's private set, the private sets
    # whose figures this grade leaves out until the deadline (`withheld_until`, "" for none set),
    # and whether this is the instructors' grade, which keeps every figure.
    private_dataset: str | None = None
    withheld: list[str] = []
    withheld_until: str | None = None
    instructor_only: bool = False
