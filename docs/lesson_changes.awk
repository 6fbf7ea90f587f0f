# Turn `diff -u PREVIOUS/server.c THIS/server.c` into a Doxygen page: one section per hunk, named after
# the function or struct of THIS/server.c that the hunk's first change is in, with the lines coloured
# (styles in course.css).
#   diff -u a b | awk -v prev=01_sync_accept -v this=02_event_overlapped -v this_file=b -f lesson_changes.awk
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

# The name a line of THIS/server.c defines, when it starts a function, a struct or an enum at the left
# margin; "" otherwise.
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

# What line n of THIS/server.c belongs to. Code belongs to the definition above it; a comment or a
# blank line usually introduces the definition below it (within this hunk, up to line last).
function owner(n, last,    i, name) {
    if (source[n] ~ /^[ \t]*($|\/\*|\*|\/\/)/)
        for (i = n; i <= last; i++)
            if ((name = defines(source[i])) != "")
                return name
    for (i = n; i >= 1; i--)
        if ((name = defines(source[i])) != "")
            return name
    return ""
}

function close_hunk(    title) {
    if (!in_hunk)
        return
    title = owner(first_change, at - 1)
    title = title == "" ? "the top of the file: comment, includes, constants" : title
    body = body "\n### " hunks ". " title "\n\n"
    body = body "Lesson " prev_no " from line " old_line ", lesson " this_no " from line " new_line ".\n\n"
    body = body "\\htmlonly\n<pre class=\"lesson-diff\">" hunk "</pre>\n\\endhtmlonly\n\n"
    in_hunk = 0
}

BEGIN {
    prev_no = substr(prev, 1, 2)
    this_no = substr(this, 1, 2)
    while ((getline line < this_file) > 0)
        source[++lines] = line
    close(this_file)
}

/^--- / || /^\+\+\+ / { next }

/^@@ / {
    close_hunk()
    hunks++
    # "@@ -12,7 +14,9 @@": where the hunk starts in each file.
    split($0, part, "@@")
    split(part[2], nums, " ")
    old_line = substr(nums[1], 2); sub(/,.*/, "", old_line)
    new_line = substr(nums[2], 2); sub(/,.*/, "", new_line)
    at = new_line          # the line of THIS/server.c the next context or added line is
    first_change = 0
    hunk = ""
    in_hunk = 1
    next
}

in_hunk {
    kind = substr($0, 1, 1)
    text = html(substr($0, 2))
    if (kind == "+" || kind == "-") {
        if (first_change == 0)
            first_change = at
    }
    if (kind == "+") { added++; at++; hunk = hunk "<span class=\"add\">+" text "</span>\n" }
    else if (kind == "-") { removed++; hunk = hunk "<span class=\"del\">-" text "</span>\n" }
    else if (kind == "\\") { }  # "\ No newline at end of file"
    else { at++; hunk = hunk " " text "\n" }
}

END {
    close_hunk()
    printf "# Lesson %s: what changed since lesson %s {#lesson%s_changes}\n\n", this_no, prev_no, this_no
    printf "The code of \\ref lesson%s next to the code of \\ref lesson%s, made by the build from the two ", this_no, prev_no
    printf "sources (`diff -u %s/server.c %s/server.c`), so it cannot be out of date. ", prev, this
    printf "Lines on green are new in lesson %s; lines on red were lesson %s's and are gone; ", this_no, prev_no
    printf "the others are context. Each section is named after the function or struct of lesson %s ", this_no
    printf "where its first change is. "
    printf "%d lines removed, %d added, in %d %s.\n", removed, added, hunks, hunks == 1 ? "place" : "places"
    if (hunks == 0)
        printf "\nThe two programs are the same.\n"
    printf "%s", body
}
