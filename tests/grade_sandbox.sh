#!/usr/bin/env bash
# One submission of ./course grade (tests/grade_class.sh), in its sandbox. Two steps:
#   grade_sandbox.sh WORK TEMPLATE TOOLS FILE 1   as root in fresh namespaces (unshare --net --mount
#       --pid): builds the sandbox's root in WORK/root and runs the second step chrooted into it
#   grade_sandbox.sh WORK TEMPLATE TOOLS FILE 0   no namespaces: the same, on the machine itself
#   grade_sandbox.sh --inside BOX FILE            compile FILE if it is a .c, start the server once
#       (its stderr is kept), then run the checks of the rubric with echo_grade
# WORK holds upper/ (the submission's own files in its Wine prefix) and results/; TOOLS holds
# echo_grade, server.sh, the fault shim, wine-env.sh (the build's Wine settings) and settings.sh (the
# compile settings and the checks).
# shellcheck disable=SC2154 # the names settings.sh defines
set -euo pipefail

if [[ $1 == --inside ]]; then
  box=$2 file=$3
  # settings.sh (written by grade_class.sh): COURSE_CC, COURSE_CFLAGS, libs, shim_source, shim_flags,
  # lab_harness, checks, lesson.
  # shellcheck source=/dev/null
  source "$box/tools/settings.sh"
  cd "$box/results"
  submission=$box/prefix/drive_c/submission
  if [[ $file == *.c ]]; then
    # The lesson's lab harness: its .c compiled on its own, its .h forced into the submission.
    harness=()
    if [[ -n $lab_harness ]]; then
      "$COURSE_CC" "${COURSE_CFLAGS[@]}" -c -o lab_harness.o "$box/tools/$lab_harness.c" > compile.txt 2>&1
      harness=(-include "$box/tools/$lab_harness.h" lab_harness.o)
    fi
    if ! "$COURSE_CC" "${COURSE_CFLAGS[@]}" "${harness[@]}" -o "$submission/server.exe" "$submission/$file" \
        "$box/tools/$shim_source" "${shim_flags[@]}" "${libs[@]}" >> compile.txt 2>&1; then
      echo "compile error" > status
      exit 0
    fi
  elif [[ $file != server.exe ]]; then
    mv "$submission/$file" "$submission/server.exe"
  fi
  # The shim halves every send, so a count ignored loses bytes. Only a program linked with the shim
  # reads this: a compiled source, not a student's .exe.
  export COURSE_SHORT_SENDS=1
  # The first start, on its own: what the server says on stderr (the grader's checks keep only the
  # listening line), and whether it starts at all.
  tmp=$box/results/first_start
  mkdir -p "$tmp"
  results=$box/results
  # Wine's working directory must be one it can see (C:\submission), or every start says so on
  # stderr, and that noise would reach the gradebook.
  cd "$submission"
  # shellcheck source=server.sh
  source "$box/tools/server.sh"
  if start_server "$submission/server.exe" 0 2>> "$results/notes.txt"; then
    stop_server
  fi
  cp "$tmp/server.err" "$results/server.err" 2>/dev/null || true
  rm -f "$tmp/listening" # start_server's pipe: a reader of the results would wait on it for ever
  # One run for all the checks, so that echo_grade can say when the server stopped serving. Its
  # lines reach grade.txt as each check ends: a time limit keeps what was graded before it.
  asked=()
  for check in "${checks[@]}"; do asked+=(--check "$check"); done
  "$box/tools/echo_grade" --lesson "$lesson" "${asked[@]}" --exe "$submission/server.exe" \
    --json "$results/grade.json" > "$results/grade.txt" 2>&1 || true
  echo "graded" > "$results/status"
  exit 0
fi

work=$1 template=$2 tools=$3 file=$4 isolated=$5
# The build's Wine settings (cmake/windows_subbuild.cmake wrote them), with the sandbox's own prefix.
# shellcheck source=/dev/null
source "$tools/wine-env.sh"
wine_env=(WINEPREFIX=/box/prefix "WINEARCH=$WINEARCH" "WINEDEBUG=$WINEDEBUG" "WINEDLLOVERRIDES=$WINEDLLOVERRIDES")
if [[ $isolated == 0 ]]; then
  # No namespaces: a copy of the prefix (slow, large), without Z:, on the machine itself.
  box=$work/box
  mkdir -p "$box"
  cp -a "$template" "$box/prefix"
  cp -a "$work/upper/." "$box/prefix/"
  rm -f "$box/prefix/dosdevices/z:"
  ln -sfn "$tools" "$box/tools"
  ln -sfn "$work/results" "$box/results"
  exec env "${wine_env[@]/\/box/$box}" HOME="$box" bash "$tools/grade_sandbox.sh" --inside "$box" "$file"
fi

# The sandbox's root: a tmpfs with what Wine and the compiler need, read-only, and the box.
root=$work/root
mount -t tmpfs -o mode=755 sandbox "$root"
for dir in usr bin sbin lib lib32 lib64 libx32; do
  if [[ -L /$dir ]]; then
    cp -P "/$dir" "$root/$dir" # merged /usr: /bin is a link to usr/bin
  elif [[ -d /$dir ]]; then
    mkdir "$root/$dir"
    mount --rbind "/$dir" "$root/$dir"
    mount -o remount,bind,ro "$root/$dir"
  fi
done
mkdir -p "$root/etc" "$root/dev/shm" "$root/proc" "$root/tmp" "$root/box/prefix" "$root/box/tools" "$root/box/results"
chmod 1777 "$root/tmp"
# Of /etc only what the dynamic loader, the user database and the fonts need (no shadow, no keys).
for name in ld.so.cache ld.so.conf ld.so.conf.d passwd group nsswitch.conf hosts localtime fonts alternatives; do
  [[ -e /etc/$name ]] && cp -a "/etc/$name" "$root/etc/"
done
for device in null zero random urandom; do
  touch "$root/dev/$device"
  mount --bind "/dev/$device" "$root/dev/$device"
done
mount -t tmpfs shm "$root/dev/shm"
mount -t proc proc "$root/proc" # this PID namespace's processes only
# The submission's own prefix: the build's prefix, read-only, under its own writable layer.
mount -t overlay overlay -o "lowerdir=$template,upperdir=$work/upper,workdir=$work/ovwork" "$root/box/prefix"
rm -f "$root/box/prefix/dosdevices/z:" # no drive maps the host's /
mount --bind "$tools" "$root/box/tools"
mount -o remount,bind,ro "$root/box/tools"
mount --bind "$work/results" "$root/box/results"
ip link set lo up # the only interface of this network namespace
exec chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/box "${wine_env[@]}" \
  bash /box/tools/grade_sandbox.sh --inside /box "$file"
