# bench_report.sh's raw results (raw.txt) as the report's Markdown tables, or with -v plot=1 as the
# plots' data: one row per connection count (1, 50, 1000, 10000), a column of connections served per
# lesson, then a column of messages per second per lesson (0 where not every connection was served);
# with -v plot=burst, one row per burst size (1000, 10000) and a column per lesson of the slowest
# first echo in seconds (0 where some client never got one).

function field(line, key,    n, i, kv) {
    n = split(line, kv, " ")
    for (i = 1; i <= n; i++)
        if (index(kv[i], key "=") == 1)
            return substr(kv[i], length(key) + 2)
    return ""
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
    if (starved + 0 > 0) notes = notes ", " thousands(starved) " starved"
    if (errors + 0 > 0) notes = notes ", " thousands(errors) (errors == 1 ? " error" : " errors")
    if (mismatches + 0 > 0) notes = notes ", **" thousands(mismatches) " mismatches**"
    if (notes != "")
        text = text " (" substr(notes, 3) ")"
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
        return thousands(starved) " starved"
    text = sprintf("%.1f / %.1f / %.1f s", field(line, "first_echo_p50_ms") / 1000,
                   field(line, "first_echo_p99_ms") / 1000, field(line, "first_echo_max_ms") / 1000)
    if (field(line, "errors") + 0 > 0)
        text = text " (" thousands(field(line, "errors")) " errors)"
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
    printf "Measured on %s: %s, %s, %s, %s, by `./course bench` (`tests/bench_report.sh`: one `%s` run per\n", h[1], h[2], h[3], h[4], h[5], h[6]
    printf "cell, each against a fresh server). Rates are 64-byte messages echoed per second (sent, returned\n"
    printf "and checked) unless the column says MiB/s; \"starved\": connections that never got one echo back;\n"
    printf "errors: connections that failed or were never accepted; p99: the slowest 1 %% of echoes at 1,000\n"
    printf "connections. Memory per connection: the server's resident set with 1,000 busy connections, less\n"
    printf "its own before them; per idle connection: its peak with 10,000 connections that send nothing\n"
    printf "(`echo_bench -i`), less its own before them, with how many of them it closed if any.\n\n"
    printf "| lesson | 1 client | 50 | 63 | 64 | 1,000 | 10,000 | 50 × 4 KiB | 1 × 4 MiB | p99 at 1,000 | most held | memory per connection | per idle connection |\n"
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
                (closed + 0 > 0 ? " (" thousands(closed) " closed)" : "") : "&mdash;"
    }
    printf "\n**Bursts and fairness.** The burst columns open every connection at once (`echo_bench -b`,\n"
    printf "at least 20 s), each echoing as soon as its own connect completes: the time from the start of\n"
    printf "the burst to each client's first echo, as p50 / p99 / slowest, or how many clients never got\n"
    printf "one. The last columns are the echoes per client, least / median / most, when 1,000 clients\n"
    printf "connect one after the other and when they come in one burst: a server that serves some\n"
    printf "clients fast and the rest slowly shows a low least.\n\n"
    printf "| lesson | first echo, burst of 1,000 | first echo, burst of 10,000 | echoes per client at 1,000 | in the burst of 1,000 |\n"
    printf "|---|--:|--:|--:|--:|\n"
    for (l = 1; l <= count; l++) {
        lesson = order[l]
        printf "| %s | %s | %s | %s | %s |\n", lesson, burst_cell(lesson, "b1000"), burst_cell(lesson, "b10000"),
            spread_cell(lesson, "c1000"), spread_cell(lesson, "b1000")
    }
}
