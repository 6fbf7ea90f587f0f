# bench_report.sh's raw results (raw.txt) as the report's Markdown tables, or with -v plot=1 as the
# plots' data: one row per connection count (1, 50, 1000, 10000), a column of connections served per
# lesson, then a column of messages per second per lesson (0 where not every connection was served);
# with -v plot=burst, one row per burst size (1000, 10000) and a column per lesson of the slowest
# first echo in seconds (0 where some client never got one).
#   awk [-v lang=zh-CN] [-v plot=1|burst] -f bench_table.awk raw.txt
# lang: the language of the tables' words (en): the paragraphs, the column headers and the notes in
# the cells; the numbers, lessons and units are the same in every language.

function field(line, key,    n, i, kv) {
    n = split(line, kv, " ")
    for (i = 1; i <= n; i++)
        if (index(kv[i], key "=") == 1)
            return substr(kv[i], length(key) + 2)
    return ""
}

# say[key]: the tables' words for key, in the language lang asks for.
function words(key, english, chinese) {
    say[key] = lang == "zh-CN" ? chinese : english
}

BEGIN {
    # The tables' words, in their language: English, Simplified Chinese. A Chinese paragraph is one line
    # (a line break between Chinese characters would show as a space).
    words("intro", "Measured on %s: %s, %s, %s, %s, by `./course bench` (`tests/bench_report.sh`: one `%s` run per\n" \
            "cell, each against a fresh server). Rates are 64-byte messages echoed per second (sent, returned\n" \
            "and checked) unless the column says MiB/s; \"starved\": connections that never got one echo back;\n" \
            "errors: connections that failed or were never accepted; p99: the slowest 1 %% of echoes at 1,000\n" \
            "connections. Memory per connection: the server's resident set with 1,000 busy connections, less\n" \
            "its own before them; per idle connection: its peak with 10,000 connections that send nothing\n" \
            "(`echo_bench -i`), less its own before them, with how many of them it closed if any.\n\n",
        "测量时间与环境：%s；%s，%s，%s，%s；由 `./course bench` 测得（`tests/bench_report.sh`：每个单元格运行一次 " \
            "`%s`，每次都针对一个新启动的服务器）。除非该列标明 MiB/s，速率都是每秒回显的 64 字节消息数（发送、" \
            "收回并校验）；“饿死”：从未收到过一次回显的连接；“错误”：失败或从未被接受的连接；p99：1,000 个连接时" \
            "最慢的 1 %% 的回显。每个连接的内存：1,000 个忙碌连接时服务器的常驻内存，减去这些连接到来之前它自己的" \
            "常驻内存；每个空闲连接的内存：10,000 个什么也不发送的连接（`echo_bench -i`）期间服务器的峰值常驻内存，" \
            "减去这些连接到来之前它自己的常驻内存；如果服务器关闭了其中一些连接，还给出关闭的个数。\n\n")
    words("cores", "%s cores", "%s 个核心")
    words("table", "| lesson | 1 client | 50 | 63 | 64 | 1,000 | 10,000 | 50 × 4 KiB | 1 × 4 MiB | p99 at 1,000 | most held | memory per connection | per idle connection |\n",
        "| 课 | 1 个客户端 | 50 | 63 | 64 | 1,000 | 10,000 | 50 × 4 KiB | 1 × 4 MiB | 1,000 个时的 p99 | 最多容纳 | 每个连接的内存 | 每个空闲连接的内存 |\n")
    words("bursts", "\n**Bursts and fairness.** The burst columns open every connection at once (`echo_bench -b`,\n" \
            "at least 20 s), each echoing as soon as its own connect completes: the time from the start of\n" \
            "the burst to each client's first echo, as p50 / p99 / slowest, or how many clients never got\n" \
            "one. The last columns are the echoes per client, least / median / most, when 1,000 clients\n" \
            "connect one after the other and when they come in one burst: a server that serves some\n" \
            "clients fast and the rest slowly shows a low least.\n\n",
        "\n**突发连接与公平性。** 突发连接的两列同时打开所有连接（`echo_bench -b`，至少 20 s），每个连接一旦" \
            "自己的 connect 完成就开始回显：表中是从突发开始到每个客户端收到第一次回显的时间，依次为 p50 / p99 / " \
            "最慢，或者是始终没有收到回显的客户端数。最后两列是每个客户端收到的回显数，依次为最少 / 中位数 / 最多，" \
            "分别对应 1,000 个客户端一个接一个地连接，以及它们在一次突发中同时到来：如果服务器对一些客户端服务得快，" \
            "对其余的服务得慢，最少的那个数就会偏低。\n\n")
    words("burst_table", "| lesson | first echo, burst of 1,000 | first echo, burst of 10,000 | echoes per client at 1,000 | in the burst of 1,000 |\n",
        "| 课 | 1,000 个突发连接的第一次回显 | 10,000 个突发连接的第一次回显 | 1,000 个客户端时每个客户端的回显数 | 1,000 个突发连接时 |\n")
    # The notes in a cell: what went wrong, in parentheses after the number.
    words("notes", " (%s)", "（%s）")
    words(",", ", ", "，")
    words("starved", "%s starved", "%s 个饿死")
    words("error", "%s error", "%s 个错误")
    words("errors", "%s errors", "%s 个错误")
    words("mismatches", "**%s mismatches**", "**%s 处数据不符**")
    words("closed", "%s closed", "关闭了 %s 个")
}

