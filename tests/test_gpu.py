"""grader.harness.gpu without a GPU: NVML's reasons, CUDA-state decisions, the CUDA-event clock's
arithmetic inside the real timing loop, the VRAM sampler on a real reading, and the provider check
on a real onnxruntime profile file.

The GPU itself is exercised by tests/test_gpu_device.py (`pytest -m gpu` on the GPU runner) and by
scripts/gpu-check.sh.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from grader.course.model import LatencySettings
from grader.harness.backends.base import LoadSpec
from grader.harness.backends.onnxruntime import OnnxRuntimeBackend
from grader.harness.gpu import (
    CPU_FALLBACK_LIMIT,
    GPU_MEMORY_FIELDS,
    CudaEventClock,
    PeakSampler,
    cpu_fallback_problem,
    cuda_driver_state,
    cuda_fork_problem,
    cuda_fork_state,
    disable_tf32,
    latency_timer,
    load_nvml,
    nvml_device,
    provider_shares,
    provider_summary,
    read_profile,
    same_device,
    visible_device,
    with_gpu_memory,
)
from grader.harness.jobs import GpuMemoryReport
from grader.harness.memory import MIB, memory_result, rss_bytes
from grader.harness.timing import measure

NVML_WORKS = load_nvml()[0] is not None


# --- NVML: absent → a reason ---------------------------------------------------------------------


def test_nvml_not_installed_gives_the_reason_and_the_extra() -> None:
    code = (
        "import sys; sys.modules['pynvml'] = None\n"  # an import of pynvml now fails, as if absent
        "from grader.harness.gpu import load_nvml\n"
        "nvml, why = load_nvml(); print(nvml is None); print(why)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    absent, why = done.stdout.strip().splitlines()
    assert absent == "True"
    assert why == "NVML is not available: nvidia-ml-py is not installed (the `gpu` extra installs it)"


@pytest.mark.skipif(NVML_WORKS, reason="this machine has an NVIDIA driver")
def test_nvml_without_a_driver_says_why_and_no_gpu_is_listed() -> None:
    from grader.harness.environment import probe_gpus

    nvml, why = load_nvml()
    assert nvml is None and why
    pytest.importorskip("pynvml")  # installed: the reason is NVML's own error, not "not installed"
    assert why.startswith("NVML could not start (NVMLError_")
    assert "no NVIDIA driver" in why
    gpus, how = probe_gpus()
    assert gpus == [] and how.startswith("no GPU: NVML could not start") and "nvidia-smi" in how


def test_the_environment_records_how_gpus_were_listed() -> None:
    from grader.course.model import Threads
    from grader.harness.environment import ThreadPlan, collect_environment

    env = collect_environment(ThreadPlan.from_course(Threads()), seed=0)
    assert env.gpu_probe  # "NVML, driver 550.54" or why none were found: never silent
    assert bool(env.gpus) != env.gpu_probe.startswith("no GPU")


# --- which GPU, and whether CUDA was touched --------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", ""), ("1", "1"), ("2,0", "2"), (" GPU-8f2c-aa ,1", "GPU-8f2c-aa"), ("-1", "-1")],
)
def test_visible_device_is_the_first_entry(value: str | None, expected: str | None) -> None:
    env = {} if value is None else {"CUDA_VISIBLE_DEVICES": value}
    assert visible_device(env) == expected


class _NvmlLookups:
    """Records which NVML lookup nvml_device chose (the mapping is what is tested here)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def nvmlDeviceGetHandleByIndex(self, index: int) -> str:  # noqa: N802 - NVML's names
        self.calls.append(("index", index))
        return f"h{index}"

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> str:  # noqa: N802
        self.calls.append(("uuid", uuid))
        return uuid

    def nvmlDeviceGetUUID(self, handle: str) -> str:  # noqa: N802
        return f"GPU-{handle}"


@pytest.mark.parametrize(
    ("env", "call"),
    [
        ({}, ("index", 0)),
        ({"CUDA_VISIBLE_DEVICES": "3,1"}, ("index", 3)),
        ({"CUDA_VISIBLE_DEVICES": "MIG-1c2d"}, ("uuid", "MIG-1c2d")),
    ],
)
def test_nvml_device_follows_cuda_visible_devices(env: dict[str, str], call: tuple[str, object]) -> None:
    nvml = _NvmlLookups()
    nvml_device(nvml, env)
    assert nvml.calls == [call]


@pytest.mark.parametrize("hidden", ["", "-1"])
def test_a_hidden_gpu_is_a_lookup_error_with_the_reason(hidden: str) -> None:
    with pytest.raises(LookupError, match="hides every GPU"):
        nvml_device(_NvmlLookups(), {"CUDA_VISIBLE_DEVICES": hidden})


