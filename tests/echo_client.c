/**
 * \file
 * \brief echo_client: like `nc` for this course. It sends standard input to
 * an echo server, prints what comes back, and checks that it is the same.
 *
 *     echo_client HOST:PORT            type lines; Ctrl+D (Ctrl+Z, Enter on Windows) ends
 *     echo_client HOST:PORT < file     binary-safe: any bytes, NULs included
 *
 * A sender thread reads standard input and sends it, remembering what is not
 * echoed yet; the main thread receives, writes to standard output, and
 * compares. At the end of input it half-closes the connection and waits for
 * the rest of the echo and the server's end of stream. Exit code: 0 when every
 * byte came back unchanged, 1 on a mismatch, a missing byte or a connection
 * error, 2 for a bad command line.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <fcntl.h>
#include <io.h>
#endif

enum { CHUNK = 64 * 1024, END_WAIT_MS = 10000 };

/** \brief What the two threads share, inside the monitor. */
struct session {
    sock_t s;
    struct monitor *mon;
    unsigned char *pending; /**< sent, not yet echoed: what the next received bytes must be */
    size_t pending_len, pending_cap;
    size_t compared; /**< bytes already checked, for the offset in a mismatch message */
    int input_done; /**< standard input ended; our side is shut down next */
    int send_failed;
};

static void usage(FILE *to)
{
    fprintf(
        to,
        "usage: echo_client HOST:PORT\n"
        "Sends standard input to the echo server at HOST:PORT, prints what comes back and checks\n"
        "that it is the same, byte for byte. Exit code 0: all echoed; 1: a difference, a missing\n"
        "byte or a connection error; 2: a bad command line. An IPv6 HOST may come in brackets,\n"
        "as a server's listening line prints it: [::1]:5000.\n");
}

/** \brief Remember \p n bytes as sent and not yet echoed. Returns -1 when out of memory. */
static int remember(struct session *ss, const unsigned char *data, size_t n)
{
    int rc = 0;

    monitor_enter(ss->mon);
    if (ss->pending_len + n > ss->pending_cap) {
        size_t cap = (ss->pending_len + n) * 2;
        unsigned char *grown = realloc(ss->pending, cap);

        if (grown == NULL) {
            rc = -1;
        } else {
            ss->pending = grown;
            ss->pending_cap = cap;
        }
    }
    if (rc == 0) {
        memcpy(ss->pending + ss->pending_len, data, n);
        ss->pending_len += n;
    }
    monitor_leave(ss->mon);
    return rc;
}

/** \brief Send all of \p data on the non-blocking socket, waiting as long as it takes. */
static int send_all(sock_t s, const unsigned char *data, size_t n)
{
    while (n > 0) {
        long sent;

        if (net_wait(s, NET_WRITABLE, now_ms() + 24 * 3600 * 1000) <= 0)
            return -1;
        sent = net_send(s, data, n);
        if (sent < 0)
            return -1;
        data += sent;
        n -= (size_t)sent;
    }
    return 0;
}

/** \brief The sender thread: standard input to the socket, then half-close. */
static void sender(void *arg)
{
    struct session *ss = arg;
    static unsigned char buf[CHUNK];
    size_t n;
    int failed = 0;

    /* Typed input arrives a line at a time: fread on a terminal returns what is there. */
    while (!failed && (n = fread(buf, 1, sizeof buf, stdin)) > 0)
        failed = remember(ss, buf, n) != 0 || send_all(ss->s, buf, n) != 0;
    /* Said before the half-close: the server may answer our FIN with its own at once, and the
     * receiver that sees it must already know that the input is over. */
    monitor_enter(ss->mon);
    ss->input_done = 1;
    ss->send_failed = failed;
    monitor_leave(ss->mon);
    if (!failed)
        (void)net_shutdown_write(ss->s); /* a failure shows as a missing end of stream */
}

/**
 * \brief Compare \p n received bytes with what was sent. Returns 0, or -1
 * after printing where they differ.
 */
static int check_echo(struct session *ss, const unsigned char *got, size_t n)
{
    int rc = 0;

    monitor_enter(ss->mon);
    if (n > ss->pending_len) {
        fprintf(stderr,
                "echo_client: the server sent %lu bytes more than it was sent (after byte %lu)\n",
                (unsigned long)(n - ss->pending_len),
                (unsigned long)(ss->compared + ss->pending_len));
        rc = -1;
    } else {
        for (size_t i = 0; i < n && rc == 0; i++)
            if (got[i] != ss->pending[i]) {
                fprintf(stderr, "echo_client: mismatch at byte %lu: sent 0x%02x, got 0x%02x\n",
                        (unsigned long)(ss->compared + i), ss->pending[i], got[i]);
                rc = -1;
            }
        memmove(ss->pending, ss->pending + n, ss->pending_len - n);
        ss->pending_len -= n;
        ss->compared += n;
    }
    monitor_leave(ss->mon);
    return rc;
}

