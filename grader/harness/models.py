"""What the harness measured: the `measurement-run` document (output of `grader measure`).

Each figure keeps its raw samples and unit; statistics come from grader.harness.stats. Every
phase reports a status, so a failed phase is a result with its reason, never a missing key.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from grader.documents import Document
from grader.harness.jobs import ProviderShare
from grader.harness.stats import Interval, Samples, Stats
from grader.notes import VERBATIM, Note
from grader.validate.document import ValidatedSubmission

# 2: rounds with intervals; 3: size notes as message keys and parameters (Note), not prose in
# two languages; 4: a round's child times every model of its device turn by turn
# (RoundInfo.models). 1, 2 and 3 are still read (MeasurementRun.upgrade).
MEASUREMENT_SCHEMA_VERSION = 4


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Status(StrEnum):
    OK = "ok"
    FAILED = "failed"  # the phase ran and broke: reason and stderr tail say why
    NOT_MEASURABLE = "not_measurable"  # cannot run here (no GPU, runtime not installed): reason says which
    SKIPPED = "skipped"  # not asked for, or an earlier phase it needs failed
    NOISY = "noisy"  # schema 1 only: the old two-round noise gate (now decided on intervals in verify)


class PhaseResult(Model):
    # "generation": causal-lm generation latency, timed inside the latency children; supplementary,
    # so a generation that cannot run does not change the model's or the device's status.
    phase: Literal["fetch", "size", "load", "latency", "memory", "quality", "generation"]
    device: str | None = None
    round: int | None = None
    status: Status
    reason: str = ""
    stderr_tail: str = ""
    wall_s: float | None = None
    exit_code: int | None = None
    signal: str | None = None


class LoadResult(Model):
    load_s: float  # from "start loading" to "ready to call", in a fresh process
    first_call_s: float  # the first inference, separately: it includes lazy init and graph building
    build_s: float | None = None  # engine build (TensorRT), when the backend builds one
    as_run_bytes: int | None = None  # weight bytes held by the model as it runs (after any transform)
    # onnxruntime: the session's providers in priority order; which of them really ran the nodes
    # is DeviceMeasurement.providers (GPU runs)
    providers: list[str] = []
    notes: list[str] = []


class RoundInfo(Model):
    """What one latency round (one fresh child) ran on, for the reproducibility block."""

    round: int
    cpu: int | None = None  # the CPU the child was pinned to (None: not pinned)
    steal_s: float | None = None  # hypervisor steal time of that CPU (all CPUs if unpinned) meanwhile
    governor: str | None = None  # cpufreq scaling governor of that CPU
    wall_s: float | None = None  # the child's whole life: fork, load, warm-up, timed calls
    # share of the timed window the child's threads waited for a CPU (other work on its CPU)
    waited_share: float | None = None
    # the models (keys) the round's child timed turn by turn, in turn order, this one among them
    # (grader.harness.timing.measure_turns); empty when the child timed this model alone
    models: list[str] = []


class LatencyResult(Model):
    batch_size: int
    samples: Samples  # milliseconds per call (one batch); all rounds together
    per_item: Stats  # the same samples divided by the batch size
    rounds: list[Stats]  # one per interleaved round
    warmup_iters: int
    warmup_s: float
    stable: bool  # the stopping rule was met (rather than a bound)
    timer: str  # "perf_counter" on CPU; "cuda_events" / "synchronize" on GPU
    remeasured: bool = False  # schema 1: the first attempt was above the old noise gate
    # Information only, never a gate: the samples' robust CV (IQR / 1.349 / median), pooled.
    noise_cv: float | None = None
    # Schema 2 (grader.harness.measure, the adaptive rounds):
    round_numbers: list[int] = []  # the interleaved round each of `rounds` ran in: pairs with the baseline
    round_info: list[RoundInfo] = []
    median: Interval | None = None  # median time per item (ms/item) with its confidence interval
    speedup: Interval | None = None  # candidates: baseline median / this median, paired by round
    stop_reason: str = ""  # decided, budget, max_rounds, failed


class GenerationResult(Model):
    """Greedy generation of ``new_tokens`` tokens after a fixed prompt of ``prompt_tokens`` tokens
    (grader.harness.tasks.causal_lm), timed in every interleaved latency round, after the forward
    latency, in the same fresh child. Added by the harness for causal-lm."""

    prompt_tokens: int
    new_tokens: int
    kv_cache: bool  # driven with the model's KV cache, as real generation is
    time_to_first_token: Samples  # ms: the prompt's forward pass + argmax; one sample per repeat
    time_per_output_token: Samples  # ms: every later step, all repeats of all rounds
    ttft_rounds: list[Stats]  # one per interleaved round
    tpot_rounds: list[Stats]
    repeats: int  # timed generations per round (after one untimed warm-up generation)
    noise_cv: float | None = None  # information only: robust CV of the per-token samples
    round_numbers: list[int] = []  # schema 2: as LatencyResult.round_numbers
    tpot_median: Interval | None = None  # median time per output token (ms/token), with its interval
    tpot_speedup: Interval | None = None  # candidates: baseline's time per token / this one's


class MemoryResult(Model):
    rss_before_load_bytes: int  # the child's RSS after imports, before loading the model
    peak_rss_bytes: int  # the child's peak RSS from the kernel, whole process
    peak_above_interpreter_bytes: int  # peak_rss_bytes - rss_before_load_bytes: what the model cost
    source: str  # "wait4 ru_maxrss", "VmHWM"
    # GPU runs (grader.harness.gpu.GpuMemoryWatch), each None where it cannot be read here. A `vram`
    # claim is checked against the first present of nvml_process, torch_peak_reserved,
    # torch_peak_allocated, nvml_device_delta (grader.verify.readings).
    torch_peak_allocated_bytes: int | None = None
    torch_peak_reserved_bytes: int | None = None
    nvml_process_bytes: int | None = None  # sampled peak (or NVML accounting's exact one), context included
    nvml_device_delta_bytes: int | None = None  # sampled: device used at peak minus before load
    vram_labels: dict[str, str] = {}  # figure → how it was read: exact or sampled, what it includes
    vram_notes: list[str] = []  # why a GPU figure is missing


class QualityResult(Model):
    task: str
    dataset: str
    dataset_digest: str
    device: str
    n: int
    seed: int
    metrics: dict[str, float]
    directions: dict[str, Literal["higher", "lower"]]
    primary: str
    params: dict[str, int | float | str | bool] = {}
    seconds: float | None = None
    # Metrics of the task the model could not be measured on while `metrics` stand, each with why
    # (a note of grader.messages: causal-lm's BLEU / chrF of a model that cannot generate). Absent
    # from older documents: every metric was measured or the phase failed.
    unmeasured: dict[str, Note] = {}
    # Added for private splits: the dataset's `visibility` in course.yaml. Private figures stay in
    # instructor-only output until the homework's deadline (grader.verify.private).
    visibility: Literal["public", "private"] = "public"


class FileInfo(Model):
    path: str  # relative to the artifact root
    bytes: int
    sha256: str
    role: Literal["weights", "config", "tokenizer", "other"]


class TensorInfo(Model):
    name: str
    dtype: str
    shape: list[int]
    bytes: int
    zeros: int | None = None
    unique: int | None = None  # distinct values (computed for float tensors up to a size bound)
    packed_bits: float | None = None  # quantized packed tensors: effective bits per weight
    # Added by grader.harness.size (see its module docstring for the exact definitions):
    file: str | None = None  # the file that holds its data (a shard, an external-data file, an IR .bin)
    params: int | None = None  # logical parameters: elements; values held if packed; 0 if quant metadata
    quant: Literal["packed", "metadata"] | None = None  # packed weights, or their scales/zeros/g_idx
    unique_at_least: int | None = None  # counting stopped early: at least this many distinct values
    sparse_ideal_bytes: int | None = None  # this tensor in the smaller of the two sparse layouts
    sparse_format: Literal["bitmask", "csr"] | None = None  # which layout sparse_ideal_bytes is
    codebook_ideal_bytes: int | None = None  # indices + centroids; set only when smaller than `bytes`


class DtypeShare(Model):
    params: int
    bytes: int


class SizeReport(Model):
    files: list[FileInfo]
    files_bytes: int  # every file of the model
    weights_bytes: int  # the files that hold weights (safetensors, .onnx + external data, ...)
    params: int
    dtypes: dict[str, DtypeShare]
    tensors: list[TensorInfo] = []
    zeros_fraction: float | None = None  # over value tensors: float and int8/uint8 weights, not quant scales
    sparse_ideal_bytes: int | None = None  # per tensor the least of dense, nonzeros + bitmask, CSR
    codebook_ideal_bytes: int | None = None  # per-tensor indices at ceil(log2(unique)) bits + centroids
    compressed_bytes: int | None = None  # weights after a general-purpose codec
    compressed_codec: str | None = None  # "zstd-3" or "gzip-6"
    effective_bits_per_weight: float | None = None
    # Why a figure is surprising (grader.harness.size_notes): keys of grader.messages.size and
    # their parameters, rendered in the reader's language where they are shown.
    notes: list[Note] = []
    # Added by grader.harness.size:
    tensor_bytes: int | None = None  # tensor data at stored dtypes, no headers/graph: the ideals' baseline
    quantization: list[str] = []  # quantized formats recognised: gptq, awq, compressed-tensors, onnx-qdq, ...
    packed_bits_per_weight: float | None = None  # (packed + scales/zeros/g_idx bytes) × 8 / packed weights
    unique_limit_bytes: int | None = None  # max_unique_scan_bytes the distinct-value counts ran with


class DeviceMeasurement(Model):
    device: str
    status: Status
    reason: str = ""
    load: LoadResult | None = None
    latency: LatencyResult | None = None
    memory: MemoryResult | None = None
    generation: GenerationResult | None = None  # causal-lm only
    # onnxruntime on a GPU: which execution provider ran the nodes (profiled in the memory phase)
    providers: list[ProviderShare] = []


class ModelMeasurement(Model):
    key: str  # "baseline" or "models[i]", as in the manifest
    name: str
    role: Literal["baseline", "candidate"]
    backend: str
    format: str
    transform: str | None = None
    status: Status
    reason: str = ""
    artifact_digests: dict[str, str] = {}  # file → sha256
    size: SizeReport | None = None
    devices: dict[str, DeviceMeasurement] = {}
    quality: QualityResult | None = None
    phases: list[PhaseResult] = []
    # The homework's private eval set (course.yaml `homeworks[].private_eval`), measured like
    # `quality`; instructor-only until the deadline.
    private_quality: QualityResult | None = None


class GpuInfo(Model):
    name: str
    uuid: str | None = None
    driver: str | None = None
    cuda: str | None = None  # the newest CUDA version the driver supports
    memory_bytes: int | None = None
    compute_capability: str | None = None  # "9.0"
    mig: bool | None = None  # MIG mode on: the runner's jobs see a slice of this GPU


class Environment(Model):
    harness_version: str
    git_commit: str | None = None
    python: str
    platform: str
    cpu_model: str
    cpu_governor: str | None = None
    cpu_count: int
    ram_total_bytes: int
    gpus: list[GpuInfo] = []
    libraries: dict[str, str] = {}
    onnxruntime_providers: list[str] = []
    gpu_probe: str = ""  # how `gpus` was listed (NVML, nvidia-smi), or why it is empty
    threads: dict[str, int] = {}
    seed: int = 0
    input_shapes: dict[str, list[int]] = {}


class MeasurementRun(Document):
    KIND = "measurement-run"
    VERSION = MEASUREMENT_SCHEMA_VERSION
    PRODUCER = "grader measure"
    READS = frozenset({1, 2, 3})

    submission: ValidatedSubmission
    models: list[ModelMeasurement]
    environment: Environment
    started_at: str  # ISO 8601, UTC
    wall_s: float
    order: list[str] = Field(default_factory=list)  # the interleaved order the latency children ran in

    @classmethod
    def upgrade(cls, data: dict[str, Any], version: int) -> dict[str, Any]:
        """Schema 1 and 2 stored size notes as prose, `notes` (English) beside `notes_ru`: each
        pair becomes a verbatim note (grader.messages.VERBATIM) that shows the old text."""
        models = data.get("models")
        if isinstance(models, list):
            data["models"] = [_upgrade_model(m) for m in models]
        return super().upgrade(data, version)

    def model(self, key: str) -> ModelMeasurement | None:
        return next((m for m in self.models if m.key == key), None)


def _upgrade_model(model: Any) -> Any:
    size = model.get("size") if isinstance(model, dict) else None
    if not isinstance(size, dict):
        return model
    size = dict(size)
    english = size.get("notes") or []
    russian = size.pop("notes_ru", None) or []
    if all(isinstance(n, str) for n in english):  # prose: schema 1 and 2
        size["notes"] = [
            {"key": VERBATIM, "params": {"en": en, "ru": russian[i] if i < len(russian) else en}}
            for i, en in enumerate(english)
        ]
    return {**model, "size": size}
