/**
 * \file
 * \brief The checks of checks.def: each drives the server over TCP with a
 * deadline and describes what it expected and what came back.
 */
#include "checks.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    START_BUDGET_MS = 20000, /**< Wine's first start in a busy test run can be slow */
    CONNECT_BUDGET_MS = 10000, /**< a listening server completes a connection at once */
    CHECK_BUDGET_MS = 60000, /**< a correct server needs well under a second for any check */
    STALL_BUDGET_MS = 5000, /**< an exchange in which nothing moves for this long has failed */
    EXIT_BUDGET_MS = 10000, /**< for a program that should end by itself */
    QUIET_MS = 1500, /**< how long "no echo" must last to count as waiting */
    IDLE_MS = 200, /**< how long a client stays idle before it resets */
    STALL_MS = 500, /**< no room to send for this long: the server pushes back */
    KIB = 1024,
    MIB = 1024 * 1024,
};

/* ------------------------------------------------------------ results ---- */

/** \brief Record a failure; the first one wins, it is the cause. */
static void fail(struct result *r, const char *hint, const char *fmt, ...)
{
    va_list ap;

    if (!r->passed && r->got[0])
        return;
    r->passed = 0;
    va_start(ap, fmt);
    vsnprintf(r->got, sizeof r->got, fmt, ap);
    va_end(ap);
    snprintf(r->hint, sizeof r->hint, "%s", hint ? hint : "");
}

static void pass(struct result *r, const char *fmt, ...)
{
    va_list ap;

    if (!r->passed)
        return;
    va_start(ap, fmt);
    vsnprintf(r->got, sizeof r->got, fmt, ap);
    va_end(ap);
}

static void expect(struct result *r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->expected, sizeof r->expected, fmt, ap);
    va_end(ap);
}

/**
 * \brief Mark the check skipped, saying why, unless \p can (the harness has what the check needs:
 * with --connect it has no program to start, read or interrupt). Returns 1 when it skipped.
 */
static int skip_unless(int can, struct result *r, const char *why)
{
    if (can)
        return 0;
    r->skipped = 1;
    pass(r, "skipped: needs --exe, to %s", why);
    return 1;
}

/** \brief Program output made fit for a one-line message: the last line end dropped, the others
 * spaces. */
static const char *one_line(char *text)
{
    size_t n = strlen(text);
    char *w = text;

    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        text[--n] = '\0';
    for (const char *c = text; *c; c++) {
        if (*c == '\r')
            continue;
        *w++ = *c == '\n' ? ' ' : *c;
    }
    *w = '\0';
    return text;
}

/** \brief "1 B", "65 KiB", "16 MiB": sizes as a student reads them. */
static const char *size_text(size_t n, char *buf, size_t size)
{
    if (n >= MIB && n % MIB == 0)
        snprintf(buf, size, "%lu MiB", (unsigned long)(n / MIB));
    else if (n >= MIB)
        snprintf(buf, size, "%.1f MiB (%lu B)", (double)n / MIB, (unsigned long)n);
    else if (n >= KIB && n % KIB == 0)
        snprintf(buf, size, "%lu KiB", (unsigned long)(n / KIB));
    else
        snprintf(buf, size, "%lu B", (unsigned long)n);
    return buf;
}

/* ----------------------------------------------------------- payloads ---- */

/**
 * \brief Fill \p buf with a payload: readable text first (so a server that
 * stops at the first NUL shows a little of it), then all 256 byte values,
 * then pseudo-random bytes from \p seed (xorshift64*: fixed seed, repeatable).
 */
static void make_payload(unsigned char *buf, size_t len, uint64_t seed)
{
    static const char intro[] = "echo check ";
    uint64_t x = seed * 2654435761u + 1;
    size_t i = 0;

    for (; i < len && i < sizeof intro - 1 && len > 2 * sizeof intro; i++)
        buf[i] = (unsigned char)intro[i];
    for (size_t v = 0; i < len && v < 256 && len > 512; i++, v++)
        buf[i] = (unsigned char)v;
    for (; i < len; i++) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        buf[i] = (unsigned char)((x * 2685821657736338717ull) >> 56);
    }
}

/* ---------------------------------------------------- talking to it ---- */

/** \brief One client's exchange: what it sends and what came back so far. */
struct exchange {
    const unsigned char *out;
    size_t out_len, sent;
    size_t chunk; /**< largest single send; 0 = as much as the socket takes */
    int half_close; /**< shut down our sending side once all is sent */
    unsigned char *in; /**< room for out_len bytes */
    size_t in_len;
};

enum outcome { ECHOED, STALLED, ENDED_EARLY, RESET };

/**
 * \brief Move an exchange on by what \p ready says is possible now (from
 * net_wait or net_poll). Returns 1 while it can go on, 0 when the server
 * ended the stream or the connection failed, with the outcome in \p how.
 */
static int exchange_step(sock_t s, struct exchange *x, int ready, enum outcome *how)
{
    if (ready & NET_WRITABLE && x->sent < x->out_len) {
        size_t n = x->out_len - x->sent;
        long sent;

        if (x->chunk && n > x->chunk)
            n = x->chunk;
        sent = net_send(s, x->out + x->sent, n);
        if (sent < 0) {
            *how = RESET;
            return 0;
        }
        x->sent += (size_t)sent;
        if (x->sent == x->out_len && x->half_close)
            (void)net_shutdown_write(s); /* a failure shows as a missing end of stream */
    }
    if (ready & NET_READABLE) {
        long got = net_recv(s, x->in + x->in_len, x->out_len - x->in_len);

        if (got == 0 || got == -1) {
            *how = got == 0 ? ENDED_EARLY : RESET;
            return 0;
        }
        if (got > 0)
            x->in_len += (size_t)got;
    }
    return 1;
}

/** \brief What an unfinished exchange waits for: always the echo, and room to send while it has
 * more. */
static int exchange_wants(const struct exchange *x)
{
    return NET_READABLE | (x->sent < x->out_len ? NET_WRITABLE : 0);
}

/**
 * \brief Send while receiving until every byte has come back, the server
 * ends the stream, the connection fails, nothing moves for STALL_BUDGET_MS,
 * or \p deadline passes. Sending and reading at the same time matters: a
 * client that writes everything before reading deadlocks against a correct
 * server once both buffers are full.
 */
static enum outcome exchange_run(sock_t s, struct exchange *x, int64_t deadline)
{
    int64_t moved = now_ms();
    enum outcome how = ECHOED;

    while (x->in_len < x->out_len) {
        int64_t limit = moved + STALL_BUDGET_MS < deadline ? moved + STALL_BUDGET_MS : deadline;
        int ready = net_wait(s, exchange_wants(x), limit);

        if (ready < 0)
            return RESET;
        if (ready == 0)
            return STALLED;
        moved = now_ms();
        if (!exchange_step(s, x, ready, &how))
            return how;
    }
    return ECHOED;
}

/**
 * \brief Whether the bytes that came back from \p at on are the ones sent
 * further on (at least 8 of them, or all that is left): the echo skipped some.
 */
static int bytes_skipped(const struct exchange *x, size_t at)
{
    size_t n = x->in_len - at < 8 ? x->in_len - at : 8;

    for (size_t j = at + 1; n > 0 && j + n <= x->out_len; j++)
        if (memcmp(x->in + at, x->out + j, n) == 0)
            return 1;
    return 0;
}

/**
 * \brief Judge an exchange: every byte back and equal, or a description of
 * the first thing that went wrong and the mistake that usually causes it.
 * Returns 1 when the echo was exact.
 */
static int judge_echo(struct result *r, const char *what, const struct exchange *x,
                      enum outcome how)
{
    char a[48], b[48];
    size_t i = 0;

    while (i < x->in_len && x->in[i] == x->out[i])
        i++;
    if (i < x->in_len) {
        const char *hint = "bytes were lost, changed or reordered";

        if (x->out[i] == 0)
            hint =
                "the first wrong byte is where a NUL was sent: is the buffer treated as a C string "
                "(strlen, %s, strcpy)? Send the count recv() returned";
        else if (i == 0 && bytes_skipped(x, 0))
            hint = "the first bytes never came back, and the reply is the data that followed them: "
                   "are a connection's first bytes taken and not echoed (AcceptEx with a receive "
                   "buffer hands them over with the accept)?";
        else if (i == 0)
            hint = "the reply is not the data at all: does the server send a fixed text?";
        else if (bytes_skipped(x, i))
            hint = "bytes were skipped, and what came next is the data that followed them: a send "
                   "that "
                   "took only part of its buffer, with the rest never sent? Use the count "
                   "send()/WSASend reported";
        fail(r, hint, "%s: sent %s, first difference at byte %lu: sent 0x%02x, got 0x%02x", what,
             size_text(x->out_len, a, sizeof a), (unsigned long)i, x->out[i], x->in[i]);
        return 0;
    }
    if (how == ECHOED)
        return 1;
    if (x->in_len < x->out_len && x->out[x->in_len] == 0 && how == STALLED) {
        fail(r,
             "a C-string buffer stops at the first NUL: send the count recv() returned, not "
             "strlen()",
             "%s: the echo stopped after %lu of %s, just before a NUL byte", what,
             (unsigned long)x->in_len, size_text(x->out_len, a, sizeof a));
        return 0;
    }
    switch (how) {
    case ENDED_EARLY:
        fail(r, "the server closed the connection before echoing everything",
             "%s: end of stream after %s of %s", what, size_text(x->in_len, a, sizeof a),
             size_text(x->out_len, b, sizeof b));
        break;
    case RESET:
        fail(r, "the server reset or dropped the connection",
             "%s: connection reset after %s of %s came back", what,
             size_text(x->in_len, a, sizeof a), size_text(x->out_len, b, sizeof b));
        break;
    default:
        fail(r, "bytes were lost: is every recv() echoed, and is a partial send() continued?",
             "%s: %s of %s came back, then nothing for %d s", what,
             size_text(x->in_len, a, sizeof a), size_text(x->out_len, b, sizeof b),
             STALL_BUDGET_MS / 1000);
        break;
    }
    return 0;
}

/** \brief Connect to the target, or fail the check saying why. */
static sock_t connect_client(const struct target *t, struct result *r, const char *who)
{
    char err[256];
    sock_t s = net_connect(t->host, t->port, now_ms() + CONNECT_BUDGET_MS, err, sizeof err);

    if (s == BAD_SOCKET)
        fail(r, "is the server still running and accepting?", "%s could not connect: %s", who, err);
    return s;
}

/**
 * \brief On socket \p s, send a \p len byte payload (\p chunk bytes per send
 * at most) and check that it all comes back. Returns 1 when it did.
 */
static int echo_on(sock_t s, struct result *r, const char *what, size_t len, size_t chunk,
                   uint64_t seed)
{
    struct exchange x;
    unsigned char *out = malloc(len), *in = malloc(len);
    int ok = 0;

    if (out == NULL || in == NULL) {
        fail(r, NULL, "the harness ran out of memory");
    } else {
        memset(&x, 0, sizeof x);
        make_payload(out, len, seed);
        x.out = out;
        x.out_len = len;
        x.chunk = chunk;
        x.in = in;
        ok = judge_echo(r, what, &x, exchange_run(s, &x, now_ms() + CHECK_BUDGET_MS));
    }
    free(out);
    free(in);
    return ok;
}

/**
 * \brief The check of one client and one transfer: \p len bytes sent \p chunk at a time while
 * reading, back byte for byte; \p verdict is what a pass says.
 */
