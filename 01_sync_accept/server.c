/**
 * \file
 * \brief Lesson 01: a blocking echo server that serves one client at a time.
 *
 * Abstract. The main thread does everything: it blocks in accept() until a
 * client connects, then blocks in recv() and send() on that client until the
 * client closes its side, then goes back to accept(). There is no
 * per-connection or per-operation state beyond one socket and one buffer on
 * the stack: the socket is closed by serve_client(), the listening socket by
 * main(). The program stops on Ctrl+C (the system ends the process and closes
 * its sockets) or when the listening socket breaks.
 *
 * The limit this lesson leaves is the point of lesson 02: while one client is
 * connected, every other client waits in the listen backlog.
 */
/** Leave the rarely used parts of windows.h out (among them the old winsock.h). */
#define WIN32_LEAN_AND_MEAN
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/** The program's name, for the usage line. */
#define PROGRAM "01_sync_accept"
/** Port used when the command line names none. */
#define DEFAULT_PORT 5000
/** Loopback by default: a lab machine must not expose a server by accident. */
#define DEFAULT_ADDRESS "127.0.0.1"
/** Size of the receive buffer; any size works, echo does not care. */
#define BUFFER_SIZE (64 * 1024)

/** \brief What the command line asked for. */
struct options {
    const char *address; /**< numeric IPv4 address to listen on */
    unsigned short port; /**< port to listen on; 0 lets the system choose */
};

// [print_error]
/** \brief The name of the errors met most; out of memory is ERROR_NOT_ENOUGH_MEMORY everywhere. */
static const char *wsa_error_name(int code)
{
    switch (code) {
    case ERROR_NOT_ENOUGH_MEMORY: return "ERROR_NOT_ENOUGH_MEMORY";
    case WSAEACCES: return "WSAEACCES";
    case WSAEADDRINUSE: return "WSAEADDRINUSE";
    case WSAEADDRNOTAVAIL: return "WSAEADDRNOTAVAIL";
    case WSAECONNABORTED: return "WSAECONNABORTED";
    case WSAECONNRESET: return "WSAECONNRESET";
    case WSAEINVAL: return "WSAEINVAL";
    case WSAEMFILE: return "WSAEMFILE";
    case WSAENETDOWN: return "WSAENETDOWN";
    case WSAENETRESET: return "WSAENETRESET";
    case WSAENOBUFS: return "WSAENOBUFS";
    case WSAENOTCONN: return "WSAENOTCONN";
    case WSAENOTSOCK: return "WSAENOTSOCK";
    case WSAESHUTDOWN: return "WSAESHUTDOWN";
    case WSAETIMEDOUT: return "WSAETIMEDOUT";
    case WSAEWOULDBLOCK: return "WSAEWOULDBLOCK";
    case WSASYSNOTREADY: return "WSASYSNOTREADY";
    case WSAVERNOTSUPPORTED: return "WSAVERNOTSUPPORTED";
    case WSA_INVALID_HANDLE: return "WSA_INVALID_HANDLE";
    case WSA_IO_INCOMPLETE: return "WSA_IO_INCOMPLETE";
    case WSA_OPERATION_ABORTED: return "WSA_OPERATION_ABORTED";
    default: return "error";
    }
}

/** \brief One line on stderr: `bind 127.0.0.1:5000: WSAEADDRINUSE (10048): Only one usage ...`. */
static void print_error(const char *call, const char *subject, int code)
{
    char text[256] = "";
    DWORD len = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL,
                               (DWORD)code, 0, text, (DWORD)sizeof text, NULL);

    /* FormatMessage ends its text with "\r\n"; the line should end once. */
    while (len > 0 && (text[len - 1] == '\r' || text[len - 1] == '\n' || text[len - 1] == ' '))
        text[--len] = '\0';
    fprintf(stderr, "%s%s%s: %s (%d)%s%s\n", call, subject[0] ? " " : "", subject,
            wsa_error_name(code), code, len > 0 ? ": " : "", text);
}
// [print_error]

