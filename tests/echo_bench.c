/**
 * \file
 * \brief echo_bench: many connections, each sending a message, waiting for
 * all of it to come back, checking every byte, and again, for a fixed time.
 *
 *     echo_bench [-b | -i] [-c CONNECTIONS] [-d SECONDS] [-s BYTES] HOST:PORT
 *
 * One thread drives every connection through one readiness loop: epoll on
 * Linux (it scales to 10,000 connections without becoming the bottleneck),
 * WSAPoll on Windows. Without -b the connections are opened one after the
 * other before the clock starts; with -b (a burst) they are all opened at
 * once, and each starts echoing as soon as its own connect completes, so a
 * server that accepts slowly while it echoes shows it. With -i the
 * connections are opened one after the other and stay idle, sending nothing,
 * for SECONDS (the server's memory per idle connection is measured so); a
 * connection the server closes meanwhile counts as an error. The last line is for
 * scripts: `connections= msg_per_s= mib_per_s= p50_us= p99_us= errors=
 * mismatches= starved= first_echo_p50_ms= first_echo_p99_ms=
 * first_echo_max_ms= msgs_min= msgs_median= msgs_max=`, where starved counts
 * connections that never got one echo back (a server that serves one client
 * at a time starves all but one), first_echo_* is each client's time from the
 * start (of the burst, or of the run) to its first complete echo, and msgs_*
 * is the spread of complete echoes per client (a server that serves some
 * clients fast and the rest slowly shows a low minimum). Exit code 0 when
 * there was no error and no mismatch, 1 otherwise, 2 for a bad command line.
 */
#ifndef _WIN32
#define _POSIX_C_SOURCE 200809L
#endif
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <io.h>
#define isatty _isatty
#define fileno _fileno
#else
#include <sys/epoll.h>
#include <unistd.h>
#endif

enum { MAX_CONNECTIONS = 100000, SAMPLE_LIMIT = 1 << 20, CONNECT_BUDGET_MS = 5000 };

/** \brief One connection's state: where it is in the current message. */
struct conn {
    sock_t s;
    size_t sent, received; /**< of the current message */
    int64_t started_us; /**< when the current message's first byte was sent */
    unsigned long messages; /**< complete echoes */
    int dead; /**< failed or mismatched: no longer driven */
    int want_write; /**< the poller watches for writability */
    int connecting; /**< -b: the connect has not completed yet */
    int64_t
        first_echo_us; /**< from the start to the first complete echo; valid once messages > 0 */
};

/** \brief What the run measured. */
struct stats {
    unsigned long messages, errors, mismatches;
    int64_t start_us; /**< when the burst, or the timed run, began: first echoes count from here */
    uint32_t *samples; /**< latencies in microseconds: all, or a uniform sample of them */
    size_t sample_count;
    unsigned long long seen; /**< latencies seen, for the reservoir sample */
    uint64_t rng;
};

/* ---------------------------------------------------------- the poller ---- */

/** \brief Readiness of many sockets: epoll on Linux, WSAPoll on Windows. */
struct poller {
#ifdef _WIN32
    WSAPOLLFD *fds;
#else
    int ep;
    struct epoll_event *events;
#endif
    int count;
};

/** \brief One ready connection. */
struct ready {
    int index;
    int readable, writable;
};

static int poller_init(struct poller *p, int count)
{
    p->count = count;
#ifdef _WIN32
    p->fds = calloc((size_t)count, sizeof *p->fds);
    return p->fds ? 0 : -1;
#else
    p->events = calloc((size_t)count, sizeof *p->events);
    p->ep = epoll_create1(EPOLL_CLOEXEC);
    return p->events && p->ep >= 0 ? 0 : -1;
#endif
}

