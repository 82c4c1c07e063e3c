"""The GPU half of the harness: NVML, CUDA state, device-true timing, VRAM readings, provider checks.

Who calls what, and the one rule that shapes it: CUDA does not survive fork. A process that has
initialised the CUDA driver (cuInit, which torch.cuda.is_available() and any first CUDA call do)
cannot fork a child that uses the GPU. So:

- the parent and the zygote only ever use what here never touches CUDA: NVML (a separate driver
  library), /proc/self/maps, and `cuda_fork_state`, which asks an already-loaded libcuda whether
  it was initialised (cuDeviceGetCount answers CUDA_ERROR_NOT_INITIALIZED without initialising);
- a measurement child that runs on the GPU initialises CUDA itself, uses `gpu_memory_watch` around
  load + phase (NVML sampled by a thread, torch allocator peaks) and `CudaEventClock` for timing;
- onnxruntime children profile the memory phase and `provider_shares` says which execution
  provider ran each node, so a GPU run that silently fell back to the CPU is reported (and failed
  above CPU_FALLBACK_LIMIT of the node time).

Every reading that cannot be taken says why (NVML not installed, no driver, the child's pid not in
NVML's process list because of a pid namespace, MIG, ...), so a missing figure is never silent.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import statistics
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader.harness.jobs import GpuMemoryReport, ProviderShare
from grader.units import MIB

if TYPE_CHECKING:
    from grader.harness.backends.base import Backend

NS_PER_MS = 1_000_000
SAMPLE_INTERVAL_S = 0.005  # NVML sampling period: a few ms, far below any phase's length
# A GPU figure is FAILED when CPUExecutionProvider ran more than this share of the profiled node
# time. Not a node count: onnxruntime deliberately places cheap shape arithmetic on the CPU, so a
# healthy CUDA graph has CPU nodes that cost almost nothing; a real fallback costs time.
CPU_FALLBACK_LIMIT = 0.25
CPU_PROVIDER = "CPUExecutionProvider"
GPU_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")
LIBCUDA = "libcuda.so"
CUDA_SUCCESS = 0
CUDA_ERROR_NOT_INITIALIZED = 3


# --- NVML ------------------------------------------------------------------------------------------


def load_nvml() -> tuple[Any | None, str]:
    """NVML (the `pynvml` module of nvidia-ml-py), initialised; or None and why it is unavailable.

    NVML is the driver's management library: using it does not initialise CUDA, so the parent and
    the zygote may call this. The caller shuts it down (`nvml_session` does).
    """
    try:
        import pynvml
    except ImportError:
        return None, "NVML is not available: nvidia-ml-py is not installed (the `gpu` extra installs it)"
    try:
        pynvml.nvmlInit()
    except Exception as error:  # NVMLError_LibraryNotFound, _DriverNotLoaded, ... (all NVMLError)
        return None, (
            f"NVML could not start ({nvml_error_text(error)}): no NVIDIA driver on this machine, "
            "or its libnvidia-ml.so is not visible to this process"
        )
    return pynvml, ""


@contextlib.contextmanager
def nvml_session() -> Iterator[tuple[Any | None, str]]:
    nvml, why = load_nvml()
    try:
        yield nvml, why
    finally:
        if nvml is not None:
            with contextlib.suppress(Exception):
                nvml.nvmlShutdown()


def nvml_error_text(error: BaseException) -> str:
    text = str(error).strip()
    name = type(error).__name__
    return f"{name}: {text}" if text and text != name else name


def nvml_text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


# --- which GPU a CUDA process uses ------------------------------------------------------------------


def visible_device(env: Mapping[str, str] | None = None) -> str | None:
    """The first entry of CUDA_VISIBLE_DEVICES: CUDA's device 0. None when the variable is unset
    (device 0 is then NVML's index 0, as the harness sets CUDA_DEVICE_ORDER=PCI_BUS_ID); an empty
    string or "-1" when it hides every GPU."""
    environ = os.environ if env is None else env
    raw = environ.get("CUDA_VISIBLE_DEVICES")
    if raw is None:
        return None
    return raw.split(",")[0].strip()


def nvml_device(nvml: Any, env: Mapping[str, str] | None = None) -> tuple[Any, str]:
    """The NVML handle of CUDA's device 0 for this process, and its UUID. LookupError says why not."""
    first = visible_device(env)
    if first in ("", "-1"):
        raise LookupError("CUDA_VISIBLE_DEVICES hides every GPU from this process")
    try:
        if first is None or first.isdigit():
            handle = nvml.nvmlDeviceGetHandleByIndex(int(first or 0))
        elif first.startswith(("GPU-", "MIG-")):
            handle = nvml.nvmlDeviceGetHandleByUUID(first)
        else:
            raise LookupError(f"CUDA_VISIBLE_DEVICES starts with {first!r}, which NVML cannot resolve")
        return handle, nvml_text(nvml.nvmlDeviceGetUUID(handle))
    except LookupError:
        raise
    except Exception as error:
        raise LookupError(f"NVML has no device for CUDA_VISIBLE_DEVICES={first!r}: {error}") from None


def same_device(nvml_uuid: str, torch_uuid: str) -> bool:
    """NVML says `GPU-8f2c...`, torch's device properties say `8f2c...`: the same GPU?"""

    def bare(uuid: str) -> str:
        return uuid.strip().lower().removeprefix("gpu-").removeprefix("mig-")

    return bool(nvml_uuid) and bare(nvml_uuid) == bare(torch_uuid)


# --- CUDA state without initialising it -------------------------------------------------------------


def mapped_library(name: str, maps: Path = Path("/proc/self/maps")) -> str | None:
    """The path of the first mapped file whose name starts with ``name`` (e.g. libcuda.so), if any."""
    try:
        text = maps.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and Path(parts[5].strip()).name.startswith(name):
            return parts[5].strip()
    return None


def cuda_driver_state(maps: Path = Path("/proc/self/maps")) -> str:
    """ "not loaded", "loaded, not initialised", "initialised", or "unknown: why" — never initialises.

    cuDeviceGetCount before cuInit returns CUDA_ERROR_NOT_INITIALIZED and changes nothing, so it
    tells whether a libcuda that some import has loaded was also initialised.
    """
    path = mapped_library(LIBCUDA, maps)
    if path is None:
        return "not loaded"
    try:
        library = ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)  # the mapped copy, not a new one
        count = ctypes.c_int(0)
        code = library.cuDeviceGetCount(ctypes.byref(count))
    except (OSError, AttributeError) as error:
        return f"unknown: {Path(path).name} is mapped but cannot be asked ({error})"
    if code == CUDA_ERROR_NOT_INITIALIZED:
        return "loaded, not initialised"
    if code == CUDA_SUCCESS:
        return "initialised"
    return f"unknown: cuDeviceGetCount returned {code}"


