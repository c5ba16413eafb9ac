#!/usr/bin/env bash
# Runs every study of experiments/sweeps/ and copies its charts into docs/findings/, the
# figures docs/FINDINGS.md shows and reads. Each study's full results stay in plots/<name>/.
#
#   scripts/findings.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
sim=target/release/sim
mkdir -p docs/findings
"$sim" capacity experiments/sweeps/capacity.yaml --quiet
cp plots/capacity/capacity_p95.png docs/findings/capacity_p95.png
cp plots/capacity/capacity_errors.png docs/findings/capacity_errors.png
for study in concurrency llm-latency models platform; do
  "$sim" sweep "experiments/sweeps/$study.yaml" --quiet
  cp "plots/$study/sweep.png" "docs/findings/$study.png"
  cp "plots/$study/sweep_cost.png" "docs/findings/$study-cost.png"
done
echo "charts in docs/findings/; tables in plots/<study>/sweep.csv and plots/capacity/capacity.csv"
