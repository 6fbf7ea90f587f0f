#!/usr/bin/env bash
# Record a lesson's trace build under a short load and draw its timeline (`./course trace`).
#   trace.sh BIN_DIR LESSON [CLIENTS] [SECONDS] OUT_DIR
# BIN_DIR holds trace/LESSON-trace.exe (cmake/trace.cmake), echo_bench and trace_svg; the Wine
# environment must be set (wine-env.sh). Writes OUT_DIR/LESSON.full.trace (the whole run),
# OUT_DIR/LESSON.trace (the window that is drawn, with a `# window FROM TO` line) and OUT_DIR/LESSON.svg.
# Each lesson gets the load that shows its idea:
#   01  two clients: one is served, the other waits for the whole run
#   05  a burst of 6,000 (echo_bench -b, 4 s): accepts complete among the echoes
#   06  Ctrl+C once the clients are busy: the window is the shutdown (cancel, drain, exit packets, join)
#   the others: the middle of a steady load
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
usage() { echo "usage: trace.sh BIN_DIR LESSON [CLIENTS] [SECONDS] OUT_DIR" >&2; exit 2; }
(($# == 3 || $# == 5)) || usage
bin=$1 lesson=$2 out=${!#}
number=${lesson%%_*}
seconds=1
case $number in
  01) clients=2 ;;
  05) clients=6000 seconds=4 ;;
  *) clients=20 ;;
esac
if (($# == 5)); then clients=$3 seconds=$4; fi
[[ $clients =~ ^[1-9][0-9]*$ && $seconds =~ ^[1-9][0-9]*$ ]] || usage
exe=$bin/trace/$lesson-trace.exe
[[ -x $exe ]] || { echo "trace.sh: no trace build $exe (build the course first)" >&2; exit 1; }
mkdir -p "$out"
tmp=$(mktemp -d)
# shellcheck source=server.sh
source "$here/server.sh"
trap 'stop_server; rm -rf "$tmp"' EXIT
raise_descriptor_limit

# wait_for_trace PATTERN COUNT: until the trace holds COUNT lines matching PATTERN, at most 10 s
# (the shim writes every 20 ms). Returns 1 if they never came.
wait_for_trace() {
  local tries
  for ((tries = 0; tries < 200; tries++)); do
    (($(grep -c -- "$1" "$tmp/full.trace" 2>/dev/null || true) >= $2)) && return 0
    sleep 0.05
  done
  return 1
}

export COURSE_TRACE
COURSE_TRACE=$(winepath -w "$tmp/full.trace" 2>/dev/null || echo "Z:${tmp//\//\\}\\full.trace")
start_server "$exe"
flags=()
[[ $number == 05 ]] && flags=(-b)
"$bin/echo_bench" "${flags[@]}" -c "$clients" -d "$seconds" "$server_address" > "$tmp/bench.out" &
bench=$!
if [[ $number == 06 ]]; then
  # Ctrl+C once every client is busy (ten echoes each on average, sends taken from the port), while
  # the load goes on; the server must end by itself.
  wait_for_trace " done send " $((clients * 10)) || true
  kill -INT "$server_pid"
  wait_server || { echo "trace.sh: $lesson did not stop cleanly on Ctrl+C" >&2; exit 1; }
fi
wait "$bench" || true
# The shim writes every 20 ms. Lesson 01 takes its second client only once the first has left, after
# the load: wait for that accept in the trace. Then wait until the trace stops growing (a flush or
# two), and stop the server.
[[ $number != 01 ]] || wait_for_trace " wait accept " 2 || true
size=-1 waited=0
trace_size() { stat -c %s "$tmp/full.trace" 2>/dev/null || echo 0; }
while [[ $number != 06 ]] && (($(trace_size) != size && waited < 100)); do
  size=$(trace_size)
  sleep 0.1
  waited=$((waited + 1))
done
[[ $number == 06 ]] || stop_server
if [[ ! -s $tmp/full.trace ]]; then
  echo "trace.sh: $lesson wrote no events to its trace; echo_bench said: $(tr -d '\r' < "$tmp/bench.out" | tail -n 3)" >&2
  echo "trace.sh: the server's error output: $(tr -d '\r' < "$tmp/server.err")" >&2
  exit 1
fi
cp "$tmp/full.trace" "$out/$lesson.full.trace"

# The window: the shutdown for 06 (from just before its first cancel to the end), late in the burst for 05 (from its accept at 90 %:
# where accepts that wait behind the echoes show), else the middle of the run; as wide as it takes
# to hold about 300 events, at least 2 ms.
awk -v number="$number" '
  { n++; t[n] = $1; if ($1 > last) last = $1; if (first == "" || $1 < first) first = $1
    if ($4 == "done" && $5 == "accept") accepts[++a] = $1
    if ($4 == "call" && $5 == "cancel" && (cancel == "" || $1 < cancel)) cancel = $1 }
  END {
    if (n == 0) exit 1
    span = last - first; rate = n / (span > 0 ? span : 1) # events per microsecond
    width = 300 / rate; if (width < 2000) width = 2000; if (width > span) width = span
    if (number == "06") { from = (cancel != "" ? cancel : last) - 2000; width = last - from + 1000 }
    else if (number == "05" && a > 0) { # the middle of the burst: accepts among the echoes
      from = accepts[int(a * 0.9) + 1] } # the trace is in time order, near enough
    else { from = first + span / 2 - width / 2 }
    if (from < first) from = first
    printf "%d %d\n", from / 1000, (from + width) / 1000 + 1
  }' "$out/$lesson.full.trace" > "$tmp/window"
read -r from to < "$tmp/window"
{
  echo "# $lesson under $(tr -d '\r' < "$tmp/bench.out" | sed -n 's/^echo_bench: //p' | head -n 1)"
  echo "# window $from $to"
  awk -v from="$((from * 1000))" -v to="$((to * 1000))" '$2 >= from && $1 <= to' "$out/$lesson.full.trace"
} > "$out/$lesson.trace"
"$bin/trace_svg" --title "$lesson: a real run under Wine" "$out/$lesson.trace" > "$out/$lesson.svg"
echo "what the clients saw (echo_bench):"
tr -d '\r' < "$tmp/bench.out" | sed 's/^/  /'
echo "wrote $out/$lesson.svg ($((to - from)) ms drawn) from $(wc -l < "$out/$lesson.full.trace") events"
