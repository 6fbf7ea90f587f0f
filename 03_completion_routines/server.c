/**
 * \file
 * \brief Lesson 03: overlapped I/O with completion routines; one I/O thread, every client.
 *
 * Abstract. main hands each client to the I/O thread (QueueUserAPC), which alone touches it.
 * A struct connection (per-connection state) holds the WSAOVERLAPPED (per-operation state) of
 * its one operation; free_connection() frees it, never while that operation is in flight.
 * Ctrl+C ends the process.
 * The limit left for lesson 04: one thread runs every routine.
 */
/** Leave the rarely used parts of windows.h out (among them the old winsock.h). */
#define WIN32_LEAN_AND_MEAN
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <process.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/** The program's name, for the usage line. */
#define PROGRAM "03_completion_routines"
/** Port used when the command line names none. */
#define DEFAULT_PORT 5000
/** Loopback by default: a lab machine must not expose a server by accident. */
#define DEFAULT_ADDRESS "127.0.0.1"
/** Size of each connection's echo buffer: with many clients, most of the memory. */
#define BUFFER_SIZE (16 * 1024)

/** \brief What the command line asked for. */
struct options {
    const char *address; /**< numeric IPv4 address to listen on */
    unsigned short port; /**< port to listen on; 0 lets the system choose */
};

// [structs]
/** \brief One client and its one operation in flight. */
struct connection {
    SOCKET socket; /**< closed by free_connection() */
    WSAOVERLAPPED overlapped; /**< written by the system until the operation completes */
    WSABUF wsabuf; /**< what the current operation receives into or sends from */
    DWORD received; /**< bytes the last receive put in `buffer` */
    DWORD sent; /**< of those, bytes already echoed */
    char peer[64]; /**< "client ADDRESS:PORT", for error messages */
    char buffer[BUFFER_SIZE]; /**< raw bytes, not a string: no NUL at the end, NULs inside */
};
// [structs]

/* The routines and the posts call each other: the routines are named first. */
static void CALLBACK on_recv_complete(DWORD, DWORD, LPWSAOVERLAPPED, DWORD);
static void CALLBACK on_send_complete(DWORD, DWORD, LPWSAOVERLAPPED, DWORD);

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

/** \brief Write "client ADDRESS:PORT" of a peer into \p out, for error messages. */
static void format_peer(const SOCKADDR_IN *addr, char *out, size_t out_size)
{
    char host[INET_ADDRSTRLEN] = "?";

    (void)inet_ntop(AF_INET, &addr->sin_addr, host, sizeof host); /* "?" if it fails */
    snprintf(out, out_size, "client %s:%u", host, (unsigned)ntohs(addr->sin_port));
}

// [lifetime]
/** \brief A connection for \p client, nothing pending; from here it owns \p client. */
static struct connection *new_connection(SOCKET client, const SOCKADDR_IN *peer_addr)
{
    struct connection *conn = calloc(1, sizeof *conn);

    if (conn == NULL)
        return NULL;
    conn->socket = client;
    format_peer(peer_addr, conn->peer, sizeof conn->peer);
    return conn;
}

/** \brief Close the socket and free the connection: only when no operation is outstanding. */
static void free_connection(struct connection *conn)
{
    if (closesocket(conn->socket) == SOCKET_ERROR)
        print_error("closesocket", conn->peer, WSAGetLastError());
    free(conn);
}

/** \brief After the client's FIN, everything echoed: finish our direction, then close. */
static void finish_connection(struct connection *conn)
{
    if (shutdown(conn->socket, SD_SEND) == SOCKET_ERROR)
        print_error("shutdown", conn->peer, WSAGetLastError());
    free_connection(conn);
}
// [lifetime]

// [post_recv]
/** \brief Start a receive for on_recv_complete(): 0 when the routine will run, else the error. */
static int post_recv(struct connection *conn)
{
    DWORD flags = 0; /* in and out: WSARecv reads it, so it must be set */
    int error;

    memset(&conn->overlapped, 0, sizeof conn->overlapped); /* the last operation's is spent */
    conn->wsabuf.buf = conn->buffer;
    conn->wsabuf.len = (ULONG)sizeof conn->buffer;
    if (WSARecv(conn->socket, &conn->wsabuf, 1, NULL, &flags, &conn->overlapped,
                on_recv_complete) == 0)
        return 0; /* done at once: the routine is queued all the same, it takes the bytes */
    error = WSAGetLastError();
    if (error == WSA_IO_PENDING)
        return 0; /* pending: the routine runs once it completes and we wait alertably */
    return error; /* failed: no routine will run for this receive */
}

/** \brief post_recv(), or close the connection if the receive did not start. */
static void receive_or_close(struct connection *conn)
{
    int error = post_recv(conn);

    if (error != 0) {
        print_error("WSARecv", conn->peer, error);
        free_connection(conn); /* nothing outstanding: the failed post queued no routine */
    }
}
// [post_recv]

// [post_send_rest]
/** \brief Start sending what is owed, for on_send_complete(): 0 if it will run, or the error. */
static int post_send_rest(struct connection *conn)
{
    int error;

    memset(&conn->overlapped, 0, sizeof conn->overlapped);
    conn->wsabuf.buf = conn->buffer + conn->sent;
    conn->wsabuf.len = (ULONG)(conn->received - conn->sent);
    if (WSASend(conn->socket, &conn->wsabuf, 1, NULL, 0, &conn->overlapped, on_send_complete) == 0)
        return 0; /* done at once: the routine is queued all the same, it counts the bytes */
    error = WSAGetLastError();
    if (error == WSA_IO_PENDING)
        return 0; /* pending: the routine runs once it completes */
    return error; /* failed: no routine will run for this send */
}

