#!/usr/bin/env bash
# echo_grade says when a server stopped serving: lesson 04's lab with the completion key in a DWORD
# crashes on its first echo. With --connect: one STOP line naming the check, the later checks that
# need the server "NOT GRADED" (not failed with hints about a server that is gone). With --exe: the
# STOP line says how it ended (a crash) and that each later check starts a fresh server (nothing of
# later checks when there are none).
#   echo_grade_stop_test.sh ECHO_GRADE LAB.exe      (the Wine environment must be set)
set -euo pipefail
grade=$1 lab=$2
tmp=$(mktemp -d)
# shellcheck source=server.sh
source "$(dirname "${BASH_SOURCE[0]}")/server.sh"
trap 'stop_server; rm -rf "$tmp"' EXIT
failed=0
expect() { # expect WHAT REGEX FILE
  if grep -qE "$2" "$3"; then echo "ok: $1"; else echo "FAILED: $1"; failed=1; fi
}

start_server "$lab"
code=0
"$grade" --lesson 04 --connect "$server_address" > "$tmp/connect.txt" || code=$?
cat "$tmp/connect.txt"
expect "one STOP line, naming the check" \
  "^STOP  the server stopped serving during echoes_random_binary_payloads: a fresh client got no echo\. The later checks are not graded\.$" \
  "$tmp/connect.txt"
[[ $(grep -c '^STOP' "$tmp/connect.txt") == 1 ]] || { echo "FAILED: more than one STOP line"; failed=1; }
expect "a later check is not graded" \
  "^NOT GRADED  echoes_one_byte_writes: the server stopped serving during echoes_random_binary_payloads$" \
  "$tmp/connect.txt"
expect "no later check failed with a hint" "^FAIL  echoes_random_binary_payloads: " "$tmp/connect.txt"
[[ $(grep -c '^FAIL' "$tmp/connect.txt") == 1 ]] || { echo "FAILED: more than one check failed"; failed=1; }
expect "the totals count them" "^0 passed, 1 failed, [0-9]+ skipped, [1-9][0-9]* not graded$" "$tmp/connect.txt"
[[ $code == 1 ]] || { echo "FAILED: exit code $code, not 1"; failed=1; }

"$grade" --lesson 04 --check echoes_random_binary_payloads --check echoes_one_byte_writes --exe "$lab" \
  > "$tmp/exe.txt" || true
cat "$tmp/exe.txt"
expect "with --exe the STOP line says it crashed, and that later checks start a fresh server" \
  "^STOP  the server stopped serving during echoes_random_binary_payloads: it crashed \(exit code [0-9-]+: Unhandled .*\)\. Each later check starts a fresh server\.$" \
  "$tmp/exe.txt"
"$grade" --lesson 04 --check echoes_random_binary_payloads --exe "$lab" > "$tmp/last.txt" || true
cat "$tmp/last.txt"
expect "after the last check, the STOP line speaks of no later checks" \
  "^STOP  the server stopped serving during echoes_random_binary_payloads: it crashed \(exit code [0-9-]+: Unhandled .*\)\.$" \
  "$tmp/last.txt"
exit "$failed"
