# Turn a unified diff of PREVIOUS/server.c and THIS/server.c into a Doxygen page: the hunks cut at the borders of
# functions and structs, one section per function or struct that changes, titled after it and whether it
# is new, changed or gone, with the lines coloured (styles in course.css). Snippet marker lines
# (`// [name]`) are left out: they mark the code for the lesson text and change nothing.
# (git diff's histogram algorithm, when there is git, matches braces and blank lines less often than
# diff -u, so an old function and the new one in its place interleave less.)
#   diff -u a b | awk -v prev=01_sync_accept -v this=02_event_overlapped -v prev_file=a -v this_file=b \
#     [-v lang=zh-CN] -f lesson_changes.awk
# lang: the language of the page's words (en); the code is the same in every language.
# mawk and gawk both run it: plain POSIX awk.

function html(s) {
    gsub(/&/, "\\&amp;", s)
    gsub(/</, "\\&lt;", s)
    gsub(/>/, "\\&gt;", s)
    # Doxygen still looks for comment ends and commands inside \htmlonly: hide them as entities.
    gsub(/\*/, "\\&#42;", s)
    gsub(/\\/, "\\&#92;", s)
    gsub(/@/, "\\&#64;", s)
    return s
}

# The name a line defines, when it starts a function, a struct or an enum at the left margin; "" otherwise.
function defines(line) {
    if (line ~ /^(struct|enum) [A-Za-z_][A-Za-z0-9_]* \{/) {
        sub(/ \{.*/, "", line)
        return line
    }
    if (line ~ /^[A-Za-z].*[A-Za-z_][A-Za-z0-9_]*\(/ && line !~ /^#/ && line !~ /;[ \t]*$/) {
        match(line, /[A-Za-z_][A-Za-z0-9_]*\(/)
        return substr(line, RSTART, RLENGTH - 1) "()"
    }
    return ""
}

function is_comment_or_blank(line) {
    return line ~ /^[ \t]*($|\/\*|\*|\/\/)/
}

# What line n of a source (src, of count lines) belongs to: a comment or a blank line introduces the
# definition right below it; any other line belongs to the definition above it. "(top)" for what comes
# before the first definition.
function owner(src, count, n,    i, name) {
    if (is_comment_or_blank(src[n])) {
        for (i = n; i <= count && is_comment_or_blank(src[i]); i++)
            ;
        if (i <= count && (name = defines(src[i])) != "")
            return name
    }
    for (i = n; i >= 1; i--)
        if ((name = defines(src[i])) != "")
            return name
    return "(top)"
}

function read_source(file, src,    n, line) {
    n = 0
    while ((getline line < file) > 0) {
        src[++n] = line
        if ((line = defines(line)) != "")
            defined[file, line] = 1
    }
    close(file)
    return n
}

# One section: the lines of one function or struct, from one or more places of the diff (a place that
# continues the section before it joins it, after a line of dots).
function close_piece(    i, n, names, what, name) {
    if (piece_name == "-")
        return
    if (piece_changes > 0 && sections > 0 && section_name[sections] == piece_name) {
        section_lines[sections] = section_lines[sections] "<span class=\"gap\">    ...</span>\n" piece
    } else if (piece_changes > 0) {
        sections++
        n = split(piece_name, names, SUBSEP)
        what = ""
        for (i = 1; i <= n; i++) {
            name = names[i]
            if (name == "(top)")
                name = i == 1 ? say["Top"] : say["top"]
            else if (!((prev_file, name) in defined))
                name = sprintf(say["new"], name)
            else if (!((this_file, name) in defined))
                name = sprintf(say["gone"], name)
            else
                name = sprintf(say["changes"], name)
            what = what (i == 1 ? "" : i == n ? say["and"] : say[","]) name
        }
        section_name[sections] = piece_name
        section_head[sections] = "### " sections ". " what "\n\n" \
            sprintf(say["lines"], prev_no, piece_old, this_no, piece_new) "\n\n"
        section_lines[sections] = piece
    }
    piece = ""
    piece_changes = 0
    piece_name = "-"
}

# Whether name is one of the definitions of the open section.
function in_piece(name,    i, n, names) {
    n = split(piece_name, names, SUBSEP)
    for (i = 1; i <= n; i++)
        if (names[i] == name)
            return 1
    return 0
}

# A context line that tells nothing of its own: blank, a brace, a lone return or break.
function is_trivial(text) {
    return text ~ /^[ \t]*([{}]?|} else \{|return;|return 0;|break;)[ \t]*$/
}

function open_piece(name, old_line, new_line) {
    close_piece()
    piece_name = name
    piece_old = old_line
    piece_new = new_line
}

# Context lines wait until the next change says whose they are. Lines that go, then lines that come
# in their place (with at most two lines of context between, or lines that tell nothing: a brace, a
# blank) stay in one section titled after both definitions: there the diff interleaves the old one with
# the new one. Otherwise the context lines of the same definition as the change open its section; the
# others close the one before.
function flush_context(name, kind,    i, keep) {
    keep = piece_name != "-" && name != piece_name && (in_piece(name) || (last_kind == "-" && kind == "+"))
    for (i = 1; i <= waiting; i++)
        if (!is_trivial(waiting_text[i]))
            keep = keep && waiting <= 2
    for (i = 1; i <= waiting; i++) {
        if (!keep && (piece_name == "-" || (waiting_name[i] == name && piece_name != name)))
            open_piece(waiting_name[i], waiting_old[i], waiting_new[i])
        piece = piece " " waiting_text[i] "\n"
    }
    waiting = 0
    return keep
}

# say[key]: the page's words for key, in the language lang asks for.
function words(key, english, chinese) {
    say[key] = lang == "zh-CN" ? chinese : english
}

BEGIN {
    # The page's words, in its language: English, Simplified Chinese.
    words("Top", "The top of the file (comment, includes, constants)", "文件开头（注释、头文件、常量）")
    words("top", "the top of the file (comment, includes, constants)", "文件开头（注释、头文件、常量）")
    words("new", "%s is new", "%s 是新增的")
    words("gone", "%s is gone", "%s 已删除")
    words("changes", "%s changes", "%s 有改动")
    words("and", " and ", "；")
    words(",", ", ", "；")
    words("lines", "Lesson %s from line %s, lesson %s from line %s.", "第 %s 课从第 %s 行起，第 %s 课从第 %s 行起。")
    words("title", "# Lesson %s: what changed since lesson %s {#lesson%s_changes}\n\n",
        "# 第 %s 课：与第 %s 课相比的改动 {#lesson%s_changes}\n\n")
    words("intro", "The code of \\ref lesson%s \"lesson %s\" next to the code of \\ref lesson%s \"lesson %s\", made by the build from the two " \
            "sources (`diff -u %s/server.c %s/server.c`, or git's histogram diff), so it cannot be out of date. " \
            "Lines on green are new in lesson %s; lines on red were lesson %s's and are gone; " \
            "the others are context. There is a section for each function or struct that is new, changes or " \
            "is gone, in the order of the file; the lines that only mark code for the lesson text are left out. ",
        "把 \\ref lesson%s \"第 %s 课\"的代码与 \\ref lesson%s \"第 %s 课\"的代码放在一起对照。这一页由构建" \
            "从两份源文件生成（`diff -u %s/server.c %s/server.c`，或 git 的 histogram diff），所以不会过时。" \
            "绿底的行是第 %s 课新增的；红底的行属于第 %s 课，现已删除；其余是上下文。每个新增、改动或删除的" \
            "函数或结构体各占一节，按文件中的顺序排列；只为课文标记代码的行没有列出。")
    words("count", "%d lines removed, %d added, in %d %s.\n", "共删除 %d 行，新增 %d 行，分为 %d 节。\n")
    words("same", "\nThe two programs are the same.\n", "\n两个程序完全相同。\n")
    prev_no = substr(prev, 1, 2)
    this_no = substr(this, 1, 2)
    this_lines = read_source(this_file, this_src)
    prev_lines = read_source(prev_file, prev_src)
    piece_name = "-"
}

# The diff's header (`diff -u`'s two file lines, `git diff`'s few more) comes before the first hunk.
!in_diff && !/^@@ / { next }

/^@@ / {
    in_diff = 1
    flush_context(piece_name, "")
    close_piece()
    last_kind = ""
    # "@@ -12,7 +14,9 @@": where the hunk starts in each file.
    split($0, part, "@@")
    split(part[2], nums, " ")
    old_at = substr(nums[1], 2); sub(/,.*/, "", old_at)
    new_at = substr(nums[2], 2); sub(/,.*/, "", new_at)
    next
}

{
    kind = substr($0, 1, 1)
    line = substr($0, 2)
    text = html(line)
    if (kind == "\\")  # "\ No newline at end of file"
        next
    if (line ~ /^[ \t]*\/\/ \[[A-Za-z0-9_]+\][ \t]*$/) {  # a snippet marker: counted, not shown
        if (kind != "+") old_at++
        if (kind != "-") new_at++
        next
    }
    if (kind == " ") {
        waiting++
        waiting_name[waiting] = owner(this_src, this_lines, new_at)
        waiting_old[waiting] = old_at
        waiting_new[waiting] = new_at
        waiting_text[waiting] = text
        old_at++
        new_at++
        next
    }
    name = kind == "+" ? owner(this_src, this_lines, new_at) : owner(prev_src, prev_lines, old_at)
    if (flush_context(name, kind)) {
        if (!in_piece(name))
            piece_name = piece_name SUBSEP name
    } else if (piece_name != name) {
        open_piece(name, old_at, new_at)
    }
    last_kind = kind
    if (kind == "+") {
        added++
        new_at++
        piece = piece "<span class=\"add\">+" text "</span>\n"
    } else {
        removed++
        old_at++
        piece = piece "<span class=\"del\">-" text "</span>\n"
    }
    if (line !~ /^[ \t]*$/)  # a section of blank lines only is left out
        piece_changes++
}

END {
    flush_context(piece_name, "")
    close_piece()
    printf say["title"], this_no, prev_no, this_no
    printf say["intro"], this_no, this_no, prev_no, prev_no, prev, this, this_no, prev_no
    printf say["count"], removed, added, sections, sections == 1 ? "section" : "sections"
    if (sections == 0)
        printf "%s", say["same"]
    for (i = 1; i <= sections; i++)
        printf "\n%s\\htmlonly\n<pre class=\"lesson-diff\">%s</pre>\n\\endhtmlonly\n\n", section_head[i], section_lines[i]
}
