#!/usr/bin/env bash
# echo_client against a lesson server (Linux, under Wine): every byte value, NULs included, comes back
# unchanged with exit code 0; a port with no server gives a clear error and exit code 1; a bad command
# line exit code 2. The client under test is the rest of the command line (a native program, or
# `wine echo_client.exe`).
#   echo_client_test.sh SERVER.exe CLIENT...
set -euo pipefail
server=$1
shift
tmp=$(mktemp -d)
server_pid=""
cleanup() {
  if [[ -n $server_pid ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

mkfifo "$tmp/listening"
wine "$server" 0 > "$tmp/listening" 2> "$tmp/server.err" &
server_pid=$!
exec 3< "$tmp/listening"
IFS= read -r -t 30 line <&3 || fail "the server printed no listening line within 30 s"
line=${line%$'\r'}
address=${line#listening on }
echo "server: $line"

# All 256 byte values, then 1 MiB of random bytes.
for i in $(seq 0 255); do printf "\\$(printf '%03o' "$i")"; done > "$tmp/input"
head -c 1048576 /dev/urandom >> "$tmp/input"
timeout 60 "$@" "$address" < "$tmp/input" > "$tmp/output" || fail "echo_client exited with $? on a correct server"
cmp "$tmp/input" "$tmp/output" || fail "echo_client's output differs from its input"
echo "PASS: $(wc -c < "$tmp/input") bytes, every byte value, came back unchanged"

code=0
timeout 30 "$@" 127.0.0.1:1 < /dev/null > /dev/null 2> "$tmp/refused" || code=$?
[[ $code == 1 ]] || fail "expected exit code 1 for a port with no server, got $code"
grep -q "connect to 127.0.0.1:1" "$tmp/refused" || fail "no clear error for a refused connection: $(cat "$tmp/refused")"
echo "PASS: refused connection: $(tr -d '\r' < "$tmp/refused")"

code=0
timeout 30 "$@" not-an-address < /dev/null > /dev/null 2> "$tmp/usage" || code=$?
[[ $code == 2 ]] || fail "expected exit code 2 for a bad command line, got $code"
grep -q "usage: echo_client" "$tmp/usage" || fail "no usage line for a bad command line"
echo "PASS: bad command line: usage, exit code 2"
echo "3 passed, 0 failed"
