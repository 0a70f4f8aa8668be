#!/usr/bin/env bash
# Set up (test extras included), lint, then run the whole test suite and the notebooks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
export TF_CPP_MIN_LOG_LEVEL=2 JAX_PLATFORMS=cpu
# tcmalloc for the whole suite, when installed (genjax/malloc.py): XLA:CPU runs faster.
tcmalloc=$(.venv/bin/python -c 'from genjax.malloc import tcmalloc_path; print(tcmalloc_path() or "")')
[ -z "$tcmalloc" ] || export LD_PRELOAD="$tcmalloc${LD_PRELOAD:+:$LD_PRELOAD}"
.venv/bin/ruff check genjax experiments tests bench
.venv/bin/lint-imports --no-cache  # the layer contract of pyproject.toml
.venv/bin/python -m pytest -q --nbmake --durations=25 tests notebooks "$@"  # the slowest 25: keep the suite under 30 min