def cuda_fork_state() -> dict[str, Any]:
    """What the zygote reports before it forks: CUDA must be untouched (see the module docstring)."""
    torch = sys.modules.get("torch")
    initialized = None
    if torch is not None and hasattr(torch, "cuda"):
        with contextlib.suppress(Exception):
            initialized = bool(torch.cuda.is_initialized())  # reads a flag; starts nothing
    return {"driver": cuda_driver_state(), "torch_initialized": initialized}


def cuda_fork_problem(state: Mapping[str, Any] | None) -> str | None:
    """None if a process in ``state`` (cuda_fork_state) may fork GPU children; else why not."""
    if not state:
        return None
    if state.get("torch_initialized"):
        return "torch initialised CUDA in it"
    driver = str(state.get("driver") or "not loaded")
    if driver in ("not loaded", "loaded, not initialised"):
        return None
    if driver == "initialised":
        return "the CUDA driver was initialised in it"
    return f"its CUDA state is {driver}"  # unknown: refuse rather than hand out poisoned children


def torch_cuda_unavailable_reason() -> str | None:
    """None if torch can use a CUDA GPU here; else why not, in one sentence. Fork-safe.

    torch.cuda.device_count() counts through NVML when the driver's NVML loads, without cuInit;
    only where NVML fails does it fall back to the CUDA runtime, and then there is no usable GPU.
    """
    try:
        import torch
    except ImportError:
        return "PyTorch is not installed"
    if not torch.backends.cuda.is_built():
        return (
            f"this PyTorch build ({torch.__version__}) has no CUDA support; "
            "the GPU runner needs a CUDA build of torch"
        )
    if visible_device() in ("", "-1"):
        return "CUDA_VISIBLE_DEVICES hides every GPU from the grader"
    try:
        count = torch.cuda.device_count()
    except Exception as error:
        return f"PyTorch cannot count the CUDA devices: {type(error).__name__}: {error}"
    if count < 1:
        return "this runner has no CUDA GPU that PyTorch can see (torch.cuda.device_count() is 0)"
    return None