static void one_transfer_is_echoed(const struct target *t, struct result *r, const char *what,
                                   size_t len, size_t chunk, uint64_t seed, const char *verdict)
{
    sock_t s = connect_client(t, r, "the client");

    if (s != BAD_SOCKET && echo_on(s, r, what, len, chunk, seed))
        pass(r, "%s", verdict);
    net_close(s);
}

/** \brief A new client connects, is echoed \p len bytes, and leaves. */
static int fresh_client_is_served(const struct target *t, struct result *r, const char *who,
                                  size_t len)
{
    sock_t s = connect_client(t, r, who);
    int ok = s != BAD_SOCKET && echo_on(s, r, who, len, 0, 7);

    net_close(s);
    return ok;
}

/**
 * \brief Wait for one byte, the end of the stream or an error, up to
 * \p deadline. Returns 1 (a byte), 0 (end of stream), -1 (error or reset) or
 * -3 (nothing happened).
 */
static long read_one_byte(sock_t s, unsigned char *byte, int64_t deadline)
{
    for (;;) {
        int ready = net_wait(s, NET_READABLE, deadline);
        long n;

        if (ready <= 0)
            return ready < 0 ? -1 : -3;
        n = net_recv(s, byte, 1);
        if (n != -2) /* -2: woken, but nothing to read after all */
            return n;
    }
}

/**
 * \brief A first client connects and is echoed (so the server has taken it),
 * then a second client, \p second_who, connects. Returns 1 when both are
 * connected; the caller closes both sockets.
 */
static int first_served_then_second(const struct target *t, struct result *r, sock_t *first,
                                    sock_t *second, const char *second_who)
{
    *second = BAD_SOCKET;
    *first = connect_client(t, r, "the first client");
    if (*first == BAD_SOCKET || !echo_on(*first, r, "the first client", 10, 0, 19))
        return 0;
    *second = connect_client(t, r, second_who);
    return *second != BAD_SOCKET;
}

/* ------------------------------------------------------------ crowds ---- */

/**
 * \brief Many clients at once, each with its own payload (so bytes of one
 * client showing up at another are caught), driven together by one poll loop.
 */
struct crowd {
    size_t n; /**< clients connected */
    size_t len; /**< bytes each sends per round */
    sock_t *s;
    struct exchange *x;
    enum outcome *how; /**< per client: ECHOED, or why it stopped */
    int *done;
    int close_when_done; /**< close each client as soon as it is done (one-at-a-time servers) */
    int messages; /**< messages each client sends per round, one after the other's echo */
    int *sent_messages; /**< per client: messages echoed so far in this round */
    struct net_poll *poll;
    unsigned char *out, *in; /**< n payloads of len bytes, and room for their echoes */
};

static void crowd_close(struct crowd *c)
{
    for (size_t i = 0; c->s != NULL && i < c->n; i++)
        net_close(c->s[i]);
    free(c->s);
    free(c->x);
    free(c->how);
    free(c->done);
    free(c->sent_messages);
    free(c->poll);
    free(c->out);
    free(c->in);
    memset(c, 0, sizeof *c);
}

/**
 * \brief Room for \p capacity clients, none connected yet, each to send
 * \p len bytes per round. Returns 1, or fails the check and returns 0.
 */
static int crowd_alloc(struct crowd *c, struct result *r, size_t capacity, size_t len)
{
    memset(c, 0, sizeof *c);
    c->len = len;
    c->s = malloc(capacity * sizeof *c->s);
    c->x = calloc(capacity, sizeof *c->x);
    c->how = calloc(capacity, sizeof *c->how);
    c->done = calloc(capacity, sizeof *c->done);
    c->sent_messages = calloc(capacity, sizeof *c->sent_messages);
    c->messages = 1;
    c->poll = calloc(capacity, sizeof *c->poll);
    c->out = malloc(capacity * len);
    c->in = malloc(capacity * len);
    if (!c->s || !c->x || !c->how || !c->done || !c->sent_messages || !c->poll || !c->out ||
        !c->in) {
        fail(r, NULL, "the harness ran out of memory");
        return 0;
    }
    return 1;
}

/**
 * \brief Connect clients until the crowd has \p n (it has room for them):
 * one after the other, or with \p burst all at once (their connects are
 * started, and finish while the crowd runs). Returns 1 when all are
 * connected or connecting; fails the check and returns 0 otherwise.
 */
static int crowd_connect(struct crowd *c, const struct target *t, struct result *r, size_t n,
                         int burst)
{
    for (; c->n < n; c->n++) {
        char err[256];
        size_t len = c->len;

        c->s[c->n] =
            burst ? net_connect_start(t->host, t->port, err, sizeof err)
                  : net_connect(t->host, t->port, now_ms() + CONNECT_BUDGET_MS, err, sizeof err);
        if (c->s[c->n] == BAD_SOCKET) {
            fail(r,
                 strstr(err, "Too many")
                     ? "the harness ran out of descriptors: raise the limit (ulimit -n)"
                     : "is the server still accepting?",
                 "client %lu of %lu could not connect: %s", (unsigned long)c->n + 1,
                 (unsigned long)n, err);
            return 0;
        }
        make_payload(c->out + c->n * len, len, 1000 + c->n);
        c->x[c->n].out = c->out + c->n * len;
        c->x[c->n].out_len = len;
        c->x[c->n].in = c->in + c->n * len;
    }
    return 1;
}

/**
 * \brief Connect \p n clients, one after the other, each to send \p len
 * bytes per round. Returns 1 when all are connected; fails the check and
 * returns 0 otherwise. The caller calls crowd_close() either way.
 */
static int crowd_open(struct crowd *c, const struct target *t, struct result *r, size_t n,
                      size_t len)
{
    return crowd_alloc(c, r, n, len) && crowd_connect(c, t, r, n, 0);
}

/** \brief Start a round: every client sends its payload again and waits for the echo. */
static void crowd_start_round(struct crowd *c)
{
    for (size_t i = 0; i < c->n; i++) {
        c->x[i].sent = c->x[i].in_len = 0;
        c->how[i] = STALLED;
        c->done[i] = 0;
        c->sent_messages[i] = 0;
    }
}

/**
 * \brief Wait once, up to \p limit, and move every client that can move.
 * Returns how many clients moved (0: none before \p limit), -1 on a harness
 * error.
 */
static int crowd_pump(struct crowd *c, int64_t limit)
{
    int ready;

    for (size_t i = 0; i < c->n; i++) {
        c->poll[i].s = c->s[i];
        c->poll[i].want = c->done[i] ? 0 : exchange_wants(&c->x[i]);
    }
    ready = net_poll(c->poll, c->n, limit);
    for (size_t i = 0; ready > 0 && i < c->n; i++) {
        if (c->poll[i].happened == 0)
            continue;
        if (!exchange_step(c->s[i], &c->x[i], c->poll[i].happened, &c->how[i]))
            c->done[i] = 1;
        else if (c->x[i].in_len == c->x[i].out_len && ++c->sent_messages[i] < c->messages)
            c->x[i].sent = c->x[i].in_len =
                0; /* the same message again, now that its echo is back */
        else if (c->x[i].in_len == c->x[i].out_len)
            c->how[i] = ECHOED, c->done[i] = 1;
        if (c->done[i] && c->close_when_done) {
            net_close(c->s[i]);
            c->s[i] = BAD_SOCKET;
        }
    }
    return ready;
}

/** \brief Bytes that came back in this round, all clients together. */
static uint64_t crowd_received(const struct crowd *c)
{
    uint64_t sum = 0;

    for (size_t i = 0; i < c->n; i++)
        sum += c->x[i].in_len;
    return sum;
}

/**
 * \brief One round: every client sends its payload while reading, until all
 * are echoed or nothing moves for STALL_BUDGET_MS. Returns 1 when every
 * client got its exact echo; otherwise fails the check with the first
 * client that did not, and how many did not.
 */
/**
 * \brief Run a round: every client sends its payload while reading, until each is echoed, ended
 * by the server or failed, or nothing moves for STALL_BUDGET_MS. c->how says how each one ended.
 */
static void crowd_run(struct crowd *c)
{
    int64_t moved = now_ms(), deadline = now_ms() + CHECK_BUDGET_MS;

    crowd_start_round(c);
    for (;;) {
        size_t left = 0;

        for (size_t i = 0; i < c->n; i++)
            left += !c->done[i];
        if (left == 0)
            break;
        {
            int64_t limit = moved + STALL_BUDGET_MS < deadline ? moved + STALL_BUDGET_MS : deadline;
            int moved_now = crowd_pump(c, limit);

            if (moved_now <= 0)
                break;
            moved = now_ms();
        }
    }
}

static int crowd_round(struct crowd *c, struct result *r, const char *round, const char *hint)
{
    size_t echoed = 0, first_bad = c->n;
    char who[96];

    crowd_run(c);
    for (size_t i = 0; i < c->n; i++) {
        int exact = c->how[i] == ECHOED && memcmp(c->x[i].in, c->x[i].out, c->len) == 0;

        echoed += exact;
        if (!exact && first_bad == c->n)
            first_bad = i;
    }
    if (first_bad == c->n)
        return 1;
    snprintf(who, sizeof who, "%s, client %lu of %lu (%lu of the %lu not echoed)", round,
             (unsigned long)first_bad + 1, (unsigned long)c->n, (unsigned long)(c->n - echoed),
             (unsigned long)c->n);
    if (c->how[first_bad] == STALLED && c->x[first_bad].in_len == 0) {
        fail(r,
             echoed == 0
                 ? "no client of the crowd was echoed at all: does the server echo anything?"
                 : hint,
             "%s: no echo at all, nothing for %d s", who, STALL_BUDGET_MS / 1000);
        return 0;
    }
    (void)judge_echo(r, who, &c->x[first_bad],
                     c->how[first_bad] == ECHOED ? STALLED : c->how[first_bad]);
    if (r->passed) /* judge_echo found the bytes equal so far: the round ran out of time */
        fail(r, hint, "%s: the echo did not finish", who);
    return 0;
}

/* ------------------------------------------------------- thread work ---- */

enum { MAX_THREADS = 4096 };

/** \brief Processor time per thread of the server: a snapshot, and the work done between two. */
struct thread_work {
    int count; /**< threads the server has */
    struct proc_thread t[MAX_THREADS];
};

static int thread_snapshot(const struct target *t, struct thread_work *w)
{
    w->count = proc_threads(t->server, w->t, MAX_THREADS);
    return w->count > 0;
}

/**
 * \brief Turn \p after into the work done since \p before: each thread's
 * processor time minus what it had then (a new thread counts from 0).
 * Returns the total over all threads, in ms.
 */
static int64_t thread_work_since(const struct thread_work *before, struct thread_work *after)
{
    int64_t total = 0;
    int n = after->count < MAX_THREADS ? after->count : MAX_THREADS;

    for (int i = 0; i < n; i++) {
        int64_t was = 0;

        for (int j = 0; j < before->count && j < MAX_THREADS; j++)
            if (before->t[j].id == after->t[i].id)
                was = before->t[j].cpu_ms;
        after->t[i].cpu_ms = after->t[i].cpu_ms < 0 ? 0 : after->t[i].cpu_ms - (was < 0 ? 0 : was);
        total += after->t[i].cpu_ms;
    }
    return total;
}

