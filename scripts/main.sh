#!/usr/bin/env bash
# The main job: set up, then a short real experiment on Fashion-MNIST: a DCGAN
# trained for 2000 steps (about 4 epochs), writing sample grids and latent
# interpolations (samples/, samples.png), metrics (metrics.jsonl with the
# classifier Fréchet distance and the diversity ratio, TensorBoard events in tb/)
# and checkpoints into $WORKDIR (default runs/main). Extra arguments go to the
# experiment, e.g. --config.num_train_steps=9360 for the full 20-epoch run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh main
workdir="${WORKDIR:-runs/main}"
export TF_CPP_MIN_LOG_LEVEL=2
.venv/bin/python -m experiments.dcgan --workdir="$workdir" \
  --config.num_train_steps=2000 --config.eval_every=500 "$@"
echo "outputs in $workdir: samples.png, samples/, metrics.jsonl, tb/, checkpoints/"
.venv/bin/python - "$workdir/metrics.jsonl" <<'PY'
import json, sys
evals = [r for r in map(json.loads, open(sys.argv[1])) if "eval/diversity_ratio" in r]
print(json.dumps(evals[-1], indent=2))
PY
