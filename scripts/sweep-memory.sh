#!/usr/bin/env bash
# Peak resident memory of `sim sweep` against the number of points and of replications, on
# M/M/1 processor sharing (2,000 s per replication), measured with GNU time. Prints one line
# per configuration: points, replications, peak resident (MB), wall time.
#
#   scripts/sweep-memory.sh [SIM]     (default: builds and uses target/quick/sim)
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -ge 1 ]]; then
  sim=$1
else
  cargo build --profile quick -q
  sim=target/quick/sim
fi
[[ -x /usr/bin/time ]] || { echo "needs GNU time at /usr/bin/time" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

sweep_file() { # points
  local to
  to=$(python3 -c "print(round(0.1 + 0.0005 * ($1 - 1), 6))")
  cat > "$tmp/mm1-$1.yaml" <<YAML
name: mm1-sweep-$1
extends: $PWD/models/queueing-lab.yaml
platform: { max_concurrency: 1000 }
app:
  requests:
    turn:
      steps:
        - cpu: { exponential: { mean: 1s } }
workload: { arrivals: { per_second: 0.5 } }
horizon: 2000s
warmup: 100s
replications: 10
sweep:
  grid:
    workload.arrivals.per_second: { from: 0.1, to: $to, step: 0.0005 }
YAML
}

measure() { # points replications
  sweep_file "$1"
  /usr/bin/time -f "%M %e" -o "$tmp/time" \
    "$sim" sweep "$tmp/mm1-$1.yaml" --replications "$2" --out "$tmp/out-$1-$2" --quiet >/dev/null
  read -r kb wall < "$tmp/time"
  printf '%5d points x %3d replications: %6.1f MB peak resident, %s s\n' \
    "$1" "$2" "$(python3 -c "print($kb / 1000)")" "$wall"
}

for reps in 1 10 40; do measure 10 "$reps"; done
for points in 100 1000; do measure "$points" 10; done