def test_nvml_and_torch_uuids_name_the_same_gpu() -> None:
    assert same_device("GPU-8F2C0000-1111", "8f2c0000-1111")
    assert same_device("MIG-aa-bb", "MIG-aa-bb")
    assert not same_device("GPU-8f2c", "9a1b")
    assert not same_device("", "")


def test_this_process_has_not_touched_cuda() -> None:
    """The test process imported torch (CPU build here): no libcuda, no torch CUDA state."""
    import torch  # noqa: F401 - the point is that importing it changes nothing

    state = cuda_fork_state()
    assert state == {"driver": "not loaded", "torch_initialized": False}
    assert cuda_fork_problem(state) is None


def test_a_maps_file_without_libcuda_reads_not_loaded(tmp_path: Path) -> None:
    maps = tmp_path / "maps"
    maps.write_text("7f0000000000-7f0000001000 r-xp 00000000 08:01 123 /usr/lib/libz.so.1\n")
    assert cuda_driver_state(maps) == "not loaded"
    maps.write_text("7f0000000000-7f0000001000 r-xp 00000000 08:01 123 /nowhere/libcuda.so.1\n")
    assert cuda_driver_state(maps).startswith("unknown: libcuda.so.1 is mapped but cannot be asked")


@pytest.mark.parametrize(
    ("state", "problem"),
    [
        (None, None),
        ({"driver": "not loaded", "torch_initialized": False}, None),
        ({"driver": "loaded, not initialised", "torch_initialized": None}, None),
        ({"driver": "initialised", "torch_initialized": False}, "the CUDA driver was initialised in it"),
        ({"driver": "not loaded", "torch_initialized": True}, "torch initialised CUDA in it"),
        ({"driver": "unknown: odd", "torch_initialized": False}, "its CUDA state is unknown: odd"),
    ],
)
def test_fork_decisions(state: dict[str, Any] | None, problem: str | None) -> None:
    assert cuda_fork_problem(state) == problem


# --- timing -------------------------------------------------------------------------------------------


class HostEvent:
    """A CUDA event's interface on the host clock: what CudaEventClock's arithmetic is tested with."""

    records = 0

    def __init__(self) -> None:
        self.at: int | None = None

    def record(self) -> None:
        HostEvent.records += 1
        self.at = time.perf_counter_ns()

    def synchronize(self) -> None:
        assert self.at is not None, "synchronize before record"

    def elapsed_time(self, end: HostEvent) -> float:
        assert self.at is not None and end.at is not None
        return (end.at - self.at) / 1e6  # milliseconds, as torch.cuda.Event.elapsed_time


def test_the_event_clock_sums_intervals_between_consecutive_reads() -> None:
    clock = CudaEventClock(HostEvent)
    reads = [clock() for _ in range(50)]
    assert reads[0] == 0
    assert all(b >= a for a, b in itertools.pairwise(reads))
    start = clock()
    time.sleep(0.02)
    end = clock()
    assert 19e6 <= end - start <= 60e6  # ns: a sample is one pair's elapsed time


def test_the_timing_loop_reads_a_known_call_through_the_event_clock() -> None:
    settings = LatencySettings(
        warmup_block=2,
        warmup_tolerance=0.5,
        warmup_max_s=0.2,
        min_iters=10,
        min_time_s=0.05,
        max_time_s=1.0,
        max_iters=50,
        stable_tolerance=0.5,
    )

    def spin() -> None:
        end = time.perf_counter_ns() + 2_000_000
        while time.perf_counter_ns() < end:
            pass

    before = HostEvent.records
    report = measure(spin, settings, timer="cuda_events", clock=CudaEventClock(HostEvent))
    assert report.timer == "cuda_events"
    assert HostEvent.records - before >= 2 * len(report.samples_ms)  # every sample between two records
    assert 2.0 <= min(report.samples_ms) <= 2.2


class _Backend:
    cuda_events = False


def test_the_timer_follows_the_device_and_the_backend() -> None:
    def once() -> None:
        return None

    def synced() -> None:
        return None

    call, name, clock = latency_timer("cpu", _Backend(), once, synced)
    assert (call, name, clock) == (synced, "perf_counter", time.perf_counter_ns)
    call, name, clock = latency_timer("cuda", _Backend(), once, synced)  # onnxruntime's own streams
    assert (call, name, clock) == (synced, "perf_counter+synchronize", time.perf_counter_ns)


