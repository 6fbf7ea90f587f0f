#!/usr/bin/env bash
# The trace tests (ctest trace.*):
#   trace_test.sh render TRACE_SVG KEPT.trace [LANG]
#                                               draw a kept trace (in LANG's words: zh-CN); its lanes,
#                                               its marks of each kind and its table rows must match
#                                               what the trace holds
#   trace_test.sh record BIN_DIR LESSON         record a short trace of the lesson (tests/trace.sh)
#                                               and find its defining event (tests/trace_check.awk)
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

case ${1:-} in
render)
  svg=$tmp/out.svg lang=${4:-}
  "$2" ${lang:+--lang "$lang"} "$3" > "$svg"
  # In Chinese, every lane is labelled 线程 (thread) N.
  if [[ $lang == zh-CN ]] && (($(grep -c '^<text x="8" y="[0-9]*">线程 ' "$svg") != $(grep -c '<g class="lane"' "$svg"))); then
    echo "FAIL: the timeline of $3 is not drawn in $lang's words"
    exit 1
  fi
  # What the trace says should be drawn, counted the way trace_svg.c draws it.
  awk '
    /^# window / { from = $3 * 1000; to = $4 * 1000; windowed = 1; next }
    /^#/ { next }
    windowed && ($2 < from || $1 > to) { next }
    { threads[$3] = 1
      k = ""
      if ($4 == "wait" && $5 == "accept") k = "accept"
      else if ($4 == "wait" && $5 == "recv" && $7 >= 0) k = "recv"
      else if ($4 == "wait" && $5 ~ /^events/ && $7 >= 0 && $7 < 64) k = "event"
      else if ($4 == "done" || $4 == "run") k = $5
      else if ($4 == "call" && ($5 == "cancel" || $5 == "post_exit")) k = $5
      if (k != "") { marks[k]++; handled += $4 != "call" } }
    END { n = 0; for (t in threads) n++; print "lanes", n; print "rows", n; print "handled", handled + 0
          for (k in marks) print "mark", k, marks[k] }' "$3" | sort > "$tmp/expected"
  {
    echo "lanes $(grep -c '<g class="lane"' "$svg")"
    echo "rows $(grep -c '<g class="row"' "$svg")"
    echo "handled $(sed -n 's/.*<g class="row"[^>]*>.*<\/text><text[^>]*>[0-9]* %<\/text><text[^>]*>\([0-9]*\)<\/text>.*/\1/p' "$svg" |
      awk '{ s += $1 } END { print s + 0 }')"
    grep -o 'class="mark [a-z_]*"' "$svg" | sed 's/class="mark \(.*\)"/\1/' | sort | uniq -c | awk '{ print "mark", $2, $1 }'
  } | sort > "$tmp/drawn"
  if ! diff -u "$tmp/expected" "$tmp/drawn"; then
    echo "FAIL: the timeline of $3 does not match the trace (- what the trace holds, + what was drawn)"
    exit 1
  fi
  echo "PASS: $(grep -c . "$tmp/drawn") counts match: $(paste -sd ' ' "$tmp/drawn")"
  ;;
record)
  bin=$2 lesson=$3
  "$here/trace.sh" "$bin" "$lesson" "$tmp"
  awk -v lesson="${lesson%%_*}" -f "$here/trace_check.awk" "$tmp/$lesson.full.trace"
  ;;
*)
  echo "usage: trace_test.sh render TRACE_SVG KEPT.trace [LANG] | record BIN_DIR LESSON" >&2
  exit 2
  ;;
esac