// [parse_options]
/** \brief The usage line, on stderr, for a command line we do not understand. */
static void print_usage(void)
{
    fprintf(stderr,
            "usage: %s [port [address]]   (port 0-65535, default %d;"
            " numeric IPv4 address, default %s)\n",
            PROGRAM, DEFAULT_PORT, DEFAULT_ADDRESS);
}

/** \brief Read `[port [address]]`: 0 when valid. strtoul(): atoi() takes "50x0" as 50. */
static int parse_options(int argc, char **argv, struct options *opts)
{
    IN_ADDR probe;

    opts->address = DEFAULT_ADDRESS;
    opts->port = DEFAULT_PORT;
    if (argc > 3)
        return -1;
    if (argc >= 2) {
        char *end = NULL;
        unsigned long port = strtoul(argv[1], &end, 10);

        if (argv[1][0] < '0' || argv[1][0] > '9' || *end != '\0' || port > 65535)
            return -1;
        opts->port = (unsigned short)port;
    }
    if (argc == 3)
        opts->address = argv[2];
    if (inet_pton(AF_INET, opts->address, &probe) != 1)
        return -1;
    return 0;
}
// [parse_options]

// [open_listener]
/**
 * \brief Create the listening socket, bind, listen, print `listening on ADDRESS:PORT` with the
 * real port and write it into \p where. The caller closes the socket; INVALID_SOCKET after
 * printing the failed call.
 */
static SOCKET open_listener(const struct options *opts, char *where, size_t where_size)
{
    SOCKADDR_IN addr;
    int addr_len = (int)sizeof addr;
    char subject[64];
    BOOL exclusive = TRUE;
    SOCKET listener;

    snprintf(subject, sizeof subject, "%s:%u", opts->address, (unsigned)opts->port);
    listener = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (listener == INVALID_SOCKET) {
        print_error("socket", "", WSAGetLastError());
        return INVALID_SOCKET;
    }
    /* SO_REUSEADDR would let another program steal the port; this makes its bind fail. */
    if (setsockopt(listener, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&exclusive,
                   (int)sizeof exclusive) == SOCKET_ERROR) {
        print_error("setsockopt(SO_EXCLUSIVEADDRUSE)", subject, WSAGetLastError());
        goto fail;
    }
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(opts->port);
    (void)inet_pton(AF_INET, opts->address, &addr.sin_addr); /* checked in parse_options() */
    if (bind(listener, (SOCKADDR *)&addr, (int)sizeof addr) == SOCKET_ERROR) {
        print_error("bind", subject, WSAGetLastError());
        goto fail;
    }
    if (listen(listener, SOMAXCONN) == SOCKET_ERROR) {
        print_error("listen", subject, WSAGetLastError());
        goto fail;
    }
    /* With port 0 the system picked the port: ask which one. */
    if (getsockname(listener, (SOCKADDR *)&addr, &addr_len) == SOCKET_ERROR) {
        print_error("getsockname", subject, WSAGetLastError());
        goto fail;
    }
    snprintf(where, where_size, "%s:%u", opts->address, (unsigned)ntohs(addr.sin_port));
    printf("listening on %s\n", where);
    /* A pipe when a test runs us, so fully buffered: the test would wait for the line. */
    if (fflush(stdout) != 0) {
        fprintf(stderr, "fflush(stdout): the listening line could not be written\n");
        goto fail;
    }
    return listener;

fail:
    (void)closesocket(listener); /* already failing: the first error is the one to report */
    return INVALID_SOCKET;
}
// [open_listener]

// [send_all]
/**
 * \brief Send all \p len bytes of \p data, however many send() calls it takes.
 *
 * send() is documented to return the number of bytes sent, "which can be
 * less than the number requested"; treating its result as "all sent"
 * silently drops the rest of the echo. Returns 0, or the Winsock error.
 */
static int send_all(SOCKET s, const char *data, int len)
{
    while (len > 0) {
        int sent = send(s, data, len, 0);

        if (sent == SOCKET_ERROR)
            return WSAGetLastError();
        data += sent;
        len -= sent;
    }
    return 0;
}
// [send_all]

