"""The measuring machine and settings: thread environment for children, and the repro block.

Nothing here imports torch or initialises CUDA: GPUs are listed through NVML (pynvml) or
`nvidia-smi`, library versions come from package metadata.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import grader
from grader.course.model import Threads
from grader.harness.models import Environment, GpuInfo

# Distributions whose versions go into every record (the first installed name of each group).
LIBRARIES: dict[str, tuple[str, ...]] = {
    "torch": ("torch",),
    "transformers": ("transformers",),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino"),
    "onnx": ("onnx",),
    "numpy": ("numpy",),
    "safetensors": ("safetensors",),
    "tokenizers": ("tokenizers",),
    "huggingface_hub": ("huggingface_hub", "huggingface-hub"),
    "optimum": ("optimum",),
    "tensorrt": ("tensorrt", "tensorrt-cu12", "tensorrt-cu13"),
    "openvino": ("openvino",),
}


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass(frozen=True)
class ThreadPlan:
    """Thread counts every child runs with. Pure: computing it changes nothing."""

    intra_op: int
    inter_op: int
    requested_intra_op: int
    requested_inter_op: int

    @classmethod
    def from_course(cls, threads: Threads, cpus: int | None = None) -> ThreadPlan:
        # More compute threads than CPUs makes OpenMP / onnxruntime workers spin against each
        # other and turns timing into noise; the course's request is kept in the record.
        cpus = cpus or available_cpus()
        return cls(
            intra_op=max(1, min(threads.intra_op, cpus)),
            inter_op=max(1, min(threads.inter_op, cpus)),
            requested_intra_op=threads.intra_op,
            requested_inter_op=threads.inter_op,
        )

    def env(self) -> dict[str, str]:
        """Environment for zygotes and children, set before any library is imported.

        OpenMP / MKL get the intra-op count (torch's CPU kernels); OpenBLAS (numpy's BLAS, not on
        the timed path) gets 1, otherwise importing numpy would start a thread pool before fork.
        """
        n = str(self.intra_op)
        return {
            "OMP_NUM_THREADS": n,
            "MKL_NUM_THREADS": n,
            "OPENBLAS_NUM_THREADS": "1",
            "NUMEXPR_NUM_THREADS": "1",
            "TOKENIZERS_PARALLELISM": "false",
            # Children load local files only; nothing they do may reach the network.
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "TRANSFORMERS_VERBOSITY": "error",
            "PYTHONHASHSEED": "0",
            "PYTHONUNBUFFERED": "1",
            # CUDA numbers GPUs like NVML does (by PCI bus), so a child finds its GPU's NVML handle;
            # and torch.cuda.is_available(), if an import calls it in a zygote, asks NVML instead of
            # initialising CUDA there (CUDA does not survive fork).
            "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
            "PYTORCH_NVML_BASED_CUDA_CHECK": "1",
        }

    def record(self) -> dict[str, int]:
        return {
            "intra_op": self.intra_op,
            "inter_op": self.inter_op,
            "intra_op_requested": self.requested_intra_op,
            "inter_op_requested": self.requested_inter_op,
            "OMP_NUM_THREADS": self.intra_op,
            "MKL_NUM_THREADS": self.intra_op,
            "OPENBLAS_NUM_THREADS": 1,
            "cpus_available": available_cpus(),
        }


def library_versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for label, distributions in LIBRARIES.items():
        for dist in distributions:
            try:
                out[label] = version(dist)
                break
            except PackageNotFoundError:
                continue
    return out


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def cpu_governor() -> str | None:
    try:
        return Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor").read_text().strip() or None
    except OSError:
        return None


def ram_total_bytes() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 0


def list_gpus() -> list[GpuInfo]:
    """GPUs through NVML or nvidia-smi; never through torch.cuda (that would initialise CUDA)."""
    return probe_gpus()[0]


def probe_gpus() -> tuple[list[GpuInfo], str]:
    """The GPUs and how they were listed, or why there are none (NVML's reason, nvidia-smi's)."""
    gpus, nvml_note = _gpus_from_nvml()
    if gpus is not None:
        return gpus, nvml_note
    smi = _gpus_from_nvidia_smi()
    if smi:
        return smi, f"nvidia-smi ({nvml_note})"
    where = "nvidia-smi lists none" if shutil.which("nvidia-smi") else "nvidia-smi is not on PATH"
    return [], f"no GPU: {nvml_note}; {where}"


def _gpus_from_nvml() -> tuple[list[GpuInfo] | None, str]:
    from grader.harness.gpu import nvml_error_text, nvml_session, nvml_text

    with nvml_session() as (nvml, why):
        if nvml is None:
            return None, why
        try:
            driver = nvml_text(nvml.nvmlSystemGetDriverVersion())
            cuda_raw = nvml.nvmlSystemGetCudaDriverVersion()
            cuda = f"{cuda_raw // 1000}.{cuda_raw % 1000 // 10}"
            out = [_nvml_gpu(nvml, index, driver, cuda) for index in range(nvml.nvmlDeviceGetCount())]
        except Exception as error:
            return None, f"NVML failed to list the GPUs ({nvml_error_text(error)})"
        return out, f"NVML, driver {driver}"


def _nvml_gpu(nvml: Any, index: int, driver: str, cuda: str) -> GpuInfo:
    from grader.harness.gpu import nvml_text

    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    capability = mig = None
    with contextlib.suppress(Exception):
        major, minor = nvml.nvmlDeviceGetCudaComputeCapability(handle)
        capability = f"{major}.{minor}"
    with contextlib.suppress(Exception):  # NVMLError_NotSupported on GPUs without MIG
        mig = bool(nvml.nvmlDeviceGetMigMode(handle)[0])
    return GpuInfo(
        name=nvml_text(nvml.nvmlDeviceGetName(handle)),
        uuid=nvml_text(nvml.nvmlDeviceGetUUID(handle)),
        driver=driver,
        cuda=cuda,
        memory_bytes=int(nvml.nvmlDeviceGetMemoryInfo(handle).total),
        compute_capability=capability,
        mig=mig,
    )


def _gpus_from_nvidia_smi() -> list[GpuInfo]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    query = "--query-gpu=name,uuid,driver_version,memory.total"
    try:
        done = subprocess.run(
            [exe, query, "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    out = []
    for line in done.stdout.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 4:
            name, uuid, driver, mib = parts
            memory = int(float(mib)) * 1024 * 1024 if mib.replace(".", "").isdigit() else None
            out.append(GpuInfo(name=name, uuid=uuid, driver=driver, memory_bytes=memory))
    return out


def onnxruntime_providers() -> list[str]:
    try:
        import onnxruntime  # light; the parent never forks, so its threads do not matter
    except ImportError:
        return []
    return list(onnxruntime.get_available_providers())


def git_commit(start: Path | None = None) -> str | None:
    """The commit of the grader's own code: GRADER_COMMIT if the workflow sets it, else
    `git rev-parse HEAD` of the source tree the package runs from.

    Not GITHUB_SHA: in a pull_request workflow that is the PR's merge commit, i.e. the team's
    files, not the harness that measured them.
    """
    sha = os.environ.get("GRADER_COMMIT", "").strip()
    if sha:
        return sha
    where = start or Path(grader.__file__).resolve().parent.parent
    exe = shutil.which("git")
    if exe is None:
        return None
    try:
        done = subprocess.run(
            [exe, "-C", str(where), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = done.stdout.strip()
    return out if done.returncode == 0 and len(out) == 40 else None


def collect_environment(
    plan: ThreadPlan,
    *,
    seed: int,
    observed_threads: dict[str, int] | None = None,
    input_shapes: dict[str, list[int]] | None = None,
) -> Environment:
    gpus, gpu_probe = probe_gpus()
    return Environment(
        harness_version=grader.__version__,
        git_commit=git_commit(),
        python=platform.python_version(),
        platform=platform.platform(),
        cpu_model=cpu_model(),
        cpu_governor=cpu_governor(),
        cpu_count=os.cpu_count() or 1,
        ram_total_bytes=ram_total_bytes(),
        gpus=gpus,
        gpu_probe=gpu_probe,
        libraries=library_versions(),
        onnxruntime_providers=onnxruntime_providers(),
        threads={**plan.record(), **(observed_threads or {})},
        seed=seed,
        input_shapes=input_shapes or {},
    )
