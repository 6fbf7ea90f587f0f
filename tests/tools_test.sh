#!/usr/bin/env bash
# The tools against lesson 01's server (Linux, under Wine). The tool under test is the rest of the
# command line: a native program, or `wine tool.exe` for its Windows build.
#   tools_test.sh SERVER.exe client CLIENT...   echo_client: a binary file comes back unchanged (exit 0),
#                                               also with the host in brackets ([HOST]:PORT); a refused
#                                               connection (exit 1); a bad command line (exit 2)
#   tools_test.sh SERVER.exe bench BENCH...     echo_bench: one connection is echoed with no error or
#                                               mismatch; of three, two starve (lesson 01 serves one at
#                                               a time), also opened in one burst (-b); a bad command
#                                               line (exit 2)
set -euo pipefail
server=$1
kind=$2
shift 2
tmp=$(mktemp -d)
passed=0
# shellcheck source=server.sh
source "$(dirname "${BASH_SOURCE[0]}")/server.sh"
trap 'stop_server; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; echo "$passed passed, 1 failed"; exit 1; }
pass() { echo "PASS: $*"; passed=$((passed + 1)); }

# A bad command line: usage on stderr, exit code 2.
expect_usage() {
  local code=0
  timeout 30 "$@" > /dev/null 2> "$tmp/usage" < /dev/null || code=$?
  [[ $code == 2 ]] || fail "expected exit code 2 for '${*: -1}', got $code"
  grep -q "usage:" "$tmp/usage" || fail "no usage line for '${*: -1}'"
  pass "bad command line '${*: -1}': usage, exit code 2"
}

start_server "$server" || fail "the server did not start"
address=$server_address
echo "server: listening on $address"

case $kind in
client)
  # All 256 byte values, then 1 MiB of random bytes.
  for i in $(seq 0 255); do printf "\\$(printf '%03o' "$i")"; done > "$tmp/input"
  head -c 1048576 /dev/urandom >> "$tmp/input"
  timeout 60 "$@" "$address" < "$tmp/input" > "$tmp/output" || fail "echo_client exited with $? on a correct server"
  cmp "$tmp/input" "$tmp/output" || fail "echo_client's output differs from its input"
  pass "$(wc -c < "$tmp/input") bytes, every byte value, came back unchanged"
  # The host in brackets, as a server's listening line prints an IPv6 address ([::1]:PORT).
  bracketed="[${address%:*}]:${address##*:}"
  printf 'in brackets\n' | timeout 30 "$@" "$bracketed" > "$tmp/bracketed" ||
    fail "echo_client exited with $? for $bracketed"
  [[ $(tr -d '\r' < "$tmp/bracketed") == "in brackets" ]] || fail "no echo through $bracketed"
  pass "the address in brackets, $bracketed, works too"
  expect_usage "$@" "[${address%:*}:${address##*:}"
  code=0
  timeout 30 "$@" 127.0.0.1:1 < /dev/null > /dev/null 2> "$tmp/refused" || code=$?
  [[ $code == 1 ]] || fail "expected exit code 1 for a port with no server, got $code"
  grep -q "connect to 127.0.0.1:1" "$tmp/refused" || fail "no clear error for a refused connection"
  pass "refused connection: $(tr -d '\r' < "$tmp/refused")"
  expect_usage "$@" not-an-address
  ;;
bench)
  timeout 60 "$@" -c 1 -d 1 "$address" > "$tmp/one" || fail "echo_bench exited with $? on a correct server"
  tr -d '\r' < "$tmp/one" > "$tmp/one.txt"
  [[ $(field "$tmp/one.txt" errors) == 0 && $(field "$tmp/one.txt" mismatches) == 0 &&
     $(field "$tmp/one.txt" starved) == 0 ]] || fail "one connection: $(tail -n 1 "$tmp/one.txt")"
  [[ $(field "$tmp/one.txt" msg_per_s) -gt 0 ]] || fail "one connection, no message: $(tail -n 1 "$tmp/one.txt")"
  pass "one connection: $(tail -n 1 "$tmp/one.txt")"
  timeout 60 "$@" -c 3 -d 1 "$address" > "$tmp/three" || fail "echo_bench exited with $? on a correct server"
  tr -d '\r' < "$tmp/three" > "$tmp/three.txt"
  [[ $(field "$tmp/three.txt" starved) == 2 && $(field "$tmp/three.txt" errors) == 0 ]] ||
    fail "three connections to a one-at-a-time server should starve two: $(tail -n 1 "$tmp/three.txt")"
  pass "three connections, two starved: $(tail -n 1 "$tmp/three.txt")"
  # -b: the same three opened in one burst; the per-client fields tell the served one from the others.
  timeout 60 "$@" -b -c 3 -d 1 "$address" > "$tmp/burst" || fail "echo_bench -b exited with $? on a correct server"
  tr -d '\r' < "$tmp/burst" > "$tmp/burst.txt"
  [[ $(field "$tmp/burst.txt" starved) == 2 && $(field "$tmp/burst.txt" errors) == 0 &&
     $(field "$tmp/burst.txt" msgs_min) == 0 && $(field "$tmp/burst.txt" msgs_max) -gt 0 &&
     -n $(field "$tmp/burst.txt" first_echo_max_ms) ]] ||
    fail "a burst of three to a one-at-a-time server should serve one, starve two: $(tail -n 1 "$tmp/burst.txt")"
  pass "a burst of three, one served: $(tail -n 1 "$tmp/burst.txt")"
  expect_usage "$@" -c 0 "$address"
  ;;
*)
  fail "unknown kind '$kind'"
  ;;
esac
echo "$passed passed, 0 failed"
