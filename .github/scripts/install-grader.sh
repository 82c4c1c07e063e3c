#!/usr/bin/env bash
# Install the grader from a source tree of the default branch into a fresh virtual environment and
# put it on PATH for the job's later steps. Never given a PR's files: those are data, not code.
#
#   install-grader.sh SRC cpu   GitHub-hosted jobs: CPU-only torch from the PyTorch index
#   install-grader.sh SRC gpu   the GPU runner: the venv sees the runner image's CUDA torch
#                               (--system-site-packages) and adds only what is missing
set -euo pipefail

src=${1:?usage: install-grader.sh SRC cpu|gpu}
flavour=${2:-cpu}
venv="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/grader-venv"

case "$flavour" in
  cpu)
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    # A bare `torch` from PyPI is the multi-GB CUDA build; the CPU index has the small one.
    "$venv/bin/python" -m pip install -q --extra-index-url https://download.pytorch.org/whl/cpu -e "$src"
    ;;
  gpu)
    python3 -m venv --system-site-packages "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q -e "$src[gpu]"
    ;;
  *)
    echo "install-grader.sh: unknown flavour '$flavour' (cpu or gpu)" >&2
    exit 2
    ;;
esac

"$venv/bin/grader" --help > /dev/null
if [ -n "${GITHUB_PATH:-}" ]; then
  echo "$venv/bin" >> "$GITHUB_PATH"
fi
echo "grader installed from $src into $venv ($flavour)"
