#!/usr/bin/env bash
# ./course grade: grade a folder of submissions for one lesson, each in a sandbox of its own, and
# write a gradebook (grades.csv) and a summary page (grades.html).
#   grade_class.sh BUILD --lesson NN [--rubric FILE] [--time-limit SECONDS] [--jobs N] [--out DIR] FOLDER
# BUILD is the build tree (build/linux). FOLDER holds one entry per student: NAME.exe or NAME.c, or
# a folder NAME/ with one server.exe or server.c. A .c is compiled as the lessons are (the compiler
# and flags the build wrote to bin/grade/compile.sh), linked with the fault shim in its short-send
# mode (tests/faults.c: every send takes half its buffer), and with the lesson's lab harness if it has
# one (tests/labs/NN-NAME.c and .h: for lesson 04, every allocation above 4 GiB, as cmake/labs.cmake
# builds the lab, so a completion key cut to a DWORD fails here too).
#
# Each submission runs as root in its own namespaces (unshare): a network namespace with loopback
# only, a PID namespace (the time limit ends everything in it) and a mount namespace whose root holds
# only /usr, a few files of /etc, four devices, a fresh /tmp and the submission's own Wine prefix, an
# overlay on the build's prefix, without the Z: drive. Memory and processes are capped by cgroup v1
# (memory, pids) where the machine has them writable; otherwise memory by prlimit --data only.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() {
  echo "usage: ./course grade --lesson NN [--rubric FILE] [--time-limit SECONDS] [--jobs N] [--out DIR] FOLDER" >&2
  exit 2
}
die() { printf 'grade: %s\n' "$*" >&2; exit 2; }
say() { printf 'grade: %s\n' "$*"; }

(($# >= 1)) || usage
build=$(cd "$1" && pwd)
shift
lesson="" rubric="$here/grade_rubric.txt" limit=300 jobs=$(nproc) out="" folder=""
while (($#)); do
  case $1 in
    --lesson) lesson=${2:-}; shift 2 || usage ;;
    --rubric) rubric=${2:-}; shift 2 || usage ;;
    --time-limit) limit=${2:-}; shift 2 || usage ;;
    --jobs) jobs=${2:-}; shift 2 || usage ;;
    --out) out=${2:-}; shift 2 || usage ;;
    -*) usage ;;
    *) [[ -z $folder ]] || usage; folder=$1; shift ;;
  esac
