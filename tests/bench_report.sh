#!/usr/bin/env bash
# The benchmark report: every lesson under the same load, measured by echo_bench, written as raw
# results (raw.txt), the tables (results.md, and results.zh-CN.md in Simplified Chinese, included by the
# course site's benchmark page in each language) and three plots (served.svg, msg_per_s.svg,
# first_echo.svg, and NAME.zh-CN.svg in Chinese; gnuplot). Minutes long, so not part of the tests;
# `./course bench` runs it.
#   bench_report.sh BIN_DIR OUT_DIR [SECONDS]   measure, then render
#   bench_report.sh --render OUT_DIR            render again from OUT_DIR/raw.txt
# BIN_DIR holds the lessons (NN_name.exe) and echo_bench; the Wine environment must be set (wine-env.sh).
# Every cell starts a fresh server on a free port, one at a time (Wine 8.0's wineserver does not like
# several socket-heavy programs at once).
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
tmp=$(mktemp -d)
# shellcheck source=server.sh
source "$here/server.sh"
trap 'stop_server; rm -rf "$tmp"' EXIT

# The load matrix: name, connections, message size, and "burst" for connections opened all at once
# (echo_bench -b), each echoing as soon as it is connected. A burst cell runs at least BURST_SECONDS:
# the slowest client of a 10,000-client burst may need that long for its first echo (BURST_SECONDS=N
# in the environment changes it, for a quick try of the script). "idle" connections connect and send
# nothing (echo_bench -i): the server's memory per idle connection.
matrix=(
  "c1:1:64" "c50:50:64" "c63:63:64" "c64:64:64" "c1000:1000:64" "c10000:10000:64"
  "k4:50:4096" "stream:1:4194304" "b1000:1000:64:burst" "b10000:10000:64:burst" "i10000:10000:64:idle"
)
BURST_SECONDS=${BURST_SECONDS:-20}

rss_kib() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status" 2>/dev/null || echo 0; }
# The most the process has held at once (its peak resident set), in KiB.
peak_kib() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status" 2>/dev/null || echo 0; }

# measure BIN OUT SECONDS: every lesson, every cell; one line per cell in OUT/raw.txt,
# "LESSON CELL key=value...", "LESSON memory bytes_per_connection=N" from the 1,000-client run, and
# "LESSON idle_memory bytes_per_connection=N" from the 10,000 idle connections (the server's peak
# resident set during that run, less what it held before).
measure() {
  local bin=$1 out=$2 seconds=$3 exe lesson entry name conns size kind idle busy bench flags duration
  raise_descriptor_limit
  {
    echo "# $(date -u '+%Y-%m-%d %H:%M UTC') | $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)" \
      "| $(nproc) cores | $(uname -sr) | $(wine --version 2>/dev/null || echo Wine) | echo_bench -d $seconds"
  } > "$tmp/raw.txt"
  for exe in "$bin"/[0-9][0-9]_*.exe; do
    lesson=$(basename "$exe" .exe)
    echo "$lesson"
    for entry in "${matrix[@]}"; do
      IFS=: read -r name conns size kind <<< "$entry"
      flags=() duration=$seconds
      if [[ $kind == burst ]]; then
        flags=(-b)
        ((duration > BURST_SECONDS)) || duration=$BURST_SECONDS
      elif [[ $kind == idle ]]; then
        flags=(-i)
      fi
      if ! start_server "$exe"; then
        echo "$lesson $name connections=$conns msg_per_s=0 mib_per_s=0 p50_us=0 p99_us=0 errors=$conns mismatches=0 starved=$conns" >> "$tmp/raw.txt"
        continue
      fi
      idle=$(rss_kib "$server_pid")
      "$bin/echo_bench" "${flags[@]}" -c "$conns" -d "$duration" -s "$size" "$server_address" \
        > "$tmp/bench.out" 2> "$tmp/bench.err" &
      bench=$!
      if [[ $name == c1000 ]]; then
        # Halfway through, every connection is open and busy.
        sleep $((seconds / 2 + 1))
        busy=$(rss_kib "$server_pid")
        echo "$lesson memory bytes_per_connection=$(( (busy - idle) * 1024 / conns ))" >> "$tmp/raw.txt"
      fi
      wait "$bench" || true
      if [[ $kind == idle ]]; then
        echo "$lesson idle_memory bytes_per_connection=$(( ($(peak_kib "$server_pid") - idle) * 1024 / conns ))" \
          >> "$tmp/raw.txt"
      fi
      echo "$lesson $name $(tr -d '\r' < "$tmp/bench.out" | tail -n 1)" >> "$tmp/raw.txt"
      printf '  %-8s %s\n' "$name" "$(tr -d '\r' < "$tmp/bench.out" | tail -n 1)"
      stop_server
    done
  done
  mv "$tmp/raw.txt" "$out/raw.txt"
}

