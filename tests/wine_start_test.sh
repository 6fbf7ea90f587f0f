#!/usr/bin/env bash
# How the harness tells Wine's failure to start a program from the program's own failure
# (tests/proc.c: restart_if_wine_failed). A fake Wine stands in for the real one where Wine must fail.
#   wine_start_test.sh CASE ECHO_GRADE BIN_DIR WINE
# CASE:
#   retries_a_start_that_wine_failed      the fake fails once (exit 1, not a word), then runs Wine:
#                                         the check passes, and the harness said it started it again
#   reports_wine_failing_twice            the fake always fails: "Wine failed to start the program",
#                                         also where a check starts the program itself (bind in use)
#   blames_a_server_that_exits_silently   a real program that exits 1 without a word, under the real
#                                         Wine: started twice, then reported as the server's failure
#   does_not_retry_a_real_start_failure   lesson 01 on a port in use (exit 1, "bind ...: WSAEADDRINUSE"):
#                                         judged at once, no second start
set -euo pipefail
case=$1
grade=$2
bin=$3
wine=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# The fake: every call is counted; "once" fails the first call only, "always" every call.
cat > "$tmp/wine" <<FAKE
#!/bin/sh
echo "\$*" >> "$tmp/calls"
if [ "\$FAKE_WINE_MODE" = once ] && [ -e "$tmp/failed" ]; then exec "$wine" "\$@"; fi
touch "$tmp/failed"
exit 1
FAKE
chmod +x "$tmp/wine"
calls() { if [ -e "$tmp/calls" ]; then wc -l < "$tmp/calls"; else echo 0; fi; }

# grade LESSON CHECK EXE [ENV...]: echo_grade's exit code; its stdout in $tmp/out, stderr in $tmp/err
grade() {
  local lesson=$1 check=$2 exe=$3
  shift 3
  set +e
  env "$@" "$grade" --lesson "$lesson" --check "$check" --exe "$exe" > "$tmp/out" 2> "$tmp/err"
  code=$?
  set -e
  cat "$tmp/out" "$tmp/err"
}
said_again() { grep -q "starting it once more" "$tmp/err"; }

case $case in
retries_a_start_that_wine_failed)
  grade 01 prints_the_listening_line "$bin/01_sync_accept.exe" COURSE_TEST_WINE="$tmp/wine" FAKE_WINE_MODE=once
  [ "$code" = 0 ] || fail "exit code $code, expected 0: a start that Wine failed once must be made again"
  grep -q "^PASS  prints_the_listening_line" "$tmp/out" || fail "the check did not pass"
  said_again || fail "the second start was not announced on stderr"
  [ "$(calls)" = 2 ] || fail "Wine was called $(calls) times, expected 2"
  ;;
reports_wine_failing_twice)
  grade 01 prints_the_listening_line "$bin/01_sync_accept.exe" COURSE_TEST_WINE="$tmp/wine" FAKE_WINE_MODE=always
  [ "$code" = 1 ] || fail "exit code $code, expected 1"
  grep -q "^FAIL  prints_the_listening_line: expected the server to start; got Wine failed to start the program, twice" \
    "$tmp/out" || fail "the report does not say that Wine failed"
  [ "$(calls)" = 2 ] || fail "Wine was called $(calls) times, expected 2 (once more, not more)"
  rm -f "$tmp/calls"
  grade 01 reports_a_port_in_use_naming_bind "$bin/01_sync_accept.exe" COURSE_TEST_WINE="$tmp/wine" FAKE_WINE_MODE=always
  [ "$code" = 1 ] || fail "exit code $code, expected 1"
  grep -q "^FAIL  reports_a_port_in_use_naming_bind: .*no verdict on the program: Wine failed to start" "$tmp/out" ||
    fail "a check that starts the program itself blamed the program for Wine's failure"
  ;;
blames_a_server_that_exits_silently)
  grade 01 prints_the_listening_line "$bin/exits_silently.exe"
  [ "$code" = 1 ] || fail "exit code $code, expected 1"
  grep -q "^FAIL  prints_the_listening_line: expected the server to start; got '[^']*exits_silently.exe 0' exited with code 1 before printing its listening line" \
    "$tmp/out" || fail "the program's own silent failure was not reported as its failure"
  if grep -q "Wine failed" "$tmp/out"; then fail "the program's own failure was blamed on Wine"; fi
  said_again || fail "a start that ended without a word was not made once more"
  ;;
does_not_retry_a_real_start_failure)
  grade 01 reports_a_port_in_use_naming_bind "$bin/01_sync_accept.exe"
  [ "$code" = 0 ] || fail "exit code $code, expected 0"
  if said_again; then fail "a failed start that named its call (bind) was made again"; fi
  ;;
*)
  fail "unknown case $case"
  ;;
esac
echo "PASS: $case"