done
[[ $lesson =~ ^0?[1-9]$ ]] || die "--lesson takes a lesson number (01, 02, ...), not '$lesson'"
lesson=$(printf '%02d' "$((10#$lesson))")
[[ $limit =~ ^[1-9][0-9]*$ ]] || die "--time-limit takes a whole number of seconds, not '$limit'"
[[ $jobs =~ ^[1-9][0-9]*$ ]] || die "--jobs takes a whole number, not '$jobs'"
[[ -n $folder ]] || usage
[[ -d $folder ]] || die "$folder: no such folder"
[[ -r $rubric ]] || die "--rubric $rubric: cannot read it"
folder=$(cd "$folder" && pwd)
out=${out:-$folder-grades}
mkdir -p "$out"
out=$(cd "$out" && pwd)
case $out/ in "$folder"/*) die "--out $out is inside the folder of submissions" ;; esac

grade_tool=$build/bin/echo_grade
template=$build/wineprefix
[[ -x $grade_tool && -f $template/system.reg && -f $build/bin/grade/compile.sh ]] ||
  die "$build is not a built course (echo_grade, the Wine prefix and bin/grade/compile.sh are needed)"
# shellcheck source=/dev/null
source "$build/bin/grade/compile.sh"
libs_var=COURSE_LIBS_$lesson
[[ -n ${!libs_var+set} ]] || die "lesson $lesson is not part of this build"
declare -n lesson_libs=$libs_var
libs=("${lesson_libs[@]}")

# --- the rubric: the checks of this lesson it names, in the order echo_grade runs them -------------
declare -A points=()
all_checks=$("$grade_tool" --list)
while read -r name value _; do
  [[ -z $name || $name == \#* ]] && continue
  [[ $value =~ ^[0-9]+$ ]] || die "$rubric: '$name $value': points must be a whole number"
  grep -q "^$name " <<< "$all_checks" || die "$rubric: no check named '$name' (echo_grade --list shows them)"
  points[$name]=$value
done < "$rubric"
checks=() total_points=0
while read -r name _; do
  [[ -n ${points[$name]+set} ]] || continue
  checks+=("$name")
  total_points=$((total_points + points[$name]))
done < <("$grade_tool" --list --lesson "$lesson")
((${#checks[@]})) || die "$rubric: none of its checks applies to lesson $lesson"

# --- the sandbox ---------------------------------------------------------------------------------
if unshare --net --mount --pid --fork true 2>/dev/null; then
  sandbox=1
else
  sandbox=0
  say "WARNING: unshare cannot make namespaces here (it needs root or unprivileged user namespaces):" \
    "the submissions run with the network and the files of this machine in reach; grade only code you trust"
fi
cgroups=""
for controller in pids memory; do
  [[ -w /sys/fs/cgroup/$controller ]] && cgroups+=" $controller"
done
[[ -n $cgroups ]] || say "no writable cgroup (v1 pids, memory): memory capped by prlimit only, processes not capped"
MEMORY_BYTES=$((2 * 1024 * 1024 * 1024)) MAX_PROCESSES=256
# Ctrl+C reaches every process of the run (timeout passes it on, unshare ends the namespaces); the
# cgroups the interrupted submissions were in are left to remove.
trap 'wait; for dir in /sys/fs/cgroup/*/"course_grade_$$_"*; do rmdir "$dir" 2>/dev/null || true; done; exit 130' INT TERM

# The tools a sandbox sees: copies, since the build tree is out of its reach.
tools=$out/.tools
rm -rf "$tools"
mkdir -p "$tools"
cp "$grade_tool" "$here/server.sh" "$here/grade_sandbox.sh" "${COURSE_SHIM[0]}" "$here/wrap.h" \
  "$build/wine-env.sh" "$tools/"
shim_source=$(basename "${COURSE_SHIM[0]}")
shim_flags=("${COURSE_SHIM[@]:1}")
lab_harness=""
for header in "$here/labs/$lesson"-*.h; do
  [[ -f $header && -f ${header%.h}.c ]] || continue
  cp "$header" "${header%.h}.c" "$tools/"
  lab_harness=$(basename "${header%.h}")
done
declare -p COURSE_CC COURSE_CFLAGS libs shim_source shim_flags lab_harness checks lesson > "$tools/settings.sh"

# grade_one NAME SOURCE: grade one submission in $out/work/NAME; writes result (status line) there.
grade_one() {
  local name=$1 source=$2 work=$out/work/$1 cg code=0
  rm -rf "$work"
  mkdir -p "$work/upper/drive_c/submission" "$work/ovwork" "$work/root" "$work/results"
  cp "$source" "$work/upper/drive_c/submission/$(basename "$source")"
  local started=$SECONDS
  local cmd=(bash "$tools/grade_sandbox.sh" "$work" "$template" "$tools" "$(basename "$source")" "$sandbox")
  ((sandbox)) && cmd=(unshare --net --mount --pid --fork --kill-child "${cmd[@]}")
  cg=course_grade_$$_$name
  (
    for controller in $cgroups; do
      dir=/sys/fs/cgroup/$controller/$cg
      case $controller in
        pids) limit_file=pids.max value=$MAX_PROCESSES ;;
        memory) limit_file=memory.limit_in_bytes value=$MEMORY_BYTES ;;
      esac
      { mkdir -p "$dir" && echo "$value" > "$dir/$limit_file" && echo "$BASHPID" > "$dir/cgroup.procs"; } 2>/dev/null ||
        echo "cgroup $controller: could not limit this submission" >> "$work/results/notes.txt"
    done
    exec timeout --kill-after=5 "$limit" prlimit --data="$MEMORY_BYTES" "${cmd[@]}"
  ) > "$work/sandbox.log" 2>&1 || code=$?
  for controller in $cgroups; do rmdir "/sys/fs/cgroup/$controller/$cg" 2>/dev/null || true; done
  if ((code == 124 || code == 137)); then
    echo "time limit: stopped after $limit s" > "$work/results/status"
  elif [[ ! -s $work/results/status ]]; then
    echo "grader error (exit code $code): see $work/sandbox.log" > "$work/results/status"
  fi
  printf '%s: %s (%d s)\n' "$name" "$(cat "$work/results/status")" $((SECONDS - started))
}

