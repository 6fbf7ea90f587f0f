# The site-wide search index: one entry per section of every generated page, as lines of a JavaScript
# array (docs/CMakeLists.txt wraps them in `var COURSE_SEARCH = [ ... ];`, site/course.js searches
# them). Doxygen's own search knows only the titles and symbols of one project; this one knows the words
# of every page of every project, so "AcceptEx" or "alertable" finds each section that uses them.
#   cd html && awk -f search_index.awk index.html 04_iocp_basic/index.html ...
# Each entry: ["URL#anchor", "page title", "section title", "section text"]. Plain POSIX awk.

function flush_file() {
    if (file != "")
        page(file, doc)
    doc = ""
}

# Text of a piece of HTML: no tags, the few entities Doxygen writes, one space between words.
function text(s) {
    gsub(/<[^>]*>/, " ", s)
    gsub(/&lt;/, "<", s); gsub(/&gt;/, ">", s); gsub(/&quot;/, "\"", s); gsub(/&#39;/, "'", s)
    gsub(/&#160;|&nbsp;/, " ", s); gsub(/&#42;/, "*", s); gsub(/&#92;/, "\\", s); gsub(/&#64;/, "@", s)
    gsub(/&#124;/, "|", s); gsub(/&zwj;|&#8205;|&#9660;|&#9658;/, "", s) # | kept; joiners and arrows out
    gsub(/&amp;/, "\\&", s)
    gsub(/[ \t\r\n]+/, " ", s)
    sub(/^ /, "", s); sub(/ $/, "", s)
    return s
}

# s as a JavaScript string literal. Each backslash is doubled by hand: what a gsub replacement of
# four backslashes gives differs between awks. mawk gives one, so the labs page's \\?\unix reached
# the index with a bare \u, an escape JavaScript rejects, and the whole index failed to load.
function js(s,    out, i) {
    out = ""
    while ((i = index(s, "\\")) > 0) {
        out = out substr(s, 1, i) "\\"
        s = substr(s, i + 1)
    }
    s = out s
    gsub(/"/, "\\\"", s)
    return "\"" s "\""
}

# Everything between two markers of s, or "" (the first occurrence of each).
function between(s, from, to,    a, b) {
    a = index(s, from)
    if (a == 0)
        return ""
    s = substr(s, a + length(from))
    b = index(s, to)
    return b ? substr(s, 1, b - 1) : s
}

# Drop every <tag ...>...</tag> block (scripts, the drawn SVG of a diagram).
function drop(s, tag,    out, a, b) {
    out = ""
    while ((a = index(s, "<" tag)) > 0) {
        out = out substr(s, 1, a - 1)
        s = substr(s, a)
        b = index(s, "</" tag ">")
        if (b == 0)
            return out
        s = substr(s, b + length(tag) + 3)
    }
    return out s
}

# The last id="..." in s, or "".
function last_id(s,    id) {
    id = ""
    while (match(s, /id="[^"]*"/)) {
        id = substr(s, RSTART + 4, RLENGTH - 5)
        s = substr(s, RSTART + RLENGTH)
    }
    return id
}

function entry(url, anchor, title, section, body) {
    body = text(body)
    if (length(body) < 3 && section == "")
        return
    printf "[%s,%s,%s,%s],\n", js(url (anchor == "" ? "" : "#" anchor)), js(title), js(text(section)), js(body)
}

function page(url, s,    title, body, section, anchor, head, end, id) {
    title = text(between(s, "<div class=\"title\">", "</div>"))
    s = between(s, "<!-- end header part -->", "<!-- start footer part -->")
    s = drop(drop(s, "script"), "svg")
    if (title == "")
        return
    section = ""
    anchor = ""
    while (match(s, /<h[1-3][ >]/)) {
        body = substr(s, 1, RSTART - 1)
        entry(url, anchor, title, section, body)
        s = substr(s, RSTART)
        end = index(s, "</h" substr(s, 3, 1) ">")
        if (end == 0)
            end = length(s)
        head = substr(s, 1, end - 1)
        id = last_id(head)
        anchor = id != "" ? id : last_id(body)
        section = head
        s = substr(s, end + 5)
    }
    entry(url, anchor, title, section, s)
}

FNR == 1 {
    flush_file()
    file = FILENAME
    sub(/^\.\//, "", file)
}

{ doc = doc $0 "\n" }

END { flush_file() }
