#!/usr/bin/env bash
# The tenant-adapter demonstration of docs/RESULTS.md ("Tenant adapters", issue #6), on 2 CPU cores.
#   bash scripts/tenant_demo.sh            # GENERAL=adapters/workflow bash scripts/tenant_demo.sh to reuse one
# 1. data: the workflow flows validated and split once (the gate and replay read the folder)
# 2. a general workflow adapter, unless GENERAL names one (a small CPU run: 480 flows, 1 epoch)
# 3. the contoso tenant adapter from it: 50 tenant flows + 75% replay, 3 epochs at lr 5e-4, then the gate
#    (100 general test flows and the 50 contoso test flows, each with both adapters); it prints the
#    table and writes OUT/tenant_report.json (or OUT.candidate/ when refused, exit 1)
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-runs/tenant-demo}
DF=.venv/bin/dslforge
[ -d "$RUN/data/splits" ] || $DF data prepare --dsl workflow --input grammars/workflow/data/flows.jsonl --out "$RUN/data"
GENERAL=${GENERAL:-$RUN/general}
if [ ! -f "$GENERAL/adapter_model.safetensors" ]; then
  $DF train --dsl workflow --data "$RUN/data" --out "$GENERAL" --quiet \
    --train.max_examples=480 --train.epochs=1 --train.eval_limit=0 --train.num_threads=${THREADS:-2}
fi
$DF train --dsl workflow --tenant contoso --init-adapter "$GENERAL" \
  --data grammars/workflow/data/tenant_flows.jsonl --catalog contoso \
  --general-data "$RUN/data" --general-eval-n 100 --replay 0.75 --out "$RUN/contoso" --quiet \
  --train.epochs=3 --train.learning_rate=5e-4 --train.eval_limit=0 --train.num_threads=${THREADS:-2}