/** \brief Watch connection \p index: always for reading, for writing when \p write. */
static int poller_watch(struct poller *p, int index, sock_t s, int write, int first_time)
{
#ifdef _WIN32
    (void)first_time;
    p->fds[index].fd = s;
    p->fds[index].events = (SHORT)(POLLRDNORM | (write ? POLLWRNORM : 0));
    return 0;
#else
    struct epoll_event ev;

    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN | (write ? EPOLLOUT : 0);
    ev.data.u32 = (uint32_t)index;
    return epoll_ctl(p->ep, first_time ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, s, &ev);
#endif
}

/** \brief Stop watching connection \p index. */
static void poller_forget(struct poller *p, int index, sock_t s)
{
#ifdef _WIN32
    (void)s;
    p->fds[index].fd = INVALID_SOCKET; /* WSAPoll skips negative entries */
#else
    (void)index;
    (void)epoll_ctl(p->ep, EPOLL_CTL_DEL, s, NULL); /* the socket is closed right after anyway */
#endif
}

/** \brief Wait up to \p timeout_ms; fill \p out (room for count entries) and return how many are
 * ready. */
static int poller_wait(struct poller *p, struct ready *out, int timeout_ms)
{
    int n = 0;
#ifdef _WIN32
    if (WSAPoll(p->fds, (ULONG)p->count, timeout_ms) <= 0)
        return 0;
    for (int i = 0; i < p->count; i++) {
        SHORT r = p->fds[i].revents;

        if (p->fds[i].fd == INVALID_SOCKET || r == 0)
            continue;
        out[n].index = i;
        out[n].readable = (r & (POLLRDNORM | POLLERR | POLLHUP)) != 0;
        out[n].writable = (r & (POLLWRNORM | POLLERR | POLLHUP)) != 0;
        n++;
    }
#else
    int got = epoll_wait(p->ep, p->events, p->count, timeout_ms);

    for (int i = 0; i < got; i++) {
        uint32_t e = p->events[i].events;

        out[n].index = (int)p->events[i].data.u32;
        out[n].readable = (e & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0;
        out[n].writable = (e & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0;
        n++;
    }
#endif
    return n;
}

static void poller_free(struct poller *p)
{
#ifdef _WIN32
    free(p->fds);
#else
    free(p->events);
    if (p->ep >= 0)
        close(p->ep);
#endif
}

/* ------------------------------------------------------------ the run ---- */

/** \brief Keep a uniform sample of at most SAMPLE_LIMIT latencies (reservoir sampling). */
static void record_latency(struct stats *st, int64_t us)
{
    uint32_t v = us < 0 ? 0 : us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;

    st->seen++;
    if (st->sample_count < SAMPLE_LIMIT) {
        st->samples[st->sample_count++] = v;
        return;
    }
    st->rng ^= st->rng << 13;
    st->rng ^= st->rng >> 7;
    st->rng ^= st->rng << 17;
    if (st->rng % st->seen < SAMPLE_LIMIT)
        st->samples[st->rng % SAMPLE_LIMIT] = v;
}

static void drop(struct conn *c, struct poller *p, int index, unsigned long *counter)
{
    poller_forget(p, index, c->s);
    net_close(c->s);
    c->s = BAD_SOCKET;
    c->dead = 1;
    (*counter)++;
}

/** \brief Send what the current message still owes; start a new one when the last came back. */
static void on_writable(struct conn *c, struct poller *p, int index, const unsigned char *msg,
                        size_t size, struct stats *st)
{
    long n;

    if (c->sent == 0)
        c->started_us = now_us();
    n = net_send(c->s, msg + c->sent, size - c->sent);
    if (n < 0) {
        drop(c, p, index, &st->errors);
        return;
    }
    c->sent += (size_t)n;
    if (c->sent == size && c->want_write) {
        c->want_write = 0;
        (void)poller_watch(p, index, c->s, 0, 0);
    }
}

/** \brief Take what came back, check it, and count a message when it is complete. */
static void on_readable(struct conn *c, struct poller *p, int index, const unsigned char *msg,
                        size_t size, struct stats *st)
{
    unsigned char buf[64 * 1024];
    long n = net_recv(c->s, buf, size - c->received < sizeof buf ? size - c->received : sizeof buf);

    if (n == -2)
        return;
    if (n <= 0 || c->received + (size_t)n > c->sent) { /* closed, reset, or more than was sent */
        drop(c, p, index, n <= 0 ? &st->errors : &st->mismatches);
        return;
    }
    if (memcmp(buf, msg + c->received, (size_t)n) != 0) {
        drop(c, p, index, &st->mismatches);
        return;
    }
    c->received += (size_t)n;
    if (c->received < size)
        return;
    record_latency(st, now_us() - c->started_us);
    if (c->messages == 0)
        c->first_echo_us = now_us() - st->start_us;
    c->messages++;
    st->messages++;
    c->sent = c->received = 0;
    c->want_write = 1;
    (void)poller_watch(p, index, c->s, 1, 0);
}

/** \brief -b: a connection's connect completed (writable or in error): go on echoing, or drop it.
 */
static void on_connected(struct conn *c, struct poller *p, int index, struct stats *st)
{
    char err[200];

    c->connecting = 0;
    if (net_connect_error(c->s, err, sizeof err) != 0)
        drop(c, p, index, &st->errors);
}

static int compare_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return (x > y) - (x < y);
}

static int compare_ul(const void *a, const void *b)
{
    unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;

    return (x > y) - (x < y);
}

/** \brief What the clients got, one by one: time to first echo and echoes per client. */
struct spread {
    unsigned long first_p50_ms, first_p99_ms, first_max_ms;
    unsigned long msgs_min, msgs_median, msgs_max;
};

/** \brief Quantiles of the first echoes (of the clients that got one) and of the echoes per client.
 */
static int per_client_spread(const struct conn *conns, long n, struct spread *out)
{
    unsigned long *first = malloc((size_t)n * sizeof *first),
                  *msgs = malloc((size_t)n * sizeof *msgs);
    long served = 0;

    memset(out, 0, sizeof *out);
    if (first == NULL || msgs == NULL) {
        free(first);
        free(msgs);
        return -1;
    }
    for (long i = 0; i < n; i++) {
        msgs[i] = conns[i].messages;
        if (conns[i].messages > 0)
            first[served++] = (unsigned long)(conns[i].first_echo_us / 1000);
    }
    qsort(msgs, (size_t)n, sizeof *msgs, compare_ul);
    out->msgs_min = msgs[0];
    out->msgs_median = msgs[n / 2];
    out->msgs_max = msgs[n - 1];
    if (served > 0) {
        qsort(first, (size_t)served, sizeof *first, compare_ul);
        out->first_p50_ms = first[served / 2];
        out->first_p99_ms = first[served * 99 / 100];
        out->first_max_ms = first[served - 1];
    }
    free(first);
    free(msgs);
    return 0;
}

static void usage(FILE *to)
{
    fprintf(
        to,
        "usage: echo_bench [-b | -i] [-c CONNECTIONS] [-d SECONDS] [-s BYTES] HOST:PORT\n"
        "Each connection sends a BYTES message (default 64), waits for all of it to come back,\n"
        "checks it, and repeats, for SECONDS (default 5); CONNECTIONS (default 50, at most %d)\n"
        "run at once. -b opens them all in one burst, each echoing as soon as it is connected.\n"
        "-i keeps them idle instead: connected, sending nothing (a close counts as an error).\n"
        "The last line is key=value fields for scripts. An IPv6 HOST may come in brackets: [::1]:5000.\n",
        MAX_CONNECTIONS);
}

/** \brief A whole number from \p lo to \p hi, or -1. */
static long number(const char *text, long lo, long hi)
{
    char *end = NULL;
    long n = text ? strtol(text, &end, 10) : -1;

    return text && text[0] >= '0' && text[0] <= '9' && *end == '\0' && n >= lo && n <= hi ? n : -1;
}

int main(int argc, char **argv)
{
    long connections = 50, seconds = 5, size = 64;
    const char *target = NULL, *port_text;
    char host[64], err[256];
    unsigned long port;
    struct conn *conns;
    struct ready *ready;
    struct poller poller;
    struct stats st;
    unsigned char *msg;
    unsigned long starved = 0;
    int64_t start, end, next_progress;
    int show_progress = isatty(fileno(stderr)), given_up = 0, burst = 0, idle = 0;
    struct spread spread;

    for (int i = 1; i < argc; i++) {
        long *opt = strcmp(argv[i], "-c") == 0   ? &connections
                    : strcmp(argv[i], "-d") == 0 ? &seconds
                    : strcmp(argv[i], "-s") == 0 ? &size
                                                 : NULL;

        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "-b") == 0 && !idle) {
            burst = 1;
        } else if (strcmp(argv[i], "-i") == 0 && !burst) {
            idle = 1;
        } else if (opt) {
            long hi = opt == &connections ? MAX_CONNECTIONS
                      : opt == &seconds   ? 3600
                                          : 64L * 1024 * 1024;

            *opt = i + 1 < argc ? number(argv[++i], 1, hi) : -1;
            if (*opt < 0) {
                fprintf(stderr, "echo_bench: %s takes a number from 1 to %ld\n", argv[i - 1], hi);
                usage(stderr);
                return 2;
            }
        } else if (target == NULL && argv[i][0] != '-') {
            target = argv[i];
        } else {
            usage(stderr);
            return 2;
        }
    }
    port_text = target ? net_split_address(target, host, sizeof host) : NULL;
    port = port_text ? (unsigned long)number(port_text, 1, 65535) : 0;
    if (port_text == NULL || port == (unsigned long)-1) {
        usage(stderr);
        return 2;
    }
    if (net_init() != 0) {
        fprintf(stderr, "echo_bench: cannot start the socket library\n");
        return 1;
    }
    conns = calloc((size_t)connections, sizeof *conns);
    ready = calloc((size_t)connections, sizeof *ready);
    msg = malloc((size_t)size);
    memset(&st, 0, sizeof st);
    st.samples = malloc(SAMPLE_LIMIT * sizeof *st.samples);
    st.rng = 88172645463325252ull;
    if (conns == NULL || ready == NULL || msg == NULL || st.samples == NULL ||
        poller_init(&poller, (int)connections) != 0) {
        fprintf(stderr, "echo_bench: out of memory for %ld connections\n", connections);
        return 1;
    }
    for (long i = 0; i < size; i++)
        msg[i] = (unsigned char)(i * 131 + 7); /* every byte value, NULs included */
    printf("echo_bench: %s, %ld connections%s, %ld-byte messages, %ld s\n", target, connections,
           burst  ? " in one burst"
           : idle ? " kept idle"
                  : "",
           size, seconds);
    fflush(stdout);
    start = now_ms();
    st.start_us = now_us();
    for (long i = 0; i < connections; i++) {
        conns[i].s = given_up ? BAD_SOCKET
                     : burst  ? net_connect_start(host, (unsigned)port, err, sizeof err)
                              : net_connect(host, (unsigned)port, now_ms() + CONNECT_BUDGET_MS, err,
                                            sizeof err);
        if (conns[i].s == BAD_SOCKET) {
            /* A server that stops accepting fills its backlog, and every further connect would wait
             * its whole budget: after the first failure the rest are not tried, only counted. */
            if (!given_up)
                fprintf(stderr, "echo_bench: connection %ld: %s; the %ld after it are not tried\n",
                        i + 1, err, connections - i - 1);
            given_up = 1;
            conns[i].dead = 1;
            st.errors++;
            continue;
        }
        conns[i].want_write = !idle;
        conns[i].connecting = burst;
        if (poller_watch(&poller, (int)i, conns[i].s, !idle, 1) != 0) {
            drop(&conns[i], &poller, (int)i, &st.errors);
        }
    }
    if (!burst) { /* the clock starts once every connection is open */
        start = now_ms();
        st.start_us = now_us();
    }
    end = start + seconds * 1000;
    next_progress = start + 1000;
    while (now_ms() < end) {
        int n = poller_wait(&poller, ready, (int)(end - now_ms() < 100 ? end - now_ms() : 100));

        for (int i = 0; i < n; i++) {
            struct conn *c = &conns[ready[i].index];

            if (!c->dead && c->connecting)
                on_connected(c, &poller, ready[i].index, &st);
            if (!c->dead && ready[i].readable)
                on_readable(c, &poller, ready[i].index, msg, (size_t)size, &st);
            if (!c->dead && ready[i].writable && c->want_write)
                on_writable(c, &poller, ready[i].index, msg, (size_t)size, &st);
        }
        if (show_progress && now_ms() >= next_progress) {
            fprintf(stderr, "\r  %5.1f s  %lu messages  %lu errors   ",
                    (double)(now_ms() - start) / 1000, st.messages, st.errors + st.mismatches);
            next_progress += 1000;
        }
    }
    if (show_progress)
        fprintf(stderr, "\r%60s\r", "");
    for (long i = 0; i < connections; i++) {
        /* an idle connection is not starved: it asked for nothing */
        if (conns[i].messages == 0 && !idle)
            starved++;
        if (!conns[i].dead)
            net_close(conns[i].s);
    }
    if (per_client_spread(conns, connections, &spread) != 0) {
        fprintf(stderr, "echo_bench: out of memory for the per-client figures\n");
        st.errors++;
    }
    {
        double elapsed = (double)(now_ms() - start) / 1000.0;
        double per_s = (double)st.messages / elapsed;
        double mib_s = per_s * (double)size / (1024.0 * 1024.0);
        uint32_t p50 = 0, p99 = 0;

        if (st.sample_count > 0) {
            qsort(st.samples, st.sample_count, sizeof *st.samples, compare_u32);
            p50 = st.samples[st.sample_count / 2];
            p99 = st.samples[st.sample_count * 99 / 100];
        }
        printf("messages:    %lu in %.1f s: %.0f per second, %.2f MiB/s each way\n", st.messages,
               elapsed, per_s, mib_s);
        printf("latency:     p50 %lu us, p99 %lu us\n", (unsigned long)p50, (unsigned long)p99);
        printf("connections: %ld, %lu never got an echo back; %lu errors, %lu mismatches\n",
               connections, starved, st.errors, st.mismatches);
        printf("first echo:  p50 %lu ms, p99 %lu ms, max %lu ms after the %s\n",
               spread.first_p50_ms, spread.first_p99_ms, spread.first_max_ms,
               burst ? "burst began" : "run began");
        printf("per client:  %lu echoes at least, %lu median, %lu at most\n", spread.msgs_min,
               spread.msgs_median, spread.msgs_max);
        printf("connections=%ld msg_per_s=%.0f mib_per_s=%.3f p50_us=%lu p99_us=%lu errors=%lu "
               "mismatches=%lu "
               "starved=%lu first_echo_p50_ms=%lu first_echo_p99_ms=%lu first_echo_max_ms=%lu "
               "msgs_min=%lu "
               "msgs_median=%lu msgs_max=%lu\n",
               connections, per_s, mib_s, (unsigned long)p50, (unsigned long)p99, st.errors,
               st.mismatches, starved, spread.first_p50_ms, spread.first_p99_ms,
               spread.first_max_ms, spread.msgs_min, spread.msgs_median, spread.msgs_max);
    }
    poller_free(&poller);
    free(conns);
    free(ready);
    free(msg);
    free(st.samples);
    return st.errors == 0 && st.mismatches == 0 ? 0 : 1;
}
