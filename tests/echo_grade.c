/**
 * \file
 * \brief echo_grade: run one lesson's checks against any echo server and say,
 * check by check, what was expected and what happened.
 *
 *     echo_grade --lesson NN --exe PATH          start the program for each check
 *     echo_grade --lesson NN --connect HOST:PORT  a server that already runs
 *
 * With --exe every check gets a fresh server (on Linux a `.exe` runs through
 * Wine), so one failure cannot hide behind another. The last line is
 * `N passed, N failed` (`, N skipped` when some checks need --exe); the exit
 * code is 0 only when nothing failed.
 */
#include "checks.h"
#include "options.h"

#include <stdio.h>
#include <string.h>

static void print_usage(FILE *to)
{
    fprintf(to,
            "usage: echo_grade --lesson NN (--exe PATH | --connect HOST:PORT) [--check NAME]\n"
            "       echo_grade --list [--lesson NN]\n"
            "Runs lesson NN's checks (01 to 07) against an echo server and prints one line per check.\n"
            "  --exe PATH           the server program; started afresh for each check (a .exe runs\n"
            "                       through Wine on Linux), on port 0, reading its listening line\n"
            "  --connect HOST:PORT  a server that is already running (checks that start the program\n"
            "                       themselves are skipped)\n"
            "  --check NAME         run only this check\n"
            "  --json PATH          also write the results to PATH as JSON, for a gradebook\n"
            "  --list               list the checks (of lesson NN) and what each proves\n"
            "Exit code: 0 when every check passed, 1 when one failed, 2 for a bad command line.\n");
}

static void print_result(const struct check *c, const struct result *r)
{
    if (r->skipped)
        printf("SKIP  %s: %s\n", c->name, r->got);
    else if (r->passed)
        printf("PASS  %s: %s\n", c->name, r->got);
    else
        printf("FAIL  %s: expected %s; got %s.%s%s\n", c->name, r->expected, r->got, r->hint[0] ? " Hint: " : "",
               r->hint);
    fflush(stdout);
}

/** \brief One check's outcome, kept for the JSON report. */
struct graded {
    const struct check *check;
    struct result result;
    double seconds;
};

/** \brief \p text as a JSON string, quotes included. */
static void json_string(FILE *f, const char *text)
{
    fputc('"', f);
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        if (*c == '"' || *c == '\\')
            fprintf(f, "\\%c", *c);
        else if (*c < 0x20)
            fprintf(f, "\\u%04x", *c);
        else
            fputc(*c, f);
    }
    fputc('"', f);
}

/**
 * \brief The report a gradebook reads: the server, the lesson, the totals, and
 * per check its verdict, what it expected, what happened, the hint and how
 * long it took. Returns 0, or -1 when the file cannot be written.
 */
static int write_json(const char *path, const struct options *o, const struct graded *g, size_t n, const int *counts)
{
    FILE *f = fopen(path, "w");

    if (f == NULL)
        return -1;
    fprintf(f, "{\n  \"server\": ");
    json_string(f, o->exe ? o->exe : o->connect);
    fprintf(f, ",\n  \"lesson\": %d,\n  \"passed\": %d,\n  \"failed\": %d,\n  \"skipped\": %d,\n  \"checks\": [",
            o->lesson, counts[0], counts[1], counts[2]);
    for (size_t i = 0; i < n; i++) {
        const struct result *r = &g[i].result;

        fprintf(f, "%s\n    {\"name\": ", i ? "," : "");
        json_string(f, g[i].check->name);
        fprintf(f, ", \"result\": \"%s\", \"seconds\": %.1f,\n     \"expected\": ",
                r->skipped ? "skip" : r->passed ? "pass" : "fail", g[i].seconds);
        json_string(f, r->expected);
        fprintf(f, ",\n     \"got\": ");
        json_string(f, r->got);
        fprintf(f, ",\n     \"hint\": ");
        json_string(f, r->passed ? "" : r->hint);
        fprintf(f, "}");
    }
    fprintf(f, "\n  ]\n}\n");
    return fclose(f) == 0 ? 0 : -1;
}

static void run_one(const struct check *c, const struct options *o, int *counts, struct graded *g)
{
    struct target t;
    struct result r;
    char err[1024];
    int64_t started = now_ms();

    memset(&t, 0, sizeof t);
    t.exe = o->exe;
    snprintf(t.host, sizeof t.host, "%s", o->host);
    t.port = o->port;
    if (o->exe && c->needs_server && target_start(&t, err, sizeof err) != 0) {
        memset(&r, 0, sizeof r);
        snprintf(r.expected, sizeof r.expected, "the server to start");
        snprintf(r.got, sizeof r.got, "%.700s", err);
    } else {
        check_run(c, &t, &r);
    }
    target_stop(&t);
    print_result(c, &r);
    counts[r.skipped ? 2 : r.passed ? 0 : 1]++;
    g->check = c;
    g->result = r;
    g->seconds = (double)(now_ms() - started) / 1000.0;
}

int main(int argc, char **argv)
{
    struct options o;
    int counts[3] = { 0, 0, 0 }; /* passed, failed, skipped */
    static struct graded graded[64]; /* more than checks.def holds; the loop below stops at the end */
    size_t ran = 0;

    switch (options_parse(argc, argv, &o)) {
    case OPTIONS_HELP:
        print_usage(stdout);
        return 0;
    case OPTIONS_BAD:
        print_usage(stderr);
        return 2;
    default:
        break;
    }
    if (o.list) {
        for (size_t i = 0; i < check_count; i++)
            if (o.lesson == 0 || check_applies(&checks[i], o.lesson))
                printf("%-52s lessons %02d-%02d  %s\n", checks[i].name, checks[i].first_lesson,
                       checks[i].last_lesson, checks[i].summary);
        return 0;
    }
    if (net_init() != 0) {
        fprintf(stderr, "echo_grade: cannot start the socket library\n");
        return 1;
    }
    printf("grading %s against lesson %02d's checks\n", o.exe ? o.exe : o.connect, o.lesson);
    for (size_t i = 0; i < check_count; i++)
        if (check_applies(&checks[i], o.lesson) && (o.check == NULL || strcmp(o.check, checks[i].name) == 0) &&
            ran < sizeof graded / sizeof graded[0])
            run_one(&checks[i], &o, counts, &graded[ran++]);
    if (o.json && write_json(o.json, &o, graded, ran, counts) != 0) {
        fprintf(stderr, "echo_grade: --json %s: cannot write the report\n", o.json);
        return 1;
    }
    if (counts[0] + counts[1] + counts[2] == 0) {
        printf("no check ran\n");
        return 1;
    }
    if (counts[2])
        printf("%d passed, %d failed, %d skipped\n", counts[0], counts[1], counts[2]);
    else
        printf("%d passed, %d failed\n", counts[0], counts[1]);
    return counts[1] == 0 ? 0 : 1;
}
