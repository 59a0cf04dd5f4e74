#!/usr/bin/env bash
# Install the pinned torch into the given Python without pulling CUDA packages on a CPU machine.
# Order: a GPU machine takes the regular wheel; a CPU machine first takes a torch wheel already on disk
# (pip's configured find-links, offline, torch alone) and then its dependencies from the configured
# indexes (the CPU build lists no CUDA packages); failing that, the official CPU-only index.
set -euo pipefail
PY=${1:?usage: install-torch.sh PYTHON}
SPEC="torch==2.13.0"
if "$PY" -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('2.13.0') else 1)" 2>/dev/null; then
  exit 0
fi
if command -v nvidia-smi >/dev/null 2>&1; then
  exec "$PY" -m pip install "$SPEC"
fi
if "$PY" -m pip install --no-deps --no-index "$SPEC" 2>/dev/null; then
  exec "$PY" -m pip install "$SPEC"
fi
exec "$PY" -m pip install "$SPEC" --index-url https://download.pytorch.org/whl/cpu
