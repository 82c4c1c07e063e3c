#!/usr/bin/env bash
# Check the harness's GPU paths on a GPU machine, offline, in a few minutes (docs/instructors.md):
# a tiny model measured with torch on CUDA, onnxruntime's CUDA and TensorRT providers, the native
# TensorRT backend (each gives its figures or its "not measurable" reason), and
# `grader selftest --device cuda`; every figure is printed in one block.
#
#   scripts/gpu-check.sh [--cpu-dry-run] [--out DIR] [--keep]
#
#   --cpu-dry-run  the same steps on a machine without a GPU: CPU figures, and every GPU path must
#                  come back with its reason (the test suite runs this: tests/test_gpu_check.py)
#   --out DIR      the report (gpu-check.txt, selftest.txt, measurement.json); default $OUT, else
#                  ./gpu-check-out
#   --keep         keep every child's job, report and log in DIR/work
#
# Needs torch, transformers, onnxruntime (onnxruntime-gpu on a GPU) and the grader's own
# dependencies. Wheels for whatever the machine lacks can be carried in .whl/ at the repository
# root (`pip download -d .whl <packages>` on a machine with network): they are installed with
# `pip install --no-index` into .whl/site and put first on PYTHONPATH; nothing is fetched.
# PYTHON picks the interpreter (default python3). Exit: 0 every path gave its figures (or, in a
# dry run, its reason), 1 something failed, 2 the machine lacks a module the check needs.
set -euo pipefail

cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
BUDGET_S=${GPU_CHECK_BUDGET_S:-450} # the whole check stays under 8 minutes

args=()
while [ "$#" -gt 0 ]; do
  case "$1" in
    --cpu-dry-run | --keep) args+=("$1") ;;
    --out)
      [ "$#" -ge 2 ] || { echo "gpu-check: --out needs a folder" >&2; exit 2; }
      args+=(--out "$2")
      shift
      ;;
    -h | --help)
      sed -n '2,20p' "$0"
      exit 0
      ;;
    *)
      echo "gpu-check: unknown argument '$1' (see --help)" >&2
      exit 2
      ;;
  esac
  shift
done

# Carried wheels: installed without an index into a folder of their own, never into the system.
if compgen -G ".whl/*.whl" > /dev/null; then
  echo "gpu-check: installing the wheels carried in .whl/ (no index, no network)"
  "$PY" -m pip install --quiet --no-index --no-deps --disable-pip-version-check \
    --target .whl/site .whl/*.whl
  export PYTHONPATH=".whl/site${PYTHONPATH:+:$PYTHONPATH}"
fi

# The grader from this checkout, whether or not it is installed; children find it the same way.
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
# Nothing may reach the network: no hub, no telemetry.
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 PIP_NO_INDEX=1

missing=$("$PY" - << 'EOF'
import importlib

needed = ["torch", "transformers", "onnx", "onnxruntime", "safetensors", "tokenizers", "numpy",
          "pydantic", "typer", "rich", "yaml", "jinja2", "psutil", "grader.cli", "grader.harness.measure"]
missing = []
for name in needed:
    try:
        importlib.import_module(name)
    except Exception as error:  # ImportError, or a broken install
        missing.append(f"{name} ({type(error).__name__}: {error})")
print("\n".join(missing))
EOF
)
if [ -n "$missing" ]; then
  echo "gpu-check: this Python ($PY) cannot import what the check needs:" >&2
  echo "$missing" | sed 's/^/  - /' >&2
  echo "carry the wheels in .whl/ (pip download -d .whl PACKAGE ... on a machine with network)" >&2
  exit 2
fi

status=0
timeout --kill-after=10 "$BUDGET_S" "$PY" -m grader.harness.gpu_check "${args[@]}" || status=$?
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
  echo "gpu-check: stopped after ${BUDGET_S} s; the report so far is in gpu-check.txt" >&2
  exit 1
fi
exit "$status"
