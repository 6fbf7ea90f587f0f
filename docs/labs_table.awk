# tests/labs.def as a Markdown table for the labs page: lesson, broken server, the mistake, the check.
#   awk -v lessons="01_sync_accept 02_event_overlapped ..." [-v lang=zh-CN] -f labs_table.awk tests/labs.def
# Only the labs of the lessons named are listed. lang: the language of the headers and the mistakes
# (en, zh-CN: labs.def's second text); a lab without the text in that language fails the build.
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
    # The texts: "english", "chinese") at the end of the line.
    texts = line
    sub(/^[^"]*"/, "", texts)
    sub(/"\)[ \t]*$/, "", texts)
    split(texts, text, /", *"/)
    what = lang == "zh-CN" ? text[2] : text[1]
    if (what == "") {
        printf "labs_table.awk: the lab %s-%s has no %s text in %s\n", lesson, mistake, lang, FILENAME > "/dev/stderr"
        failed = 1
    }
    if (!(lesson in names))
        next
    rows = rows sprintf("| \\ref lesson%s \"%s\" | `labs/%s-%s.exe` | %s | `%s` |\n", lesson, lesson, names[lesson], mistake, what, check)
}
END {
    if (failed)
        exit 1
    if (lang == "zh-CN")
        print "| 课 | 有缺陷的服务器 | 错误所在（供教师参考） | 让它失败的检查项 |"
    else
        print "| lesson | broken server | the mistake (for the teacher) | the check that fails it |"
    print "|---|---|---|---|"
    printf "%s", rows
}
