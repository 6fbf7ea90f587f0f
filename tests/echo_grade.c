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
            "Runs lesson NN's checks (01 to 06) against an echo server and prints one line per check.\n"
            "  --exe PATH           the server program; started afresh for each check (a .exe runs\n"
            "                       through Wine on Linux), on port 0, reading its listening line\n"
            "  --connect HOST:PORT  a server that is already running (checks that start the program\n"
            "                       themselves are skipped)\n"
            "  --check NAME         run only this check\n"
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

static void run_one(const struct check *c, const struct options *o, int *counts)
{
    struct target t;
    struct result r;
    char err[1024];

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
}

int main(int argc, char **argv)
{
    struct options o;
    int counts[3] = { 0, 0, 0 }; /* passed, failed, skipped */

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
        if (check_applies(&checks[i], o.lesson) && (o.check == NULL || strcmp(o.check, checks[i].name) == 0))
            run_one(&checks[i], &o, counts);
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
