"""What the parent asks a measurement child to do, and what the child writes back.

The parent writes a job as JSON; the child (forked by a zygote, or a plain
`python -m grader.harness.child JOB` process) runs it and writes a ChildReport to
``job.result_path``. How the child ended (exit code, signal, peak RSS, timed out, killed for
memory) is not the child's to say: the process that reaped it reports that as an ExitInfo.
Both are plain data so the three processes agree on them without sharing any state.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from grader.course.model import LatencySettings
from grader.notes import Note

Phase = Literal["latency", "memory", "quality"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Limits(_Model):
    timeout_s: float = Field(gt=0)
    memory_bytes: int | None = Field(default=None, gt=0)  # whole-process peak RSS


class EvalJob(_Model):
    dataset_id: str
    course: dict[str, Any]  # Course.model_dump(mode="json"): the child rebuilds the Course from it
    repo_root: str


class PhaseJob(_Model):
    """Load one model on one device and run one phase."""

    kind: Literal["phase"] = "phase"
    phase: Phase
    backend: str  # a name in grader.harness.backends.BACKENDS
    model_dir: str
    format: str
    model_file: str | None = None
    transform: str | None = None
    device: str = "cpu"
    task: str | None = None  # a name in grader.harness.tasks.TASKS; gives inputs and the metric
    task_params: dict[str, int | float | str | bool] = {}
    inputs_file: str | None = None  # .npz of fixed inputs, instead of the task's (benchmarks)
    batch_size: int = 1
    intra_op_threads: int = 1
    inter_op_threads: int = 1
    seed: int = 0
    latency: LatencySettings = LatencySettings()
    memory_iters: int = 5  # calls in the memory phase: enough to reach the steady footprint
    # latency phase of a generating task (causal-lm): time greedy generation after the forward calls
    generation: bool = False
    allow_code_formats: bool = False  # TorchScript & co.: only after an instructor allowed it
    input_roles: dict[str, str] = {}  # the manifest's `inputs:` (grader.input_roles)
    eval: EvalJob | None = None
    cpu: int | None = None  # latency: run pinned to this CPU (grader.harness.affinity)
    # latency: the other models this round's child times with this one, turn by turn, on the same
    # device and CPU (grader.harness.timing.measure_turns); their reports come back in `peers`
    peers: list[PhaseJob] = []
    result_path: str = ""  # filled in by the runner


class ProbeJob(_Model):
    """A child that checks the harness itself (`grader selftest`): no model involved."""

    kind: Literal["probe"] = "probe"
    action: Literal["alloc", "spin", "hang", "crash", "exit", "raise", "cuda_alloc", "cuda_sleep"]
    mib: int = 0  # alloc: touched MiB to hold; cuda_alloc: MiB of VRAM to allocate and touch
    hold_s: float = 0.0  # alloc: keep the block this long, so a test can see two children alive at once
    spin_ms: float = 0.0  # spin: busy-wait this long per call; cuda_sleep: the GPU spins this long
    # cuda_sleep: time torch.cuda._sleep with CUDA events, or perf_counter around it + synchronize
    timer: Literal["cuda_events", "synchronize"] = "cuda_events"
    exit_code: int = 3
    latency: LatencySettings = LatencySettings()
    result_path: str = ""  # filled in by the runner


Job = Annotated[PhaseJob | ProbeJob, Field(discriminator="kind")]


class JobEnvelope(_Model):
    """A job on disk, with the paths of its log; the zygote and the fallback read the same file."""

    id: str
    job: Job
    log_path: str
    limits: Limits


class LoadReport(_Model):
    load_s: float
    first_call_s: float
    as_run_bytes: int | None = None
    providers: list[str] = []
    build_s: float | None = None
    notes: list[str] = []


class TimingReport(_Model):
    samples_ms: list[float]
    warmup_iters: int
    warmup_s: float
    warmup_converged: bool
    stable: bool
    stop_reason: str  # "stable", "max_time_s", "max_iters"
    timer: str
    measure_s: float
    waited_s: float | None = None  # run-queue wait of the process's threads while timing (timing.py)


class QualityReport(_Model):
    metrics: dict[str, float]
    n: int
    dataset_digest: str
    seconds: float
    # metric → why the task could not measure it for this model, while `metrics` stand
    # (grader.harness.tasks.base.Evaluation: causal-lm's BLEU of a model that cannot generate)
    unmeasured: dict[str, Note] = {}


class GenerationReport(_Model):
    """Generation latency from a latency child (grader.harness.tasks.causal_lm.GenerationTiming)."""

    prompt_tokens: int
    new_tokens: int
    kv_cache: bool
    repeats: int
    ttft_ms: list[float]  # one per timed repeat
    tpot_ms: list[float]  # every step after the first, all repeats
    seconds: float  # wall time of the generation runs, warm-up included


class ProbeReport(_Model):
    allocated_bytes: int = 0
    rss_after_alloc_bytes: int | None = None
    # alloc: when the child began and ended its work, on CLOCK_MONOTONIC (one clock for every
    # process on the machine), so the intervals of two children can be compared
    started_monotonic_s: float | None = None
    ended_monotonic_s: float | None = None
    gpu: GpuProbeReport | None = None  # cuda_alloc / cuda_sleep


class GpuProbeReport(_Model):
    """What a GPU self-test probe read (grader.harness.gpu_probes)."""

    device: str = ""  # the GPU's name
    allocated_bytes: int = 0  # cuda_alloc: the tensor's bytes
    # torch allocator, after reset_peak_memory_stats() once the CUDA context exists
    torch_peak_allocated_bytes: int | None = None
    torch_peak_reserved_bytes: int | None = None
    # NVML, through the harness's sampler: the reading once the context exists, and the peak after it
    nvml_process_before_bytes: int | None = None
    nvml_process_peak_bytes: int | None = None
    nvml_device_before_bytes: int | None = None
    nvml_device_peak_bytes: int | None = None
    nvml_readings: int = 0
    sm_clock_mhz: float | None = None  # cuda_sleep: the SM clock the sleep's cycles were computed from
    clock_source: str = ""
    sleep_cycles: int = 0
    notes: list[str] = []


class GpuMemoryReport(_Model):
    """A GPU child's VRAM figures (grader.harness.gpu.GpuMemoryWatch); None where not available."""

    torch_peak_allocated_bytes: int | None = None
    torch_peak_reserved_bytes: int | None = None
    nvml_process_bytes: int | None = None
    nvml_device_delta_bytes: int | None = None
    labels: dict[str, str] = {}  # figure → how it was read (exact or sampled, what it includes)
    notes: list[str] = []  # why a figure is missing


