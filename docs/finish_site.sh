#!/bin/sh
# The last step of the course site, over the HTML of every project at once:
#   finish_site.sh HTML_DIR DOCS_SOURCE_DIR PAGES_JS
# puts the navigation (site/course.js and the reading order, site/pages.js) in place, writes the
# site-wide search index (site/search_index.js, by search_index.awk), then fails if any page shows raw
# markup (check_markup.awk) or a diagram wider than the text column at 1280 px (check_widths.awk).
set -eu
html=$1 docs=$2 pages=$3
mkdir -p "$html/site"
cp "$pages" "$docs/site/course.js" "$html/site/"
cd "$html"
# Every page a reader lands on: not the source listings, the folder pages or Doxygen's graph legend.
list_pages() {
    find . -name '*.html' ! -name '*_source.html' ! -name 'dir_*' ! -name 'graph_legend.html' | sort
}
{
    echo 'var COURSE_SEARCH = ['
    list_pages | xargs awk -f "$docs/search_index.awk"
    echo '];'
} > site/search_index.js.tmp
mv site/search_index.js.tmp site/search_index.js
status=0
list_pages | xargs awk -f "$docs/check_markup.awk" || status=1
list_pages | xargs awk -f "$docs/check_widths.awk" || status=1
exit $status
