/**
 * \file
 * \brief The cmocka runner: one check of checks.def against one lesson.
 *
 *     test_echo --lesson NN --check NAME (--exe PATH | --connect HOST:PORT)
 *
 * CMake registers one ctest test per lesson and check (`01_sync_accept.
 * echoes_one_byte_writes`), each running this program, so a failure names
 * what broke and tests run in parallel, each with its own server on its own
 * port. setup() starts the server and reads its listening line; teardown()
 * stops it, also when the check failed.
 */
#include "checks.h"
#include "options.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/** \brief What one test run needs: the check and the server it talks to. */
struct fixture {
    const struct check *check;
    struct target target;
};

static int setup(void **state)
{
    struct fixture *f = *state;
    char err[1024];

    if (f->target.exe == NULL || !f->check->needs_server)
        return 0;
    if (target_start(&f->target, err, sizeof err) != 0) {
        print_error("the server did not start: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    target_stop(&f->target);
    return 0;
}

static void run_check(void **state)
{
    struct fixture *f = *state;
    struct result r;

    check_run(f->check, &f->target, &r);
    if (r.skipped)
        skip();
    if (!r.passed)
        fail_msg("%s: expected %s; got %s.%s%s", f->check->name, r.expected, r.got,
                 r.hint[0] ? " Hint: " : "", r.hint);
    print_message("%s: %s\n", f->check->name, r.got);
}

int main(int argc, char **argv)
{
    struct options o;
    static struct fixture f;
    char group[64];

    if (options_parse(argc, argv, &o) != OPTIONS_OK || o.check == NULL || o.list) {
        fprintf(stderr,
                "usage: test_echo --lesson NN --check NAME (--exe PATH | --connect HOST:PORT)\n");
        return 2;
    }
    if (net_init() != 0) {
        fprintf(stderr, "test_echo: cannot start the socket library\n");
        return 1;
    }
    f.check = check_find(o.check);
    f.target.exe = o.exe;
    snprintf(f.target.host, sizeof f.target.host, "%s", o.host);
    f.target.port = o.port;
    {
        /* Written out instead of cmocka_unit_test_prestate_setup_teardown() so the test is named
         * after the check, not after run_check. */
        const struct CMUnitTest tests[] = {
            {.name = f.check->name,
             .test_func = run_check,
             .setup_func = setup,
             .teardown_func = teardown,
             .initial_state = &f},
        };

        snprintf(group, sizeof group, "lesson %02d", o.lesson);
        return cmocka_run_group_tests_name(group, tests, NULL, NULL);
    }
}