def test_tf32_is_switched_off_with_a_note() -> None:
    import torch

    backends = torch.backends
    if not hasattr(backends, "fp32_precision"):  # torch < 2.9: the two legacy flags
        legacy = (backends.cuda.matmul.allow_tf32, backends.cudnn.allow_tf32)
        try:
            assert "IEEE fp32" in disable_tf32(torch)
            assert not backends.cuda.matmul.allow_tf32 and not backends.cudnn.allow_tf32
        finally:
            backends.cuda.matmul.allow_tf32, backends.cudnn.allow_tf32 = legacy
        return
    leaves = (backends.cuda.matmul, backends.cudnn.conv, backends.cudnn.rnn)
    before = [backends.fp32_precision, *(leaf.fp32_precision for leaf in leaves)]
    try:
        backends.cudnn.allow_tf32 = True  # as a library might set it: a lower setting wins over the top
        assert "IEEE fp32" in disable_tf32(torch)
        assert [leaf.fp32_precision for leaf in leaves] == ["ieee"] * 3
    finally:
        backends.fp32_precision = before[0]
        for leaf, value in zip(leaves, before[1:], strict=True):
            leaf.fp32_precision = value


# --- VRAM: the sampler, on a reading that really changes ---------------------------------------------


def test_the_sampler_catches_a_peak_between_its_first_and_last_reading() -> None:
    """The memory phase's sampler on a real figure (this process's RSS): the peak it holds for a
    moment is seen, labelled as a delta from the first reading, like NVML's device figure."""
    sampler = PeakSampler(lambda: {"rss": rss_bytes(), "absent": None}, interval_s=0.005).start()
    block = np.ones(96 * MIB, dtype=np.uint8)
    time.sleep(0.1)
    del block
    time.sleep(0.02)
    sampler.stop()
    rss = sampler.peaks["rss"]
    assert sampler.readings >= 10
    assert rss.delta is not None and abs(rss.delta / MIB - 96) < 96 * 0.1
    assert sampler.peaks["absent"].peak is None and sampler.peaks["absent"].delta is None


def test_a_failing_reading_is_counted_not_fatal() -> None:
    calls = iter(range(1000))

    def flaky() -> dict[str, int | None]:
        if next(calls) % 2:
            raise OSError("NVML_ERROR_GPU_IS_LOST")
        return {"device": 1}

    sampler = PeakSampler(flaky, interval_s=0.002).start()
    time.sleep(0.05)
    sampler.stop()
    assert sampler.readings >= 2 and sum(sampler.errors.values()) >= 2
    assert next(iter(sampler.errors)) == "OSError: NVML_ERROR_GPU_IS_LOST"


def test_gpu_figures_join_the_memory_result_with_their_labels() -> None:
    base = memory_result(rss_before_load=100 * MIB, ru_maxrss=300 * MIB, vmhwm=None)
    assert with_gpu_memory(base, None) == base
    report = GpuMemoryReport(
        nvml_device_delta_bytes=700 * MIB,
        labels={"nvml_device_delta_bytes": "NVML device used memory, sampled every 5 ms"},
        notes=["no NVML per-process figure: NVML listed no GPU memory for pid 7"],
    )
    merged = with_gpu_memory(base, report)
    assert merged.nvml_device_delta_bytes == 700 * MIB and merged.nvml_process_bytes is None
    assert merged.vram_labels["nvml_device_delta_bytes"].endswith("sampled every 5 ms")
    assert merged.vram_notes == report.notes
    assert merged.peak_above_interpreter_bytes == 200 * MIB  # the RSS figures stay as they were
    assert set(GPU_MEMORY_FIELDS) <= set(type(merged).model_fields)


def test_a_vram_claim_reads_the_documented_figure_first() -> None:
    """grader.verify.readings takes the first present of nvml_process, torch reserved, torch
    allocated, nvml device delta; MemoryResult's comment and the gpu-check print that order."""
    from grader.harness.gpu_check import VRAM_ORDER
    from grader.harness.models import DeviceMeasurement, ModelMeasurement, Status
    from grader.verify.readings import _VRAM_SOURCES, memory_reading

    assert VRAM_ORDER == _VRAM_SOURCES and set(VRAM_ORDER) == set(GPU_MEMORY_FIELDS)
    base = memory_result(rss_before_load=100 * MIB, ru_maxrss=300 * MIB, vmhwm=None)
    figures = {"torch_peak_reserved_bytes": 40 * MIB, "nvml_device_delta_bytes": 600 * MIB}
    for present, source in [
        ({**figures, "nvml_process_bytes": 500 * MIB}, "nvml_process"),
        (figures, "torch_peak_reserved"),
        ({"nvml_device_delta_bytes": 600 * MIB}, "nvml_device_delta"),
    ]:
        memory = base.model_copy(update=present)
        model = ModelMeasurement(
            key="baseline",
            name="m",
            role="baseline",
            backend="onnxruntime",
            format="onnx",
            status=Status.OK,
            devices={"cuda": DeviceMeasurement(device="cuda", status=Status.OK, memory=memory)},
        )
        reading = memory_reading(model, "vram")
        assert reading.source == source and reading.value == present[f"{source}_bytes"]


