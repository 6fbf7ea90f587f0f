# A lesson's README as Doxygen reads it (the README itself stays as GitHub shows it):
#  - a `\snippet THIS/server.c name` whose code is word for word the same in an earlier lesson that shows
#    it folds into one line that names it and links to the first such lesson; a click unfolds the code;
#  - `<details class="...">` and `</details>` lines (the "Under Wine" asides, the check-yourself answers)
#    pass to the HTML as they are: Doxygen 1.9 would cut a <details> block at every paragraph.
#   awk -v this=05_iocp_acceptex -v lessons="01_sync_accept ... 06_iocp_post_shutdown" -v root=SOURCE_DIR \
#     [-v readme=README.zh-CN.md -v lang=zh-CN] -f lesson_page.awk 05_iocp_acceptex/README.md
# readme: the name of the lessons' pages in the language of the page (README.md), lang: that language
# (en), for the line the folded code gets.
# page_text.awk then makes the text of any language readable to Doxygen. Plain POSIX awk.

# The lines between the two `// [name]` markers of file, or "" when it has no such marker.
function block(file, name,    line, inside, text) {
    inside = 0
    text = ""
    while ((getline line < file) > 0) {
        if (line ~ /^[ \t]*\/\/ \[[A-Za-z0-9_]+\][ \t]*$/ && index(line, "[" name "]")) {
            if (inside)
                break
            inside = 1
            continue
        }
        if (inside)
            text = text line "\n"
    }
    close(file)
    return text
}

# Whether lesson's README shows the snippet name.
function shows(lesson, name,    file, line, found) {
    file = root "/" lesson "/" readme
    found = 0
    while ((getline line < file) > 0)
        if (line ~ ("^\\\\snippet " lesson "/server\\.c " name "[ \t]*$"))
            found = 1
    close(file)
    return found
}

# Inline markdown of a <summary> line as HTML: `code` spans.
function summary_html(s,    out) {
    out = ""
    while (match(s, /`[^`]+`/)) {
        out = out substr(s, 1, RSTART - 1) "<code>" substr(s, RSTART + 1, RLENGTH - 2) "</code>"
        s = substr(s, RSTART + RLENGTH)
    }
    return out s
}

BEGIN {
    if (readme == "")
        readme = "README.md"
    # The line of a folded snippet: %1 the snippet's name, %2 the lesson that explains it, %3 its number.
    if (lang == "zh-CN")
        kept = "<code>%s</code>：原样沿用<a href=\"../%s/index.html\">第 %s 课</a>的代码，讲解见该课（点击展开代码）"
    else
        kept = "<code>%s</code>: kept word for word from <a href=\"../%s/index.html\">lesson %s</a>, which explains it (show the code)"
    count = split(lessons, order, " ")
    for (i = 1; i <= count; i++)
        if (order[i] == this)
            at = i
}

/^<details( class="[a-z]+")?><summary>.*<\/summary>[ \t]*$/ {
    open_tag = $0
    sub(/<summary>.*/, "", open_tag)
    text = $0
    sub(/^.*<summary>/, "", text)
    sub(/<\/summary>[ \t]*$/, "", text)
    printf "\\htmlonly[block]%s<summary>%s</summary>\\endhtmlonly\n", open_tag, summary_html(text)
    next
}

/^<\/details>[ \t]*$/ {
    print "\\htmlonly[block]</details>\\endhtmlonly"
    next
}

$1 == "\\snippet" && $2 == this "/server.c" && NF == 3 {
    name = $3
    code = block(root "/" this "/server.c", name)
    # The earliest lesson with the same code under the same marker that shows it explains it (a lesson
    # between may have changed it and the next one gone back: 02's open_listener is not 01's, 03's is).
    first = ""
    for (i = at - 1; i >= 1 && code != ""; i--)
        if (block(root "/" order[i] "/server.c", name) == code && shows(order[i], name))
            first = order[i]
    if (first != "") {
        printf "\\htmlonly[block]<details class=\"kept\"><summary>" kept "</summary>\\endhtmlonly\n", name, first, substr(first, 1, 2)
        printf "\n%s\n\n\\htmlonly[block]</details>\\endhtmlonly\n", $0
        next
    }
}

{ print }
