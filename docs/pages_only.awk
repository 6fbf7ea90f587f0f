# Keep only the pages of a Doxygen tag file. The site's projects link to each other's pages (a lesson,
# the comparison, the labs), never to each other's code: every lesson has its own open_listener and
# struct io, and a snippet of lesson 03 must link to lesson 03's.
#   awk -f pages_only.awk PROJECT.tag > PROJECT.pages.tag
/^<\?xml/ || /^<tagfile/ || /^<\/tagfile>/ { print; next }
/<compound kind="/ { keep = $0 ~ /<compound kind="page">/ }
keep { print }
/<\/compound>/ { keep = 0 }
