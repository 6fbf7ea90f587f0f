/**
 * \file
 * \brief Lesson 04: an echo server on an I/O completion port, served by a pool
 * of worker threads.
 *
 * Abstract. The main thread accepts; each socket is associated with the port,
 * its struct connection (per-handle data) as the key, and its first receive
 * posted. Whichever worker dequeues a completion finds the connection in the
 * key and the operation in the OVERLAPPED, inside a struct io (per-I/O data,
 * allocated by the post, freed by the worker that dequeues it). A connection
 * counts its operations in flight; the one that ends the last frees it.
 * Ctrl+C ends the process; a broken listener ends main(). The limit left
 * for lesson 05: the blocking accept() on one thread.
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
#define PROGRAM "04_iocp_basic"
/** Port used when the command line names none. */
#define DEFAULT_PORT 5000
/** Loopback by default: a lab machine must not expose a server by accident. */
#define DEFAULT_ADDRESS "127.0.0.1"
/** Size of each connection's echo buffer: with many clients, most of the memory. */
#define BUFFER_SIZE (16 * 1024)
/** Worker threads per processor: spares for a worker that blocks (a page fault, a lock). */
#define WORKERS_PER_PROCESSOR 2

/** \brief What the command line asked for. */
struct options {
    const char *address; /**< numeric IPv4 address to listen on */
    unsigned short port; /**< port to listen on; 0 lets the system choose */
};

// [structs]
/** \brief What an operation was: the OVERLAPPED alone cannot say, the tag in its struct io does. */
enum op {
    OP_RECV, /**< a WSARecv into the connection's buffer */
    OP_SEND /**< a WSASend of the part of the buffer not yet sent */
};

/** \brief Per-I/O data: one operation; the system writes into it until its completion is out. */
struct io {
    enum op op; /**< what completed, for the worker's dispatch */
    OVERLAPPED overlapped; /**< not first, on purpose: CONTAINING_RECORD, not a cast */
    WSABUF wsabuf; /**< the part of the connection's buffer this operation fills or sends */
};

/** \brief Per-handle data: one client; its address is the socket's completion key. */
struct connection {
    SOCKET socket; /**< the client; INVALID_SOCKET once closed */
    volatile LONG pending; /**< operations posted and not yet finished; Interlocked* only */
    DWORD received; /**< bytes the last receive put in `buffer` */
    DWORD sent; /**< of those, bytes already echoed */
    char peer[64]; /**< "client ADDRESS:PORT", for error messages */
    char buffer[BUFFER_SIZE]; /**< raw bytes, not a string: no NUL at the end, NULs inside */
};

/** \brief What the main thread and the workers share: the port (and, for main, the workers). */
struct server {
    HANDLE port; /**< the completion port; every client socket is associated with it */
    HANDLE *workers; /**< the worker threads' handles */
    DWORD worker_count; /**< how many workers run */
};
// [structs]

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
/** \brief A struct io for \p len bytes at \p data, or NULL; freed once its completion is out. */
static struct io *new_io(enum op op, char *data, DWORD len)
{
    struct io *io = calloc(1, sizeof *io); /* zeroed: a new OVERLAPPED must start all zero */

    if (io == NULL)
        return NULL;
    io->op = op;
    io->wsabuf.buf = data;
    io->wsabuf.len = len;
    return io;
}

/** \brief Free a struct io whose completion has been dequeued (or whose post failed). */
static void free_io(struct io *io)
{
    free(io);
}

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

/** \brief Close the socket, once. Frees nothing: a pending operation still completes. */
static void close_connection(struct connection *conn)
{
    if (conn->socket == INVALID_SOCKET)
        return;
    if (closesocket(conn->socket) == SOCKET_ERROR)
        print_error("closesocket", conn->peer, WSAGetLastError());
    conn->socket = INVALID_SOCKET;
}

/** \brief Close the socket if still open and free the connection. Only with nothing pending. */
static void free_connection(struct connection *conn)
{
    close_connection(conn);
    free(conn);
}

/** \brief One operation is over; the last frees \p conn (Interlocked: workers race here). */
static void free_connection_when_idle(struct connection *conn)
{
    if (InterlockedDecrement(&conn->pending) == 0)
        free_connection(conn);
}
// [lifetime]

