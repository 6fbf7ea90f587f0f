#!/bin/sh
# The step check of the translations (docs/check_translation.sh) finds each thing it checks. On a copy
# of one English page and a translation of it in step (made here: the English text under the marker,
# which has the same structure as any good translation), it breaks one thing and expects the check to
# fail with the line that names it, and that one problem only; `in_step` expects it to pass.
#   translation_check_test.sh SOURCE_DIR PAGE CASE
# PAGE: an English page with snippets, exercises and check-yourself questions (a lesson's README).
# CASE: in_step, missing, stale, or a break of the translation listed in tests/translation_breaks.txt
# (marker anchor snippets headings exercises questions).
# POSIX sh and awk.
set -eu
src=$1 page=$2 case=$3
check=$src/docs/check_translation.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
en=$tmp/$page
zh=$tmp/${page%.md}.zh-CN.md
mkdir -p "$(dirname "$en")"
cp "$src/$page" "$en"
sum=$(sha256sum "$en" | cut -c1-12)
{
    sed -n 1p "$en"
    echo
    echo "<!-- zh-CN translation of $page, English revision sha256:$sum -->"
    sed -n '2,$p' "$en"
} > "$zh"

# The cases that change the translation: its awk program and the line expected, from the table.
breaks=$(dirname "$0")/translation_breaks.txt
case $case in
    in_step) expect="" ;;
    missing) rm "$zh"; expect="missing: $page has no translation" ;;
    stale) echo "One more sentence in English." >> "$en"; expect="stale: translates revision $sum of $page, which is now " ;;
    *)
        program=$(awk -F '\t' -v name="$case" '$1 == name { print $2 }' "$breaks")
        expect=$(awk -F '\t' -v name="$case" '$1 == name { print $3 }' "$breaks")
        if [ -z "$program" ]; then
            echo "translation_check_test.sh: no case $case in $breaks" >&2
            exit 2
        fi
        awk "$program" "$zh" > "$tmp/broken"
        if cmp -s "$tmp/broken" "$zh"; then
            echo "translation_check_test.sh: $case: the page has nothing to break" >&2
            exit 1
        fi
        mv "$tmp/broken" "$zh"
        ;;
esac

status=0
sh "$check" "$tmp" "$page" 2> "$tmp/said" || status=$?
cat "$tmp/said"
if [ -z "$expect" ]; then
    [ "$status" -eq 0 ] && [ ! -s "$tmp/said" ] && exit 0
    echo "FAIL: the check should pass a translation in step (exit $status)" >&2
    exit 1
fi
if [ "$status" -ne 1 ]; then
    echo "FAIL: the check should fail (exit 1), it exited $status" >&2
    exit 1
fi
if ! grep -Eq "^${zh#"$tmp"/}: $expect" "$tmp/said" || ! grep -q '^1 problem(s)' "$tmp/said"; then
    echo "FAIL: expected one problem, the line \"$expect\"" >&2
    exit 1
fi
