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
 * `N passed, N failed` (`, N skipped` when some checks need --exe, `, N not
 * graded` when the server stopped serving); the exit code is 0 only when
 * every check that ran passed and none was left ungraded.
 *
 * When a check leaves the server unable to echo a fresh client, a `STOP` line
 * says so once, naming that check (and with --exe how the server ended: exit
 * code, crash or hang). With --connect the later checks that need the server
 * are then marked `NOT GRADED`: their hints would be about a server that is
 * not there. With --exe they each start a fresh server, as always.
 */
#include "checks.h"
#include "options.h"

#include <stdio.h>
#include <string.h>

static void print_usage(FILE *to)
{
    fprintf(
        to,
        "usage: echo_grade --lesson NN (--exe PATH | --connect HOST:PORT) [--check NAME]...\n"
        "       echo_grade --list [--lesson NN]\n"
        "Runs lesson NN's checks (01 to 07) against an echo server and prints one line per check.\n"
        "  --exe PATH           the server program; started afresh for each check (a .exe runs\n"
        "                       through Wine on Linux), on port 0, reading its listening line\n"
        "  --connect HOST:PORT  a server that is already running (checks that start the program\n"
        "                       themselves are skipped); an IPv6 HOST may come in brackets\n"
        "  --check NAME         run only this check (may be given more than once)\n"
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
        printf("FAIL  %s: expected %s; got %s.%s%s\n", c->name, r->expected, r->got,
               r->hint[0] ? " Hint: " : "", r->hint);
    fflush(stdout);
}

/** \brief One check's outcome, kept for the JSON report. */
struct graded {
    const struct check *check;
    struct result result;
    int not_graded; /**< not run: the server had stopped serving before it */
    double seconds;
};

enum { PASSED, FAILED, SKIPPED, NOT_GRADED, COUNTS };

/**
 * \brief Whether a fresh client still gets an echo from \p t: connect, send a
 * line, and see at least its first bytes come back, within 5 s. (A server that
 * echoes part of it still serves; the checks say what is wrong with it.)
 */
static int serves_a_fresh_client(const struct target *t)
{
    static const char line[] = "echo_grade: still serving?\n";
    char got[sizeof line];
    size_t sent = 0, have = 0;
    int64_t deadline = now_ms() + 5000;
    char err[256];
    sock_t s = net_connect(t->host, t->port, deadline, err, sizeof err);

    if (s == BAD_SOCKET)
        return 0;
    while (have == 0) {
        int ready = net_wait(s, sent < sizeof line - 1 ? NET_READABLE | NET_WRITABLE : NET_READABLE,
                             deadline);
        long n;

        if (ready <= 0)
            break;
        if ((ready & NET_WRITABLE) && sent < sizeof line - 1) {
            if ((n = net_send(s, line + sent, sizeof line - 1 - sent)) < 0)
                break;
            sent += (size_t)n;
        }
        if (ready & NET_READABLE) {
            n = net_recv(s, got + have, sizeof line - 1 - have);
            if (n == 0 || n == -1)
                break;
            if (n > 0)
                have += (size_t)n;
        }
    }
    net_close(s);
    return have > 0 && memcmp(got, line, have) == 0;
}

/** \brief How the server \p t started ended, or that it still runs: for the STOP line. */
static void describe_end(struct target *t, char *text, size_t size)
{
    char errs[1024];
    const char *crash;
    int code;

    if (t->server == NULL) {
        snprintf(text, size, "a fresh client got no echo");
        return;
    }
    if (!proc_wait(t->server, now_ms() + 1000, &code)) {
        snprintf(text, size, "it still runs but a fresh client got no echo in 5 s: it hangs");
        return;
    }
    proc_stderr(t->server, errs, sizeof errs);
    /* Wine reports an unhandled exception on stderr ("wine: Unhandled page fault ..."); on Windows
     * the exit code is the exception's, from 0xC0000000 up. */
    crash = strstr(errs, "Unhandled");
    if (crash != NULL || (unsigned)code >= 0xC0000000u)
        snprintf(text, size, "it crashed (exit code %d%s%.120s)", code, crash ? ": " : "",
                 crash ? crash : "");
    else
        snprintf(text, size, "it exited with code %d", code);
    for (char *c = text; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
}

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
static int write_json(const char *path, const struct options *o, const struct graded *g, size_t n,
                      const int *counts)
{
    FILE *f = fopen(path, "w");

    if (f == NULL)
        return -1;
    fprintf(f, "{\n  \"server\": ");
    json_string(f, o->exe ? o->exe : o->connect);
    fprintf(f,
            ",\n  \"lesson\": %d,\n  \"passed\": %d,\n  \"failed\": %d,\n  \"skipped\": %d,\n"
            "  \"not_graded\": %d,\n  \"checks\": [",
            o->lesson, counts[PASSED], counts[FAILED], counts[SKIPPED], counts[NOT_GRADED]);
    for (size_t i = 0; i < n; i++) {
        const struct result *r = &g[i].result;

        fprintf(f, "%s\n    {\"name\": ", i ? "," : "");
        json_string(f, g[i].check->name);
        fprintf(f, ", \"result\": \"%s\", \"seconds\": %.1f,\n     \"expected\": ",
                g[i].not_graded ? "not graded"
                : r->skipped    ? "skip"
                : r->passed     ? "pass"
                                : "fail",
                g[i].seconds);
        json_string(f, r->expected);
        fprintf(f, ",\n     \"got\": ");
        json_string(f, r->got);
        fprintf(f, ",\n     \"hint\": ");
        json_string(f, r->passed || g[i].not_graded ? "" : r->hint);
        fprintf(f, "}");
    }
    fprintf(f, "\n  ]\n}\n");
    return fclose(f) == 0 ? 0 : -1;
}

/**
 * \brief Run check \p c and record it in \p g; \p more: whether checks follow it.
 * Returns 1 when the check left the server unable to echo a fresh client (after
 * saying so on a STOP line).
 */
static int run_one(const struct check *c, const struct options *o, int more, int *counts,
                   struct graded *g)
{
    struct target t;
    struct result r;
    char err[1024];
    int64_t started = now_ms();
    int stopped = 0;
    static int stop_said; /* the STOP line is said once, for the first check it concerns */

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
        /* With --connect every check asks (the next one depends on it); with --exe only a failed
         * one, since the next check starts a server of its own anyway. */
        if (c->needs_server && !r.skipped && !r.server_ended_on_purpose &&
            (o->connect || !r.passed) && !stop_said && !serves_a_fresh_client(&t)) {
            char how[256];

            describe_end(&t, how, sizeof how);
            stopped = stop_said = 1;
            print_result(c, &r);
            printf("STOP  the server stopped serving during %s: %s.%s\n", c->name, how,
                   !more     ? ""
                   : o->exe ? " Each later check starts a fresh server."
                            : " The later checks are not graded.");
            fflush(stdout);
        }
    }
    target_stop(&t);
    if (!stopped)
        print_result(c, &r);
    counts[r.skipped ? SKIPPED : r.passed ? PASSED : FAILED]++;
    g->check = c;
    g->result = r;
    g->seconds = (double)(now_ms() - started) / 1000.0;
    return stopped;
}

/** \brief Record \p c as not graded: the server stopped serving during \p stopped_in. */
static void skip_one(const struct check *c, const char *stopped_in, int *counts, struct graded *g)
{
    memset(g, 0, sizeof *g);
    g->check = c;
    g->not_graded = 1;
    snprintf(g->result.got, sizeof g->result.got,
             "not graded: the server stopped serving during %s", stopped_in);
    printf("NOT GRADED  %s: the server stopped serving during %s\n", c->name, stopped_in);
    counts[NOT_GRADED]++;
}

/** \brief Whether the command line asks for check \p c: it names it with --check, or names none. */
static int asked_for(const struct options *o, const struct check *c)
{
    for (int i = 0; i < o->check_count; i++)
        if (strcmp(o->checks[i], c->name) == 0)
            return 1;
    return o->check_count == 0;
}

/** \brief Whether any check after checks[i] is to be graded. */
static int later_checks(const struct options *o, size_t i)
{
    for (size_t j = i + 1; j < check_count; j++)
        if (check_applies(&checks[j], o->lesson) && asked_for(o, &checks[j]))
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    struct options o;
    int counts[COUNTS] = {0};
    const char *stopped_in =
        NULL; /* with --connect: the check during which the server stopped serving */
    static struct graded
        graded[64]; /* more than checks.def holds; the loop below stops at the end */
    size_t ran = 0;

    switch (options_parse(argc, argv, &o)) {
    case OPTIONS_HELP: print_usage(stdout); return 0;
    case OPTIONS_BAD: print_usage(stderr); return 2;
    default: break;
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
        if (check_applies(&checks[i], o.lesson) && asked_for(&o, &checks[i]) &&
            ran < sizeof graded / sizeof graded[0]) {
            if (stopped_in != NULL && checks[i].needs_server)
                skip_one(&checks[i], stopped_in, counts, &graded[ran++]);
            else if (run_one(&checks[i], &o, later_checks(&o, i), counts, &graded[ran++]) &&
                     o.connect)
                stopped_in = checks[i].name;
        }
    if (o.json && write_json(o.json, &o, graded, ran, counts) != 0) {
        fprintf(stderr, "echo_grade: --json %s: cannot write the report\n", o.json);
        return 1;
    }
    if (counts[PASSED] + counts[FAILED] + counts[SKIPPED] == 0) {
        printf("no check ran\n");
        return 1;
    }
    printf("%d passed, %d failed", counts[PASSED], counts[FAILED]);
    if (counts[SKIPPED])
        printf(", %d skipped", counts[SKIPPED]);
    if (counts[NOT_GRADED])
        printf(", %d not graded", counts[NOT_GRADED]);
    printf("\n");
    return counts[FAILED] == 0 && counts[NOT_GRADED] == 0 ? 0 : 1;
}