# --- the submissions -----------------------------------------------------------------------------
declare -A source_of=() problem=()
names=()
add() { # add NAME PATH
  local name=$1 path=$2
  if [[ ! $name =~ ^[A-Za-z0-9._-]+$ ]]; then
    say "$path: skipped: a name may hold only letters, digits, '.', '_' and '-'"
  elif [[ -n ${source_of[$name]+set} || -n ${problem[$name]+set} ]]; then
    say "$path: two submissions named $name (the other: ${source_of[$name]:-?}): neither is graded"
    problem[$name]="not graded: two submissions named $name"
    unset "source_of[$name]"
  elif [[ ! -r $path ]] || ! head -c 1 "$path" > /dev/null 2>&1; then
    say "$path: cannot read it: $name is not graded"
    problem[$name]="not graded: cannot read $(basename "$path")"
    names+=("$name")
  else
    source_of[$name]=$path
    names+=("$name")
  fi
}
# skip NAME REASON: an entry that is no submission still gets its row in the gradebook, with why.
skip() {
  local name=$1 reason=$2
  say "$folder/$name: $reason: skipped"
  if [[ $name =~ ^[A-Za-z0-9._-]+$ && -z ${source_of[$name]+set} && -z ${problem[$name]+set} ]]; then
    problem[$name]="not graded: $reason"
    names+=("$name")
  fi
}
shopt -s nullglob
entries=("$folder"/*)
((${#entries[@]})) || say "$folder is empty: no submission to grade"
for entry in "${entries[@]}"; do
  base=$(basename "$entry")
  if [[ -d $entry ]]; then
    found=()
    for file in "$entry"/server.exe "$entry"/server.c; do
      [[ -e $file ]] && found+=("$file")
    done
    if ((${#found[@]} == 1)); then
      add "$base" "${found[0]}"
    else
      skip "$base" "a folder that holds ${#found[@]} of server.exe and server.c, not one"
    fi
  elif [[ $base == *.exe || $base == *.c ]]; then
    add "${base%.*}" "$entry"
  else
    skip "$base" "neither a .exe nor a .c (nor a folder with one)"
  fi
done
((${#names[@]} == 0)) || mapfile -t names < <(printf '%s\n' "${names[@]}" | sort -u)

count=0
for name in "${names[@]}"; do [[ -z ${source_of[$name]+set} ]] || count=$((count + 1)); done
say "grading $count submission$( ((count == 1)) || echo s) of lesson $lesson, ${#checks[@]} checks each, $jobs at a time," \
  "at most $limit s each; results in $out"
started=$SECONDS
mkdir -p "$out/work"
for name in "${names[@]}"; do
  [[ -n ${source_of[$name]+set} ]] || continue
  while (($(jobs -rp | wc -l) >= jobs)); do wait -n || true; done
  grade_one "$name" "${source_of[$name]}" &
done
wait
elapsed=$((SECONDS - started))

# --- the gradebook and the summary page ----------------------------------------------------------
# verdict NAME CHECK: PASS, FAIL, SKIP, or nothing (not graded), from echo_grade's lines (grade.txt;
# its JSON report is written only at the end, and a time limit may come first); line_of: that line.
verdict() { sed -n "s/^\(PASS\|FAIL\|SKIP\)  $2: .*/\1/p" "$out/work/$1/results/grade.txt" 2>/dev/null | head -n 1 || true; }
line_of() { grep -m 1 -E "^(PASS|FAIL|SKIP)  $2: " "$out/work/$1/results/grade.txt" 2>/dev/null || true; }
html() { sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g'; }

csv=$out/grades.csv
page=$out/grades.html
{
  printf 'student,status'
  printf ',%s' "${checks[@]}"
  printf ',total,out_of\n'
} > "$csv"
{
  cat <<EOF
<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Lesson $lesson: grades</title>
<style>body{font-family:sans-serif}td,th{border:1px solid #ccc;padding:2px 6px}table{border-collapse:collapse}
.pass{background:#dfd}.fail{background:#fdd}.none{background:#eee}pre{background:#f6f6f6;padding:6px;white-space:pre-wrap}</style>
</head><body><h1>Lesson $lesson: $count submission$( ((count == 1)) || echo s) graded, of ${#names[@]} entries</h1>
<p>Graded $(date -u '+%Y-%m-%d %H:%M UTC') in $elapsed s, $jobs at a time, at most $limit s each, out of $total_points points.
A failed check links to what the grader said about it.</p>
<table><tr><th>student</th><th>status</th>
EOF
  for check in "${checks[@]}"; do printf '<th title="%s">%s (%s)</th>' "$check" "$check" "${points[$check]}"; done
  echo '<th>total</th></tr>'
} > "$page"
details=""
for name in "${names[@]}"; do
  work=$out/work/$name
  status=${problem[$name]:-$(cat "$work/results/status" 2>/dev/null || echo "not graded")}
  total=0 row="$name,\"${status//\"/\"\"}\"" cells=""
  for check in "${checks[@]}"; do
    result=$(verdict "$name" "$check")
    case $result in
      PASS) total=$((total + points[$check])); row+=",${points[$check]}"
        cells+="<td class=\"pass\">${points[$check]}</td>" ;;
      FAIL) row+=",0"; cells+="<td class=\"fail\"><a href=\"#$name-$check\">0</a></td>" ;;
      *) row+=","; cells+="<td class=\"none\">&ndash;</td>" ;;
    esac
  done
  echo "$row,$total,$total_points" >> "$csv"
  echo "<tr><td><a href=\"#$name\">$name</a></td><td>$(html <<< "$status")</td>$cells<td>$total</td></tr>" >> "$page"
  details+="<h2 id=\"$name\">$name: $total of $total_points</h2><p>$(html <<< "$status")</p>"
  if [[ -s $work/results/compile.txt ]]; then
    details+="<h3>The compiler said</h3><pre>$(html < "$work/results/compile.txt")</pre>"
  fi
  for check in "${checks[@]}"; do
    if [[ $(verdict "$name" "$check") == FAIL ]]; then
      details+="<pre id=\"$name-$check\">$(line_of "$name" "$check" | html)</pre>"
    fi
  done
  stops=$(grep -m 1 '^STOP  ' "$work/results/grade.txt" 2>/dev/null || true)
  if [[ -n $stops ]]; then
    details+="<p><b>$(html <<< "$stops")</b></p>"
  fi
  if [[ -s $work/results/notes.txt ]]; then
    details+="<pre>$(html < "$work/results/notes.txt")</pre>"
  fi
  if [[ -s $work/results/server.err ]]; then
    details+="<h3>What the server printed on stderr at its first start</h3><pre>$(head -c 4000 "$work/results/server.err" | html)</pre>"
  fi
done
echo "</table>$details</body></html>" >> "$page"
say "done in $elapsed s: $csv, $page"
