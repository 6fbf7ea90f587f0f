#!/bin/sh
# The last step of one language's course site, over the HTML of every project at once:
#   finish_site.sh HTML_DIR DOCS_SOURCE_DIR PAGES_JS [OTHER_SITE...]
# puts the navigation (site/course.js and the reading order, site/pages.js) in place, writes the
# site-wide search index (site/search_index.js, by search_index.awk), then fails if any page shows raw
# markup (check_markup.awk), a diagram wider than the text column at 1280 px (check_widths.awk) or a
# diagram shrunk to fit.
# OTHER_SITE: a folder below HTML_DIR that is another language's site (zh-CN/), left to its own run.
set -eu
html=$1 docs=$2 pages=$3
shift 3
prune=""
for other in "$@"; do
    prune="$prune -path ./${other%/} -prune -o"
done
mkdir -p "$html/site"
cp "$pages" "$docs/site/course.js" "$html/site/"
cd "$html"
# Every page a reader lands on: not the source listings, the folder pages or Doxygen's graph legend.
list_pages() {
    # shellcheck disable=SC2086 # $prune is a list of find's words
    find . $prune -name '*.html' ! -name '*_source.html' ! -name 'dir_*' ! -name 'graph_legend.html' -print | sort
}
{
    echo 'var COURSE_SEARCH = ['
    list_pages | xargs awk -f "$docs/search_index.awk"
    echo '];'
} > site/search_index.js.tmp
mv site/search_index.js.tmp site/search_index.js
status=0
# The index must load: search_index.awk escapes only as \\ and \", so any other backslash is an escape
# JavaScript may reject, and then search finds nothing on any page.
awk '{ s = $0; gsub(/\\\\|\\"/, "", s)
       if (index(s, "\\")) { print "site/search_index.js:" NR ": a backslash search_index.awk did not escape"; bad = 1 } }
     END { exit bad }' site/search_index.js >&2 || status=1
list_pages | xargs awk -f "$docs/check_markup.awk" || status=1
list_pages | xargs awk -f "$docs/check_widths.awk" || status=1
# A lesson's diagram is drawn at full size: a size= in its .dot would shrink it, text and all, to fit.
# shellcheck disable=SC2086 # $prune is a list of find's words
find . $prune -name 'dot_*.svg' -print | sort | xargs grep -H 'class="graph" transform="scale(' |
    sed 's/^\([^:]*\):.*transform="scale(\([^ ]*\) \([^)]*\)).*/\1 \2 \3/' |
    awk '$2 != 1 || $3 != 1 { print $1 ": a diagram drawn shrunk to " $2 " of its size: no size= in its .dot"; bad = 1 }
         END { exit bad }' >&2 || status=1
exit $status
