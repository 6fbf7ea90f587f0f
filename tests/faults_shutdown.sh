#!/usr/bin/env bash
# Lesson 06 built with failing calls (tests/faults.c) still frees everything: with COURSE_FAULTS set,
# clients are echoed or closed under load, then Ctrl+C must end it with exit code 0 and
# "0 objects still allocated". The failure paths are where a leak hides; this is where it shows.
#   faults_shutdown.sh SERVER-faults.exe ECHO_BENCH
set -euo pipefail
server=$1
bench=$2
tmp=$(mktemp -d)
# shellcheck source=server.sh
source "$(dirname "${BASH_SOURCE[0]}")/server.sh"
trap 'stop_server; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

[[ -n ${COURSE_FAULTS:-} ]] || fail "COURSE_FAULTS is not set: nothing would fail"
start_server "$server" || fail "the server did not start"
timeout 60 "$bench" -c 100 -d 2 "$server_address" > "$tmp/bench.out" || true
echo "load: $(tr -d '\r' < "$tmp/bench.out" | tail -n 1)"
failures=$(tr -d '\r' < "$tmp/server.err" | grep -c "WSAENOBUFS\|WSAEMFILE" || true)
((failures > 0)) || fail "no injected failure was reported on stderr: did the faults build fail anything?"
kill -INT "$server_pid"
code=0
wait_server || code=$?
summary=$(tr -d '\r' < "$tmp/server.out" | tail -n 1)
echo "after $failures failed calls, Ctrl+C: exit code $code, '$summary'"
[[ $code == 0 ]] || fail "exit code $code after Ctrl+C"
[[ $summary =~ ^shutdown\ complete:\ [0-9]+\ connections\ served,\ [0-9]+\ bytes\ echoed,\ 0\ objects\ still\ allocated$ ]] ||
  fail "the summary does not say 0 objects still allocated"
echo "PASS: every object freed after $failures failed calls"