/**
 * \brief Keep \p c echoing, round after round, until the server has used at
 * least \p min_cpu_ms of processor time in all (so the shares are worth
 * reading, whatever the machine's speed) or 50 rounds passed. Fills \p work
 * with each thread's share; returns the total, or -1 after failing the check.
 */
static int64_t measure_thread_work(const struct target *t, struct result *r, struct crowd *c,
                                   int64_t min_cpu_ms, struct thread_work *before,
                                   struct thread_work *work)
{
    int64_t total = 0;

    if (!thread_snapshot(t, before)) {
        fail(r, NULL, "the harness cannot read the server's threads");
        return -1;
    }
    for (int round = 0; round < 50 && total < min_cpu_ms; round++) {
        if (!crowd_round(c, r, "while measuring", "a client stopped being echoed under load"))
            return -1;
        if (!thread_snapshot(t, work)) {
            fail(r, NULL, "the harness cannot read the server's threads");
            return -1;
        }
        total = thread_work_since(before, work);
    }
    return total;
}

/* ------------------------------------------------------------- checks ---- */

/*
 * The line the harness and teachers rely on. Catches printing the port that was asked for (0)
 * instead of the one getsockname() reports, a forgotten fflush(stdout), binding 0.0.0.0 by
 * default, and chatter on stdout.
 */
static void prints_the_listening_line(const struct target *t, struct result *r)
{
    char expected[64], out[1024];
    sock_t s;

    expect(r, "exactly one line 'listening on 127.0.0.1:PORT' with the port the system chose");
    if (skip_unless(t->server != NULL, r, "start the server itself"))
        return;
    snprintf(expected, sizeof expected, "listening on 127.0.0.1:%u", t->port);
    if (t->port == 0 || strcmp(t->listening_line, expected) != 0) {
        fail(r,
             "print the address and the port getsockname() reports, after listen(), and flush "
             "stdout",
             "'%s'", t->listening_line);
        return;
    }
    s = connect_client(t, r, "a client of the printed port");
    if (s != BAD_SOCKET && echo_on(s, r, "a short message", 16, 0, 1)) {
        proc_stdout(t->server, out, sizeof out);
        if (strchr(out, '\n') != strrchr(out, '\n'))
            fail(r, "print only the listening line on stdout: other messages belong on stderr",
                 "more than one line on stdout: '%s'", out);
    }
    net_close(s);
    pass(r, "'%s', and a client of that port was echoed", t->listening_line);
}

/*
 * Echo is bytes, not text. Catches a buffer treated as a C string (stops at NUL), a fixed reply,
 * and data lost or reordered at any size from 1 B to 4 MiB.
 */
static void echoes_random_binary_payloads(const struct target *t, struct result *r)
{
    static const size_t sizes[] = {1, 2, 100, 4096, 65536 + 13, MIB, 4 * MIB + 1};
    char what[96], a[48];

    expect(r, "each payload (1 B to 4 MiB, every byte value, NULs included) back byte for byte");
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        sock_t s = connect_client(t, r, "the client");

        snprintf(what, sizeof what, "payload of %s", size_text(sizes[i], a, sizeof a));
        if (s == BAD_SOCKET || !echo_on(s, r, what, sizes[i], 0, i + 1)) {
            net_close(s);
            return;
        }
        net_close(s);
    }
    pass(r, "7 payloads from 1 B to 4 MiB came back byte for byte");
}

/*
 * A long transfer with both directions busy at once. Catches a partial send() that is not
 * continued and a receive buffer reused before its bytes were sent back.
 */
static void echoes_a_bulk_transfer_while_sending(const struct target *t, struct result *r)
{
    expect(r, "16 MiB, sent in 64 KiB writes while reading, back byte for byte");
    one_transfer_is_echoed(t, r, "bulk transfer", 16 * MIB, 64 * KIB, 42,
                           "16 MiB came back byte for byte");
}

/*
 * Many tiny segments. Catches code that assumes one recv() per message or a minimum size.
 */
static void echoes_one_byte_writes(const struct target *t, struct result *r)
{
    expect(r, "1000 bytes sent one byte per write, back in order");
    one_transfer_is_echoed(t, r, "one-byte writes", 1000, 1, 5,
                           "1000 one-byte writes came back in order");
}

/*
 * The client's FIN. Catches a server that never closes after recv() returns 0 (the client waits
 * forever), that closes before sending what it owes, or that resets instead of closing.
 */
static void echoes_everything_then_closes_after_half_close(const struct target *t, struct result *r)
{
    enum { LEN = 100 * KIB };
    unsigned char *out = malloc(LEN), *in = malloc(LEN), extra;
    struct exchange x;
    sock_t s = connect_client(t, r, "the client");

    expect(r, "after shutdown(SD_SEND) by the client: all 100 KiB back, then end of stream (recv() "
              "== 0)");
    if (out == NULL || in == NULL)
        fail(r, NULL, "the harness ran out of memory");
    if (s == BAD_SOCKET || out == NULL || in == NULL)
        goto done;
    memset(&x, 0, sizeof x);
    make_payload(out, LEN, 3);
    x.out = out;
    x.out_len = LEN;
    x.in = in;
    x.half_close = 1;
    if (!judge_echo(r, "before the end of stream", &x,
                    exchange_run(s, &x, now_ms() + CHECK_BUDGET_MS)))
        goto done;
    switch (read_one_byte(s, &extra, now_ms() + EXIT_BUDGET_MS)) {
    case 0: pass(r, "100 KiB back, then end of stream"); break;
    case -3:
        fail(r,
             "when recv() returns 0 the client is done: shutdown(SD_SEND) or closesocket() your "
             "side",
             "the echo, then nothing: the connection was still open %d s later",
             EXIT_BUDGET_MS / 1000);
        break;
    case -1:
        fail(r, "close with shutdown(SD_SEND) then closesocket(), not an abortive close",
             "the echo, then a reset instead of an orderly end of stream");
        break;
    default:
        fail(r, "send back only what was received",
             "the echo, then more bytes that were never sent");
        break;
    }
done:
    net_close(s);
    free(out);
    free(in);
}

/**
 * \brief Send without reading until the server stops taking data, the way a
 * flooding client does. Returns the number of bytes sent, 0 on failure.
 */
static size_t send_until_pushed_back(sock_t s, struct result *r, const unsigned char *data,
                                     size_t len)
{
    size_t sent = 0;

    while (sent < len) {
        int ready = net_wait(s, NET_WRITABLE, now_ms() + STALL_MS);
        long n;

        if (ready == 0 && sent == 0)
            fail(r, "accept the connection and read from it", "the server took no data at all");
        if (ready == 0)
            return sent; /* no room for STALL_MS: everything between us is full */
        n = ready > 0 ? net_send(s, data + sent, len - sent) : -1;
        if (n < 0) {
            char text[160];

            fail(r, "a client that does not read yet must not be dropped",
                 "the connection failed after %lu bytes were sent unread: %s", (unsigned long)sent,
                 net_error_text(text, sizeof text));
            return 0;
        }
        sent += (size_t)n;
    }
    return sent;
}

/*
 * Back-pressure: a client floods without reading until every buffer between us is full. Catches a
 * server that gives up on a client whose send() cannot make progress, or loses bytes when it can
 * again.
 */
static void survives_a_client_that_sends_without_reading(const struct target *t, struct result *r)
{
    enum { LIMIT = 32 * MIB };
    unsigned char *out = malloc(LIMIT), *in = malloc(LIMIT);
    struct exchange x;
    size_t sent;
    char a[48];
    sock_t s = connect_client(t, r, "the flooding client");

    expect(
        r,
        "a client that sends without reading until the server pushes back gets every byte once it "
        "reads, and the next client is served");
    if (out == NULL || in == NULL)
        fail(r, NULL, "the harness ran out of memory");
    if (s == BAD_SOCKET || out == NULL || in == NULL)
        goto done;
    net_small_buffers(s, 64 * KIB);
    make_payload(out, LIMIT, 11);
    sent = send_until_pushed_back(s, r, out, LIMIT);
    if (sent == 0)
        goto done;
    /* Now read: the server must resume where it stopped, nothing lost. */
    memset(&x, 0, sizeof x);
    x.out = out;
    x.out_len = sent;
    x.sent = sent;
    x.in = in;
    if (!judge_echo(r, "the flooding client, once it read", &x,
                    exchange_run(s, &x, now_ms() + CHECK_BUDGET_MS)))
        goto done;
    net_close(s);
    s = BAD_SOCKET;
    if (fresh_client_is_served(t, r, "the next client", 64 * KIB))
        pass(r, "%s sent unread came back once read; the next client was served",
             size_text(sent, a, sizeof a));
done:
    net_close(s);
    free(out);
    free(in);
}

/*
 * A reset while the server is sending. Catches a server that ends (or hangs) when send() fails
 * with WSAECONNRESET.
 */
static void serves_the_next_client_after_a_reset_mid_transfer(const struct target *t,
                                                              struct result *r)
{
    enum { LEN = 4 * MIB };
    unsigned char *out = malloc(LEN), first;
    sock_t s = connect_client(t, r, "the client that resets");

    expect(r, "a client resets in the middle of a 4 MiB transfer; the server lives on and serves "
              "the next client");
    if (out == NULL)
        fail(r, NULL, "the harness ran out of memory");
    if (s == BAD_SOCKET || out == NULL)
        goto done;
    net_small_buffers(s, 64 * KIB);
    make_payload(out, LEN, 13);
    /* The transfer is under way once the first echoed byte is back. */
    if (send_until_pushed_back(s, r, out, LEN) == 0)
        goto done;
    if (read_one_byte(s, &first, now_ms() + CHECK_BUDGET_MS) != 1) {
        fail(r, "echo what arrives as it arrives",
             "no echo at all for the client before its reset");
        goto done;
    }
    net_reset(s);
    s = BAD_SOCKET;
    if (fresh_client_is_served(t, r, "the client after the reset", 64 * KIB))
        pass(r, "the server survived a reset mid-transfer and served the next client");
done:
    net_close(s);
    free(out);
}

/*
 * A reset while the server waits in recv(). Catches a server that ends when recv() fails with
 * WSAECONNRESET.
 */
static void serves_the_next_client_after_a_reset_while_idle(const struct target *t,
                                                            struct result *r)
{
    sock_t s = connect_client(t, r, "the client that resets");

    expect(r, "a client is echoed, then resets while idle; the server lives on and serves the next "
              "client");
    if (s == BAD_SOCKET || !echo_on(s, r, "the client before its reset", 100, 0, 17)) {
        net_close(s);
        return;
    }
    /* Idle for real: the server is back in its receive when the reset comes. (Under Wine a reset
     * that arrives between the server's send and its next recv reads as a normal end of stream.) */
    if (net_wait(s, NET_READABLE, now_ms() + IDLE_MS) != 0) {
        fail(r, "send back only what was received",
             "the server sent more than the echo, or closed, while idle");
        net_close(s);
        return;
    }
    net_reset(s);
    if (fresh_client_is_served(t, r, "the client after the reset", 64 * KIB))
        pass(r, "the server survived an idle reset and served the next client");
}

/*
 * A client connects and resets before the server has accepted it (with one
 * client at a time: while another client is served). Catches an accept loop
 * that ends on any accept() error: under Wine such a client comes out of
 * accept() as WSAENOTCONN, on Windows often as WSAECONNRESET.
 */
static void serves_the_next_client_after_a_reset_before_accept(const struct target *t,
                                                               struct result *r)
{
    sock_t first, early;