/** \brief The main loop: receive, print, compare, until the end of stream. */
static int receive_echo(struct session *ss)
{
    static unsigned char buf[CHUNK];
    int64_t end_deadline = 0;
    int done;

    for (;;) {
        int ready;
        long got;

        monitor_enter(ss->mon);
        done = ss->input_done;
        monitor_leave(ss->mon);
        if (done && end_deadline == 0)
            end_deadline = now_ms() + END_WAIT_MS;
        /* While input goes on, look at the input's state twice a second. */
        ready = net_wait(ss->s, NET_READABLE, done ? end_deadline : now_ms() + 500);
        if (ready < 0)
            return -1;
        if (ready == 0) {
            if (!done)
                continue;
            fprintf(stderr,
                    "echo_client: no end of stream from the server %d s after the input ended "
                    "(%lu bytes still to come back)\n",
                    END_WAIT_MS / 1000, (unsigned long)ss->pending_len);
            return -1;
        }
        got = net_recv(ss->s, buf, sizeof buf);
        if (got == -2)
            continue;
        if (got < 0) {
            char text[160];

            fprintf(stderr, "echo_client: connection lost: %s\n",
                    net_error_text(text, sizeof text));
            return -1;
        }
        if (got == 0)
            break;
        fwrite(buf, 1, (size_t)got, stdout);
        fflush(stdout);
        if (check_echo(ss, buf, (size_t)got) != 0)
            return -1;
    }
    monitor_enter(ss->mon);
    done = ss->input_done && !ss->send_failed && ss->pending_len == 0;
    if (!done)
        fprintf(stderr, "echo_client: the server ended the connection with %lu bytes not echoed\n",
                (unsigned long)ss->pending_len);
    monitor_leave(ss->mon);
    return done ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct session ss;
    struct thread *t;
    char host[64], err[256];
    const char *port_text;
    char *end = NULL;
    unsigned long port;
    int rc;

    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    port_text = argc == 2 ? net_split_address(argv[1], host, sizeof host) : NULL;
    port = port_text ? strtoul(port_text, &end, 10) : 0;
    if (port_text == NULL || port_text[0] == '\0' || *end != '\0' || port == 0 || port > 65535) {
        /* Say what was wrong: a port cut from a Windows program's "listening on" line often still
         * ends in its carriage return, invisible in a terminal. */
        if (argc == 2)
            fprintf(stderr, "echo_client: '%s' is not HOST:PORT with a port from 1 to 65535%s\n",
                    argv[1],
                    port_text && end && *end == '\r' ? " (it ends in a carriage return, \\r)" : "");
        usage(stderr);
        return 2;
    }
#ifdef _WIN32
    /* Bytes in, bytes out: no CR/LF translation, no end at a Ctrl+Z byte in a file. */
    (void)_setmode(_fileno(stdin), _O_BINARY);
    (void)_setmode(_fileno(stdout), _O_BINARY);
#endif
    if (net_init() != 0) {
        fprintf(stderr, "echo_client: cannot start the socket library\n");
        return 1;
    }
    memset(&ss, 0, sizeof ss);
    ss.s = net_connect(host, (unsigned)port, now_ms() + 10000, err, sizeof err);
    if (ss.s == BAD_SOCKET) {
        fprintf(stderr, "echo_client: %s\n", err);
        return 1;
    }
    ss.mon = monitor_new();
    t = ss.mon ? thread_start(sender, &ss) : NULL;
    if (t == NULL) {
        fprintf(stderr, "echo_client: cannot start the sender thread\n");
        monitor_free(ss.mon);
        net_close(ss.s);
        return 1;
    }
    rc = receive_echo(&ss);
    if (rc != 0) {
        /* The sender may be blocked reading standard input, which no portable call interrupts:
         * end the process, which ends that read and frees what the thread still uses. */
        fflush(stdout);
        _Exit(1);
    }
    thread_join(t); /* it has seen the end of input: the echo is complete */
    net_close(ss.s);
    monitor_free(ss.mon);
    free(ss.pending);
    return 0;
}
