#!/usr/bin/env bash
# Fingerprints of every shipped experiment's summary.json at its own settings (seed,
# replications, horizon), one `sha256  experiment` line each, sorted.
#
#   scripts/summary-fingerprint.sh                 print the fingerprints
#   scripts/summary-fingerprint.sh --check FILE    exit 1 if any differs from FILE
#
# A refactor that claims to change no result checks itself with --check against the
# fingerprints taken before it (scripts/summary-fingerprints.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --profile quick -q
sim=target/quick/sim
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

while IFS= read -r file; do
  rel=${file#experiments/}
  "$sim" run "$file" --out "$tmp/${rel%.yaml}" --quiet >/dev/null
done < <(find experiments -name '*.yaml' | sort)

(cd "$tmp" && find . -name summary.json | sort | while IFS= read -r s; do
  printf '%s  %s\n' "$(sha256sum "$s" | cut -d' ' -f1)" "$(dirname "${s#./}")"
done) > "$tmp/fingerprints"

if [[ "${1:-}" == "--check" ]]; then
  if diff -u "$2" "$tmp/fingerprints"; then
    echo "all $(wc -l < "$tmp/fingerprints") summaries byte-identical to $2"
  else
    echo "summaries differ from $2" >&2
    exit 1
  fi
else
  cat "$tmp/fingerprints"
fi