    expect(r, "a client resets before the server accepted it; the server lives on and serves the "
              "next client");
    if (!first_served_then_second(t, r, &first, &early, "the client that resets"))
        goto done;
    net_reset(early);
    early = BAD_SOCKET;
    net_close(first);
    first = BAD_SOCKET;
    if (fresh_client_is_served(t, r, "the client after the reset", 64 * KIB))
        pass(r, "the server survived a client that reset before being accepted, and served the "
                "next one");
done:
    net_close(first);
    net_close(early);
}

/** \brief \p text contains one of the NULL-terminated \p words (lower case), ignoring case. */
static int mentions(const char *text, const char *const *words)
{
    char low[2048];
    size_t i;

    for (i = 0; text[i] && i + 1 < sizeof low; i++)
        low[i] = (char)(text[i] >= 'A' && text[i] <= 'Z' ? text[i] - 'A' + 'a' : text[i]);
    low[i] = '\0';
    for (; *words; words++)
        if (strstr(low, *words))
            return 1;
    return 0;
}

/** \brief mentions() for each of the NULL-terminated \p lists. */
static int mentions_all(const char *text, const char *const *const *lists)
{
    for (; *lists; lists++)
        if (!mentions(text, *lists))
            return 0;
    return 1;
}

/**
 * \brief Run the program with \p args and check that it ends by itself with
 * \p want_code, says on stderr one word of each list in \p want_words
 * (NULL-terminated lists of lists), and
 * prints nothing on stdout. Returns 1 when it did.
 */
static int ends_with_error(const struct target *t, struct result *r, const char *const *args,
                           const char *shown, int want_code, const char *const *const *want_words,
                           const char *hint)
{
    char err[256], out_text[256], err_text[1024], why[600];
    int code = -1, ok = 0;
    struct proc *p = proc_start(t->exe, args, err, sizeof err);

    if (p == NULL) {
        fail(r, NULL, "could not start %s: %s", t->exe, err);
        return 0;
    }
    if (!proc_wait(p, now_ms() + EXIT_BUDGET_MS, &code)) {
        fail(r, hint, "'%s' was still running %d s later", shown, EXIT_BUDGET_MS / 1000);
    } else {
        one_line(proc_stdout(p, out_text, sizeof out_text));
        one_line(proc_stderr(p, err_text, sizeof err_text));
        if (proc_wine_failed(p, why, sizeof why))
            fail(r, NULL, "no verdict on the program: Wine failed to start '%s', twice: %s", shown,
                 why);
        else if (code != want_code)
            fail(r, hint, "'%s' exited with code %d (stderr: '%s')", shown, code, err_text);
        else if (!mentions_all(err_text, want_words))
            fail(r, hint, "'%s' exited with code %d but stderr said '%s'", shown, code, err_text);
        else if (out_text[0])
            fail(r, "stdout is for the listening line only", "'%s' printed '%s' on stdout", shown,
                 out_text);
        else
            ok = 1;
    }
    proc_stop(p);
    return ok;
}

/*
 * The command-line contract. Catches atoi() for the port ("80x" is 80), no range check, an
 * unchecked address and extra arguments that are silently ignored.
 */
static void rejects_bad_command_lines_with_usage(const struct target *t, struct result *r)
{
    static const struct {
        const char *shown;
        const char *args[4];
    } bad[] = {
        {"abc", {"abc", NULL}},
        {"65536", {"65536", NULL}},
        {"-1", {"-1", NULL}},
        {"80x", {"80x", NULL}},
        {"0 not-an-address", {"0", "not-an-address", NULL}},
        {"0 127.0.0.1 extra", {"0", "127.0.0.1", "extra", NULL}},
    };

    expect(r, "for each bad command line: a usage line on stderr and exit code 2");
    if (skip_unless(t->exe != NULL, r, "start the program itself"))
        return;
    static const char *const usage_word[] = {"usage", NULL};
    static const char *const *const usage[] = {usage_word, NULL};

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (!ends_with_error(
                t, r, bad[i].args, bad[i].shown, 2, usage,
                "check the argument count, and parse the port with strtoul() and an end check "
                "(atoi takes '80x' as 80), then print 'usage: ...' to stderr and return 2"))
            return;
    pass(r, "6 bad command lines: usage on stderr, exit code 2");
}

/*
 * A failed start names the call and the error. Catches SO_REUSEADDR (on Windows it lets the
 * bind succeed on a port in use), a silent exit and an exit code of 0.
 */
static void reports_a_port_in_use_naming_bind(const struct target *t, struct result *r)
{
    char port_text[16];
    const char *args[] = {port_text, NULL};
    static const char *const bind_call[] = {"bind", NULL};
    static const char *const in_use[] = {"10048", "wsaeaddrinuse", "in use", "only one usage",
                                         NULL};
    static const char *const *const bind_and_error[] = {bind_call, in_use, NULL};
    unsigned port = 0;
    sock_t holder;

    expect(r,
           "with the port already taken: one line naming bind and the error (WSAEADDRINUSE, 10048) "
           "on stderr, exit code 1");
    if (skip_unless(t->exe != NULL, r, "start the program itself"))
        return;
    holder = net_listen_loopback(&port);
    if (holder == BAD_SOCKET) {
        fail(r, NULL, "the harness could not take a port to test with");
        return;
    }
    snprintf(port_text, sizeof port_text, "%u", port);
    if (ends_with_error(
            t, r, args, port_text, 1, bind_and_error,
            "report the failed call and its error, e.g. 'bind 127.0.0.1:5000: WSAEADDRINUSE "
            "(10048)' from WSAGetLastError(), then return 1"))
        pass(r, "port %s in use: bind and the error on stderr, exit code 1", port_text);
    net_close(holder);
}

/*
 * Lesson 01's limit, shown: one client at a time. A second client's connection completes (the
 * system accepts it into the backlog) but it gets no echo until the first leaves.
 */
static void second_client_waits_until_the_first_leaves(const struct target *t, struct result *r)
{
    sock_t first, second;

    expect(r, "while a first client stays connected, a second one gets no echo; once the first "
              "leaves, it does");
    if (!first_served_then_second(t, r, &first, &second, "the second client"))
        goto done;
    if (net_send(second, "second", 6) != 6) {
        fail(r, NULL, "the second client could not send");
        goto done;
    }
    /* Waiting on the socket, not sleeping: an echo would wake this at once. */
    if (net_wait(second, NET_READABLE, now_ms() + QUIET_MS) != 0) {
        char byte, text[160];
        long n = net_recv(second, &byte, 1);

        if (n > 0)
            fail(r,
                 "this lesson's server serves one client at a time: is this a later lesson's "
                 "server?",
                 "the second client got an echo while the first was still connected");
        else
            fail(r, "a waiting client must not be dropped",
                 "the second client's connection %s while it waited",
                 n == 0 ? "was closed" : net_error_text(text, sizeof text));
        goto done;
    }
    net_close(first);
    first = BAD_SOCKET;
    {
        char reply[6];
        size_t got = 0;

        while (got < sizeof reply &&
               net_wait(second, NET_READABLE, now_ms() + CHECK_BUDGET_MS) > 0) {
            long n = net_recv(second, reply + got, sizeof reply - got);

            if (n <= 0 && n != -2)
                break;
            if (n > 0)
                got += (size_t)n;
        }
        if (got != sizeof reply || memcmp(reply, "second", sizeof reply) != 0)
            fail(r, "after a client leaves, accept() the next one",
                 "after the first client left, the second got %lu of its 6 bytes back",
                 (unsigned long)got);
        else
            pass(
                r,
                "the second client waited %.1f s with no echo, then was served when the first left",
                QUIET_MS / 1000.0);
    }
done:
    net_close(first);
    net_close(second);
}

/*
 * The same situation turned around, for every lesson after 01: the limit is gone.
 */
static void serves_a_second_client_while_the_first_stays(const struct target *t, struct result *r)
{
    sock_t first, second;

    expect(r, "a second client echoed while the first stays connected");
    if (first_served_then_second(t, r, &first, &second, "the second client")) {
        if (echo_on(second, r, "the second client, while the first stays", 10, 0, 29))
            pass(r, "both clients were served at the same time");
        else
            snprintf(r->hint, sizeof r->hint, "the server still serves one client at a time");
    }
    net_close(first);
    net_close(second);
}

/*
 * Lesson 02's limit, shown. WSAWaitForMultipleEvents waits on at most WSA_MAXIMUM_WAIT_EVENTS (64)
 * events and one is the listening socket's, so 63 clients are served. Catches a 64th client left
 * hanging instead of being told, one that disturbs the 63, and slots that are not given back when a
 * client leaves (the arrays of sockets and events get out of step).
 */
static void turns_away_the_64th_client_and_keeps_serving(const struct target *t, struct result *r)
{
    struct crowd c;
    unsigned char byte;
    sock_t extra = BAD_SOCKET;
    const char *hint =
        "serve up to 63 clients at once (64 events, one of them the listening socket's)";

    expect(r, "63 clients echoed at once; a 64th closed at once; the 63 still echoed; after one "
              "leaves, the next "
              "client is served");
    if (!crowd_open(&c, t, r, 63, 1024) || !crowd_round(&c, r, "63 clients at once", hint))
        goto done;
    extra = connect_client(t, r, "the 64th client");
    if (extra == BAD_SOCKET)
        goto done;
    (void)net_send(extra, "64th", 4); /* it may already be closed: what counts is what comes back */
    switch (read_one_byte(extra, &byte, now_ms() + EXIT_BUDGET_MS)) {
    case 1:
        fail(r, "this lesson serves 63 clients at most: is this a later lesson's server?",
             "the 64th client was echoed");
        goto done;
    case -3:
        fail(
            r,
            "when all 63 slots are taken, accept the next client and close it at once, so it knows",
            "the 64th client got nothing, not even a close, for %d s", EXIT_BUDGET_MS / 1000);
        goto done;
    default: break; /* end of stream or a reset: turned away */
    }
    if (!crowd_round(&c, r, "the 63, after the 64th was turned away",
                     "turning a client away must not disturb the others"))
        goto done;
    /* One of the 63 leaves properly: its end of stream comes back once the server has closed it. */
    if (net_shutdown_write(c.s[0]) != 0 ||
        read_one_byte(c.s[0], &byte, now_ms() + EXIT_BUDGET_MS) != 0) {
        fail(r, "after recv() returns 0, close the client and free its slot",
             "a client that left got no end of stream");
        goto done;
    }
    if (fresh_client_is_served(t, r, "a new client, after one of the 63 left", 4096))
        pass(r, "63 clients echoed at once, the 64th closed at once, the 63 still echoed, and the "
                "slot of a "
                "client that left served a new one");
    else
        snprintf(r->hint, sizeof r->hint,
                 "a leaving client's slot must be given to the next client: are the "
                 "socket and event arrays kept in step when a slot is freed?");
done:
    net_close(extra);
    crowd_close(&c);
}

/** \brief \p n clients connect, then all are echoed at once: none waits for its first echo. */
static void clients_are_echoed_at_once(const struct target *t, struct result *r, size_t n)
{
    struct crowd c;

    expect(r, "%lu clients connected at the same time, each echoed 4 KiB of its own, twice",
           (unsigned long)n);
    if (crowd_open(&c, t, r, n, 4096) &&
        crowd_round(&c, r, "first round",
                    "every connected client must be served: is there a limit of 63 or 64?") &&
        crowd_round(&c, r, "second round", "a client stopped being echoed"))
        pass(r, "%lu clients, all connected at once, were each echoed twice", (unsigned long)n);
    crowd_close(&c);
}

