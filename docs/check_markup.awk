# Fails the docs build when a generated page shows markup that Doxygen did not turn into HTML: a
# literal `**`, a stray backtick, an unexpanded \snippet, \ref or \subpage. Code is left out of the
# check (code fragments, the "what changed" listings, inline code, declarations, scripts, drawn
# diagrams): there a `**` or a backslash is C, not markup.
#   awk -f check_markup.awk html/index.html html/04_iocp_basic/index.html ...   (exit 1 on any finding)
# Plain POSIX awk.

# s without every block that starts with `from` and ends with `to`.
function cut(s, from, to,    out, a, b) {
    out = ""
    while ((a = index(s, from)) > 0) {
        out = out substr(s, 1, a - 1) " "
        s = substr(s, a)
        b = index(s, to)
        if (b == 0)
            return out
        s = substr(s, b + length(to))
    }
    return out s
}

function check(name, s,    t, what) {
    s = cut(s, "<div class=\"fragment\">", "<!-- fragment -->")
    s = cut(s, "<pre", "</pre>")
    s = cut(s, "<code", "</code>")
    s = cut(s, "<script", "</script>")
    s = cut(s, "<svg", "</svg>")
    s = cut(s, "<table class=\"memname\">", "</table>")
    s = cut(s, "<table class=\"memberdecls\">", "</table>")
    s = cut(s, "<title>", "</title>")
    gsub(/<[^>]*>/, " ", s)
    gsub(/[ \t\r\n]+/, " ", s)
    t = s
    while (match(t, /\*\*|`|\\(snippet|ref|subpage|dotfile|image|include)[^A-Za-z]/)) {
        what = substr(t, RSTART, RLENGTH)
        printf "%s: raw markup %s in \"%s\"\n", name, what, \
            substr(t, (RSTART > 50 ? RSTART - 50 : 1), (RSTART > 50 ? 50 : RSTART - 1) + RLENGTH + 40) > "/dev/stderr"
        bad++
        t = substr(t, RSTART + RLENGTH)
    }
}

FNR == 1 && NR > 1 { check(file, doc); doc = "" }
FNR == 1 { file = FILENAME }
{ doc = doc $0 "\n" }
END {
    if (NR > 0)
        check(file, doc)
    if (bad) {
        printf "%d raw markup finding(s) in the generated pages (docs/check_markup.awk)\n", bad > "/dev/stderr"
        exit 1
    }
}
