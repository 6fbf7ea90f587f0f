#!/usr/bin/env bash
# The test of ./course grade: a small class graded by tests/grade_class.sh, its gradebook checked row
# by row. The class: a correct server (lesson 04), a broken one (the lab of a partial send ignored),
# a source that compiles (the fixture), a server that hangs, a source that does not compile, one that
# tries to leave its sandbox, lab 04's handout unfixed (built with the lab's 4 GiB harness, it
# crashes on its first echo), two submissions with the same name, a file that is no submission and an
# empty folder (both with a row saying why they were not graded).
#   grade_class_test.sh BUILD_DIR        (build/linux; exit 77, skipped, without namespaces)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$1
bin=$build/bin
if ! unshare --net --mount --pid --fork true 2>/dev/null; then
  # Without a network namespace the escaping fixture would really try to connect outside loopback.
  echo "SKIP: unshare cannot make namespaces here, and the escaping submission must not run outside one"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0
expect() { # expect WHAT COMMAND...: the command must succeed
  local what=$1
  shift
  if "$@"; then echo "ok: $what"; else echo "FAILED: $what"; failed=1; fi
}

class=$tmp/class
mkdir -p "$class/empty"
cp "$bin/04_iocp_basic.exe" "$class/alice.exe"
cp "$bin/grade/04_iocp_basic-ignores_partial_send.exe" "$class/bob.exe"
cp "$here/grade_fixture.c" "$class/carol.c"
cp "$bin/grade/grade_fixture_hang.exe" "$class/dave.exe"
printf 'int main(void) { return missing; }\n' > "$class/erin.c"
cp "$bin/04_iocp_basic.exe" "$class/frank.exe"
cp "$bin/labs/04_iocp_basic-key_as_dword.c" "$class/gina.c" # lab 04's handout, not fixed
cp "$here/grade_fixture.c" "$class/frank.c"
cp "$bin/grade/grade_fixture_escape.exe" "$class/mallory.exe"
echo "not a server" > "$class/notes.txt"
# What mallory tries to read; left for the next run (a fixed name: the fixture cannot be told another).
[[ -e /tmp/course_grade_secret.txt ]] || echo "the teacher's file" > /tmp/course_grade_secret.txt
printf 'prints_the_listening_line 1\nechoes_random_binary_payloads 3\nechoes_one_byte_writes 1\n' > "$tmp/rubric"

"$here/grade_class.sh" "$build" --lesson 04 --rubric "$tmp/rubric" --time-limit 40 --jobs 2 --out "$tmp/grades" \
  "$class" > "$tmp/said" 2>&1 || { cat "$tmp/said"; echo "FAILED: grade_class.sh exited with an error"; exit 1; }
cat "$tmp/said"

cat > "$tmp/expected.csv" <<'CSV'
student,status,prints_the_listening_line,echoes_random_binary_payloads,echoes_one_byte_writes,total,out_of
alice,"graded",1,3,1,5,5
bob,"graded",0,0,0,0,5
carol,"graded",1,3,1,5,5
dave,"time limit: stopped after 40 s",,,,0,5
empty,"not graded: a folder that holds 0 of server.exe and server.c, not one",,,,0,5
erin,"compile error",,,,0,5
frank,"not graded: two submissions named frank",,,,0,5
gina,"graded",0,0,0,0,5
mallory,"graded",1,3,1,5,5
notes.txt,"not graded: neither a .exe nor a .c (nor a folder with one)",,,,0,5
CSV
row=0
while IFS= read -r want; do
  row=$((row + 1))
  got=$(sed -n "${row}p" "$tmp/grades/grades.csv")
  expect "grades.csv row $row is '$want'" test "$got" == "$want" || echo "   got: '$got'"
done < "$tmp/expected.csv"
expect "grades.csv has no more rows" test "$(wc -l < "$tmp/grades/grades.csv")" -eq "$row"

work=$tmp/grades/work
expect "erin's compiler errors are in the report" grep -q "error: 'missing' undeclared" "$work/erin/results/compile.txt"
expect "bob's hint names the partial send" grep -q "^FAIL  echoes_random_binary_payloads: .*partial send" "$work/bob/results/grade.txt"
expect "the page links bob's failed check to its hint" grep -q 'href="#bob-echoes_random_binary_payloads"' "$tmp/grades/grades.html"
expect "the page shows the hint" grep -q 'id="bob-echoes_random_binary_payloads">FAIL .*Hint: ' "$tmp/grades/grades.html"
for attempt in 'read Z:\\tmp\\course_grade_secret.txt' 'read \\\\?\\unix\\tmp\\course_grade_secret.txt' \
    'connect 192.0.2.1:9'; do
  expect "mallory's attempt '$attempt' failed, and the report says so" \
    grep -q "^escape: $attempt: failed" "$work/mallory/results/server.err"
done
expect "no attempt of mallory succeeded" test "$(grep -c SUCCEEDED "$work/mallory/results/server.err")" -eq 0
expect "the page shows mallory's attempts" grep -q 'escape: connect 192.0.2.1:9: failed' "$tmp/grades/grades.html"
for line in "notes.txt: neither a .exe nor a .c" "empty: a folder that holds 0 of server.exe and server.c" \
    "frank.exe: two submissions named frank" "dave: time limit"; do
  expect "it says '$line'" grep -qF "$line" "$tmp/said"
done

mkdir "$tmp/nobody"
"$here/grade_class.sh" "$build" --lesson 04 --out "$tmp/nobody-grades" "$tmp/nobody" > "$tmp/said" 2>&1 || true
expect "an empty folder gets a clear line" grep -q "is empty: no submission to grade" "$tmp/said"
expect "an empty folder gets a gradebook with no student" test "$(wc -l < "$tmp/nobody-grades/grades.csv")" -eq 1
exit "$failed"