/*
 * No 64 limit any more (lesson 03): a crowd of clients, all connected at once, all echoed. Catches
 * a server that still waits on one event per client, and one that mixes up clients' buffers.
 */
static void echoes_500_clients_at_once(const struct target *t, struct result *r)
{
    clients_are_echoed_at_once(t, r, 500);
}

/*
 * The I/O completion port's scale (lessons 04-06). Catches a server that runs out of something per
 * client (threads, events, buffers) or mixes up clients' buffers.
 */
static void echoes_1000_clients_at_once(const struct target *t, struct result *r)
{
    clients_are_echoed_at_once(t, r, 1000);
}

/** \brief The threads that did at least \p percent of \p total: how many, and a list for messages.
 */
static int busy_threads(const struct thread_work *w, int64_t total, int percent, char *list,
                        size_t size)
{
    int busy = 0;
    size_t used = 0;

    list[0] = '\0';
    for (int i = 0; i < w->count && i < MAX_THREADS; i++) {
        if (w->t[i].cpu_ms * 100 < total * percent)
            continue;
        busy++;
        if (used < size)
            used += (size_t)snprintf(list + used, size - used, "%s%d%%", busy > 1 ? ", " : "",
                                     (int)(w->t[i].cpu_ms * 100 / (total ? total : 1)));
    }
    return busy;
}

/*
 * Lesson 03's model, shown: completion routines run on the thread that issued the I/O, so one
 * thread does all of it. Catches a thread per client (the thread count grows with the clients) and
 * work spread over several threads.
 */
static void does_all_the_io_on_one_thread(const struct target *t, struct result *r)
{
    static struct thread_work before, work;
    struct crowd c;
    char list[256];
    int64_t total;

    expect(
        r,
        "while 500 clients echo, one server thread does nearly all the work (80%% or more of the "
        "processor time), and the thread count does not grow with the clients");
    if (skip_unless(t->server != NULL, r, "read the server's threads"))
        return;
    if (!crowd_open(&c, t, r, 500, 16 * KIB) ||
        (total = measure_thread_work(t, r, &c, 1000, &before, &work)) < 0)
        goto done;
    if (work.count >= 100)
        fail(r, "this lesson does all the I/O on one thread: is there a thread per client?",
             "the server has %d threads with 500 clients connected", work.count);
    else if (busy_threads(&work, total, 80, list, sizeof list) != 1) {
        (void)busy_threads(&work, total, 10, list, sizeof list);
        fail(r,
             "issue every WSARecv and WSASend from the one I/O thread, whose routines then run "
             "there too",
             "no thread did 80%% of the work; the busy ones had shares of %s",
             list[0] ? list : "less than 10%");
    } else
        pass(r, "one of the server's %d threads did %s of the work (%lld ms of processor time)",
             work.count, list, (long long)total);
done:
    crowd_close(&c);
}

/*
 * The worker pool of lessons 04-06, shown: completions are handed to whichever worker waits, so
 * with 1000 busy clients more than one thread does a real share of the work. Catches a pool of one,
 * and a server that does everything on one thread.
 */
static void spreads_the_work_over_several_threads(const struct target *t, struct result *r)
{
    static struct thread_work before, work;
    struct crowd c;
    char list[256];
    int64_t total;

    expect(r,
           "while 1000 clients echo, at least two server threads each do 10%% or more of the work");
    if (skip_unless(t->server != NULL, r, "read the server's threads"))
        return;
    if (!crowd_open(&c, t, r, 1000, 16 * KIB) ||
        (total = measure_thread_work(t, r, &c, 2000, &before, &work)) < 0)
        goto done;
    if (busy_threads(&work, total, 10, list, sizeof list) < 2)
        fail(r,
             "start a pool of worker threads that all wait in GetQueuedCompletionStatus on the one "
             "port",
             "one thread did the work (shares of threads with 10%% or more: %s)",
             list[0] ? list : "none");
    else
        pass(r, "%d of the server's %d threads did 10%% or more of the work each (%s of %lld ms)",
             busy_threads(&work, total, 10, list, sizeof list), work.count, list, (long long)total);
done:
    crowd_close(&c);
}

/*
 * Accepts must not wait for data (lessons 03-07). Catches AcceptEx posted with a receive buffer:
 * it completes only when the client sends, so silent clients hold every accept posted and the next
 * client is never accepted. More silent clients than a lesson ever has accepts in flight (05-07 add
 * accepts when clients wait, up to 4,096): a server that posts more on FD_ACCEPT only puts the
 * starvation off until its ceiling.
 */
static void serves_a_talking_client_behind_silent_ones(const struct target *t, struct result *r)
{
    enum { SILENT = 4500 };
    struct crowd c;
    char who[64];

    expect(r,
           "%d clients connect and stay silent; a client that then connects and talks is echoed at "
           "once",
           SILENT);
    snprintf(who, sizeof who, "the talking client, after %d silent ones", SILENT);
    if (crowd_open(&c, t, r, SILENT, 1) && fresh_client_is_served(t, r, who, 4096))
        pass(r, "the talking client was echoed with %d silent clients connected before it", SILENT);
    else if (c.n == SILENT)
        snprintf(
            r->hint, sizeof r->hint,
            "an accept must not wait for the client's first bytes: AcceptEx with a receive buffer "
            "completes only when the client sends, so silent clients hold every accept posted, "
            "however many (receive 0 bytes in AcceptEx, or sweep with SO_CONNECT_TIME)");
    crowd_close(&c);
}

static int compare_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;

    return (x > y) - (x < y);
}

/** \brief The median of \p n echo counts (sorted in \p scratch). */
static int median_count(const int *counts, int *scratch, size_t n)
{
    memcpy(scratch, counts, n * sizeof *scratch);
    qsort(scratch, n, sizeof *scratch, compare_int);
    return scratch[n / 2];
}

/*
 * A burst of clients meets a busy server (lessons 03 on). BUSY clients echo 64 B back to back; then
 * BURST more connect all at once, and each echoes as soon as its connect completes. Every client of
 * the burst must get its first echo before the busy clients have made more than MAX_ECHOES echoes
 * each: a limit counted in the busy clients' round trips, not in seconds, so a slow or loaded
 * machine does not change the verdict. Catches accepts that are only replaced through the
 * completion port's queue (AcceptEx re-posted by the worker that dequeues the last one, and no
 * FD_ACCEPT or other way to post more): behind the echo traffic, each trip through the queue lets
 * in only about as many clients as there are accepts posted, however many busy clients make the
 * trip long. Twice as many busy clients as burst clients keep the two apart: measured under Wine,
 * lessons 03-07 serve the burst within 1 or 2 echoes, with two cores loaded too; lesson 05 without
 * its backlog event (256 accepts re-posted one for one) needs 7, about 570 clients a trip. With as
 * many busy clients as burst clients, a loaded run of lesson 06 once needed 5.
 */
static void serves_every_client_of_a_burst(const struct target *t, struct result *r)
{
    enum { BUSY = 8000, BURST = 4000, MAX_ECHOES = 4 };
    struct crowd c;
    int *scratch = malloc(BUSY * sizeof *scratch);
    size_t waiting = BURST, stopped = 0;
    int busy_echoes = 0;
    int64_t start, moved, deadline;

    expect(
        r,
        "%d clients echo back to back; %d more connect in one burst, and each gets its first echo "
        "while the first %d make at most %d echoes each",
        BUSY, BURST, BUSY, MAX_ECHOES);
    /* The busy clients first, each echoed once: the port's queue is in its steady state when the
     * burst comes. */
    if (scratch == NULL || !crowd_alloc(&c, r, BUSY + BURST, 64) ||
        !crowd_connect(&c, t, r, BUSY, 0) ||
        !crowd_round(&c, r, "the busy clients, before the burst",
                     "every connected client must be echoed") ||
        !crowd_connect(&c, t, r, BUSY + BURST, 1)) {
        if (scratch == NULL)
            fail(r, NULL, "the harness ran out of memory");
        crowd_close(&c);
        free(scratch);
        return;
    }
    c.messages = INT_MAX; /* every client echoes again and again until the check ends */
    crowd_start_round(&c);
    start = moved = now_ms();
    deadline = start + CHECK_BUDGET_MS;
    while (waiting > 0 && busy_echoes <= MAX_ECHOES && now_ms() < deadline) {
        int64_t limit = moved + STALL_BUDGET_MS < deadline ? moved + STALL_BUDGET_MS : deadline;

        if (crowd_pump(&c, limit) <= 0)
            break;
        moved = now_ms();
        waiting = stopped = 0;
        for (size_t i = BUSY; i < c.n; i++) {
            waiting += c.sent_messages[i] == 0 && !c.done[i];
            stopped += c.done[i];
        }
        if (stopped > 0)
            break;
        busy_echoes = median_count(c.sent_messages, scratch, BUSY);
    }
    if (stopped > 0)
        fail(r,
             "a client of the burst was closed or reset: is the backlog too short, or an accept "
             "failure "
             "taken for the end of the server?",
             "%lu of the %d clients of the burst were closed or reset", (unsigned long)stopped,
             BURST);
    else if (waiting > 0 && busy_echoes > MAX_ECHOES)
        fail(r,
             "accepts are not keeping up with a burst: AcceptEx re-posted one for one through the "
             "port's "
             "queue waits behind the echo traffic; post more when clients wait (WSAEventSelect "
             "FD_ACCEPT "
             "on the listener)",
             "%lu of the %d clients of the burst still had no echo after the busy clients made %d "
             "echoes "
             "each (%.1f s)",
             (unsigned long)waiting, BURST, busy_echoes, (double)(now_ms() - start) / 1000.0);
    else if (waiting > 0)
        fail(r, "is the server still accepting?",
             "%lu of the %d clients of the burst had no echo, and nothing "
             "moved for %d s",
             (unsigned long)waiting, BURST, STALL_BUDGET_MS / 1000);
    else
        pass(r,
             "all %d clients of the burst got their first echo within %.1f s, while the busy "
             "clients made "
             "%d echoes each (at most %d allowed)",
             BURST, (double)(now_ms() - start) / 1000.0, busy_echoes, MAX_ECHOES);
    crowd_close(&c);
    free(scratch);
}

/** \brief Pump \p c until the server ends or \p deadline; returns 1 with its exit code when it
 * ended. */
static int pump_until_exit(const struct target *t, struct crowd *c, int64_t deadline, int *code)
{
    while (!proc_wait(t->server, now_ms(), code)) {
        int64_t slice = now_ms() + 20;

        if (now_ms() >= deadline)
            return 0;
        /* Reading keeps the server's sends moving, as real clients would; the wait is on the
         * sockets, a short slice at a time, so the exit is seen soon after it happens. */
        if (crowd_pump(c, slice < deadline ? slice : deadline) <= 0)
            (void)proc_wait(t->server, slice < deadline ? slice : deadline, code);
    }
    return 1;
}

/**
 * \brief Read the last line of the ended server's stdout into \p line as the shutdown summary.
 * Returns 1 when it has exactly that form and says 0 objects, with the two counts; otherwise fails
 * the check and returns 0.
 */
