#!/usr/bin/env bash
# Set up (test extras included), lint, then run the whole test suite and the notebooks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
export TF_CPP_MIN_LOG_LEVEL=2 JAX_PLATFORMS=cpu
# JAX's persistent compilation cache, shared by every test and the commands they start:
# the suite compiles the same small programs many times, in-process and in the
# subprocesses it starts. Executables from the cache are the ones XLA compiled: same results.
export JAX_COMPILATION_CACHE_DIR="${JAX_COMPILATION_CACHE_DIR:-$PWD/.cache/jax}"
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0
# tcmalloc for the whole suite, when installed (genjax/malloc.py): XLA:CPU runs faster.
tcmalloc=$(.venv/bin/python -c 'from genjax.malloc import tcmalloc_path; print(tcmalloc_path() or "")')
[ -z "$tcmalloc" ] || export LD_PRELOAD="$tcmalloc${LD_PRELOAD:+:$LD_PRELOAD}"
.venv/bin/ruff check genjax experiments tests bench
.venv/bin/lint-imports --no-cache  # the layer contract of pyproject.toml
.venv/bin/python -m pytest -q --nbmake --durations=25 tests notebooks "$@"  # the slowest 25: keep the suite under 30 min
