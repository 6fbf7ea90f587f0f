#!/bin/sh
# The lessons' Chinese diagrams are their English diagrams with the text translated: fails, with a diff,
# when NN_name/NN_name.zh-CN.dot is missing or is not NN_name/NN_name.dot but for the labels, the font
# names and the // comments (the same nodes, edges, ranks, clusters, colours and layout attributes).
#   check_diagrams.sh LESSON_DIR...
# POSIX sh and sed.
set -eu
# The graph without what is translated: every label="..." (with its \" inside) and fontname="...".
shape() {
    sed -e '/^[[:space:]]*\/\//d' \
        -e 's/label="\([^"\\]*\(\\.\)*\)*"/label=TEXT/g' \
        -e 's/fontname="[^"]*"/fontname=FONT/g' "$1"
}
status=0
for dir in "$@"; do
    lesson=$(basename "$dir")
    en=$dir/$lesson.dot zh=$dir/$lesson.zh-CN.dot
    if [ ! -f "$zh" ]; then
        echo "$zh: missing (the Chinese diagram of $en)"
        status=1
        continue
    fi
    tmp=${TMPDIR:-/tmp}/check_diagrams.$$
    shape "$en" > "$tmp.en"
    shape "$zh" > "$tmp.zh"
    if ! diff -u "$tmp.en" "$tmp.zh" > "$tmp.diff"; then
        echo "$zh: not the graph of $en but for its text:"
        sed 1,2d "$tmp.diff"
        status=1
    fi
    rm -f "$tmp.en" "$tmp.zh" "$tmp.diff"
done
exit $status