static int summary_says_all_freed(const struct target *t, struct result *r, char *line, size_t size,
                                  unsigned long *served, unsigned long long *echoed)
{
    char out[1024], again[256];
    const char *last;
    unsigned long objects = 0;
    size_t n;

    proc_stdout(t->server, out, sizeof out);
    n = strlen(out);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = '\0';
    last = strrchr(out, '\n') ? strrchr(out, '\n') + 1 : out;
    snprintf(line, size, "%s", last);
    if (sscanf(line,
               "shutdown complete: %lu connections served, %llu bytes echoed, %lu objects still "
               "allocated",
               served, echoed, &objects) != 3 ||
        snprintf(again, sizeof again,
                 "shutdown complete: %lu connections served, %llu bytes echoed, %lu objects "
                 "still allocated",
                 *served, *echoed, objects) < 0 ||
        strcmp(again, line) != 0) {
        fail(r, "print the summary as the last line of stdout, exactly in that form, and flush",
             "the last line of stdout was '%s'", line);
        return 0;
    }
    if (objects != 0) {
        fail(r,
             "free every connection and every per-I/O structure once its last operation completed",
             "'%s': a leak, or a count that is not kept where the objects are allocated and freed",
             line);
        return 0;
    }
    return 1;
}

/*
 * Lesson 06: Ctrl+C under load. Catches a shutdown that hangs on pending I/O, one that exits
 * without draining, leaks (the count of live objects is not 0), a wrong summary line, and a
 * non-zero exit code.
 */
static void shuts_down_cleanly_on_ctrl_c_under_load(const struct target *t, struct result *r)
{
    enum { CLIENTS = 200, SHUTDOWN_MS = 2000 };
    struct crowd c;
    char errs[1024], line[256];
    unsigned long served = 0;
    unsigned long long echoed = 0;
    uint64_t received;
    int code = -1;
    int64_t asked;

    expect(r,
           "Ctrl+C with %d busy clients: exit code 0 within %.0f s, and a last line 'shutdown "
           "complete: N "
           "connections served, N bytes echoed, 0 objects still allocated'",
           CLIENTS, SHUTDOWN_MS / 1000.0);
    if (skip_unless(t->server != NULL, r, "interrupt the server"))
        return;
    if (!crowd_open(&c, t, r, CLIENTS, 256 * KIB) ||
        !crowd_round(&c, r, "before Ctrl+C", "every client must be echoed"))
        goto done;
    received = crowd_received(&c);
    /* Busy: a new round is well under way when Ctrl+C comes. */
    crowd_start_round(&c);
    while (crowd_received(&c) < (uint64_t)CLIENTS * c.len / 8)
        if (crowd_pump(&c, now_ms() + STALL_BUDGET_MS) <= 0) {
            fail(r, "every client must be echoed", "the echo stalled before Ctrl+C was sent");
            goto done;
        }
    proc_interrupt(t->server);
    r->server_ended_on_purpose = 1;
    asked = now_ms();
    if (!pump_until_exit(t, &c, asked + SHUTDOWN_MS, &code)) {
        int ended = pump_until_exit(t, &c, asked + EXIT_BUDGET_MS, &code);

        fail(r,
             "on Ctrl+C: stop accepting, CancelIoEx every socket, wait for the completions, post "
             "one exit packet "
             "per worker, join them",
             ended ? "the server took %.1f s to exit after Ctrl+C"
                   : "the server was still running %.0f s after Ctrl+C",
             (double)(now_ms() - asked) / 1000.0);
        goto done;
    }
    received += crowd_received(&c);
    one_line(proc_stderr(t->server, errs, sizeof errs));
    if (code != 0) {
        fail(r, "a requested shutdown is a success: exit code 0",
             "exit code %d after Ctrl+C (stderr: '%s')", code, errs);
        goto done;
    }
    if (!summary_says_all_freed(t, r, line, sizeof line, &served, &echoed)) {
        /* failed, and said why */
    } else if (served < CLIENTS) {
        fail(r, "count each accepted connection", "'%s', but the harness connected %d clients",
             line, CLIENTS);
    } else if (echoed < received) {
        fail(r, "count every byte sent back", "'%s', but %llu bytes came back to the harness", line,
             (unsigned long long)received);
    } else {
        pass(r, "exit code 0 %.1f s after Ctrl+C, last line '%s'",
             (double)(now_ms() - asked) / 1000.0, line);
    }
done:
    crowd_close(&c);
}

/* ---------------------------------------------- lesson 07's options ---- */

/**
 * \brief Start a server of the check's own, \p t->exe with \p args, into \p own. Returns 1, or
 * fails the check and returns 0 (skipped without --exe: a running server's options are its own).
 */
static int own_server(const struct target *t, struct result *r, struct target *own,
                      const char *const *args)
{
    char err[1024];

    memset(own, 0, sizeof *own);
    own->exe = t->exe;
    if (skip_unless(t->exe != NULL, r, "start the program with options of its own"))
        return 0;
    if (target_start_with(own, args, err, sizeof err) != 0) {
        fail(r, "start with the lesson's options, as its usage line says",
             "the server did not start: %s", err);
        return 0;
    }
    return 1;
}

/** \brief Stop \p own; a server that ended by itself during the check fails it (that is no pass).
 */
static void own_server_stop(struct target *own, struct result *r)
{
    char errs[1024];
    int code;

    if (own->server != NULL && !r->server_ended_on_purpose &&
        proc_wait(own->server, now_ms(), &code))
        fail(r, "a client's error or silence must close that client only, never end the server",
             "the server exited with code %d during the check (stderr: '%s')", code,
             one_line(proc_stderr(own->server, errs, sizeof errs)));
    else if (own->server != NULL && !r->passed) { /* what the server said may name the cause */
        size_t used = strlen(r->got);

        snprintf(r->got + used, sizeof r->got - used, " (server's stderr: '%.200s')",
                 one_line(proc_stderr(own->server, errs, sizeof errs)));
    }
    target_stop(own);
}

/*
 * Lesson 07: the idle timeout. One client is echoed once and falls silent; another sends a byte
 * every 500 ms. Catches no timeout at all, a timeout counted from the connect instead of the last
 * byte (the talking client would be closed), a sweep that closes too early, and a sweep that never
 * runs while the server is busy.
 */
static void closes_an_idle_client_after_the_timeout(const struct target *t, struct result *r)
{
    enum { TIMEOUT_S = 2, GRACE_S = 4, TALK_MS = 500 };
    static const char *const args[] = {"--idle-timeout", "2", "0", NULL};
    struct target own;
    sock_t idle = BAD_SOCKET, talker = BAD_SOCKET;
    int64_t sent_at, quiet_since, closed_at = 0;
    long got = -3;
    unsigned char byte;
    uint64_t seed = 100;

    expect(r,
           "with --idle-timeout %d: the silent client closed %d to %d s after its echo; the "
           "talking client "
           "still echoed after that",
           TIMEOUT_S, TIMEOUT_S, TIMEOUT_S + GRACE_S);
    if (!own_server(t, r, &own, args))
        return;
    idle = connect_client(&own, r, "the idle client");
    talker = connect_client(&own, r, "the talking client");
    /* The server's last completion for the idle client lies between these two times: "too early" is
     * measured from the first, "too late" from the second, so a slow harness cannot fake either. */
    sent_at = now_ms();
    if (idle == BAD_SOCKET || talker == BAD_SOCKET ||
        !echo_on(idle, r, "the idle client", 10, 0, 23))
        goto done;
    quiet_since = now_ms();
    while (now_ms() < quiet_since + (TIMEOUT_S + GRACE_S) * 1000) {
        got = read_one_byte(idle, &byte, now_ms() + TALK_MS);
        if (got != -3) {
            closed_at = now_ms();
            break;
        }
        if (!echo_on(talker, r, "the talking client", 1, 0, seed++))
            goto done;
    }
    if (closed_at == 0)
        fail(r,
             "close a client whose last operation completed longer ago than the timeout: a sweep "
             "on a timer",
             "the idle client was still open %d s after its echo", TIMEOUT_S + GRACE_S);
    else if (got == 1)
        fail(r, NULL, "the idle client received a byte it never sent");
    else if (closed_at - sent_at <
             TIMEOUT_S * 1000 - 50) /* 50 ms: GetTickCount64 moves in steps of 10-16 ms */
        fail(r, "count the silence from the client's last completed operation",
             "the idle client was closed (%s) %.2f s after it sent its bytes, before the %d s "
             "timeout",
             got == 0 ? "end of stream" : "reset", (double)(closed_at - sent_at) / 1000.0,
             TIMEOUT_S);
    else if (echo_on(talker, r, "the talking client, after the idle one was closed", 1, 0, seed))
        pass(r,
             "the idle client was closed %.1f s after its echo (%s); the talking client, connected "
             "as long, "
             "still echoed",
             (double)(closed_at - quiet_since) / 1000.0, got == 0 ? "end of stream" : "reset");
done:
    net_close(idle);
    net_close(talker);
    own_server_stop(&own, r);
}

/*
 * Lesson 07: the connection cap. Catches a cap that is not kept (the 5th client is echoed at once),
 * one that refuses clients instead of leaving them in the backlog (the 5th is closed), and a slot
 * that is not given back when a client leaves (the 5th waits for ever).
 */
static void serves_the_client_beyond_the_cap_once_one_leaves(const struct target *t,
                                                             struct result *r)
{
    enum { CAP = 4 };
    static const char *const args[] = {"--max-connections", "4", "0", NULL};
    struct target own;
    sock_t s[CAP + 1];
    const unsigned char sent = 0x5a;
    unsigned char byte = 0;
    long got;
    int64_t left;
    size_t n;

    expect(r,
           "with --max-connections %d: %d clients echoed; client %d gets no echo for %.1f s, then "
           "is echoed "
           "once one of them leaves",
           CAP, CAP, CAP + 1, QUIET_MS / 1000.0);
    for (n = 0; n <= CAP; n++)
        s[n] = BAD_SOCKET;
    if (!own_server(t, r, &own, args))
        return;
    for (n = 0; n < CAP; n++) {
        s[n] = connect_client(&own, r, "a client under the cap");
        if (s[n] == BAD_SOCKET || !echo_on(s[n], r, "a client under the cap", 100, 0, 40 + n))
            goto done;
    }
    /* The system completes the connection into the backlog even when the server accepts nobody. */
    s[CAP] = connect_client(&own, r, "the client beyond the cap");
    if (s[CAP] == BAD_SOCKET)
        goto done;
    if (net_send(s[CAP], &sent, 1) != 1) {
        fail(r, NULL, "the client beyond the cap could not send its byte");
        goto done;
    }
    got = read_one_byte(s[CAP], &byte, now_ms() + QUIET_MS);
    if (got == 1) {
        fail(r, "at the cap, post no accept: the client beyond it must wait in the backlog",
             "client %d was echoed while %d clients were connected", CAP + 1, CAP);
        goto done;
    }
    if (got != -3) {
        fail(r, "at the cap, leave the client in the backlog: do not accept and close it",
             "client %d was closed (%s) while %d clients were connected", CAP + 1,
             got == 0 ? "end of stream" : "reset", CAP);
        goto done;
    }
    net_close(s[0]);
    s[0] = BAD_SOCKET;
    left = now_ms();
    got = read_one_byte(s[CAP], &byte, now_ms() + STALL_BUDGET_MS);
    if (got != 1 || byte != sent)
        fail(r, "when a client leaves, give its slot to a new accept at once",
             got == 1 ? "client %d got a wrong byte after one of the %d left"
                      : "client %d got no echo within %d s after one of the %d left",
             CAP + 1, got == 1 ? CAP : STALL_BUDGET_MS / 1000, CAP);
    else if (echo_on(s[1], r, "a client under the cap, afterwards", 100, 0, 50))
        pass(r, "client %d waited while %d were connected, and was echoed %.2f s after one left",
             CAP + 1, CAP, (double)(now_ms() - left) / 1000.0);
done:
    for (n = 0; n <= CAP; n++)
        net_close(s[n]);
    own_server_stop(&own, r);
}