// [serve_client]
/**
 * \brief Echo everything one client sends until it closes its side, then
 * close the socket. Owns \p client: it is closed on every path.
 *
 * The buffer holds raw bytes, not a string: it has no terminating NUL and may
 * contain NULs, so it is only ever passed on with its length, never printed
 * with `%s` or measured with strlen().
 */
static void serve_client(SOCKET client, const char *peer)
{
    char buffer[BUFFER_SIZE];

    for (;;) {
        int received = recv(client, buffer, (int)sizeof buffer, 0);
        int error;

        if (received == 0) {
            /* The client sent FIN: everything it sent has been echoed, so
             * finish our side too. closesocket() then sends what is queued. */
            if (shutdown(client, SD_SEND) == SOCKET_ERROR)
                print_error("shutdown", peer, WSAGetLastError());
            break;
        }
        if (received == SOCKET_ERROR) {
            /* A reset or a network error is this client's problem only. */
            print_error("recv", peer, WSAGetLastError());
            break;
        }
        error = send_all(client, buffer, received);
        if (error != 0) {
            print_error("send", peer, error);
            break;
        }
    }
    if (closesocket(client) == SOCKET_ERROR)
        print_error("closesocket", peer, WSAGetLastError());
}
// [serve_client]

/** \brief Write "client ADDRESS:PORT" of a peer into \p out, for error messages. */
static void format_peer(const SOCKADDR_IN *addr, char *out, size_t out_size)
{
    char host[INET_ADDRSTRLEN] = "?";

    (void)inet_ntop(AF_INET, &addr->sin_addr, host, sizeof host); /* "?" if it fails */
    snprintf(out, out_size, "client %s:%u", host, (unsigned)ntohs(addr->sin_port));
}

// [accept_loop]
/** \brief Whether an accept() error means the listening socket, not one client, is broken. */
static int listener_is_broken(int error)
{
    return error == WSAENOTSOCK || error == WSAEINVAL || error == WSAEFAULT ||
           error == WSANOTINITIALISED || error == WSAENETDOWN;
}

/**
 * \brief Accept clients one after the other and serve each to the end.
 *
 * Returns only when the listening socket is broken.
 */
static void accept_loop(SOCKET listener, const char *where)
{
    for (;;) {
        SOCKADDR_IN peer_addr;
        int peer_len = (int)sizeof peer_addr;
        char peer[64];
        SOCKET client = accept(listener, (SOCKADDR *)&peer_addr, &peer_len);

        if (client == INVALID_SOCKET) {
            int error = WSAGetLastError();

            print_error("accept", where, error);
            if (listener_is_broken(error))
                return;
            /* Out of sockets or buffers: a moment's pause, not a spin on the same error. */
            if (error == WSAEMFILE || error == WSAENOBUFS)
                Sleep(100);
            continue;
        }
        format_peer(&peer_addr, peer, sizeof peer);
        /* While this call runs, every other client waits: the limit of
         * this lesson. */
        serve_client(client, peer);
    }
}
// [accept_loop]

// [main]
/**
 * \brief Start Winsock, parse the command line, listen, and serve clients
 * until the listening socket breaks. Exit codes: 2 for a bad command line, 1
 * for a failed start or a broken listening socket.
 */
int main(int argc, char **argv)
{
    struct options opts;
    char where[64];
    WSADATA wsa;
    SOCKET listener;
    int error;

    /* Winsock first: parse_options() uses inet_pton(), a Winsock call. */
    error = WSAStartup(MAKEWORD(2, 2), &wsa);
    if (error != 0) {
        /* WSAStartup returns its error: WSAGetLastError() needs a started Winsock. */
        print_error("WSAStartup", "2.2", error);
        return 1;
    }
    if (parse_options(argc, argv, &opts) != 0) {
        print_usage();
        (void)WSACleanup(); /* the process ends anyway; nothing to do if it fails */
        return 2;
    }
    listener = open_listener(&opts, where, sizeof where);
    if (listener == INVALID_SOCKET) {
        (void)WSACleanup();
        return 1;
    }
    accept_loop(listener, where);
    (void)closesocket(listener); /* ending anyway: an error here changes nothing */
    (void)WSACleanup();
    return 1; /* accept_loop() returns only when the listener is broken */
}
// [main]
