#!/bin/sh
# The step check of the translations: fails when a translated page of the course site is not in step
# with its English page, one line per problem.
#   check_translation.sh SOURCE_DIR PAGE...     PAGE: an English page, from SOURCE_DIR (docs/home.md)
# For each English PAGE its Simplified Chinese translation PAGE-without-.md.zh-CN.md must
#  - exist;
#  - say on line 3 which revision of the English page it translates, in exactly this form
#      <!-- zh-CN translation of PAGE, English revision sha256:XXXXXXXXXXXX -->
#    (the first 12 hex digits of sha256 of PAGE), and that must be the English page as it is now: an
#    English page that changed shows up here until its translation catches up and says so;
#  - have line 1's {#id} (the page's id, the same in both sites);
#  - show the same \snippet names (as many times each), the same number of ## and ### headings, of
#    exercises (the numbered items right in the section that is "## Exercises" in English) and of
#    check-yourself questions (<details class="answer"> blocks).
# Code blocks (```) are left out of the counts. Run by the docs build and by `./course test`.
# POSIX sh and awk.
set -eu
root=$1
shift
lang="zh-CN"

hash() {
    if command -v sha256sum >/dev/null; then sha256sum "$1"; else shasum -a 256 "$1"; fi | cut -c1-12
}

# What the check compares of a page, one fact a line: "anchor ID", "h2 N", "h3 N", "exercises N",
# "answers N", and "snippet FILE NAME" for each \snippet. ex_at: the ordinal of the exercises' ##
# heading to count in (0: none); "exercises_at N" says where the English title "## Exercises" is.
facts() {  # facts FILE EX_AT
    awk -v ex_at="$2" '
        NR == 1 && match($0, /\{#[A-Za-z0-9_]+\}/) { print "anchor " substr($0, RSTART + 2, RLENGTH - 3) }
        /^[ \t]*```/ { code = !code; next }
        code { next }
        /^## / {
            h2++
            in_ex = (h2 == ex_at)
            if ($0 ~ /^## Exercises[ \t]*$/) print "exercises_at " h2
        }
        /^### / { h3++ }
        /^# / { in_ex = 0 }
        in_ex && /^[0-9]+\. / { ex++ }
        /^<details class="answer">/ { answers++ }
        /^\\snippet[ \t]/ { print "snippet " $2 " " $3 }
        END { printf "h2 %d\nh3 %d\nexercises %d\nanswers %d\n", h2, h3, ex, answers }' "$1"
}

fact() {  # fact NAME FACTS: the value of a one-value fact
    printf '%s\n' "$2" | sed -n "s/^$1 //p"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
problems=0
say() {
    printf '%s: %s\n' "$zh" "$*" >&2
    problems=$((problems + 1))
}

for page in "$@"; do
    zh=${page%.md}.$lang.md
    if [ ! -f "$root/$page" ]; then
        say "no English page $page to compare with"
        continue
    fi
    if [ ! -f "$root/$zh" ]; then
        say "missing: $page has no translation (translate it, with the revision marker on line 3)"
        continue
    fi
    now=$(hash "$root/$page")
    marker=$(sed -n 3p "$root/$zh")
    case $marker in
        "<!-- $lang translation of $page, English revision sha256:"????????????" -->")
            was=${marker#*sha256:}
            was=${was%% *}
            [ "$was" = "$now" ] || say "stale: translates revision $was of $page, which is now $now" \
                "(bring the translation up to date with the English changes, then set the marker to $now)"
            ;;
        *)
            say "line 3 is not the revision marker \"<!-- $lang translation of $page, English revision sha256:$now -->\""
            ;;
    esac
    en_facts=$(facts "$root/$page" 0)
    ex_at=$(fact exercises_at "$en_facts")
    en_facts=$(facts "$root/$page" "${ex_at:-0}")
    zh_facts=$(facts "$root/$zh" "${ex_at:-0}")
    for what in anchor h2 h3 exercises answers; do
        en=$(fact $what "$en_facts")
        tr=$(fact $what "$zh_facts")
        [ "$en" = "$tr" ] && continue
        case $what in
            anchor) say "line 1's anchor is {#$tr}, the English page's is {#$en}" ;;
            h2) say "$tr ## headings, the English page has $en" ;;
            h3) say "$tr ### headings, the English page has $en" ;;
            exercises) say "$tr exercises, the English page has $en" ;;
            answers) say "$tr check-yourself questions (<details class=\"answer\">), the English page has $en" ;;
        esac
    done
    printf '%s\n' "$en_facts" | sed -n 's/^snippet //p' | sort > "$tmp/en"
    printf '%s\n' "$zh_facts" | sed -n 's/^snippet //p' | sort > "$tmp/tr"
    if ! cmp -s "$tmp/en" "$tmp/tr"; then
        only_en=$(comm -23 "$tmp/en" "$tmp/tr" | paste -s -d ',' - | sed 's/,/, /g')
        only_tr=$(comm -13 "$tmp/en" "$tmp/tr" | paste -s -d ',' - | sed 's/,/, /g')
        say "the \\snippet names differ: only in English: ${only_en:-none}; only in the translation: ${only_tr:-none}"
    fi
done
if [ "$problems" -gt 0 ]; then
    echo "$problems problem(s): the $lang translations are not in step with their English pages (docs/check_translation.sh)" >&2
    exit 1
fi