# note(NOTES, KEY, N): NOTES with the note KEY about N connections added.
function note(notes, key, n) {
    return notes (notes == "" ? "" : say[","]) sprintf(say[key], thousands(n))
}

# 12345 -> "12,345"
function thousands(n,    s, out) {
    s = sprintf("%d", n)
    out = ""
    while (length(s) > 3) {
        out = "," substr(s, length(s) - 2) out
        s = substr(s, 1, length(s) - 3)
    }
    return s out
}

# A table cell: the rate, and what went wrong if anything did.
function cell(lesson, name,    line, text, starved, errors, mismatches, notes) {
    line = raw[lesson, name]
    if (line == "")
        return "&mdash;"
    if (name == "k4" || name == "stream")
        text = sprintf("%.1f MiB/s", field(line, "mib_per_s"))
    else
        text = thousands(field(line, "msg_per_s"))
    starved = field(line, "starved"); errors = field(line, "errors"); mismatches = field(line, "mismatches")
    notes = ""
    if (starved + 0 > 0) notes = note(notes, "starved", starved)
    if (errors + 0 > 0) notes = note(notes, errors == 1 ? "error" : "errors", errors)
    if (mismatches + 0 > 0) notes = note(notes, "mismatches", mismatches)
    if (notes != "")
        text = text sprintf(say["notes"], notes)
    return text
}

function healthy(lesson, name,    line) {
    line = raw[lesson, name]
    return line != "" && field(line, "starved") == 0 && field(line, "errors") == 0 && field(line, "mismatches") == 0
}

/^#/ { sub(/^# */, ""); header = $0; next }
{
    if (!($1 in seen)) { seen[$1] = 1; order[++count] = $1 }
    if ($2 == "memory") memory[$1] = field($0, "bytes_per_connection")
    else if ($2 == "idle_memory") idle_memory[$1] = field($0, "bytes_per_connection")
    else raw[$1, $2] = $0
}

# "p50 / p99 / max" of the first echoes in a burst cell, in seconds, and what went wrong if anything did.
function burst_cell(lesson, name,    line, text, starved) {
    line = raw[lesson, name]
    if (line == "" || field(line, "first_echo_max_ms") == "")
        return "&mdash;"
    starved = field(line, "starved")
    if (starved + 0 > 0)
        return note("", "starved", starved)
    text = sprintf("%.1f / %.1f / %.1f s", field(line, "first_echo_p50_ms") / 1000,
                   field(line, "first_echo_p99_ms") / 1000, field(line, "first_echo_max_ms") / 1000)
    if (field(line, "errors") + 0 > 0)
        text = text sprintf(say["notes"], note("", "errors", field(line, "errors")))
    return text
}

