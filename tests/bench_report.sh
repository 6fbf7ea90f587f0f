#!/usr/bin/env bash
# The benchmark report: every lesson under the same load, measured by echo_bench, written as a table
# (results.md, included by the course site's benchmark page) and a plot (msg_per_s.svg, gnuplot).
# Minutes long, so not part of the tests; `./course bench` runs it.
#   bench_report.sh BIN_DIR OUT_DIR [SECONDS]
# BIN_DIR holds the lessons (NN_name.exe) and echo_bench; the Wine environment must be set (wine-env.sh).
# Every run starts a fresh server on a free port, one at a time (Wine 8.0's wineserver does not like
# several socket-heavy programs at once).
set -euo pipefail
bin=$1
out=$2
seconds=${3:-5}
tmp=$(mktemp -d)
# shellcheck source=server.sh
source "$(dirname "${BASH_SOURCE[0]}")/server.sh"
trap 'stop_server; rm -rf "$tmp"' EXIT
mkdir -p "$out"

# Each connection is a descriptor here, in the server and in the wineserver.
hard=$(ulimit -Hn)
[[ $hard == unlimited ]] || ((hard > 65536)) && hard=65536
ulimit -n "$hard"

# The load matrix: name, connections, message size.
matrix=(
  "c1:1:64" "c50:50:64" "c63:63:64" "c64:64:64" "c1000:1000:64" "c10000:10000:64"
  "k4:50:4096" "stream:1:4194304"
)

rss_kib() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status" 2>/dev/null || echo 0; }

# run LESSON NAME CONNECTIONS SIZE: one echo_bench run against a fresh server; its last line goes to
# $tmp/LESSON.NAME. The 1000-client run also samples the server's resident memory halfway through.
run() {
  local exe=$1 lesson=$2 name=$3 conns=$4 size=$5 idle busy
  start_server "$exe" || { echo "connections=$conns msg_per_s=0 errors=$conns no_start=1" > "$tmp/$lesson.$name"; return; }
  idle=$(rss_kib "$server_pid")
  "$bin/echo_bench" -c "$conns" -d "$seconds" -s "$size" "$server_address" > "$tmp/bench.out" 2> "$tmp/bench.err" &
  local bench=$!
  if [[ $name == c1000 ]]; then
    sleep $((seconds / 2 + 1))
    busy=$(rss_kib "$server_pid")
    echo "$(( (busy - idle) * 1024 / conns ))" > "$tmp/$lesson.mem"
  fi
  wait "$bench" || true
  tr -d '\r' < "$tmp/bench.out" | tail -n 1 > "$tmp/$lesson.$name"
  printf '  %-8s %s\n' "$name" "$(cat "$tmp/$lesson.$name")"
  stop_server
}

value() { tr ' ' '\n' < "$tmp/$1.$2" | sed -n "s/^$3=//p"; }

# A table cell: messages per second (MiB/s for the stream), and what went wrong if anything did.
cell() {
  local lesson=$1 name=$2 what=msg_per_s unit="" errors starved mismatches text
  [[ $name == stream || $name == k4 ]] && what=mib_per_s unit=" MiB/s"
  text="$(value "$lesson" "$name" "$what")$unit"
  errors=$(value "$lesson" "$name" errors); starved=$(value "$lesson" "$name" starved)
  mismatches=$(value "$lesson" "$name" mismatches)
  [[ ${starved:-0} == 0 ]] || text="$text, $starved starved"
  [[ ${errors:-0} == 0 ]] || text="$text, $errors errors"
  [[ ${mismatches:-0} == 0 ]] || text="$text, **$mismatches mismatches**"
  printf '%s' "$text"
}

held() {
  local lesson=$1 best=0 name conns
  for entry in "${matrix[@]}"; do
    IFS=: read -r name conns _ <<< "$entry"
    [[ $name == c* ]] || continue
    [[ $(value "$lesson" "$name" errors) == 0 && $(value "$lesson" "$name" starved) == 0 &&
       $(value "$lesson" "$name" mismatches) == 0 ]] && ((conns > best)) && best=$conns
  done
  echo "$best"
}

lessons=()
for exe in "$bin"/[0-9][0-9]_*.exe; do
  lesson=$(basename "$exe" .exe)
  lessons+=("$lesson")
  echo "$lesson"
  for entry in "${matrix[@]}"; do
    IFS=: read -r name conns size <<< "$entry"
    run "$exe" "$lesson" "$name" "$conns" "$size"
  done
done

{
  cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
  echo "Measured on $(date -u '+%Y-%m-%d %H:%M UTC'): ${cpu:-an unknown processor}, $(nproc) cores,"
  echo "$(uname -sr), $(wine --version 2>/dev/null || echo 'Wine'), by \`./course bench\`"
  echo "(\`tests/bench_report.sh\`: one \`echo_bench -d $seconds\` run per cell, each against a fresh server)."
  echo "Messages per second are 64-byte echoes, sent, returned and checked; \"starved\" connections never"
  echo "got one echo back; errors are connections that failed or were never accepted."
  echo
  echo "| lesson | 1 client | 50 clients | 63 clients | 64 clients | 1,000 clients | 10,000 clients | 50 × 4 KiB | 1 × 4 MiB stream | p99 at 1,000 | most clients held | memory per connection |"
  echo "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
  for lesson in "${lessons[@]}"; do
    printf '| %s |' "$lesson"
    for name in c1 c50 c63 c64 c1000 c10000 k4 stream; do printf ' %s |' "$(cell "$lesson" "$name")"; done
    printf ' %s us | %s | %s B |\n' "$(value "$lesson" c1000 p99_us)" "$(held "$lesson")" \
      "$(cat "$tmp/$lesson.mem" 2>/dev/null || echo '?')"
  done
} > "$out/results.md"

# The plot: messages per second against connections, one line per lesson, both axes logarithmic.
{
  echo "# connections ${lessons[*]}"
  for name in c1 c50 c1000 c10000; do
    printf '%s' "${name#c}"
    for lesson in "${lessons[@]}"; do printf ' %s' "$(value "$lesson" "$name" msg_per_s)"; done
    echo
  done
} > "$tmp/plot.dat"
{
  echo "set terminal svg size 760,420 dynamic font 'Helvetica,12'"
  echo "set output '$out/msg_per_s.svg'"
  echo "set logscale xy; set grid; set key outside right"
  echo "set xlabel 'concurrent connections'; set ylabel 'echoed 64-byte messages per second'"
  echo "set xtics ('1' 1, '50' 50, '1,000' 1000, '10,000' 10000)"
  printf "plot "
  for i in "${!lessons[@]}"; do
    printf "%s'%s' using 1:(\$%d > 0 ? \$%d : 1/0) with linespoints lw 2 title '%s'" \
      "$([[ $i == 0 ]] || echo ', ')" "$tmp/plot.dat" $((i + 2)) $((i + 2)) "${lessons[$i]}"
  done
  echo
} > "$tmp/plot.gp"
gnuplot "$tmp/plot.gp"
echo "wrote $out/results.md and $out/msg_per_s.svg"
