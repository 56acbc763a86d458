#!/usr/bin/env bash
# The workflow half of docs/RESULTS.md (issue #5), on 2 CPU cores, one thread per job.
#   bash scripts/workflow_results.sh            # every step, in order
#   bash scripts/workflow_results.sh iid curve  # some steps (two steps may run side by side)
# Steps (each skips a result that already has its summary.json, so a killed run resumes):
#   iid     the 2x2 on the iid test split: shipped adapter vs base + 4 retrieved pairs, x free/constrained
#   unseen  the same on unseen_api: an adapter trained like the shipped one on the unseen_api train
#           split (its connectors never occur there), and retrieval from that split
#   latency fine-tuned vs retrieval latency measured side by side: one engine, the same 40 iid test
#           flows alternating between the two, constrained
#   curve   the learning curve: the shipped config on 150, 300 and 600 pairs, constrained, iid test
#   epochs  pairs or passes: 600 pairs x 2 epochs, the same compute as the shipped 1,200 x 1
# The first 100 test rows of each split: a retrieval row takes ~8 s here, so the full test sets
# (1,200 and 3,129 flows) would take a day.
set -euo pipefail
cd "$(dirname "$0")/.."
DF=.venv/bin/dslforge
RUNS=${RUNS:-runs/workflow}
SPLITS=runs/data/workflow/splits
N=${N:-100}
EVAL=(--dsl workflow --split test --limit "$N" --max-new-tokens 320 --threads 1 --quiet)

[ -d "$SPLITS" ] || $DF data prepare --dsl workflow --input grammars/workflow/data/flows.jsonl --out runs/data/workflow

evaluate() {  # OUT, then eval flags
  local out=$1; shift
  [ -f "$out/summary.json" ] || $DF eval "${EVAL[@]}" --out "$out" "$@"
}

step_iid() {
  for mode in constrained free; do
    evaluate "$RUNS/iid-ft-$mode" --scheme iid --adapter adapters/workflow --mode $mode
    evaluate "$RUNS/iid-rag4-$mode" --scheme iid --rag 4 --train-data $SPLITS/iid/train.jsonl --mode $mode
  done
}

step_latency() {
  [ -f "$RUNS/latency-iid.json" ] || .venv/bin/python -m training.latency --dsl workflow --scheme iid \
    --adapter adapters/workflow --rag 4 --mode constrained --n 40 --max-new-tokens 320 --threads 1 \
    --out "$RUNS/latency-iid.json"
}

step_unseen() {
  local adapter=$RUNS/adapter-unseen_api
  [ -f "$adapter/adapter_model.safetensors" ] || $DF train --dsl workflow --quiet \
    --data $SPLITS/unseen_api/train.jsonl --config training/configs/workflow.yaml --out "$adapter"
  for mode in constrained free; do
    evaluate "$RUNS/unseen-ft-$mode" --scheme unseen_api --adapter "$adapter" --mode $mode
    evaluate "$RUNS/unseen-rag4-$mode" --scheme unseen_api --rag 4 --train-data $SPLITS/unseen_api/train.jsonl --mode $mode
  done
}

step_curve() {
  # 1,200 pairs is the shipped adapter: its point is step_iid's constrained run
  evaluate "$RUNS/iid-ft-constrained" --scheme iid --adapter adapters/workflow --mode constrained
  mkdir -p "$RUNS/curve"
  [ -f "$RUNS/curve/eval-1200/summary.json" ] || cp -r "$RUNS/iid-ft-constrained" "$RUNS/curve/eval-1200"
  .venv/bin/python -m training.learning_curve --dsl workflow --scheme iid --sizes 150,300,600 \
    --reuse 1200=adapters/workflow --config training/configs/workflow.yaml \
    --limit "$N" --max-new-tokens 320 --threads 1 --out "$RUNS/curve"
}

step_epochs() {
  local adapter=$RUNS/curve/adapter-600x2
  [ -f "$adapter/adapter_model.safetensors" ] || $DF train --dsl workflow --quiet \
    --config training/configs/workflow.yaml --train.max_examples=600 --train.epochs=2 --out "$adapter"
  evaluate "$RUNS/curve/eval-600x2" --scheme iid --adapter "$adapter" --mode constrained
}

for step in "${@:-iid latency unseen curve epochs}"; do
  for s in $step; do "step_$s"; done
done