class ProviderShare(_Model):
    """onnxruntime: what one execution provider ran, from a profiled run (grader.harness.gpu)."""

    provider: str
    nodes: int  # graph nodes (after onnxruntime's optimisations) this provider ran
    node_share: float
    time_ms: float  # profiled node time per run (each node's median over the runs, summed)
    time_share: float
    ops: dict[str, int] = {}  # op type → nodes, most frequent first


class ChildReport(_Model):
    """What the child itself found out. ``error_kind`` is set when it caught an exception."""

    ok: bool
    error_kind: Literal["not_measurable", "failed"] | None = None
    error: str = ""
    error_stage: str = ""  # setup, load, inputs, first_call, latency, memory, quality
    pid: int
    rss_before_load_bytes: int | None = None
    vmhwm_bytes: int | None = None
    vmrss_end_bytes: int | None = None
    threads: dict[str, int] = {}
    input_shapes: dict[str, list[int]] = {}
    load: LoadReport | None = None
    timing: TimingReport | None = None
    quality: QualityReport | None = None
    probe: ProbeReport | None = None
    notes: list[str] = []
    gpu: GpuMemoryReport | None = None  # memory phase on a GPU
    execution: list[ProviderShare] = []  # memory phase of onnxruntime on a GPU: who ran the nodes
    # The generation run of a latency child: its figures, or why it could not run. It never makes
    # the child itself fail: the forward latency stands on its own.
    generation: GenerationReport | None = None
    generation_error_kind: Literal["not_measurable", "failed"] | None = None
    generation_error: str = ""
    peers: list[ChildReport] = []  # a shared latency round: the reports of the job's peers, in order


class ExitInfo(_Model):
    """How a child ended, from the process that reaped it (os.wait4)."""

    pid: int
    exit_code: int | None = None  # None when killed by a signal
    signal: str | None = None  # "SIGKILL", "SIGSEGV", ...
    ru_maxrss_bytes: int | None = None  # the child's own peak RSS from wait4; None when not its own
    hwm_seen_bytes: int | None = None  # the largest VmHWM the watchdog read while it ran
    wall_s: float
    killed_for: Literal["timeout", "memory"] | None = None
    # An exec'd child (the fallback) carries its spawner's high-water mark in ru_maxrss: Linux
    # folds the pre-exec address space into it. Its raw value is kept here, ru_maxrss_bytes is
    # None, and VmHWM (which exec resets) describes the child.
    ru_maxrss_inherited_bytes: int | None = None
