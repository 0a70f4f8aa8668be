#!/usr/bin/env bash
# Set up (test extras included), lint, then run the whole test suite and the notebooks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
export TF_CPP_MIN_LOG_LEVEL=2 JAX_PLATFORMS=cpu
.venv/bin/ruff check genjax experiments tests bench
.venv/bin/python -m pytest -q --nbmake tests notebooks "$@"