/** \brief post_send_rest(), or close the connection if the send did not start. */
static void send_rest_or_close(struct connection *conn)
{
    int error = post_send_rest(conn);

    if (error != 0) {
        print_error("WSASend", conn->peer, error);
        free_connection(conn);
    }
}
// [post_send_rest]

// [on_complete]
/** \brief A receive's routine, on the I/O thread: echo what came, finish on FIN, close on error. */
static void CALLBACK on_recv_complete(DWORD error, DWORD bytes, LPWSAOVERLAPPED overlapped,
                                      DWORD flags)
{
    /* Back to the connection by the field's offset: a cast needs the field first. */
    struct connection *conn = CONTAINING_RECORD(overlapped, struct connection, overlapped);

    (void)flags; /* no flags matter on a TCP stream */
    if (error != 0) {
        /* A reset or a network error is this client's problem only. */
        print_error("WSARecv", conn->peer, (int)error);
        free_connection(conn);
        return;
    }
    if (bytes == 0) {
        finish_connection(conn); /* FIN: everything before it was echoed already */
        return;
    }
    conn->received = bytes;
    conn->sent = 0;
    send_rest_or_close(conn);
}

/** \brief A send's routine: send the rest if it was partial, else receive again. */
static void CALLBACK on_send_complete(DWORD error, DWORD bytes, LPWSAOVERLAPPED overlapped,
                                      DWORD flags)
{
    struct connection *conn = CONTAINING_RECORD(overlapped, struct connection, overlapped);

    (void)flags;
    if (error != 0) {
        print_error("WSASend", conn->peer, (int)error);
        free_connection(conn);
        return;
    }
    conn->sent += bytes;
    if (conn->sent < conn->received)
        send_rest_or_close(conn); /* fewer bytes than asked: normal, not an error */
    else
        receive_or_close(conn);
}
// [on_complete]

// [add_client]
/** \brief An APC queued by start_connection(): the first receive, posted on the I/O thread. */
static void CALLBACK add_client(ULONG_PTR data)
{
    receive_or_close((struct connection *)data);
}
// [add_client]

// [io_thread]
/** \brief The I/O thread: wait alertably, forever; the queued APCs run inside SleepEx(). */
static unsigned __stdcall io_thread(void *unused)
{
    (void)unused;
    while (SleepEx(INFINITE, TRUE) == WAIT_IO_COMPLETION) /* alertable: returns after APCs */
        continue;
    return 0;
}
// [io_thread]

// [start_connection]
/** \brief Wrap \p client in a connection and queue add_client() to the I/O thread \p io with it. */
static void start_connection(HANDLE io, SOCKET client, const SOCKADDR_IN *peer_addr)
{
    struct connection *conn = new_connection(client, peer_addr);

    if (conn == NULL) {
        print_error("calloc", "a client", ERROR_NOT_ENOUGH_MEMORY);
        (void)closesocket(client); /* out of memory already: that is the error to report */
        return;
    }
    /* Routines run on the posting thread, so hand over. ULONG_PTR, not DWORD: 64-bit pointers. */
    if (QueueUserAPC(add_client, io, (ULONG_PTR)conn) == 0) {
        print_error("QueueUserAPC", conn->peer, (int)GetLastError());
        free_connection(conn); /* still ours: add_client() will not run */
    }
}
// [start_connection]

// [accept_loop]
/** \brief Whether an accept() error means the listening socket, not one client, is broken. */
static int listener_is_broken(int error)
{
    return error == WSAENOTSOCK || error == WSAEINVAL || error == WSAEFAULT ||
           error == WSANOTINITIALISED || error == WSAENETDOWN;
}

/** \brief Accept clients and hand each over until the listener breaks; this keeps us alive. */
static void accept_loop(HANDLE io, SOCKET listener, const char *where)
{
    for (;;) {
        SOCKADDR_IN peer_addr;
        int peer_len = (int)sizeof peer_addr;
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
        start_connection(io, client, &peer_addr);
    }
}
// [accept_loop]

// [main]
/** \brief Start the I/O thread, listen, accept until the listener breaks: 2 if misused, else 1. */
int main(int argc, char **argv)
{
    struct options opts;
    char where[64];
    WSADATA wsa;
    SOCKET listener;
    HANDLE io;
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
    /* _beginthreadex: the routines call the C library. Before listen(): none waits for it. */
    io = (HANDLE)_beginthreadex(NULL, 0, io_thread, NULL, 0, NULL);
    if (io == NULL) {
        print_error("_beginthreadex", "I/O thread", (int)_doserrno);
        (void)WSACleanup();
        return 1;
    }
    listener = open_listener(&opts, where, sizeof where);
    if (listener == INVALID_SOCKET)
        return 1;
    accept_loop(io, listener, where);
    /* Broken. The I/O thread may be amid a client: no WSACleanup(), returning ends it all. */
    (void)closesocket(listener); /* ending anyway: an error here changes nothing */
    return 1;
}
// [main]
