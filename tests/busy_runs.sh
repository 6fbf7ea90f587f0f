#!/usr/bin/env bash
# Issue 18's proof of robustness: RUNS fresh clones, one after the other, each running `./course test`
# (build and every test) while a CPU-heavy job keeps every core busy. Prints each run's time and result;
# exits 0 only when every run passed.
#   tests/busy_runs.sh [REPO [REF [RUNS]]]     defaults: this repository, main, 3
# The heavy job: `stress-ng --cpu N` (Debian 12: apt-get install stress-ng), N = the number of cores,
# started before each clone and stopped after its test run. Logs stay in the printed folder.
set -euo pipefail
repo=${1:-$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)}
ref=${2:-main}
runs=${3:-3}
command -v stress-ng >/dev/null || { echo "busy_runs: stress-ng is missing (apt-get install stress-ng)" >&2; exit 2; }
work=$(mktemp -d /tmp/busy_runs.XXXXXX)
load=""
stop_load() { if [[ -n $load ]]; then kill "$load" 2>/dev/null || true; wait "$load" 2>/dev/null || true; load=""; fi; }
trap stop_load EXIT
failed=0
for run in $(seq "$runs"); do
  dir=$work/run$run
  stress-ng --cpu "$(nproc)" --quiet &
  load=$!
  start=$SECONDS
  result=passed
  if ! { git clone --quiet --branch "$ref" "$repo" "$dir" && (cd "$dir" && ./course test); } > "$work/run$run.log" 2>&1; then
    result=FAILED
    failed=$((failed + 1))
  fi
  stop_load
  summary=$(grep -E "tests passed|tests failed out of" "$work/run$run.log" | tail -1 || true)
  echo "run $run: $result in $((SECONDS - start)) s (clone, build, tests; stress-ng --cpu $(nproc) alongside): ${summary:-no ctest summary}"
  grep -E "^\s+[0-9]+ - .*\(Failed|Timeout\)" "$work/run$run.log" || true
  rm -rf "$dir/build" # keep the log, not the build (about 1 GB with its Wine prefix)
done
echo "logs: $work"
exit $((failed > 0))