// [post_recv]
/** \brief Post a receive into the whole buffer: 0, or -1 after printing why (the caller closes). */
static int post_recv(struct connection *conn)
{
    DWORD flags = 0;
    struct io *io = new_io(OP_RECV, conn->buffer, (DWORD)sizeof conn->buffer);
    int error;

    if (io == NULL) {
        print_error("calloc", conn->peer, ERROR_NOT_ENOUGH_MEMORY);
        return -1;
    }
    /* Before the call: a worker may handle the completion before WSARecv returns. */
    InterlockedIncrement(&conn->pending);
    if (WSARecv(conn->socket, &io->wsabuf, 1, NULL, &flags, &io->overlapped, NULL) == 0)
        return 0; /* done at once: the completion is queued anyway, handled there */
    error = WSAGetLastError();
    if (error == WSA_IO_PENDING)
        return 0; /* under way */
    InterlockedDecrement(&conn->pending); /* failed: no completion will come */
    free_io(io);
    print_error("WSARecv", conn->peer, error);
    return -1;
}
// [post_recv]

// [post_send_rest]
/** \brief Post one send of what is still owed (`sent` to `received`); 0 or -1, as post_recv(). */
static int post_send_rest(struct connection *conn)
{
    struct io *io = new_io(OP_SEND, conn->buffer + conn->sent, conn->received - conn->sent);
    int error;

    if (io == NULL) {
        print_error("calloc", conn->peer, ERROR_NOT_ENOUGH_MEMORY);
        return -1;
    }
    InterlockedIncrement(&conn->pending); /* before the call, as in post_recv() */
    if (WSASend(conn->socket, &io->wsabuf, 1, NULL, 0, &io->overlapped, NULL) == 0)
        return 0; /* done at once: the completion is queued anyway, handled there */
    error = WSAGetLastError();
    if (error == WSA_IO_PENDING)
        return 0; /* under way */
    InterlockedDecrement(&conn->pending); /* failed: no completion will come */
    free_io(io);
    print_error("WSASend", conn->peer, error);
    return -1;
}
// [post_send_rest]

// [on_complete]
/** \brief \p bytes came (more than 0): send them all back before the next receive. */
static void on_recv_complete(struct connection *conn, DWORD bytes)
{
    conn->received = bytes;
    conn->sent = 0;
    if (post_send_rest(conn) != 0)
        close_connection(conn);
}

/** \brief A send took \p bytes, maybe fewer than given: send the rest, else receive again. */
static void on_send_complete(struct connection *conn, DWORD bytes)
{
    int failed;

    conn->sent += bytes;
    if (conn->sent < conn->received)
        failed = post_send_rest(conn); /* never a blocking send(): it would hold a worker */
    else
        failed = post_recv(conn);
    if (failed)
        close_connection(conn);
}

/** \brief 0 bytes: after a receive, the client's FIN (all echoed): shut our side too, and close. */
static void on_peer_closed(struct connection *conn, enum op op)
{
    if (op == OP_RECV && shutdown(conn->socket, SD_SEND) == SOCKET_ERROR)
        print_error("shutdown", conn->peer, WSAGetLastError());
    close_connection(conn);
}

/** \brief Failed (most often a reset): print the Winsock error, not the port's code; close. */
static void on_io_failed(struct connection *conn, struct io *io)
{
    DWORD bytes = 0, flags = 0;
    int error = WSAEINVAL; /* kept only if the OVERLAPPED contradicted the packet */

    if (!WSAGetOverlappedResult(conn->socket, &io->overlapped, &bytes, FALSE, &flags))
        error = WSAGetLastError();
    print_error(io->op == OP_RECV ? "WSARecv" : "WSASend", conn->peer, error);
    close_connection(conn);
}
// [on_complete]

// [handle_completion]
/** \brief One completion of \p io: failed, 0 bytes or n bytes; then free it and uncount it. */
static void handle_completion(struct connection *conn, struct io *io, BOOL ok, DWORD bytes)
{
    if (!ok)
        on_io_failed(conn, io); /* the I/O failed: this client's problem only */
    else if (bytes == 0)
        on_peer_closed(conn, io->op); /* success with 0 bytes: the client closed */
    else if (io->op == OP_RECV)
        on_recv_complete(conn, bytes); /* success, bytes moved; the tag says which way */
    else
        on_send_complete(conn, bytes);
    free_io(io); /* dequeued: the system no longer writes into it */
    free_connection_when_idle(conn); /* last: the handler may have posted the next operation */
}
// [handle_completion]

// [worker]
/**
 * \brief A worker thread: dequeue one completion, tell the four outcomes of
 * GetQueuedCompletionStatus apart, handle it, repeat. One operation in flight per connection:
 * one handler at a time changes its fields (`pending` aside).
 */
