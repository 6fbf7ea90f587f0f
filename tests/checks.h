/**
 * \file
 * \brief The harness's checks: what a lesson's server must do, as a table.
 *
 * The same checks run under cmocka (test_echo, one ctest test per lesson and
 * check) and in echo_grade (a teacher grading any server).
 */
#ifndef CHECKS_H
#define CHECKS_H

#include "harness.h"

/** \brief The server a check talks to. */
struct target {
    const char *exe; /**< the server program, or NULL for a server already running */
    char host[64]; /**< where it listens */
    unsigned port;
    char listening_line[256]; /**< the line it printed, when the harness started it */
    struct proc *server; /**< the process, when the harness started it */
};

/** \brief What a check found: the verdict, and text a student can act on. */
struct result {
    int passed;
    int skipped; /**< the check cannot run in this mode (needs --exe) */
    int server_ended_on_purpose; /**< the check stopped the server itself: its exit is no crash */
    char expected[256]; /**< what the check wanted */
    char got[768]; /**< what happened */
    char hint[256]; /**< the likely mistake, when it failed */
};

/** \brief One check of the table in checks.def. */
struct check {
    const char *name;
    int first_lesson, last_lesson;
    int needs_server; /**< 1: runs against a started server; 0: starts the program itself */
    const char *summary; /**< what it proves */
    void (*run)(const struct target *t, struct result *r);
};

extern const struct check checks[];
extern const size_t check_count;

/** \brief The check named \p name, or NULL. */
const struct check *check_find(const char *name);

/** \brief Whether \p c is part of lesson \p lesson's expectations. */
int check_applies(const struct check *c, int lesson);

/**
 * \brief Start \p t->exe on port 0 and read its listening line (bounded wait).
 * Returns 0, or -1 with the reason in \p err.
 */
int target_start(struct target *t, char *err, size_t err_size);

/**
 * \brief target_start() with the command line \p args (NULL-terminated) instead of "0", for a
 * check that needs the server started with options of its lesson.
 */
int target_start_with(struct target *t, const char *const *args, char *err, size_t err_size);

/** \brief Stop the server target_start() started, if any. */
void target_stop(struct target *t);

/**
 * \brief Run one check against \p t and fill \p r; when the harness started
 * the server, it also fails the check if the server died during it.
 */
void check_run(const struct check *c, struct target *t, struct result *r);

#endif
