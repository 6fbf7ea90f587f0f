#!/bin/sh
# The step check of the translations (docs/check_translation.sh) finds each thing it checks. On a copy
# of one English page and a translation of it in step (made here: the English text under the marker,
# which has the same structure as any good translation), it breaks one thing and expects the check to
# fail with the line that names it, and that one problem only; `in_step` expects it to pass.
#   translation_check_test.sh SOURCE_DIR PAGE CASE
# PAGE: an English page with snippets, exercises and check-yourself questions (a lesson's README).
# CASE: in_step missing stale marker anchor snippets headings exercises questions
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

# break WHAT FILE AWK_PROGRAM: FILE changed by the awk program, which must change it.
break_it() {
    awk "$2" "$1" > "$tmp/broken"
    if cmp -s "$tmp/broken" "$1"; then
        echo "translation_check_test.sh: $case: the page has nothing to break" >&2
        exit 1
    fi
    mv "$tmp/broken" "$1"
}

case $case in
    in_step) expect="" ;;
    missing) rm "$zh"; expect="missing: $page has no translation" ;;
    stale) echo "One more sentence in English." >> "$en"; expect="stale: translates revision $sum of $page, which is now " ;;
    marker) break_it "$zh" 'NR == 3 { print "<!-- a translation -->"; next } { print }'
        expect="line 3 is not the revision marker" ;;
    anchor) break_it "$zh" 'NR == 1 { sub(/\{#/, "{#not_") } { print }'
        expect="line 1's anchor is {#not_" ;;
    snippets) break_it "$zh" '!done && /^\\snippet / { $3 = $3 "_renamed"; done = 1 } { print }'
        expect="the \\\\snippet names differ: only in English: [^ ]* [a-z_]*; only in the translation: [^ ]* [a-z_]*_renamed" ;;
    headings) break_it "$zh" '!done && /^### / { done = 1; next } { print }'
        expect="[0-9]+ ### headings, the English page has [0-9]+" ;;
    exercises) break_it "$zh" '/^## Exercises/ { ex = 1 } ex && !done && /^2\. / { sub(/^2\. /, ""); done = 1 } { print }'
        expect="[0-9]+ exercises, the English page has [0-9]+" ;;
    questions) break_it "$zh" '!done && /^<details class="answer">/ { sub(/"answer"/, "\"wine\""); done = 1 } { print }'
        expect="[0-9]+ check-yourself questions .*, the English page has [0-9]+" ;;
    *) echo "translation_check_test.sh: no case $case" >&2; exit 2 ;;
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