# "min / median / max" echoes per client in a cell.
function spread_cell(lesson, name,    line) {
    line = raw[lesson, name]
    if (line == "" || field(line, "msgs_max") == "")
        return "&mdash;"
    return field(line, "msgs_min") " / " field(line, "msgs_median") " / " field(line, "msgs_max")
}

# The plot data's first line: LABEL, then the lessons, TIMES times over (one group of columns each).
function plot_header(label, times,    t, l) {
    printf "%s", label
    for (t = 1; t <= times; t++)
        for (l = 1; l <= count; l++) printf " %s", order[l]
    printf "\n"
}

END {
    split("c1 c50 c63 c64 c1000 c10000", counted, " ")
    if (plot == "burst") {
        plot_header("clients", 1)
        split("1000 10000", sizes, " ")
        for (c = 1; c <= 2; c++) {
            printf "%s", sizes[c]
            for (l = 1; l <= count; l++) {
                line = raw[order[l], "b" sizes[c]]
                printf " %s", healthy(order[l], "b" sizes[c]) ? field(line, "first_echo_max_ms") / 1000 : 0
            }
            printf "\n"
        }
        exit
    }
    if (plot) {
        plot_header("connections", 2)
        split("1 50 1000 10000", conns, " ")
        for (c = 1; c <= 4; c++) {
            printf "%s", conns[c]
            for (l = 1; l <= count; l++) {
                line = raw[order[l], "c" conns[c]]
                printf " %d", line == "" ? 0 : field(line, "connections") - field(line, "starved")
            }
            for (l = 1; l <= count; l++)
                printf " %s", healthy(order[l], "c" conns[c]) ? field(raw[order[l], "c" conns[c]], "msg_per_s") : 0
            printf "\n"
        }
        exit
    }
    split(header, h, " \\| ")
    if (h[3] ~ /^[0-9]+ cores$/)  # "2 cores", from nproc
        h[3] = sprintf(say["cores"], h[3] + 0)
    printf say["intro"], h[1], h[2], h[3], h[4], h[5], h[6]
    printf "%s", say["table"]
    printf "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n"
    for (l = 1; l <= count; l++) {
        lesson = order[l]
        held = 0
        for (c = 1; c <= 6; c++)
            if (healthy(lesson, counted[c]))
                held = field(raw[lesson, counted[c]], "connections")
        printf "| %s |", lesson
        split("c1 c50 c63 c64 c1000 c10000 k4 stream", cells, " ")
        for (c = 1; c <= 8; c++)
            printf " %s |", cell(lesson, cells[c])
        p99 = field(raw[lesson, "c1000"], "p99_us") / 1000
        closed = field(raw[lesson, "i10000"], "errors")
        printf " %s ms | %s | %s | %s |\n", p99 < 10 ? sprintf("%.1f", p99) : sprintf("%d", p99), thousands(held),
            lesson in memory ? sprintf("%.1f KiB", memory[lesson] / 1024) : "&mdash;",
            lesson in idle_memory ? sprintf("%.1f KiB", idle_memory[lesson] / 1024) \
                (closed + 0 > 0 ? sprintf(say["notes"], note("", "closed", closed)) : "") : "&mdash;"
    }
    printf "%s", say["bursts"]
    printf "%s", say["burst_table"]
    printf "|---|--:|--:|--:|--:|\n"
    for (l = 1; l <= count; l++) {
        lesson = order[l]
        printf "| %s | %s | %s | %s | %s |\n", lesson, burst_cell(lesson, "b1000"), burst_cell(lesson, "b10000"),
            spread_cell(lesson, "c1000"), spread_cell(lesson, "b1000")
    }
}
