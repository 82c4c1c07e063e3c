"""Memory as the kernel counts it: /proc/<pid>/status and wait4's ru_maxrss.

Why the memory phase subtracts the child's own RSS before loading: a measurement child is forked
from a zygote that has already imported torch/transformers (or onnxruntime). At fork the kernel
starts the child's high-water mark (VmHWM, and so ru_maxrss) at the pages the child shares with
the zygote, a few hundred MiB that the model did not cost. The child reads its VmRSS after its
imports and before it loads the model; the peak minus that reading is what the model cost
(weights, activations, runtime buffers). A plain `python -m grader.harness.child` process (the
fallback) starts from zero instead, and the same subtraction gives the same answer.

One more fork effect: fork copies only the page-table entries of mappings the zygote wrote to,
so a child starts without the zygote's shared-library code pages (read-only file mappings of
libtorch & co.) and faults them back in as it runs: code that both the imports and the model's
run execute would count as model memory in a forked child but not in a fresh process (+11 MiB
for the tiny test BERT). The zygote records which file-backed pages it has mapped
(`mapped_file_pages`, from /proc/self/pagemap) and each child maps exactly those again before
anything else (`repopulate`), so its RSS before load equals the zygote's and the two kinds of
child read the same.

Two kernel details the readings depend on (both tested): wait4's ru_maxrss of a forked child is
its own peak (the child gets a fresh signal struct), but an exec'd child inherits its spawner's
high-water mark (exec folds the old address space's peak into ru_maxrss), so for the fallback
only VmHWM, which exec resets, describes the child.
"""

from __future__ import annotations

import ctypes
import os
import struct
from pathlib import Path

from grader.harness.models import MemoryResult
from grader.units import MIB as MIB  # re-exported: the harness's memory code imports it from here


def read_status(pid: int | str = "self") -> dict[str, int]:
    """The `kB` fields of /proc/<pid>/status (VmRSS, VmHWM, RssAnon, ...), in bytes.

    Empty when the process is gone (or this is not Linux): callers treat a missing key as unknown.
    """
    try:
        text = Path(f"/proc/{pid}/status").read_text(encoding="ascii", errors="replace")
    except OSError:
        return {}
    out: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB" and parts[0].isdigit():
            out[name] = int(parts[0]) * 1024
    return out


def rss_bytes(pid: int | str = "self") -> int | None:
    return read_status(pid).get("VmRSS")


def hwm_bytes(pid: int | str = "self") -> int | None:
    """The kernel's peak RSS of the process so far (VmHWM)."""
    return read_status(pid).get("VmHWM")


def maxrss_bytes(ru_maxrss_kib: int) -> int:
    """wait4/getrusage report ru_maxrss in KiB on Linux."""
    return int(ru_maxrss_kib) * 1024


def memory_result(*, rss_before_load: int, ru_maxrss: int | None, vmhwm: int | None) -> MemoryResult:
    """The memory phase's figures from the child's pre-load RSS and the kernel's peaks.

    ru_maxrss from wait4 is the authoritative peak (it covers the whole life of the child, to the
    last page it touched); the child's own VmHWM, read just before it exits, cross-checks it and
    stands in where ru_maxrss does not describe the child alone (an exec'd child: pass None).
    """
    if ru_maxrss:
        peak, source = ru_maxrss, "wait4 ru_maxrss"
        if vmhwm:
            peak = max(peak, vmhwm)  # equal in practice; never report less than either saw
    elif vmhwm:
        peak, source = vmhwm, "VmHWM"
    else:
        raise ValueError("no peak memory reading: neither ru_maxrss nor VmHWM is known")
    return MemoryResult(
        rss_before_load_bytes=rss_before_load,
        peak_rss_bytes=peak,
        peak_above_interpreter_bytes=max(0, peak - rss_before_load),
        source=source,
    )


# --- restoring a forked child's page tables -----------------------------------------------------

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
MADV_POPULATE_READ = 22  # Linux 5.14+


def mapped_file_pages() -> list[tuple[int, int]]:
    """Address ranges of this process's file-backed pages that are mapped right now.

    The zygote calls this once, after its imports: these are the pages (shared-library code,
    read-only data) that its RSS counts but a forked child's page tables do not hold. Read from
    /proc/self/pagemap (bit 63: page present); empty where that is not readable.
    """
    ranges: list[tuple[int, int]] = []
    try:
        with (
            Path("/proc/self/maps").open(encoding="ascii", errors="replace") as maps,
            Path("/proc/self/pagemap").open("rb") as pagemap,
        ):
            for line in maps:
                parts = line.split()
                if len(parts) < 6 or not parts[5].startswith("/") or "r" not in parts[1]:
                    continue
                start, end = (int(x, 16) for x in parts[0].split("-"))
                pagemap.seek(start // PAGE_SIZE * 8)
                data = pagemap.read((end - start) // PAGE_SIZE * 8)
                ranges += _present_runs(start, data)
    except (OSError, ValueError):
        return []
    return ranges


def _present_runs(start: int, pagemap: bytes) -> list[tuple[int, int]]:
    entries = struct.unpack(f"<{len(pagemap) // 8}Q", pagemap)
    runs: list[tuple[int, int]] = []
    first: int | None = None
    for index, entry in enumerate(entries):
        if entry >> 63:
            if first is None:
                first = index
        elif first is not None:
            runs.append((start + first * PAGE_SIZE, start + index * PAGE_SIZE))
            first = None
    if first is not None:
        runs.append((start + first * PAGE_SIZE, start + len(entries) * PAGE_SIZE))
    return runs


def repopulate(ranges: list[tuple[int, int]]) -> int:
    """Map the given file-backed pages into this (forked) process again; returns bytes populated.

    After this a forked child's RSS equals the zygote's, so "RSS before load" means the same in a
    forked child as in a fresh process that has done the same imports. madvise(MADV_POPULATE_READ)
    maps the pages without copying anything; where the kernel lacks it, a read of one byte per
    page does the same (the pages were mapped in the zygote, so they are readable).
    """
    if not ranges:
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    done = 0
    for start, end in ranges:
        if libc.madvise(start, end - start, MADV_POPULATE_READ) != 0:
            for page in range(start, end, PAGE_SIZE):
                ctypes.string_at(page, 1)
        done += end - start
    return done
