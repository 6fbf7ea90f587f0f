# Turn `diff -u -p PREVIOUS/server.c THIS/server.c` into a Doxygen page: one section per hunk, titled
# with the function diff -p found above it, and the lines coloured (styles in course.css).
#   diff -u -p a b | awk -v prev=01_sync_accept -v this=02_event_overlapped -f lesson_changes.awk
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

function close_hunk() {
    if (in_hunk)
        body = body "</pre>\n\\endhtmlonly\n\n"
    in_hunk = 0
}

BEGIN {
    prev_no = substr(prev, 1, 2)
    this_no = substr(this, 1, 2)
}

/^--- / || /^\+\+\+ / { next }

/^@@ / {
    close_hunk()
    hunks++
    # "@@ -12,7 +14,9 @@ static int parse_options(int argc, char **argv)": the line numbers, then
    # the function the hunk is in (or below), when diff found one.
    split($0, part, "@@")
    where = part[3]
    sub(/^ +/, "", where)
    split(part[2], nums, " ")
    old_line = substr(nums[1], 2); sub(/,.*/, "", old_line)
    new_line = substr(nums[2], 2); sub(/,.*/, "", new_line)
    title = where == "" ? "the top of the file" : "in or after `" where "`"
    body = body "\n### " hunks ". " title "\n\n"
    body = body "Lesson " prev_no " line " old_line ", lesson " this_no " line " new_line ".\n\n"
    body = body "\\htmlonly\n<pre class=\"lesson-diff\">"
    in_hunk = 1
    next
}

in_hunk {
    kind = substr($0, 1, 1)
    text = html(substr($0, 2))
    if (kind == "+") { added++; body = body "<span class=\"add\">+" text "</span>\n" }
    else if (kind == "-") { removed++; body = body "<span class=\"del\">-" text "</span>\n" }
    else if (kind == "\\") { }  # "\ No newline at end of file"
    else body = body " " text "\n"
}

END {
    close_hunk()
    printf "# Lesson %s: what changed since lesson %s {#lesson%s_changes}\n\n", this_no, prev_no, this_no
    printf "The code of \\ref lesson%s next to the code of \\ref lesson%s, made by the build from the two ", this_no, prev_no
    printf "sources (`diff -u -p %s/server.c %s/server.c`), so it cannot be out of date. ", prev, this
    printf "Lines on green are new in lesson %s; lines on red were lesson %s's and are gone; ", this_no, prev_no
    printf "the others are context. %d lines removed, %d added, in %d %s.\n", removed, added, hunks, hunks == 1 ? "place" : "places"
    if (hunks == 0)
        printf "\nThe two programs are the same.\n"
    printf "%s", body
}
