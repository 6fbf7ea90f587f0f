# tests/labs.def as a Markdown table for the labs page: lesson, broken server, the mistake, the check.
#   awk -v lessons="01_sync_accept 02_event_overlapped ..." -f labs_table.awk tests/labs.def > labs_table.md
# Only the labs of the lessons named are listed.
BEGIN {
    count = split(lessons, list, " ")
    for (i = 1; i <= count; i++)
        names[substr(list[i], 1, 2)] = list[i]
}

/^LAB\(/ {
    line = $0
    sub(/^LAB\(/, "", line)
    split(line, part, ",")
    lesson = sprintf("%02d", part[1])
    mistake = tolower(part[2]); gsub(/ /, "", mistake)
    check = part[3]; gsub(/ /, "", check)
    what = line
    sub(/^[^"]*"/, "", what)
    sub(/"\)[ \t]*$/, "", what)
    if (!(lesson in names))
        next
    rows = rows sprintf("| \\ref lesson%s \"%s\" | `labs/%s-%s.exe` | %s | `%s` |\n", lesson, lesson, names[lesson], mistake, what, check)
}
END {
    print "| lesson | broken server | the mistake (for the teacher) | the check that fails it |"
    print "|---|---|---|---|"
    printf "%s", rows
}