/*
 * Lesson 07: IPv6. Catches an IPv4-only listener, AcceptEx address sizes too small for an IPv6
 * address (the accept fails or the peer's address is garbage), and a listening line that does not
 * say where the server listens.
 */
static void echoes_over_ipv6_loopback(const struct target *t, struct result *r)
{
    static const char *const args[] = {"0", "::1", NULL};
    struct target own;
    char expected[64];
    sock_t s;

    expect(
        r,
        "started with '0 ::1': the line 'listening on [::1]:PORT', and a client over IPv6 echoed");
    if (!own_server(t, r, &own, args))
        return;
    snprintf(expected, sizeof expected, "listening on [::1]:%u", own.port);
    if (strcmp(own.listening_line, expected) != 0 || strcmp(own.host, "::1") != 0) {
        fail(r, "write an IPv6 address in brackets before its port: 'listening on [::1]:PORT'",
             "the listening line was '%s'", own.listening_line);
    } else {
        s = connect_client(&own, r, "the IPv6 client");
        if (s != BAD_SOCKET && echo_on(s, r, "the IPv6 client", 256 * KIB, 0, 61))
            pass(r, "'%s', and 256 KiB over IPv6 came back byte for byte", own.listening_line);
        net_close(s);
    }
    own_server_stop(&own, r);
}

/*
 * Lesson 07: the shutdown still frees everything after the idle sweep closed clients. Catches a
 * sweep that frees a connection with its operation in flight, or forgets one (the count is not 0),
 * and a pooled buffer that is never given back.
 */
static void shuts_down_cleanly_after_idle_timeouts(const struct target *t, struct result *r)
{
    enum { CLIENTS = 20, TIMEOUT_S = 1, GRACE_S = 5, SHUTDOWN_MS = 2000 };
    static const char *const args[] = {"--idle-timeout", "1", "0", NULL};
    struct target own;
    struct crowd c;
    char line[256], errs[1024];
    unsigned long served = 0;
    unsigned long long echoed = 0;
    unsigned char byte;
    int code = -1;
    int64_t deadline, asked;

    expect(r,
           "with --idle-timeout %d: %d clients echoed, then closed by the server within %d s; then "
           "Ctrl+C: "
           "exit code 0 within %.0f s and '0 objects still allocated'",
           TIMEOUT_S, CLIENTS, TIMEOUT_S + GRACE_S, SHUTDOWN_MS / 1000.0);
    memset(&c, 0, sizeof c);
    if (!own_server(t, r, &own, args))
        return;
    if (!crowd_open(&c, &own, r, CLIENTS, 16 * KIB) ||
        !crowd_round(&c, r, "before the timeout", "every client must be echoed"))
        goto done;
    deadline = now_ms() + (TIMEOUT_S + GRACE_S) * 1000;
    for (size_t i = 0; i < c.n; i++) {
        long got = read_one_byte(c.s[i], &byte, deadline);

        if (got == -3 || got == 1) {
            fail(r, "close a client whose last operation completed longer ago than the timeout",
                 got == 1 ? "client %lu received a byte it never sent"
                          : "client %lu was still open %d s after its echo",
                 (unsigned long)i + 1, TIMEOUT_S + GRACE_S);
            goto done;
        }
    }
    proc_interrupt(own.server);
    r->server_ended_on_purpose = 1;
    asked = now_ms();
    if (!proc_wait(own.server, asked + SHUTDOWN_MS, &code)) {
        int ended = proc_wait(own.server, asked + EXIT_BUDGET_MS, &code);

        fail(r, "on Ctrl+C: cancel, drain, post the exit packets, join the workers",
             ended ? "the server took %.1f s to exit after Ctrl+C (stdout: '%s')"
                   : "the server was still running %.0f s after Ctrl+C (stdout: '%s')",
             (double)(now_ms() - asked) / 1000.0,
             one_line(proc_stdout(own.server, line, sizeof line)));
        goto done;
    }
    if (code != 0) {
        fail(r, "a requested shutdown is a success: exit code 0",
             "exit code %d after Ctrl+C (stderr: '%s')", code,
             one_line(proc_stderr(own.server, errs, sizeof errs)));
        goto done;
    }
    if (summary_says_all_freed(&own, r, line, sizeof line, &served, &echoed)) {
        if (served < CLIENTS)
            fail(r, "count each accepted connection", "'%s', but the harness connected %d clients",
                 line, CLIENTS);
        else
            pass(r,
                 "%d clients closed by the idle sweep; then exit code 0 %.1f s after Ctrl+C, last "
                 "line '%s'",
                 CLIENTS, (double)(now_ms() - asked) / 1000.0, line);
    }
done:
    crowd_close(&c);
    own_server_stop(&own, r);
}

/*
 * Hardening: many clients reset at once, some with data in flight. Catches a server that ends,
 * hangs or leaks a slot when errors pile up in one burst.
 */
static void survives_many_resets_at_once(const struct target *t, struct result *r)
{
    enum { CLIENTS = 50 };
    struct crowd c;

    expect(r, "%d clients send data, then all reset at the same moment; the next client is served",
           CLIENTS);
    if (crowd_open(&c, t, r, CLIENTS, 64 * KIB)) {
        crowd_start_round(&c);
        (void)crowd_pump(&c,
                         now_ms() + 50); /* some bytes in flight: the resets hit a busy server */
        for (size_t i = 0; i < c.n; i++) {
            net_reset(c.s[i]);
            c.s[i] = BAD_SOCKET;
        }
        if (fresh_client_is_served(t, r, "the client after the resets", 64 * KIB))
            pass(r, "%d clients reset at once; the next client was served", CLIENTS);
    }
    crowd_close(&c);
}

/*
 * Hardening: clients that connect and leave at once, without a byte. Catches a server that treats
 * an empty connection as an error worth dying for, or that waits on it forever.
 */
static void survives_clients_that_connect_and_vanish(const struct target *t, struct result *r)
{
    enum { CLIENTS = 100 };

    expect(r, "%d clients connect and close at once without sending; the next client is served",
           CLIENTS);
    for (int i = 0; i < CLIENTS; i++) {
        sock_t s = connect_client(t, r, "a client that vanishes");

        if (s == BAD_SOCKET)
            return;
        net_close(s);
    }
    if (fresh_client_is_served(t, r, "the client after them", 64 * KIB))
        pass(r, "%d clients came and went without a byte; the next client was served", CLIENTS);
}

/** \brief Processor time the server used, all threads together, or -1 when it cannot be read. */
static int64_t server_cpu_ms(const struct target *t)
{
    static struct thread_work w;
    int64_t total = 0;

    if (!thread_snapshot(t, &w))
        return -1;
    for (int i = 0; i < w.count && i < MAX_THREADS; i++)
        total += w.t[i].cpu_ms > 0 ? w.t[i].cpu_ms : 0;
    return total;
}

/*
 * Hardening: more connections at once than the server holds, then all gone. The server refuses or
 * queues what it cannot hold, serves the ones it has, and afterwards is idle and serves again.
 * Catches a crash, a server that stops accepting after a refusal, and a busy loop left behind
 * (measured as processor time while nothing happens).
 */
static void recovers_after_a_flood_of_connections(const struct target *t, struct result *r)
{
    enum { FLOOD = 200, QUIET_WINDOW_MS = 1500 };
    struct crowd c;
    unsigned char byte;
    int64_t before, used;

    expect(r,
           "%d connections at once, each sending a byte, then all closed; afterwards the server is "
           "idle "
           "(under half a processor) and serves the next client",
           FLOOD);
    if (!crowd_open(&c, t, r, FLOOD, 1)) {
        crowd_close(&c);
        return;
    }
    crowd_start_round(&c);
    (void)crowd_pump(&c,
                     now_ms() + 200); /* whatever the server can take now; the rest stays queued */
    crowd_close(&c);
    if (!fresh_client_is_served(t, r, "the client after the flood", 4096))
        return;
    if (t->server == NULL) {
        pass(r, "the server served the next client after the flood (idle time not measured: needs "
                "--exe)");
        return;
    }
    /* Quiet on purpose: a client waits for a byte that never comes, and the server's processor time
     * over that window tells whether it spins. */
    {
        sock_t idle = connect_client(t, r, "an idle client");

        before = server_cpu_ms(t);
        if (idle != BAD_SOCKET && net_wait(idle, NET_READABLE, now_ms() + QUIET_WINDOW_MS) != 0 &&
            read_one_byte(idle, &byte, now_ms()) == 1)
            fail(r, "send back only what was received", "an idle client got bytes it never sent");
        used = server_cpu_ms(t) - before;
        net_close(idle);
    }
    if (before < 0 || used < 0)
        fail(r, NULL, "the harness cannot read the server's processor time");
    else if (used * 2 > QUIET_WINDOW_MS)
        fail(r, "after an error, wait for the next event instead of retrying at once",
             "the server used %lld ms of processor time in %.1f s with nothing to do: a busy loop",
             (long long)used, QUIET_WINDOW_MS / 1000.0);
    else
        pass(r,
             "%d connections came and went; the next client was served, and the server then used "
             "%lld ms "
             "of processor time in %.1f quiet seconds",
             FLOOD, (long long)used, QUIET_WINDOW_MS / 1000.0);
}

/*
 * Hardening: a client that reads slowly with megabytes pending does not hold up the others (lessons
 * 02-06). Catches a blocking send, or a server that waits for one client's send to finish before it
 * looks at the others.
 */
static void a_slow_reader_does_not_hold_up_the_others(const struct target *t, struct result *r)
{
    enum { PENDING = 8 * MIB };
    unsigned char *out = malloc(PENDING), *in = malloc(PENDING);
    struct exchange x;
    size_t sent;
    sock_t slow = connect_client(t, r, "the slow reader");

    expect(r, "a client with 8 MiB sent and unread; another client is echoed meanwhile; then the "
              "slow one "
              "reads, a little at a time, and gets every byte");
    if (out == NULL || in == NULL)
        fail(r, NULL, "the harness ran out of memory");
    if (slow == BAD_SOCKET || out == NULL || in == NULL)
        goto done;
    net_small_buffers(slow, 64 * KIB);
    make_payload(out, PENDING, 23);
    sent = send_until_pushed_back(slow, r, out, PENDING);
    if (sent == 0)
        goto done;
    if (!fresh_client_is_served(t, r, "another client, while the slow reader has megabytes pending",
                                64 * KIB)) {
        snprintf(r->hint, sizeof r->hint,
                 "a client that does not read must not hold up the others: no blocking "
                 "send, and no waiting on one client's send before serving the rest");
        goto done;
    }
    memset(&x, 0, sizeof x);
    x.out = out;
    x.out_len = sent;
    x.sent = sent;
    x.in = in;
    x.chunk = 4 * KIB;
    /* Slow: at most 4 KiB per read (exchange_step reads what fits; the chunk limits only sends, so
     * read in small steps here). */
    {
        int64_t moved = now_ms();

        while (x.in_len < x.out_len && now_ms() - moved < STALL_BUDGET_MS) {
            size_t want = x.out_len - x.in_len < 4 * KIB ? x.out_len - x.in_len : 4 * KIB;
            long got;

            if (net_wait(slow, NET_READABLE, moved + STALL_BUDGET_MS) <= 0)
                break;
            got = net_recv(slow, x.in + x.in_len, want);
            if (got == 0 || got == -1)
                break;
            if (got > 0) {
                x.in_len += (size_t)got;
                moved = now_ms();
            }
        }
    }
    if (judge_echo(r, "the slow reader", &x, x.in_len == x.out_len ? ECHOED : STALLED))
        pass(r,
             "another client was served while %lu bytes waited unread; the slow reader then got "
             "them all",
             (unsigned long)sent);
done:
    net_close(slow);
    free(out);
    free(in);
}

