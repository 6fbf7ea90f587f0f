/**
 * \file
 * \brief TCP client sockets for the harness: non-blocking, every wait bounded
 * by a deadline. BSD sockets on Linux, Winsock on Windows.
 */
#ifndef _WIN32
#define _GNU_SOURCE /* getaddrinfo */
#endif
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <ws2tcpip.h>
#define poll WSAPoll
typedef int sock_len_t;
static int last_error(void)
{
    return WSAGetLastError();
}
static int would_block(int e)
{
    return e == WSAEWOULDBLOCK;
}
static int in_progress(int e)
{
    return e == WSAEWOULDBLOCK || e == WSAEINPROGRESS;
}
#else
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
typedef socklen_t sock_len_t;
static int last_error(void)
{
    return errno;
}
static int would_block(int e)
{
    return e == EAGAIN || e == EWOULDBLOCK;
}
static int in_progress(int e)
{
    return e == EINPROGRESS;
}
#define closesocket close
#endif

int net_init(void)
{
#ifdef _WIN32
    WSADATA wsa;

    return WSAStartup(MAKEWORD(2, 2), &wsa);
#else
    struct rlimit rl;

    /* A send on a socket the server reset must fail with EPIPE, not kill us. */
    signal(SIGPIPE, SIG_IGN);
    /* Each connection is a descriptor, here and in the Wine server we start (it inherits the
     * limit): raise the soft limit towards the hard one, capped, since some programs loop over
     * every possible descriptor. If it fails, connect() reports what runs out. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < NET_MAX_DESCRIPTORS &&
        rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max < NET_MAX_DESCRIPTORS ? rl.rlim_max : NET_MAX_DESCRIPTORS;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    return 0;
#endif
}

static const char *error_text(int code, char *buf, size_t size)
{
#ifdef _WIN32
    char text[200] = "";
    DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL,
                             (DWORD)code, 0, text, (DWORD)sizeof text, NULL);

    while (n > 0 && (text[n - 1] == '\r' || text[n - 1] == '\n' || text[n - 1] == '.'))
        text[--n] = '\0';
    snprintf(buf, size, "%s (%d)", n ? text : "socket error", code);
#else
    snprintf(buf, size, "%s (%d)", strerror(code), code);
#endif
    return buf;
}

const char *net_error_text(char *buf, size_t size)
{
    return error_text(last_error(), buf, size);
}

static int set_nonblocking(sock_t s)
{
#ifdef _WIN32
    u_long on = 1;

    return ioctlsocket(s, FIONBIO, &on) == 0 ? 0 : -1;
#else
    int flags = fcntl(s, F_GETFL);

    return flags >= 0 && fcntl(s, F_SETFL, flags | O_NONBLOCK) == 0 ? 0 : -1;
#endif
}

/**
 * \brief A TCP socket that the programs the harness starts do not inherit: a
 * copy in a server would keep a connection open after the harness closed or
 * reset it.
 */
static sock_t new_socket(int family)
{
#ifdef _WIN32
    return WSASocketW(family, SOCK_STREAM, IPPROTO_TCP, NULL, 0,
                      WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
#else
    return socket(family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
#endif
}

/**
 * \brief Wait until a non-blocking connect() has finished, up to \p deadline;
 * returns 0 or the error. Windows: select(), because WSAPoll() before
 * Windows 10 2004 never reports a failed connect.
 */
static int finish_connect(sock_t s, int64_t deadline)
{
    int so_error = 0;
    sock_len_t len = (sock_len_t)sizeof so_error;
#ifdef _WIN32
    fd_set writable, failed;
    struct timeval tv;
    int64_t left = deadline - now_ms();

    FD_ZERO(&writable);
    FD_ZERO(&failed);
    FD_SET(s, &writable);
    FD_SET(s, &failed);
    if (left < 0)
        left = 0;
    tv.tv_sec = (long)(left / 1000);
    tv.tv_usec = (long)(left % 1000) * 1000;
    if (select(0, NULL, &writable, &failed, &tv) <= 0)
        return WSAETIMEDOUT;
#else
    if (net_wait(s, NET_WRITABLE, deadline) <= 0)
        return ETIMEDOUT;
#endif
    if (getsockopt(s, SOL_SOCKET, SO_ERROR, (char *)&so_error, &len) != 0)
        return last_error();
    return so_error;
}

int net_wait(sock_t s, int events, int64_t deadline)
{
    for (;;) {
        struct pollfd pfd;
        int64_t left = deadline - now_ms();
        int rc, happened = 0;

        memset(&pfd, 0, sizeof pfd);
        pfd.fd = s;
        pfd.events = (short)(((events & NET_READABLE) ? POLLIN : 0) |
                             ((events & NET_WRITABLE) ? POLLOUT : 0));
        rc = poll(&pfd, 1, left > 0 ? (int)left : 0);
        if (rc < 0) {
#ifndef _WIN32
            if (errno == EINTR)
                continue;
#endif
            return -1;
        }
        if (rc == 0)
            return 0;
        /* An error or a hang-up shows up as both: the next recv or send tells which. */
        if (pfd.revents & (POLLIN | POLLERR | POLLHUP))
            happened |= NET_READABLE;
        if (pfd.revents & (POLLOUT | POLLERR | POLLHUP))
            happened |= NET_WRITABLE;
        happened &= events;
        if (happened)
            return happened;
        if (left <= 0)
            return 0;
    }
}

int net_poll(struct net_poll *items, size_t n, int64_t deadline)
{
    struct pollfd *pfd = calloc(n ? n : 1, sizeof *pfd);
    int ready = 0;

    if (pfd == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        /* A socket that waits for nothing is left out (a negative descriptor is ignored): a closed
         * one would otherwise report a hang-up on every call. */
        pfd[i].fd = items[i].want ? items[i].s : (sock_t)-1;
        pfd[i].events = (short)(((items[i].want & NET_READABLE) ? POLLIN : 0) |
                                ((items[i].want & NET_WRITABLE) ? POLLOUT : 0));
    }
    for (;;) {
        int64_t left = deadline - now_ms();
        int rc = poll(pfd, (unsigned)n, left > 0 ? (int)left : 0);

        if (rc < 0) {
#ifndef _WIN32
            if (errno == EINTR)
                continue;
#endif
            ready = -1;
            break;
        }
        for (size_t i = 0; i < n; i++) {
            int happened = 0;

            if (pfd[i].revents & (POLLIN | POLLERR | POLLHUP))
                happened |= NET_READABLE;
            if (pfd[i].revents & (POLLOUT | POLLERR | POLLHUP))
                happened |= NET_WRITABLE;
            items[i].happened = happened & items[i].want;
            ready += items[i].happened != 0;
        }
        if (ready > 0 || left <= 0)
            break;
    }
    free(pfd);
    return ready;
}

/**
 * \brief A non-blocking, Nagle-free socket for \p ai, its connect() started:
 * returns the socket with 0 (connected) or the in-progress code in \p rc, or
 * BAD_SOCKET with the error in \p err.
 */
static sock_t start_connect(const struct addrinfo *ai, int *rc, char *err, size_t err_size)
{
    char text[160];
    int one = 1;
    sock_t s = new_socket(ai->ai_family);

    if (s == BAD_SOCKET || set_nonblocking(s) != 0) {
        snprintf(err, err_size, "socket: %s", net_error_text(text, sizeof text));
        net_close(s);
        return BAD_SOCKET;
    }
    /* One-byte writes must leave as one-byte segments, not wait for an ACK. */
    (void)setsockopt(s, IPPROTO_TCP, TCP_NODELAY, (const char *)&one, (sock_len_t)sizeof one);
    *rc = connect(s, ai->ai_addr, (sock_len_t)ai->ai_addrlen) == 0 ? 0 : last_error();
    return s;
}

/** \brief getaddrinfo() for \p host : \p port, or NULL with the reason in \p err. */
static struct addrinfo *resolve(const char *host, unsigned port, char *err, size_t err_size)
{
    struct addrinfo hints, *list = NULL;
    char service[16];
    int rc;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(service, sizeof service, "%u", port);
    rc = getaddrinfo(host, service, &hints, &list);
    if (rc != 0 || list == NULL) {
        snprintf(err, err_size, "cannot resolve %s: %s", host, gai_strerror(rc));
        return NULL;
    }
    return list;
}

/** \brief A connect to \p host : \p port that failed with \p rc: say so in \p err, close \p s. */
static sock_t connect_failed(sock_t s, const char *host, unsigned port, int rc, char *err,
                             size_t err_size)
{
    char text[160];

    snprintf(err, err_size, "connect to %s:%u: %s", host, port, error_text(rc, text, sizeof text));
    net_close(s);
    return BAD_SOCKET;
}

const char *net_split_address(const char *text, char *host, size_t host_size)
{
    const char *from = text, *end = strrchr(text, ':');

    if (text[0] == '[') { /* [v6]:PORT */
        end = strstr(text, "]:");
        from = text + 1;
    }
    if (end == NULL || end == from || (size_t)(end - from) >= host_size)
        return NULL;
    snprintf(host, host_size, "%.*s", (int)(end - from), from);
    return end + (text[0] == '[' ? 2 : 1);
}

sock_t net_connect(const char *host, unsigned port, int64_t deadline, char *err, size_t err_size)
{
    struct addrinfo *list = resolve(host, port, err, err_size);
    sock_t s = BAD_SOCKET;
    int rc = 0;

    if (list == NULL)
        return BAD_SOCKET;
    /* Every address in turn: "localhost" is often ::1 first, and a lesson listens on 127.0.0.1. */
    snprintf(err, err_size, "connect to %s:%u: no address", host, port);
    for (const struct addrinfo *ai = list; ai != NULL; ai = ai->ai_next) {
        s = start_connect(ai, &rc, err, err_size);
        if (s == BAD_SOCKET)
            continue;
        if (rc == 0 || in_progress(rc))
            rc = finish_connect(s, deadline);
        if (rc == 0)
            break;
        s = connect_failed(s, host, port, rc, err, err_size);
    }
    freeaddrinfo(list);
    return s;
}

sock_t net_connect_start(const char *host, unsigned port, char *err, size_t err_size)
{
    struct addrinfo *list = resolve(host, port, err, err_size);
    sock_t s;
    int rc = 0;

    if (list == NULL)
        return BAD_SOCKET;
    s = start_connect(list, &rc, err, err_size);
    if (s != BAD_SOCKET && rc != 0 && !in_progress(rc))
        s = connect_failed(s, host, port, rc, err, err_size);
    freeaddrinfo(list);
    return s;
}

int net_connect_error(sock_t s, char *err, size_t err_size)
{
    char text[160];
    int so_error = 0;
    sock_len_t len = (sock_len_t)sizeof so_error;

    if (getsockopt(s, SOL_SOCKET, SO_ERROR, (char *)&so_error, &len) != 0)
        so_error = last_error();
    if (so_error != 0)
        snprintf(err, err_size, "connect: %s", error_text(so_error, text, sizeof text));
    return so_error;
}

sock_t net_listen_loopback(unsigned *port)
{
    struct sockaddr_in addr;
    sock_len_t len = (sock_len_t)sizeof addr;
    sock_t s = new_socket(AF_INET);

    if (s == BAD_SOCKET)
        return BAD_SOCKET;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&addr, (sock_len_t)sizeof addr) != 0 || listen(s, 8) != 0 ||
        getsockname(s, (struct sockaddr *)&addr, &len) != 0) {
        closesocket(s);
        return BAD_SOCKET;
    }
    *port = ntohs(addr.sin_port);
    return s;
}

void net_small_buffers(sock_t s, int bytes)
{
    /* Best effort: the kernel may round the size; the checks do not depend on it. */
    (void)setsockopt(s, SOL_SOCKET, SO_SNDBUF, (const char *)&bytes, (sock_len_t)sizeof bytes);
    (void)setsockopt(s, SOL_SOCKET, SO_RCVBUF, (const char *)&bytes, (sock_len_t)sizeof bytes);
}

int net_shutdown_write(sock_t s)
{
#ifdef _WIN32
    return shutdown(s, SD_SEND);
#else
    return shutdown(s, SHUT_WR);
#endif
}

void net_reset(sock_t s)
{
    struct linger now = {1, 0}; /* linger on, time 0: close() sends RST */

    (void)setsockopt(s, SOL_SOCKET, SO_LINGER, (const char *)&now, (sock_len_t)sizeof now);
    closesocket(s);
}

void net_close(sock_t s)
{
    if (s != BAD_SOCKET)
        closesocket(s);
}

long net_send(sock_t s, const void *data, size_t len)
{
#ifdef _WIN32
    int n = send(s, (const char *)data, len > 1 << 30 ? 1 << 30 : (int)len, 0);
#else
    ssize_t n = send(s, data, len, MSG_NOSIGNAL);
#endif
    if (n >= 0)
        return (long)n;
    return would_block(last_error()) ? 0 : -1;
}

long net_recv(sock_t s, void *buf, size_t len)
{
#ifdef _WIN32
    int n = recv(s, (char *)buf, len > 1 << 30 ? 1 << 30 : (int)len, 0);
#else
    ssize_t n = recv(s, buf, len, 0);
#endif
    if (n >= 0)
        return (long)n;
    return would_block(last_error()) ? -2 : -1;
}
