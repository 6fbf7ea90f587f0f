/**
 * \file
 * \brief The echo harness's view of the system: a clock, TCP sockets with
 * deadlines, and server processes whose output it reads.
 *
 * Everything here works the same on Linux (a `.exe` runs through Wine) and on
 * Windows (it runs as it is). Every wait takes an absolute deadline from
 * now_ms(), so no call can hang a test.
 */
#ifndef HARNESS_H
#define HARNESS_H

#include <stddef.h>
#include <stdint.h>

#ifdef _WIN32
#include <winsock2.h>
typedef SOCKET sock_t;
#define BAD_SOCKET INVALID_SOCKET
#else
typedef int sock_t;
#define BAD_SOCKET (-1)
#endif

/** \brief Milliseconds on a monotonic clock: deadlines are now_ms() + a budget. */
int64_t now_ms(void);

/** \brief Microseconds on the same kind of clock, for latencies. */
int64_t now_us(void);

/** A mutex with a condition variable, waited on with a deadline. */
struct monitor;

/** \brief A new monitor, or NULL when out of memory. */
struct monitor *monitor_new(void);
void monitor_free(struct monitor *m);
void monitor_enter(struct monitor *m);
void monitor_leave(struct monitor *m);
/** \brief Wake every thread waiting in monitor_wait(). */
void monitor_notify(struct monitor *m);
/** \brief Inside the monitor: wait for a notify, at most until \p deadline; 0 once it has passed.
 */
int monitor_wait(struct monitor *m, int64_t deadline);

/** A thread running a function of the harness. */
struct thread;

/** \brief Run \p run(\p arg) on a new thread; NULL if it cannot start. */
struct thread *thread_start(void (*run)(void *), void *arg);
/** \brief Windows: end a blocking read the thread is in (CancelSynchronousIo). POSIX: nothing. */
void thread_cancel_io(struct thread *t);
/** \brief Wait for the thread to end and free it. */
void thread_join(struct thread *t);

/** The most descriptors net_init() asks for (POSIX): enough for 10,000 connections and more. */
#define NET_MAX_DESCRIPTORS 65536

/**
 * \brief Start the socket library (WSAStartup on Windows; on POSIX, ignore
 * SIGPIPE and raise the descriptor limit). Returns 0 on success.
 */
int net_init(void);

/** \brief Text for the last socket error, e.g. "Connection refused (111)". */
const char *net_error_text(char *buf, size_t size);

/**
 * \brief Split "HOST:PORT" into the host, copied to \p host, and the port's text, returned (a
 * pointer into \p text, after the colon). An IPv6 address may come in brackets, "[::1]:5000", as a
 * server's listening line prints it, or bare, "::1:5000" (the last colon ends it). Returns NULL when
 * there is no colon, no host, or the host does not fit.
 */
const char *net_split_address(const char *text, char *host, size_t host_size);

/**
 * \brief Connect to \p host : \p port before \p deadline. The socket is
 * non-blocking with Nagle off. Returns BAD_SOCKET and fills \p err on failure.
 */
sock_t net_connect(const char *host, unsigned port, int64_t deadline, char *err, size_t err_size);

/**
 * \brief Start connecting to the first address of \p host : \p port and
 * return at once: the socket is non-blocking with Nagle off, and becomes
 * writable when the connect has finished (net_connect_error() says how).
 * For a burst of clients that connect all at once. Returns BAD_SOCKET and
 * fills \p err when the connect failed at once.
 */
sock_t net_connect_start(const char *host, unsigned port, char *err, size_t err_size);

/** \brief After net_connect_start(): 0 when connected, else the error, described in \p err. */
int net_connect_error(sock_t s, char *err, size_t err_size);

/** \brief Open a listening socket on 127.0.0.1 with a free port, stored in \p port. */
sock_t net_listen_loopback(unsigned *port);

/** \brief Shrink the socket's kernel buffers, so back-pressure shows sooner. */
void net_small_buffers(sock_t s, int bytes);

/** \brief Half-close: no more data from us, the echo may still come back. */
int net_shutdown_write(sock_t s);

