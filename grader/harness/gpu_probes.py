"""GPU self-test probes, run inside a measurement child (grader.harness.child dispatches here).

- ``cuda_alloc``: create the CUDA context, take the baseline readings, allocate ``mib`` MiB in one
  torch tensor and touch it, hold it for a few NVML sampling periods; the readings come from the
  same PeakSampler and NVML reader the memory phase uses, and torch's allocator peaks.
- ``cuda_sleep``: torch.cuda._sleep(cycles) spins the GPU for a known number of SM clock cycles;
  the cycles for ``spin_ms`` come from the SM clock NVML reads while the GPU is busy (the clock a
  sleeping GPU boosts to), or from the device's rated clock without NVML. The calls are timed by
  the harness's own timing loop, with CUDA events or with perf_counter around + synchronize.

The parent (grader.harness.selftest) compares the readings with what the probe did.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from typing import Any

from grader.harness.gpu import (
    MIB,
    SAMPLE_INTERVAL_S,
    CudaEventClock,
    PeakSampler,
    check_not_in_bad_fork,
    load_nvml,
    nvml_device,
    nvml_reader,
    same_device,
)
from grader.harness.jobs import ChildReport, GpuProbeReport, ProbeJob, ProbeReport

HOLD_S = 0.2  # hold the allocation for many sampling periods, so the sampler cannot miss it
CALIBRATION_MS = 200.0  # how long the GPU spins while NVML reads its clock
CLOCK_READINGS = 5


def run_gpu_probe(job: ProbeJob, report: ChildReport) -> None:
    check_not_in_bad_fork()
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError("torch sees no CUDA device in this child")
    torch.cuda.init()
    gpu = GpuProbeReport(device=torch.cuda.get_device_name(0))
    report.probe = ProbeReport(gpu=gpu)
    if job.action == "cuda_alloc":
        _allocate(torch, job.mib, gpu)
    else:
        _sleep(torch, job, gpu, report)


def _nvml_for_this_gpu(torch: Any, gpu: GpuProbeReport) -> tuple[Any, Any]:
    """(nvml, handle) of the GPU torch uses, or (None, None) with the reason in the notes."""
    nvml, why = load_nvml()
    if nvml is None:
        gpu.notes.append(why)
        return None, None
    try:
        handle, uuid = nvml_device(nvml)
    except LookupError as error:
        gpu.notes.append(str(error))
        return None, None
    torch_uuid = str(torch.cuda.get_device_properties(0).uuid)
    if not same_device(uuid, torch_uuid):
        gpu.notes.append(f"NVML's device {uuid} is not torch's ({torch_uuid})")
        return None, None
    return nvml, handle


def _allocate(torch: Any, mib: int, gpu: GpuProbeReport) -> None:
    torch.zeros(1, device="cuda")  # the context and the allocator exist now: the baseline
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    nvml, handle = _nvml_for_this_gpu(torch, gpu)
    sampler = None
    if nvml is not None:
        sampler = PeakSampler(nvml_reader(nvml, handle, os.getpid()), SAMPLE_INTERVAL_S).start()
    try:
        block = torch.empty(mib * MIB, dtype=torch.uint8, device="cuda")
        block.fill_(1)  # touched, like the CPU probe's pages
        torch.cuda.synchronize()
        time.sleep(HOLD_S)
        gpu.allocated_bytes = block.numel() * block.element_size()
        gpu.torch_peak_allocated_bytes = int(torch.cuda.max_memory_allocated())
        gpu.torch_peak_reserved_bytes = int(torch.cuda.max_memory_reserved())
    finally:
        if sampler is not None:
            sampler.stop()
            process, device = sampler.peaks["process"], sampler.peaks["device"]
            gpu.nvml_process_before_bytes, gpu.nvml_process_peak_bytes = process.before, process.peak
            gpu.nvml_device_before_bytes, gpu.nvml_device_peak_bytes = device.before, device.peak
            gpu.nvml_readings = sampler.readings
            gpu.notes += [f"{n} NVML readings failed: {e}" for e, n in sampler.errors.items()]
            with contextlib.suppress(Exception):
                nvml.nvmlShutdown()


def _sleep(torch: Any, job: ProbeJob, gpu: GpuProbeReport, report: ChildReport) -> None:
    from grader.harness.timing import measure

    mhz, source = _sm_clock_mhz(torch, gpu)
    cycles = int(mhz * 1000 * job.spin_ms)
    gpu.sm_clock_mhz, gpu.clock_source, gpu.sleep_cycles = mhz, source, cycles

    def sleep() -> None:
        torch.cuda._sleep(cycles)

    if job.timer == "cuda_events":
        report.timing = measure(
            sleep, job.latency, timer="cuda_events", clock=CudaEventClock.for_torch(torch)
        )
    else:

        def sleep_and_wait() -> None:
            torch.cuda._sleep(cycles)
            torch.cuda.synchronize()

        report.timing = measure(sleep_and_wait, job.latency, timer="perf_counter+synchronize")


def _sm_clock_mhz(torch: Any, gpu: GpuProbeReport) -> tuple[float, str]:
    """The SM clock while the GPU spins: NVML's current clock read during a long _sleep."""
    # kHz → MHz: the boost clock (older torch builds lack the property)
    rated = getattr(torch.cuda.get_device_properties(0), "clock_rate", 0) / 1000
    nvml, handle = _nvml_for_this_gpu(torch, gpu)
    if nvml is None:
        if not rated:
            raise RuntimeError("neither NVML nor torch's device properties give the SM clock")
        return float(rated), "the device's rated SM clock (no NVML to read the current one)"
    try:
        # long enough to read the clock of a busy GPU (2 GHz assumed where the rating is unknown)
        torch.cuda._sleep(int((rated or 2000) * 1000 * CALIBRATION_MS))
        readings = []
        for _ in range(CLOCK_READINGS):
            time.sleep(CALIBRATION_MS / 1000 / (CLOCK_READINGS + 2))
            readings.append(float(nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM)))
        torch.cuda.synchronize()
    finally:
        with contextlib.suppress(Exception):
            nvml.nvmlShutdown()
    mhz = statistics.median(readings)
    return mhz, f"NVML's SM clock while the GPU was busy ({', '.join(f'{r:.0f}' for r in readings)} MHz)"
