#!/bin/sh
# Looks at the built course site in headless Chromium, the way a student's browser shows it: every page
# of the reading order (site/pages.js) and each lesson's what-changed page, at 1280 px (a laptop) and
# 390 px (a phone). For each it says whether the page is wider than the window (then it fails: the
# student would have to scroll sideways; code blocks, tables and diagrams scroll in their own box and do
# not count) and saves a screenshot of the top of the page to look at.
#   docs/check_layout.sh [HTML_DIR [OUT_DIR]]     defaults: build/linux/docs/html, build/linux/docs/layout
# (the Chinese site: docs/check_layout.sh build/linux/docs/html/zh-CN build/linux/docs/layout-zh-CN)
# Not part of the build (Chromium is not a build package): run it after changing the site's look.
# Needs: chromium (Debian package chromium).
set -eu
html=$(cd "${1:-build/linux/docs/html}" && pwd)
out=${2:-build/linux/docs/layout}
mkdir -p "$out"
out=$(cd "$out" && pwd)
command -v chromium >/dev/null || { echo "check_layout.sh: needs chromium (apt-get install chromium)" >&2; exit 2; }

# The pages: the reading order, and the what-changed pages of the lessons.
pages=$(sed -n 's/.*url: "\([^"]*\)".*/\1/p' "$html/site/pages.js")
pages="$pages $(cd "$html" && ls -- */lesson*_changes.html 2>/dev/null || true)"

browse() {  # browse WIDTH PAGE: prints the page's width at that window width
    cat > "$out/frame.html" <<HTML
<html><body style="margin:0"><iframe id="f" src="file://$html/$2" width="$1" height="900" style="border:0"></iframe>
<pre id="out"></pre><script>
document.getElementById("f").onload = function () { setTimeout(function () {
  var d = document.getElementById("f").contentDocument;
  document.getElementById("out").textContent = "width=" + d.documentElement.scrollWidth + ";";
}, 500); };
</script></body></html>
HTML
    timeout 60 chromium --headless --no-sandbox --disable-gpu --allow-file-access-from-files \
        --virtual-time-budget=5000 --dump-dom "file://$out/frame.html" 2>/dev/null |
        sed -n 's/.*<pre id="out">width=\([0-9]*\);<\/pre>.*/\1/p'
}

bad=0
for width in 1280 390; do
    for page in $pages; do
        shot="$out/$(echo "$page" | tr '/' '_' | sed 's/\.html$//')_$width.png"
        timeout 60 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
            --window-size="$width,1400" --screenshot="$shot" "file://$html/$page" >/dev/null 2>&1 || true
        # The window minus a scroll bar (15 px) is what the page may use.
        got=$(browse "$width" "$page")
        if [ -z "$got" ]; then
            echo "?    $width px  $page: could not measure"
            bad=1
        elif [ "$got" -gt $((width - 15)) ]; then
            echo "WIDE $width px  $page: $got px wide"
            bad=1
        else
            echo "ok   $width px  $page  ($shot)"
        fi
    done
done
rm -f "$out/frame.html"
exit $bad
