# A page's text as Doxygen 1.9 reads it, in any language of the site. Chinese puts no space between
# words, and Doxygen reads markup as English: it ends a `\ref id` only at a space, and it neither opens
# nor closes **bold** or *italic* right beside a Chinese character (GitHub's Markdown does); and a line
# break inside a paragraph becomes a space, which a browser shows between two Chinese characters. So:
#  - a line that goes on with a character that is not ASCII joins the line before it, when that one ends
#    with such a character too and is no heading or table row (a new block always starts with ASCII:
#    - # | > 1. \ <);
#  - a `\ref id` right before a character that is not ASCII (a Chinese ）or ，) gets a space between;
#  - **bold** and *italic* on a line with characters that are not ASCII become <strong> and <em> (outside
#    code: inline `code` and ``` blocks are left alone);
#  - a Markdown link to another page of the site's sources, [text](docs/NAME.md) as the README has it for
#    GitHub (docs/NAME.zh-CN.md in its translation), leads to that page of the site: [text](@ref NAME).
# An English page comes out as it went in, but for those links (and for a line of it with a character
# that is not ASCII, whose emphasis looks the same as HTML).
#   awk -f page_text.awk docs/home.zh-CN.md > home.md
# Plain POSIX awk.

function is_wide(c) {
    return c != "" && c !~ /^[ -~\t]/
}

# s with its emphasis marks (the runs of `mark`, outside inline code) paired and written as opening ...
# closing, when s has a character that is not ASCII.
function emphasis(s, mark, opening, closing,    n, i, pos, at, c, code, out, wide) {
    n = 0
    code = 0
    wide = 0
    for (i = 1; i <= length(s); i++) {
        c = substr(s, i, 1)
        if (is_wide(c))
            wide = 1
        if (c == "`") {
            code = !code
        } else if (!code && substr(s, i, length(mark)) == mark && substr(s, i + length(mark), 1) != "*" &&
                   (i == 1 || substr(s, i - 1, 1) != "*")) {
            at[++n] = i
            i += length(mark) - 1
        }
    }
    if (n % 2)
        return s
    out = ""
    pos = 1
    for (i = 1; i < n; i += 2) {
        out = out substr(s, pos, at[i] - pos)
        if (wide)
            out = out opening substr(s, at[i] + length(mark), at[i + 1] - at[i] - length(mark)) closing
        else
            out = out substr(s, at[i], at[i + 1] + length(mark) - at[i])
        pos = at[i + 1] + length(mark)
    }
    return out substr(s, pos)
}

# One line (or the lines joined into it) as Doxygen should read it.
function text(line,    out, name) {
    out = ""
    while (match(line, /\\ref [A-Za-z0-9_]+[^ -~\t]/)) {
        out = out substr(line, 1, RSTART + RLENGTH - 2) " "
        line = substr(line, RSTART + RLENGTH - 1)
    }
    line = out line
    out = ""
    while (match(line, /\]\(docs\/[a-z_]+(\.zh-CN)?\.md\)/)) {
        name = substr(line, RSTART + 7, RLENGTH - 8)
        sub(/(\.zh-CN)?\.md$/, "", name)
        out = out substr(line, 1, RSTART - 1) "](@ref " name ")"
        line = substr(line, RSTART + RLENGTH)
    }
    line = out line
    line = emphasis(line, "**", "<strong>", "</strong>")
    return emphasis(line, "*", "<em>", "</em>")
}

function flush() {
    if (held)
        print text(line)
    held = 0
}

/^[ \t]*```/ { flush(); fence = !fence; print; next }
fence { print; next }

held && line !~ /^[ \t]*(#|\|)/ && is_wide(substr(line, length(line))) && match($0, /^[ \t]*[^ -~\t]/) {
    sub(/^[ \t]+/, "")
    line = line $0
    next
}

{
    flush()
    line = $0
    held = 1
}

END { flush() }
