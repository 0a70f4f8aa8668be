#!/usr/bin/env bash
# The main job: set up, then a short real experiment on Fashion-MNIST that writes
# metrics (metrics.jsonl, TensorBoard events), a checkpoint and an image of test
# predictions into $WORKDIR (default runs/main). Extra arguments go to the experiment,
# e.g. --config.num_train_steps=9360 for the full 20-epoch run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh main
workdir="${WORKDIR:-runs/main}"
export TF_CPP_MIN_LOG_LEVEL=2
.venv/bin/python -m experiments.classifier --workdir="$workdir" \
  --config.num_train_steps=1404 --config.eval_every=468 "$@"
echo "outputs in $workdir: final_metrics.json, metrics.jsonl, predictions.png, tb/, checkpoints/"
cat "$workdir/final_metrics.json"