# render OUT: results.md, results.zh-CN.md and the plots from OUT/raw.txt.
render() {
  local out=$1
  awk -f "$here/bench_table.awk" "$out/raw.txt" > "$out/results.md"
  awk -v lang=zh-CN -f "$here/bench_table.awk" "$out/raw.txt" > "$out/results.zh-CN.md"
  # The plots' data: per lesson and connection count, the connections served and the messages per
  # second (only where every connection was served: otherwise the rate is that of the few served).
  awk -f "$here/bench_table.awk" -v plot=1 "$out/raw.txt" > "$tmp/plot.dat"
  lessons=$(awk 'NR == 1 { for (i = 2; i <= 1 + (NF - 1) / 2; i++) printf "%s ", $i }' "$tmp/plot.dat")
  plot() { # FILE YLABEL COLUMN-OFFSET [DATA XLABEL]
    local file=$1 ylabel=$2 offset=$3 data=${4:-$tmp/plot.dat} xlabel=${5:-concurrent connections}
    local i=0 sep="" lesson
    {
      echo "set terminal svg size 760,420 dynamic noenhanced font 'Helvetica,12'"
      echo "set output '$out/$file'"
      echo "set logscale xy; set grid; set key outside right"
      echo "set xlabel '$xlabel'; set ylabel '$ylabel'"
      echo "set xtics ('1' 1, '50' 50, '1,000' 1000, '10,000' 10000)"
      printf "plot "
      for lesson in $lessons; do
        col=$((2 + offset + i))
        printf "%s'%s' skip 1 using 1:(\$%d > 0 ? \$%d : 1/0) with linespoints lw 2 title '%s'" \
          "$sep" "$data" "$col" "$col" "$lesson"
        sep=", "
        i=$((i + 1))
      done
      echo
    } > "$tmp/plot.gp"
    gnuplot "$tmp/plot.gp"
  }
  count=$(wc -w <<< "$lessons")
  plot served.svg "connections served (got at least one echo)" 0
  plot msg_per_s.svg "echoed 64-byte messages per second" "$count"
  # Time to first echo in a burst: the slowest client's, per lesson and burst size.
  awk -f "$here/bench_table.awk" -v plot=burst "$out/raw.txt" > "$tmp/burst.dat"
  plot first_echo.svg "slowest first echo (s)" 0 "$tmp/burst.dat" "clients connecting in one burst"
  # The same plots for the Chinese site (docs/benchmarks.zh-CN.md).
  plot served.zh-CN.svg "得到服务的连接数（至少收到一次回显）" 0 "$tmp/plot.dat" "并发连接数"
  plot msg_per_s.zh-CN.svg "每秒回显的 64 字节消息数" "$count" "$tmp/plot.dat" "并发连接数"
  plot first_echo.zh-CN.svg "最慢的第一次回显（s）" 0 "$tmp/burst.dat" "一次突发中发起连接的客户端数"
  echo "wrote $out/results.md, $out/served.svg, $out/msg_per_s.svg and $out/first_echo.svg, and" \
    "the same in Chinese (results.zh-CN.md, NAME.zh-CN.svg)"
}

if [[ ${1:-} == --render ]]; then
  render "$2"
else
  mkdir -p "$2"
  measure "$1" "$2" "${3:-5}"
  render "$2"
fi