def check_not_in_bad_fork() -> None:
    """A child forked from a process that had initialised CUDA cannot use it: say so plainly."""
    torch = sys.modules.get("torch")
    bad = getattr(getattr(torch, "cuda", None), "_is_in_bad_fork", None)
    if bad is not None and bad():
        raise RuntimeError(
            "this measurement child was forked from a process that had initialised CUDA, so it "
            "cannot use the GPU; the zygote must not touch CUDA (see grader.harness.gpu)"
        )


# --- fp32 means fp32 ---------------------------------------------------------------------------------


def disable_tf32(torch: Any) -> str:
    """fp32 matmuls and convolutions in IEEE fp32, not TF32, on every GPU backend alike.

    TF32 trades precision for speed behind the model's back: an fp32 baseline would run faster and
    score differently than its declared precision says. (onnxruntime: use_tf32=0; TensorRT: the
    TF32 builder flag cleared.) torch 2.9+ has one switch; older versions have the two flags.
    """
    backends = torch.backends
    if hasattr(backends, "fp32_precision"):
        backends.fp32_precision = "ieee"
        # A setting made lower down (e.g. the legacy cudnn.allow_tf32 = True) overrides the top one.
        for leaf in (backends.cuda.matmul, backends.cudnn.conv, backends.cudnn.rnn):
            leaf.fp32_precision = "ieee"
        return "fp32 runs as IEEE fp32 (torch fp32_precision 'ieee' for matmul, conv and rnn: no TF32)"
    backends.cuda.matmul.allow_tf32 = False
    backends.cudnn.allow_tf32 = False
    return "fp32 runs as IEEE fp32 (allow_tf32 off for matmul and cuDNN)"


# --- device-true timing ---------------------------------------------------------------------------


class CudaEventClock:
    """A clock for the timing loop (grader.harness.timing), read from CUDA events.

    Each read records an event on torch's current stream and waits for it; the value advances by
    the device time since the previous read (cudaEventElapsedTime of that pair). So a sample, the
    difference of the reads around one call, is the device time from the first record to the
    second: every kernel the call queued, and the launch gaps between them, at the events'
    resolution (about 0.5 µs). Summing short intervals keeps that precision however long the run
    is (one elapsed time from a fixed origin would be a float32 of ever larger milliseconds).
    """

    def __init__(self, new_event: Callable[[], Any]) -> None:
        self._events = (new_event(), new_event())
        self._index = 0
        self._last: Any = None
        self._total_ns = 0

    @classmethod
    def for_torch(cls, torch: Any) -> CudaEventClock:
        return cls(lambda: torch.cuda.Event(enable_timing=True))

    def __call__(self) -> int:
        event = self._events[self._index]
        self._index ^= 1  # the other event still marks the previous read
        event.record()
        event.synchronize()
        if self._last is not None:
            self._total_ns += round(self._last.elapsed_time(event) * NS_PER_MS)
        self._last = event
        return self._total_ns


def latency_timer(
    device: str, backend: Backend, run_once: Callable[[], object], run_and_sync: Callable[[], object]
) -> tuple[Callable[[], object], str, Callable[[], int]]:
    """(what to time, the timer's name, the clock) for a latency phase on ``device``.

    CPU: perf_counter around the call. GPU, backends whose run() enqueues on torch's current
    stream: CUDA events around run() alone (the end event waits for the queued work). Other GPU
    backends (onnxruntime runs on its own streams): perf_counter around run() + synchronize().
    """
    if device == "cpu":
        return run_and_sync, "perf_counter", time.perf_counter_ns
    if backend.cuda_events:
        import torch

        return run_once, "cuda_events", CudaEventClock.for_torch(torch)
    return run_and_sync, "perf_counter+synchronize", time.perf_counter_ns


# --- VRAM ---------------------------------------------------------------------------------------------