/*
 * Hardening: a client that sends one byte every few hundred milliseconds. Catches a server that
 * waits to fill its buffer before echoing, or gives up on a slow client.
 */
static void echoes_a_byte_every_few_hundred_ms(const struct target *t, struct result *r)
{
    enum { BYTES = 8, GAP_MS = 300 };
    sock_t s = connect_client(t, r, "the dripping client");

    expect(r, "%d bytes, one every %d ms, each echoed before the next is sent", BYTES, GAP_MS);
    for (int i = 0; s != BAD_SOCKET && i < BYTES; i++) {
        /* No NUL among them: a server that treats its buffer as a string fails
         * echoes_random_binary_payloads, and should not get this check's hint. */
        unsigned char byte = (unsigned char)(1 + i * 37), back = 0;
        int64_t sent_at;
        long got;

        if (net_send(s, &byte, 1) != 1) {
            fail(r, "a slow client is still a client", "byte %d could not be sent", i + 1);
            break;
        }
        sent_at = now_ms();
        got = read_one_byte(s, &back, sent_at + STALL_BUDGET_MS);
        if (got == 1 && back != byte) {
            fail(r, "send back exactly the bytes received", "byte %d of %d (0x%02x) came back as 0x%02x",
                 i + 1, BYTES, byte, back);
            break;
        }
        if (got != 1) {
            fail(r, "echo what arrives as it arrives: do not wait for a full buffer",
                 "byte %d of %d: no echo within %d s", i + 1, BYTES, STALL_BUDGET_MS / 1000);
            break;
        }
        /* The gap: nothing must arrive while the client is quiet. */
        if (net_wait(s, NET_READABLE, sent_at + GAP_MS) != 0) {
            fail(r, "send back only what was received", "bytes arrived that were never sent");
            break;
        }
        if (i == BYTES - 1)
            pass(r, "%d bytes, %d ms apart, each echoed at once", BYTES, GAP_MS);
    }
    net_close(s);
}

/*
 * Hardening: a very large transfer, 64 MiB each way, with both directions busy. Catches counters
 * that overflow, buffers that grow without bound, and losses that only show after many MiB.
 */
static void echoes_64_mib_each_way(const struct target *t, struct result *r)
{
    expect(r, "64 MiB sent while reading, back byte for byte");
    one_transfer_is_echoed(t, r, "a 64 MiB transfer", 64 * MIB, 256 * KIB, 64,
                           "64 MiB came back byte for byte");
}

/*
 * Hardening: a burst of clients while the system refuses resources now and then. Against a lesson
 * built with tests/faults.c (COURSE_FAULTS=N: every Nth accept, receive, send, socket or allocation
 * fails), each failure may cost its client the connection, never the server: every client is echoed
 * or closed, none is left hanging, no byte is wrong, and then the next client is served. Against a
 * normal build every client is echoed. Catches a failed post whose connection is never closed (its
 * client hangs), a failure that ends the server, and accepts that stop for good.
 */
static void survives_a_burst_of_failures(const struct target *t, struct result *r)
{
    enum { CLIENTS = 60 };
    struct crowd c;
    size_t echoed = 0, closed = 0;

    expect(r,
           "%d clients at once, 3 messages each: each client echoed or closed by the server, none "
           "left "
           "hanging, no byte wrong; then the next client is served",
           CLIENTS);
    if (!crowd_open(&c, t, r, CLIENTS, 1024))
        goto done;
    c.close_when_done = 1; /* a one-at-a-time server takes the next client once one leaves */
    c.messages = 3; /* each echo is followed by another receive: a failed re-post shows */
    crowd_run(&c);
    for (size_t i = 0; i < c.n; i++) {
        struct exchange *x = &c.x[i];
        char who[64];

        snprintf(who, sizeof who, "client %lu of %d", (unsigned long)i + 1, CLIENTS);
        if (memcmp(x->in, x->out, x->in_len) != 0) {
            (void)judge_echo(r, who, x, c.how[i]);
            goto done;
        }
        if (c.how[i] == STALLED) {
            fail(r,
                 x->in_len > 0
                     ? "a client must not wait forever: either part of what it sent was never "
                       "echoed (every byte goes back, NULs included), or a call failed for it and "
                       "the server neither went on nor closed it"
                     : "when a call fails for one client, close that client: a client must not "
                       "wait forever",
                 "%s: message %d, %lu of 1024 bytes back, then nothing for %d s, and the "
                 "connection still open",
                 who, c.sent_messages[i] + 1, (unsigned long)x->in_len, STALL_BUDGET_MS / 1000);
            goto done;
        }
        echoed += c.how[i] == ECHOED;
        closed += c.how[i] != ECHOED;
    }
    crowd_close(&c);
    if (fresh_client_is_served(t, r, "the next client, after the burst", 64 * KIB))
        pass(r,
             "of %d clients, %lu were echoed and %lu closed by the server; the next client was "
             "served",
             CLIENTS, (unsigned long)echoed, (unsigned long)closed);
    else
        snprintf(r->hint, sizeof r->hint,
                 "after failures the server must go on accepting and echoing");
done:
    crowd_close(&c);
}

/* -------------------------------------------------------------- table ---- */

const struct check checks[] = {
#define CHECK(name, first, last, needs_server, summary)                                            \
    {#name, first, last, needs_server, summary, name},
#include "checks.def"
#undef CHECK
};
const size_t check_count = sizeof checks / sizeof checks[0];

const struct check *check_find(const char *name)
{
    for (size_t i = 0; i < check_count; i++)
        if (strcmp(checks[i].name, name) == 0)
            return &checks[i];
    return NULL;
}

int check_applies(const struct check *c, int lesson)
{
    return lesson >= c->first_lesson && lesson <= c->last_lesson;
}

/* ------------------------------------------------------ the server ---- */

/**
 * \brief Whether text from a program run under Wine says that Wine itself failed: its wineserver
 * went away (Debian 12's Wine 8.0 sometimes aborts it after a program with many sockets ends).
 * That is no verdict on the server, so the harness tries once more.
 */
static int wine_failed(const char *text)
{
    return strstr(text, "wine client error") != NULL;
}

/* A start that Wine, not the server, failed is retried by proc_first_line() itself (see
 * proc_wine_failed()), so a check never judges a server that did not run. */
int target_start(struct target *t, char *err, size_t err_size)
{
    static const char *const args[] = {"0", NULL};

    return target_start_with(t, args, err, err_size);
}

int target_start_with(struct target *t, const char *const *args, char *err, size_t err_size)
{
    char out[512], errs[1024], why[600], shown[256];
    const char *at, *colon;
    int code;
    size_t used = (size_t)snprintf(shown, sizeof shown, "%s", t->exe);

    for (size_t i = 0; args[i] != NULL && used < sizeof shown; i++)
        used += (size_t)snprintf(shown + used, sizeof shown - used, " %s", args[i]);

    t->server = proc_start(t->exe, args, err, err_size);
    if (t->server == NULL)
        return -1;
    if (!proc_first_line(t->server, t->listening_line, sizeof t->listening_line,
                         now_ms() + START_BUDGET_MS)) {
        one_line(proc_stdout(t->server, out, sizeof out));
        one_line(proc_stderr(t->server, errs, sizeof errs));
        if (proc_wait(t->server, now_ms(), &code) && proc_wine_failed(t->server, why, sizeof why))
            snprintf(err, err_size,
                     "Wine failed to start the program, twice: %.400s. No verdict on the server: "
                     "run it again",
                     why);
        else if (proc_wait(t->server, now_ms(), &code))
            snprintf(err, err_size,
                     "'%s' exited with code %d before printing its listening line "
                     "(stdout: '%s', stderr: '%s')",
                     shown, code, out, errs);
        else
            snprintf(err, err_size,
                     "'%s' printed no line within %d s: print 'listening on ADDRESS:PORT' "
                     "and fflush(stdout) (stderr: '%s')",
                     shown, START_BUDGET_MS / 1000, errs);
        target_stop(t);
        return -1;
    }
    /* Lenient here (prints_the_listening_line is strict): ADDRESS:PORT at the end of the line. */
    at = strstr(t->listening_line, "listening on ");
    colon = at ? strrchr(at, ':') : NULL;
    if (colon == NULL || sscanf(colon + 1, "%u", &t->port) != 1 || t->port == 0 ||
        t->port > 65535) {
        snprintf(err, err_size,
                 "the first line was '%s', not 'listening on ADDRESS:PORT' with a real port",
                 t->listening_line);
        target_stop(t);
        return -1;
    }
    at += strlen("listening on ");
    /* An IPv6 address comes in brackets, "[::1]:PORT": the host is what is inside. */
    if (net_split_address(at, t->host, sizeof t->host) == NULL)
        t->host[0] = '\0';
    if (strcmp(t->host, "0.0.0.0") == 0 || t->host[0] == '\0')
        snprintf(t->host, sizeof t->host, "127.0.0.1");
    return 0;
}

void target_stop(struct target *t)
{
    proc_stop(t->server);
    t->server = NULL;
}

void check_run(const struct check *c, struct target *t, struct result *r)
{
    char errs[1024];
    int code;

    memset(r, 0, sizeof *r);
    r->passed = 1;
    c->run(t, r);
    /* Wine's wineserver died under the server (see wine_failed()): run the check again, once, on a
     * server started afresh, and say so. */
    if (!r->passed && t->server && proc_wait(t->server, now_ms() + 1000, &code) &&
        wine_failed(proc_stderr(t->server, errs, sizeof errs))) {
        char err[1024];

        fprintf(stderr, "harness: Wine's wineserver failed during %s; running it once more\n",
                c->name);
        target_stop(t);
        if (target_start(t, err, sizeof err) == 0) {
            memset(r, 0, sizeof *r);
            r->passed = 1;
            c->run(t, r);
        }
    }
    if (r->passed && r->got[0] == '\0') /* every path must say what it saw: silence is no pass */
        fail(r, NULL, "no verdict: the check ended without saying what it saw (a harness bug)");
    /* A failure may be the server dying: give its exit a moment to show, it is the real cause. */
    if (t->server && !r->server_ended_on_purpose &&
        proc_wait(t->server, now_ms() + (r->passed ? 0 : 1000), &code)) {
        const char *said = one_line(proc_stderr(t->server, errs, sizeof errs));

        r->passed = 0;
        r->got[0] = '\0';
        /* Wine's line for a crash: "wine: Unhandled page fault on ... access to ADDRESS ...". */
        fail(r,
             strstr(said, "Unhandled") ? "the server crashed: its stderr names the fault and the "
                                         "address; a pointer cut to 32 bits (a completion key "
                                         "through a DWORD) or one used after free?"
                                       : "a client's error must close that client only, never end "
                                         "the server",
             "the server exited with code %d during the check (stderr: '%s')", code, said);
    }
}
