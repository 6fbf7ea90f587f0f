/**
 * \file
 * \brief The command line shared by echo_grade and test_echo:
 * `--lesson NN (--exe PATH | --connect HOST:PORT) [--check NAME] [--list]`.
 */
#ifndef OPTIONS_H
#define OPTIONS_H

/** \brief What the command line asked for. */
struct options {
    int lesson; /**< 1 to 6; 0 when not given (only with --list) */
    const char *exe; /**< --exe PATH, or NULL */
    const char *connect; /**< --connect HOST:PORT as given, or NULL */
    char host[64]; /**< HOST of --connect */
    unsigned port; /**< PORT of --connect */
    const char *check; /**< the first --check NAME, or NULL for all */
    const char *checks[64]; /**< every --check NAME (echo_grade runs each; test_echo takes one) */
    int check_count;
    int list; /**< --list */
    const char
        *json; /**< --json PATH: also write the results there, for a gradebook (echo_grade) */
};

enum { OPTIONS_OK, OPTIONS_HELP, OPTIONS_BAD };

/**
 * \brief Parse the command line into \p o. Prints what is wrong on stderr and
 * returns OPTIONS_BAD; OPTIONS_HELP for --help.
 */
int options_parse(int argc, char **argv, struct options *o);

#endif