static unsigned __stdcall worker(void *param)
{
    const struct server *server = param;

    for (;;) {
        DWORD bytes = 0;
        ULONG_PTR key = 0; /* ULONG_PTR, not DWORD: it holds a pointer, 64 bits on x64 */
        OVERLAPPED *overlapped = NULL;
        BOOL ok = GetQueuedCompletionStatus(server->port, &bytes, &key, &overlapped, INFINITE);
        struct io *io;

        if (!ok && overlapped == NULL) {
            /* Nothing dequeued: a timeout (not with INFINITE) or a broken port. */
            DWORD error = GetLastError();

            if (error == WAIT_TIMEOUT)
                continue;
            print_error("GetQueuedCompletionStatus", "", (int)error);
            return 1;
        }
        if (overlapped == NULL)
            /* a packet from PostQueuedCompletionStatus: nobody here posts one (lesson 06 will) */
            continue;
        /* The key is the connection; CONTAINING_RECORD finds the struct io. */
        io = CONTAINING_RECORD(overlapped, struct io, overlapped);
        handle_completion((struct connection *)key, io, ok, bytes);
    }
}
// [worker]

// [start_workers]
/** \brief Create the port and start 2 x processors workers: 0, or -1 after printing why. */
static int start_workers(struct server *server)
{
    SYSTEM_INFO info;
    DWORD count;

    GetSystemInfo(&info);
    count = WORKERS_PER_PROCESSOR * info.dwNumberOfProcessors;
    /* Concurrency 0: as many run at once as there are processors; spares cover a blocked one. */
    server->port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
    if (server->port == NULL) {
        print_error("CreateIoCompletionPort", "", (int)GetLastError());
        return -1;
    }
    server->workers = calloc(count, sizeof *server->workers);
    if (server->workers == NULL) {
        print_error("calloc", "workers", ERROR_NOT_ENOUGH_MEMORY);
        return -1;
    }
    for (server->worker_count = 0; server->worker_count < count; server->worker_count++) {
        /* _beginthreadex, not CreateThread: the workers call the C library (lesson 03). */
        server->workers[server->worker_count] =
            (HANDLE)_beginthreadex(NULL, 0, worker, server, 0, NULL);
        if (server->workers[server->worker_count] == NULL) {
            print_error("_beginthreadex", "worker", (int)_doserrno);
            return -1;
        }
    }
    return 0;
}
// [start_workers]

// [start_connection]
/** \brief Make \p client a connection on the port, post its receive; a failure closes it. */
static void start_connection(const struct server *server, SOCKET client,
                             const SOCKADDR_IN *peer_addr)
{
    struct connection *conn = new_connection(client, peer_addr);

    if (conn == NULL) {
        print_error("calloc", "a client", ERROR_NOT_ENOUGH_MEMORY);
        (void)closesocket(client); /* out of memory already: that is the error to report */
        return;
    }
    /* The key is a ULONG_PTR, as wide as a pointer: never pass it through a DWORD. */
    if (CreateIoCompletionPort((HANDLE)client, server->port, (ULONG_PTR)conn, 0) == NULL) {
        print_error("CreateIoCompletionPort", conn->peer, (int)GetLastError());
        free_connection(conn);
        return;
    }
    if (post_recv(conn) != 0) {
        free_connection(conn); /* the post failed: nothing is pending, nothing else knows it */
        return;
    }
    /* From here the workers own the connection: it may already be freed. */
}
// [start_connection]

// [accept_loop]
/** \brief Whether an accept() error means the listening socket, not one client, is broken. */
static int listener_is_broken(int error)
{
    return error == WSAENOTSOCK || error == WSAEINVAL || error == WSAEFAULT ||
           error == WSANOTINITIALISED || error == WSAENETDOWN;
}

/**
 * \brief Accept clients and hand each over to be served. This thread does
 * nothing else, which also keeps the process alive (no getchar() needed).
 * Returns only when the listening socket is broken.
 */
static void accept_loop(const struct server *server, SOCKET listener, const char *where)
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
        start_connection(server, client, &peer_addr);
    }
}
// [accept_loop]

// [main]
/**
 * \brief Start Winsock, parse the command line, start the port's workers,
 * listen, and accept clients until the listening socket breaks. Exit codes:
 * 2 for a bad command line, 1 for a failed start or a broken listening socket.
 */
int main(int argc, char **argv)
{
    /* Not on this stack: the workers outlive main() when it returns 1. */
    static struct server server;
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
    /* Workers first, listener second: the listening line means "ready". */
    if (start_workers(&server) != 0)
        return 1; /* ending the process ends the workers started so far */
    listener = open_listener(&opts, where, sizeof where);
    if (listener == INVALID_SOCKET)
        return 1;
    accept_loop(&server, listener, where);
    /* The listener is broken. The workers still serve their clients and use
     * Winsock, so no WSACleanup() here: returning ends the process, its
     * threads and its sockets. Lesson 06 stops them one by one instead. */
    (void)closesocket(listener); /* ending anyway: an error here changes nothing */
    return 1;
}
// [main]