# --- which provider ran each node: a real onnxruntime profile ---------------------------------------


def _graph(path: Path) -> Path:
    """MatMul → Relu → Shape → Reshape: real work and a shape op, as in a real export."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])
    weight = helper.make_tensor("w", TensorProto.FLOAT, [4, 4], np.eye(4, dtype=np.float32).ravel())
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="matmul"),
        helper.make_node("Relu", ["h"], ["r"], name="relu"),
        helper.make_node("Shape", ["r"], ["s"], name="shape"),
        helper.make_node("Reshape", ["r", "s"], ["y"], name="reshape"),
    ]
    graph = helper.make_graph(nodes, "g", [x], [y], [weight])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path / "model.onnx"))
    return path


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Any]]:
    """A real profile of the backend's session (LoadSpec.profile_dir), and the shares it read."""
    folder = _graph(tmp_path_factory.mktemp("profile"))
    spec = LoadSpec(model_dir=folder, format="onnx", profile_dir=str(folder))
    with OnnxRuntimeBackend(spec) as backend:
        prepared = backend.prepare({"x": np.ones((2, 4), dtype=np.float32)})
        for _ in range(4):
            backend.run(prepared)
        shares = backend.execution_providers()
    files = sorted(folder.glob("onnxruntime-*.json"))
    assert len(files) == 1, files
    return files[0], shares


def test_the_profile_says_every_node_ran_on_the_cpu(profile: tuple[Path, list[Any]]) -> None:
    path, shares = profile
    assert [s.provider for s in shares] == ["CPUExecutionProvider"]
    cpu = shares[0]
    assert cpu.node_share == cpu.time_share == 1.0
    assert cpu.nodes == sum(cpu.ops.values()) >= 3  # onnxruntime may fold the Shape into a constant
    assert {"MatMul", "Relu", "Reshape"} <= set(cpu.ops)
    assert cpu.time_ms > 0
    assert provider_shares(read_profile(path)) == shares


def test_a_gpu_run_on_the_cpu_fails_with_the_counts(profile: tuple[Path, list[Any]]) -> None:
    _, shares = profile
    problem = cpu_fallback_problem(shares)
    n = shares[0].nodes
    assert problem is not None and problem.startswith(f"{n} of {n} nodes ran on CPUExecutionProvider (100% ")
    assert f"above the {CPU_FALLBACK_LIMIT:.0%} limit" in problem and "MatMul ×1" in problem


def _relabel(path: Path, gpu_ops: set[str]) -> list[dict[str, Any]]:
    """The real profile's events with the ``gpu_ops`` nodes moved to the CUDA provider."""
    events = read_profile(path)
    for event in events:
        args = event.get("args") or {}
        if args.get("op_name") in gpu_ops:
            args["provider"] = "CUDAExecutionProvider"
    return events


def test_cheap_shape_nodes_on_the_cpu_are_reported_not_failed(profile: tuple[Path, list[Any]]) -> None:
    path, _ = profile
    events = _relabel(path, {"MatMul", "Relu"})
    for event in events:  # the GPU kernels dominate the time, as in a healthy CUDA run
        if (event.get("args") or {}).get("provider") == "CUDAExecutionProvider":
            event["dur"] = 1000
    shares = provider_shares(events)
    assert [s.provider for s in shares] == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert shares[1].time_share < CPU_FALLBACK_LIMIT
    assert cpu_fallback_problem(shares) is None
    assert provider_summary(shares).startswith("CUDAExecutionProvider 2 nodes (")


def test_expensive_nodes_on_the_cpu_fail_even_when_few(profile: tuple[Path, list[Any]]) -> None:
    path, _ = profile
    events = _relabel(path, {"Relu", "Reshape", "Shape"})
    for event in events:
        if (event.get("args") or {}).get("op_name") == "MatMul":
            event["dur"] = 5000  # one heavy MatMul left on the CPU
    shares = provider_shares(events)
    problem = cpu_fallback_problem(shares)
    assert problem is not None and problem.startswith("1 of ")
    assert "ops on the CPU: MatMul ×1" in problem


def test_a_profile_in_trace_event_form_reads_the_same(
    profile: tuple[Path, list[Any]], tmp_path: Path
) -> None:
    path, shares = profile
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"traceEvents": read_profile(path)}), encoding="utf-8")
    assert provider_shares(read_profile(wrapped)) == shares
    assert provider_shares([]) == []