@dataclass
class SampledPeak:
    """What a PeakSampler saw: the first reading, the largest, and how many readings it took."""

    before: int | None = None
    peak: int | None = None
    samples: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, value: int | None) -> None:
        if value is None:
            return
        if self.before is None:
            self.before = value
        self.peak = value if self.peak is None else max(self.peak, value)

    @property
    def delta(self) -> int | None:
        if self.before is None or self.peak is None:
            return None
        return max(0, self.peak - self.before)


class PeakSampler:
    """Calls ``read`` every ``interval_s`` in a daemon thread and keeps each figure's first and peak.

    ``read`` returns named figures (None = not available in this reading). The first reading is
    taken in start() itself, before the caller does anything, so `before` is the baseline.
    """

    def __init__(self, read: Callable[[], Mapping[str, int | None]], interval_s: float = SAMPLE_INTERVAL_S):
        self._read = read
        self.interval_s = interval_s
        self.peaks: dict[str, SampledPeak] = defaultdict(SampledPeak)
        self.readings = 0
        self.errors: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def sample(self) -> None:
        try:
            values = self._read()
        except Exception as error:  # a failed reading is counted, never fatal to the phase
            with self._lock:
                self.errors[f"{type(error).__name__}: {error}"] += 1
            return
        with self._lock:
            self.readings += 1
            for name, value in values.items():
                self.peaks[name].add(value)

    def start(self) -> PeakSampler:
        self.sample()
        self._thread = threading.Thread(target=self._loop, name="vram-sampler", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.sample()


def nvml_reader(nvml: Any, handle: Any, pid: int) -> Callable[[], dict[str, int | None]]:
    """One NVML reading: the device's used memory, and this pid's used memory (None if not listed)."""

    def read() -> dict[str, int | None]:
        used = int(nvml.nvmlDeviceGetMemoryInfo(handle).used)
        mine: int | None = None
        for process in nvml.nvmlDeviceGetComputeRunningProcesses(handle):
            if int(process.pid) == pid and process.usedGpuMemory is not None:
                mine = int(process.usedGpuMemory)
        return {"device": used, "process": mine}

    return read


def accounting_peak(nvml: Any, handle: Any, pid: int) -> int | None:
    """NVML accounting's exact peak for ``pid``, when an administrator enabled accounting mode."""
    with contextlib.suppress(Exception):
        if nvml.nvmlDeviceGetAccountingMode(handle) == nvml.NVML_FEATURE_ENABLED:
            stats = nvml.nvmlDeviceGetAccountingStats(handle, pid)
            return int(stats.maxMemoryUsage) if stats.maxMemoryUsage else None
    return None


def _interval_text(interval_s: float) -> str:
    return f"{interval_s * 1000:g} ms"


class GpuMemoryWatch:
    """VRAM of one measurement child on its GPU, from before load to the end of its phase.

    - NVML, sampled by a thread: this process's used memory (what nvidia-smi shows for it, the
      CUDA context included) and the device's used memory, whose rise from the reading before
      load is the device delta (sampled too, and it counts any other process on the GPU);
    - torch's caching allocator peaks, for backends whose model lives in it (a child starts with
      no CUDA state, so the peaks cover load and calls); reset_peak_memory_stats() is not needed.
    """

    def __init__(
        self, *, torch_allocator: bool, pid: int | None = None, interval_s: float = SAMPLE_INTERVAL_S
    ):
        self.torch_allocator = torch_allocator
        self.pid = os.getpid() if pid is None else pid
        self.interval_s = interval_s
        self.report = GpuMemoryReport()
        self._nvml: Any = None
        self._handle: Any = None
        self._uuid = ""
        self._sampler: PeakSampler | None = None

    def start(self) -> GpuMemoryWatch:
        check_not_in_bad_fork()
        nvml, why = load_nvml()
        if nvml is None:
            self.report.notes.append(f"no NVML figures: {why}")
            return self
        try:
            self._handle, self._uuid = nvml_device(nvml)
        except LookupError as error:
            self.report.notes.append(f"no NVML figures: {error}")
            with contextlib.suppress(Exception):
                nvml.nvmlShutdown()
            return self
        self._nvml = nvml
        self._sampler = PeakSampler(nvml_reader(nvml, self._handle, self.pid), self.interval_s).start()
        return self

    def finish(self) -> GpuMemoryReport:
        if self._sampler is not None:
            self._sampler.stop()
            self._nvml_figures(self._sampler)
            with contextlib.suppress(Exception):
                self._nvml.nvmlShutdown()
        self._torch_figures()
        return self.report

    def _nvml_figures(self, sampler: PeakSampler) -> None:
        every = _interval_text(sampler.interval_s)
        report = self.report
        if not self._torch_sees_same_gpu():
            return
        device = sampler.peaks["device"]
        peak, before = device.peak, device.before
        if device.delta is not None and peak is not None and before is not None:  # a delta has both
            report.nvml_device_delta_bytes = device.delta
            report.labels["nvml_device_delta_bytes"] = (
                f"NVML device used memory, sampled every {every} ({sampler.readings} readings): peak "
                f"{peak / MIB:.0f} MiB minus {before / MIB:.0f} MiB before load; the CUDA "
                "context and any other process's change on this GPU are included"
            )
        exact = accounting_peak(self._nvml, self._handle, self.pid)
        process = sampler.peaks["process"].peak
        if exact is not None:
            report.nvml_process_bytes = max(exact, process or 0)
            report.labels["nvml_process_bytes"] = (
                f"NVML accounting: exact peak GPU memory of the measuring process (pid {self.pid}), "
                "CUDA context included"
            )
        elif process is not None:
            report.nvml_process_bytes = process
            report.labels["nvml_process_bytes"] = (
                f"NVML per-process used GPU memory of the measuring process (pid {self.pid}), peak of "
                f"samples every {every} (sampled), CUDA context included: what nvidia-smi shows"
            )
        else:
            report.notes.append(
                f"no NVML per-process figure: NVML listed no GPU memory for pid {self.pid} (a runner "
                "in a container sees other pids than the driver, or MIG hides per-process usage)"
            )
        if sampler.errors:
            first = next(iter(sampler.errors))
            report.notes.append(f"{sum(sampler.errors.values())} NVML readings failed (first: {first})")

    def _torch_sees_same_gpu(self) -> bool:
        torch = sys.modules.get("torch")
        if torch is None or not torch.cuda.is_initialized():
            return True  # nothing to compare with: CUDA_VISIBLE_DEVICES + PCI bus order decided
        try:
            props = torch.cuda.get_device_properties(torch.cuda.current_device())
            torch_uuid = str(props.uuid)
        except Exception:
            return True
        if same_device(self._uuid, torch_uuid):
            return True
        self.report.notes.append(
            f"no NVML figures: NVML's device {self._uuid} is not the GPU torch runs on ({torch_uuid})"
        )
        return False

    def _torch_figures(self) -> None:
        torch = sys.modules.get("torch")
        if torch is None or not torch.cuda.is_initialized():
            return
        allocated, reserved = torch.cuda.max_memory_allocated(), torch.cuda.max_memory_reserved()
        if not self.torch_allocator:
            self.report.notes.append(
                f"torch's allocator held only this backend's I/O buffers (peak {allocated / MIB:.1f} MiB); "
                "the runtime allocates the model's GPU memory itself, so NVML's figures describe it"
            )
            return
        self.report.torch_peak_allocated_bytes = int(allocated)
        self.report.torch_peak_reserved_bytes = int(reserved)
        self.report.labels["torch_peak_allocated_bytes"] = (
            "torch.cuda.max_memory_allocated(): peak bytes of live tensors over load and calls "
            "(no CUDA context, no allocator cache)"
        )
        self.report.labels["torch_peak_reserved_bytes"] = (
            "torch.cuda.max_memory_reserved(): peak bytes torch's caching allocator held from the "
            "driver over load and calls (no CUDA context)"
        )


@contextlib.contextmanager
def gpu_memory_watch(
    device: str, *, torch_allocator: bool, sink: Callable[[GpuMemoryReport], None]
) -> Iterator[GpuMemoryWatch | None]:
    """Watch VRAM around a block on a GPU device (nothing on the CPU); hand the report to ``sink``
    even when the block raises, so a failed phase still shows what it held."""
    if device == "cpu":
        yield None
        return
    watch = GpuMemoryWatch(torch_allocator=torch_allocator).start()
    try:
        yield watch
    finally:
        sink(watch.finish())


GPU_MEMORY_FIELDS = (
    "torch_peak_allocated_bytes",
    "torch_peak_reserved_bytes",
    "nvml_process_bytes",
    "nvml_device_delta_bytes",
)


def with_gpu_memory(result: Any, report: GpuMemoryReport | None) -> Any:
    """A MemoryResult with the child's GPU figures and their labels added (unchanged without them)."""
    if report is None:
        return result
    update: dict[str, Any] = {name: getattr(report, name) for name in GPU_MEMORY_FIELDS}
    update["vram_labels"] = dict(report.labels)
    update["vram_notes"] = list(report.notes)
    return result.model_copy(update=update)


# --- which execution provider ran each node (onnxruntime) ------------------------------------------


class DeviceFallback(RuntimeError):  # noqa: N818 - reads as the outcome it is
    """The model ran (largely) on the CPU in a GPU run: the GPU figures would describe the CPU."""


KERNEL_SUFFIX = "_kernel_time"


def read_profile(path: Path) -> list[dict[str, Any]]:
    """The events of an onnxruntime profile (Chrome trace JSON: a list, or {"traceEvents": [...]})."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    events = data.get("traceEvents", []) if isinstance(data, dict) else data
    return [e for e in events if isinstance(e, dict)]


def provider_shares(events: list[dict[str, Any]]) -> list[ProviderShare]:
    """Per execution provider: the graph nodes it ran and its share of the node time.

    Node events (`cat` "Node", name `<node>_kernel_time`) carry the provider in `args.provider`.
    A node's time is the median of its runs, so the first call's lazy set-up does not dominate.
    For GPU providers the profiled time is the host side of the kernel launches, so a CPU share
    by time is an upper bound on what the GPU work cost in comparison: conservative for a check
    that fails CPU fallbacks.
    """
    durations: dict[tuple[str, str], list[float]] = defaultdict(list)
    ops: dict[tuple[str, str], str] = {}
    for event in events:
        name = str(event.get("name", ""))
        args = event.get("args") or {}
        if event.get("cat") != "Node" or not name.endswith(KERNEL_SUFFIX) or "provider" not in args:
            continue
        key = (str(args["provider"]), name.removesuffix(KERNEL_SUFFIX))
        durations[key].append(float(event.get("dur", 0.0)))
        ops[key] = str(args.get("op_name", "?"))
    if not durations:
        return []
    node_us = {key: statistics.median(values) for key, values in durations.items()}
    total_nodes = len(node_us)
    total_us = sum(node_us.values())
    providers = sorted({provider for provider, _ in node_us})
    shares = []
    for provider in providers:
        keys = [key for key in node_us if key[0] == provider]
        time_us = sum(node_us[key] for key in keys)
        shares.append(
            ProviderShare(
                provider=provider,
                nodes=len(keys),
                node_share=len(keys) / total_nodes,
                time_ms=time_us / 1000,
                time_share=time_us / total_us if total_us > 0 else len(keys) / total_nodes,
                ops=dict(Counter(ops[key] for key in keys).most_common()),
            )
        )
    return sorted(shares, key=lambda s: -s.time_share)


def cpu_fallback_problem(shares: list[ProviderShare], limit: float = CPU_FALLBACK_LIMIT) -> str | None:
    """None if the CPU's share of the node time is within ``limit``; else the reason, for the student."""
    cpu = next((s for s in shares if s.provider == CPU_PROVIDER), None)
    if cpu is None or cpu.time_share <= limit:
        return None
    total = sum(s.nodes for s in shares)
    ops = ", ".join(f"{op} ×{n}" for op, n in list(cpu.ops.items())[:6])
    return (
        f"{cpu.nodes} of {total} nodes ran on {CPU_PROVIDER} ({cpu.time_share:.0%} of the profiled node "
        f"time, above the {limit:.0%} limit), so the GPU figures would describe the CPU; "
        f"ops on the CPU: {ops}. Export with operators and dtypes the GPU provider implements "
        "(a recent opset, no double precision), or check with onnxruntime's profiler which nodes fall back"
    )


def provider_summary(shares: list[ProviderShare]) -> str:
    """One line for notes and the gpu-check: `CUDAExecutionProvider 38 nodes (97% of time), ...`."""
    return ", ".join(f"{s.provider} {s.nodes} nodes ({s.time_share:.0%} of time)" for s in shares)
