#!/bin/sh
# The kept-region check: what a lesson keeps from the one before, it keeps word for word.
#   kept_regions.sh DIFFERENCES_FILE LESSON_DIR...   (the lesson folders in course order)
# For each pair of neighbouring lessons, each `// [name]` marker that both server.c files carry and
# each function that both define (with the comment just above it) must read the same, unless
# DIFFERENCES_FILE lists it ("NN name: why", NN the later lesson, name the marker or the function)
# as a difference the lesson's text explains. A listed difference that is no longer there fails
# too, so the list stays short and true.
# Exit 0 when everything holds, 1 otherwise (each problem on a line of its own, with the diff).
set -u
differences=$1
shift

# region FILE NAME: the lines strictly between the two "// [NAME]" lines of FILE.
region() {
    awk -v marker="// [$2]" '
        $0 ~ /^[ \t]*\/\/ \[[a-z0-9_]+\][ \t]*$/ { line = $0; sub(/^[ \t]*/, "", line); sub(/[ \t]*$/, "", line)
            if (line == marker) { inside = !inside; next } }
        inside { print }' "$1"
}

# definition FILE NAME: the definition of the function NAME in FILE, with the comment right above it.
definition() {
    awk -v name="$2" '
        /^\/\*\*/ { comment = "" ; collecting = 1 }
        collecting { comment = comment $0 "\n"; if ($0 ~ /\*\//) collecting = 0; next }
        !inside && $0 ~ "^(static |int )[^(]*[ *]" name "\\(" && $0 !~ /;$/ { inside = 1; printf "%s", comment }
        inside { print; if ($0 ~ /^}/) exit }
        !inside && !/^\/\*\*/ && !/^ \*/ { comment = "" }' "$1"
}

# markers FILE: the marker names of FILE, one per line, sorted.
markers() {
    sed -n 's|^[ \t]*// \[\([a-z0-9_]*\)\][ \t]*$|\1|p' "$1" | sort -u
}

# functions FILE: the names of the functions FILE defines, one per line, sorted.
functions() {
    sed -n 's/^\(static \|int \)[^(]*[ *]\([a-z_][a-z0-9_]*\)(.*[^;]$/\2/p' "$1" | sort -u
}

listed() {
    grep -q "^$1 $2:" "$differences"
}

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
status=0
previous=
for lesson in "$@"; do
    if [ -n "$previous" ]; then
        number=$(basename "$lesson" | cut -c1-2)
        markers "$previous/server.c" > "$tmp/a"
        markers "$lesson/server.c" > "$tmp/b"
        functions "$previous/server.c" > "$tmp/fa"
        functions "$lesson/server.c" > "$tmp/fb"
        for name in $( (comm -12 "$tmp/a" "$tmp/b"; comm -12 "$tmp/fa" "$tmp/fb") | sort -u); do
            if markers "$lesson/server.c" | grep -qx "$name"; then
                region "$previous/server.c" "$name" > "$tmp/old"
                region "$lesson/server.c" "$name" > "$tmp/new"
            else
                definition "$previous/server.c" "$name" > "$tmp/old"
                definition "$lesson/server.c" "$name" > "$tmp/new"
            fi
            if cmp -s "$tmp/old" "$tmp/new"; then
                if listed "$number" "$name"; then
                    echo "$(basename "$lesson") [$name]: listed as changed in $differences, but kept word for word"
                    status=1
                fi
            elif ! listed "$number" "$name"; then
                echo "$(basename "$lesson") [$name]: differs from $(basename "$previous") and $differences does not say why:"
                diff -u "$tmp/old" "$tmp/new" | tail -n +3
                status=1
            fi
        done
    fi
    previous=$lesson
done
# Every listed difference names a lesson and a marker that exist.
grep -v '^#' "$differences" | grep -v '^$' | while read -r number name rest; do
    name=${name%:}
    dir=$(ls -d "$(dirname "$1")/${number}_"* 2>/dev/null | head -n 1)
    if [ -z "$dir" ] || ! { markers "$dir/server.c"; functions "$dir/server.c"; } | grep -qx "$name"; then
        echo "$differences: \"$number $name\" names no marker or function of that lesson"
        exit 1
    fi
done || status=1
[ $status -eq 0 ] && echo "kept regions: every region a lesson keeps is word for word, or listed"
exit $status
