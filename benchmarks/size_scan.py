"""How long analyze_size takes, and how much memory it needs, on a ~400 MB random fp32 checkpoint.

    python benchmarks/size_scan.py [--layers 6] [--runs 2]

The checkpoint (BERT-large-like shapes: a 30522×1024 embedding, then `--layers` blocks of
4 × 1024² attention and 2 × 1024×4096 feed-forward matrices) is written tensor by tensor into
a temp folder. Each run of analyze_size happens in a fresh child process that reports its wall
time and its peak RSS (VmHWM) above its RSS after imports, so the figure is what the analysis
itself costs. The file was just written, so it is read from the page cache: the figure is the
CPU cost of hashing, compressing and scanning, not disk speed.
"""

from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = r"""
import json, sys, time
from pathlib import Path
def status(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
from grader.harness.size import analyze_size
before = status("VmRSS")
started = time.perf_counter()
report = analyze_size(Path(sys.argv[1]), "safetensors", compress=sys.argv[2] == "1")
wall = time.perf_counter() - started
print(json.dumps({
    "wall_s": wall,
    "rss_before": before,
    "peak_rss": status("VmHWM"),
    "params": report.params,
    "weights_bytes": report.weights_bytes,
    "compressed_bytes": report.compressed_bytes,
    "unique_stopped": sum(1 for t in report.tensors if t.unique_at_least is not None),
    "unique_exact": sum(1 for t in report.tensors if t.unique is not None),
}))
"""


def shapes(layers: int) -> dict[str, tuple[int, ...]]:
    out: dict[str, tuple[int, ...]] = {"embeddings.word_embeddings.weight": (30522, 1024)}
    for i in range(layers):
        block = f"encoder.layer.{i}"
        for name in ("query", "key", "value", "output"):
            out[f"{block}.attention.{name}.weight"] = (1024, 1024)
            out[f"{block}.attention.{name}.bias"] = (1024,)
        out[f"{block}.intermediate.weight"] = (4096, 1024)
        out[f"{block}.intermediate.bias"] = (4096,)
        out[f"{block}.output.weight"] = (1024, 4096)
        out[f"{block}.output.bias"] = (1024,)
        out[f"{block}.layernorm.weight"] = (1024,)
    return out


def write_checkpoint(path: Path, layers: int) -> int:
    """A valid safetensors file written one tensor (in 4 MiB pieces) at a time."""
    header: dict[str, object] = {}
    offset = 0
    for name, shape in shapes(layers).items():
        size = int(np.prod(shape)) * 4
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    rng = np.random.default_rng(0)
    with path.open("wb") as handle:
        handle.write(struct.pack("<Q", len(raw)) + raw)
        for shape in shapes(layers).values():
            left = int(np.prod(shape))
            while left:
                count = min(left, 1 << 20)
                handle.write(rng.standard_normal(count, dtype=np.float32).tobytes())
                left -= count
    return path.stat().st_size


def run_child(folder: Path, compress: bool) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder), "1" if compress else "0"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="size-scan-") as tmp:
        folder = Path(tmp) / "model"
        folder.mkdir()
        started = time.perf_counter()
        size = write_checkpoint(folder / "model.safetensors", args.layers)
        took = time.perf_counter() - started
        print(f"checkpoint: {size / 1e6:.1f} MB ({size:,} bytes), written in {took:.1f} s")
        for compress in (True, False):
            label = "full (sha256 + zstd-3 + zeros/distinct scan)" if compress else "without the codec pass"
            for run in range(args.runs):
                result = run_child(folder, compress)
                above = (result["peak_rss"] - result["rss_before"]) / 2**20
                peak, before = result["peak_rss"] / 2**20, result["rss_before"] / 2**20
                print(
                    f"{label}, run {run + 1}: {result['wall_s']:.2f} s "
                    f"({size / 1e6 / result['wall_s']:.0f} MB/s), peak RSS {peak:.0f} MiB "
                    f"({above:.0f} MiB above the {before:.0f} MiB after imports); "
                    f"params {result['params']:,}, distinct values exact in {result['unique_exact']} "
                    f"tensors, stopped early in {result['unique_stopped']}"
                    + (f", zstd-3 {result['compressed_bytes'] / 1e6:.1f} MB" if compress else "")
                )


if __name__ == "__main__":
    main()