/** \brief Close with a reset (RST) instead of an orderly FIN. */
void net_reset(sock_t s);

/** \brief Close normally. */
void net_close(sock_t s);

/** What net_wait() waits for. */
enum net_event { NET_READABLE = 1, NET_WRITABLE = 2 };

/**
 * \brief Wait until \p s is readable and/or writable as \p events asks, or
 * until \p deadline. Returns the events that happened, 0 at the deadline,
 * -1 on error.
 */
int net_wait(sock_t s, int events, int64_t deadline);

/** \brief One socket of net_poll(): what to wait for, and what happened. */
struct net_poll {
    sock_t s;
    int want; /**< NET_READABLE and/or NET_WRITABLE; 0 to leave the socket out */
    int happened; /**< filled by net_poll() */
};

/**
 * \brief net_wait() for many sockets at once (poll, WSAPoll): returns how
 * many have something that they wanted, 0 at the deadline, -1 on error.
 */
int net_poll(struct net_poll *items, size_t n, int64_t deadline);

/** \brief Non-blocking send: bytes sent, 0 when it would block, -1 on error. */
long net_send(sock_t s, const void *data, size_t len);

/**
 * \brief Non-blocking receive: bytes received, 0 at end of stream, -2 when it
 * would block, -1 on error (a reset among them).
 */
long net_recv(sock_t s, void *buf, size_t len);

/** A program the harness started, with its standard output and error captured. */
struct proc;

/**
 * \brief Start \p exe with \p args (NULL-terminated, without the program name).
 * A `.exe` runs through Wine on Linux. Returns NULL and fills \p err on failure.
 */
struct proc *proc_start(const char *exe, const char *const *args, char *err, size_t err_size);

/**
 * \brief Whether Wine, not the program, ended it: it ended with code 1 before
 * its first line, and Wine said so ("wine: ...", "wine client error") or,
 * started a second time with Wine's loader reporting, it was never loaded.
 * Fills \p why. Always 0 on Windows and for programs that do not run in Wine.
 *
 * A program run through Wine that ends with code 1 and not a word before its
 * first line may not have run at all: proc_first_line() and proc_wait() then
 * start it once more by themselves (and say so on stderr), so a check judges
 * the program, not a failed start of Wine's.
 */
int proc_wine_failed(struct proc *p, char *why, size_t size);

/**
 * \brief Wait for the first line of standard output, up to \p deadline.
 * Returns 1 with the line (without its line end) in \p line, 0 when the
 * deadline passed or the program ended first.
 */
int proc_first_line(struct proc *p, char *line, size_t size, int64_t deadline);

/**
 * \brief Wait until the program ends, up to \p deadline. Returns 1 and its
 * exit code in \p exit_code if it ended, 0 if it still runs.
 */
int proc_wait(struct proc *p, int64_t deadline, int *exit_code);

/** \brief What the program wrote to standard error so far (the last 16 KiB). */
char *proc_stderr(struct proc *p, char *buf, size_t size);

/** \brief What the program wrote to standard output so far (the last 16 KiB). */
char *proc_stdout(struct proc *p, char *buf, size_t size);

/**
 * \brief Ask the program to stop as a user would: SIGINT (which Wine turns
 * into CTRL_C_EVENT) on Linux, CTRL_BREAK_EVENT on Windows (a program in a
 * process group of its own, as proc_start() makes it, ignores Ctrl+C).
 */
void proc_interrupt(struct proc *p);

/** \brief One thread of a program, and the processor time it has used. */
struct proc_thread {
    unsigned long id;
    int64_t cpu_ms; /**< user + kernel time so far, -1 if unknown */
};

/**
 * \brief The program's threads (up to \p max of them into \p out) with the
 * processor time each has used. Returns how many threads it has, -1 when
 * that cannot be read. Under Wine each Windows thread is a Linux thread.
 */
int proc_threads(struct proc *p, struct proc_thread *out, size_t max);

/** \brief Kill the program if it still runs, reap it, and free everything. */
void proc_stop(struct proc *p);

#endif
