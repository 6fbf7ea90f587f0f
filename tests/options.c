/**
 * \file
 * \brief Parsing of the command line that echo_grade and test_echo share.
 */
#include "options.h"
#include "checks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/** \brief A whole number from \p lo to \p hi, or -1. */
static long parse_number(const char *text, long lo, long hi)
{
    char *end = NULL;
    long n;

    if (text == NULL || text[0] < '0' || text[0] > '9')
        return -1;
    n = strtol(text, &end, 10);
    return *end == '\0' && n >= lo && n <= hi ? n : -1;
}

static int parse_host_port(const char *text, struct options *o)
{
    const char *port_text = net_split_address(text, o->host, sizeof o->host);
    long port = port_text ? parse_number(port_text, 1, 65535) : -1;

    if (port < 0)
        return -1;
    o->port = (unsigned)port;
    return 0;
}

int options_parse(int argc, char **argv, struct options *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            return OPTIONS_HELP;
        if (strcmp(arg, "--list") == 0) {
            o->list = 1;
            continue;
        }
        if (value == NULL) {
            fprintf(stderr, "%s: unknown option or missing value: %s\n", argv[0], arg);
            return OPTIONS_BAD;
        }
        i++;
        if (strcmp(arg, "--lesson") == 0) {
            o->lesson = (int)parse_number(value, 1, 7);
            if (o->lesson < 0) {
                fprintf(stderr, "%s: --lesson takes 01 to 07, not '%s'\n", argv[0], value);
                return OPTIONS_BAD;
            }
        } else if (strcmp(arg, "--exe") == 0) {
            FILE *f = fopen(value, "rb");

            if (f == NULL) {
                fprintf(stderr, "%s: --exe %s: no such program (or it cannot be read)\n", argv[0],
                        value);
                return OPTIONS_BAD;
            }
            fclose(f);
            o->exe = value;
        } else if (strcmp(arg, "--connect") == 0) {
            o->connect = value;
            if (parse_host_port(value, o) != 0) {
                fprintf(stderr, "%s: --connect takes HOST:PORT, not '%s'\n", argv[0], value);
                return OPTIONS_BAD;
            }
        } else if (strcmp(arg, "--json") == 0) {
            o->json = value;
        } else if (strcmp(arg, "--check") == 0) {
            if (check_find(value) == NULL) {
                fprintf(stderr, "%s: no check named '%s' (--list shows them)\n", argv[0], value);
                return OPTIONS_BAD;
            }
            if (o->check_count == (int)(sizeof o->checks / sizeof o->checks[0])) {
                fprintf(stderr, "%s: too many --check options\n", argv[0]);
                return OPTIONS_BAD;
            }
            if (o->check == NULL)
                o->check = value;
            o->checks[o->check_count++] = value;
        } else {
            fprintf(stderr, "%s: unknown option: %s\n", argv[0], arg);
            return OPTIONS_BAD;
        }
    }
    for (int i = 0; i < o->check_count; i++)
        if (o->lesson && !check_applies(check_find(o->checks[i]), o->lesson)) {
            fprintf(
                stderr,
                "%s: '%s' is not one of lesson %02d's checks (--list --lesson %02d shows them)\n",
                argv[0], o->checks[i], o->lesson, o->lesson);
            return OPTIONS_BAD;
        }
    if (o->list)
        return OPTIONS_OK;
    if (o->lesson == 0 || (o->exe == NULL) == (o->connect == NULL)) {
        fprintf(stderr, "%s: give --lesson NN and one of --exe PATH or --connect HOST:PORT\n",
                argv[0]);
        return OPTIONS_BAD;
    }
    return OPTIONS_OK;
}
