/**
 * \file
 * \brief Lesson 06: lesson 05's AcceptEx server, stopped cleanly on Ctrl+C or Ctrl+Break.
 *
 * Abstract. As in lesson 05 (struct connection per client, the key; struct io per operation,
 * freed by the worker that dequeues it), plus: every object counted in `shared.live_objects`,
 * every connection on `shared.connections`. Ctrl+C sets an event; main cancels everything,
 * waits until the count is 0, posts one exit packet per worker, joins them, prints a summary.
 */
/** Leave the rarely used parts of windows.h out (among them the old winsock.h). */
#define WIN32_LEAN_AND_MEAN
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <process.h>
/* The AcceptEx types, WSAID_ACCEPTEX and SO_UPDATE_ACCEPT_CONTEXT; no mswsock.lib needed. */
#include <mswsock.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/** The program's name, for the usage line. */
#define PROGRAM "06_iocp_post_shutdown"
/** Port used when the command line names none. */
#define DEFAULT_PORT 5000
/** Loopback by default: a lab machine must not expose a server by accident. */
#define DEFAULT_ADDRESS "127.0.0.1"
/** Size of each connection's echo buffer: with many clients, most of the memory. */
#define BUFFER_SIZE (16 * 1024)
/** Worker threads per processor: spares for a worker that blocks (a page fault, a lock). */
#define WORKERS_PER_PROCESSOR 2
/** Accepts kept posted: each completion is replaced, so a client finds one waiting. */
#define ACCEPTS_POSTED 256
/** The most accepts under way while a burst outruns the replacements (FD_ACCEPT asks for more). */
#define ACCEPTS_POSTED_MAX 4096
/** Bytes AcceptEx waits for before it completes: none, so a silent client cannot hold an accept. */
#define ACCEPT_RECEIVE_SIZE 0
/** Room AcceptEx needs for one address: the sockaddr plus 16 bytes, as documented. */
#define ACCEPT_ADDRESS_SIZE ((DWORD)sizeof(SOCKADDR_IN) + 16)
/** How often the main thread posts the accepts that could not be replaced (no socket or memory). */
#define TOP_UP_INTERVAL_MS 1000
/** Completions a worker takes from the port in one call: fewer kernel transitions under load. */
#define COMPLETIONS_PER_DEQUEUE 16
/** How long the main thread waits for every operation to complete after cancelling them. */
#define DRAIN_TIMEOUT_MS 1000
/** How long the main thread waits for the workers to take their exit packets and end. */
#define JOIN_TIMEOUT_MS 500
/** Room for the error lines of one handler (a few lines; more are cut). */
#define HELD_LINES_SIZE 1024

/** \brief What the command line asked for. */
struct options {
    const char *address; /**< numeric IPv4 address to listen on */
    unsigned short port; /**< port to listen on; 0 lets the system choose */
};

// [structs]
/** \brief What an operation was: the OVERLAPPED alone cannot say, the tag in its struct io does. */
enum op {
    OP_ACCEPT, /**< an AcceptEx on the listening socket; its key is the listener */
    OP_RECV, /**< a WSARecv into the connection's buffer */
    OP_SEND /**< a WSASend of the part of the buffer not yet sent */
};

/** \brief Per-I/O data: one operation; the system writes into it until its completion is out. */
struct io {
    enum op op; /**< what completed, for the worker's dispatch */
    OVERLAPPED overlapped; /**< not first, on purpose: CONTAINING_RECORD, not a cast */
    WSABUF wsabuf; /**< OP_RECV, OP_SEND: the part of the buffer this operation fills or sends */
    SOCKET accepted; /**< OP_ACCEPT: the client's socket to be; this io owns it until then */
    /** OP_ACCEPT: where AcceptEx writes the local and remote addresses */
    char addresses[ACCEPT_RECEIVE_SIZE + 2 * ACCEPT_ADDRESS_SIZE];
};

/** \brief Per-handle data: one client; its address is the socket's completion key. */
struct connection {
    SOCKET socket; /**< the client; INVALID_SOCKET once closed */
    volatile LONG pending; /**< operations posted and not yet finished; Interlocked* only */
    DWORD received; /**< bytes the last receive put in `buffer` */
    DWORD sent; /**< of those, bytes already echoed */
    char peer[64]; /**< "client ADDRESS:PORT", for error messages */
    struct connection *prev; /**< the previous one on `shared.connections` */
    struct connection *next; /**< the next one on `shared.connections` */
    char buffer[BUFFER_SIZE]; /**< raw bytes, not a string: no NUL at the end, NULs inside */
};

/** \brief The listening socket and its AcceptEx; its address is the socket's completion key. */
struct listener {
    SOCKET socket; /**< the listening socket, associated with the port */
    LPFN_ACCEPTEX accept_ex; /**< AcceptEx, as the socket's provider gave it */
    LPFN_GETACCEPTEXSOCKADDRS get_addresses; /**< GetAcceptExSockaddrs, from the same provider */
    volatile LONG posted; /**< accepts posted and not yet completed; Interlocked* only */
    WSAEVENT backlog; /**< FD_ACCEPT: a client waits that no posted accept took */
    char where[64]; /**< "ADDRESS:PORT", for error messages */
};

/** \brief What the main thread and the workers share. */
struct server {
    HANDLE port; /**< the completion port; the listener and every client are associated */
    HANDLE *workers; /**< the worker threads' handles */
    DWORD worker_count; /**< how many workers run */
    struct listener listener; /**< the listening socket and its AcceptEx */
};

/** \brief What stopping needs everywhere; global: the console handler gets only the signal. */
struct shared {
    HANDLE stop_requested; /**< manual-reset event: set by the console handler */
    volatile LONG stopping; /**< 1 from the cancel pass on: nothing new is posted */
    SRWLOCK posting; /**< shared while a worker handles a completion; exclusive to cancel */
    DWORD held_lines; /**< TLS slot: the error lines of this thread's handler */
    HANDLE drained; /**< manual-reset event: set when the last object is freed while stopping */
    volatile LONG live_objects; /**< struct connection and struct io allocated and not yet freed */
    volatile LONG served; /**< connections accepted */
    volatile LONG64 echoed; /**< bytes the completed sends moved */
    CRITICAL_SECTION list_lock; /**< guards `connections` and each connection's prev/next */
    struct connection *connections; /**< every live connection, newest first */
};

/** The one global (see struct shared). */
static struct shared shared = {.held_lines = TLS_OUT_OF_INDEXES};
// [structs]

/* Defined with the accepts, further down; the worker calls it. */
static void handle_accept(struct server *server, struct io *io, BOOL ok);

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

/** \brief One line on stderr, as in lesson 05, but held while a handler runs (handle_entry()). */
static void print_error(const char *call, const char *subject, int code)
{
    char text[256] = "";
    char *held = shared.held_lines == TLS_OUT_OF_INDEXES ? NULL : TlsGetValue(shared.held_lines);
    DWORD len = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL,
                               (DWORD)code, 0, text, (DWORD)sizeof text, NULL);
    size_t used = held != NULL ? strlen(held) : 0;

    /* FormatMessage ends its text with "\r\n"; the line should end once. */
    while (len > 0 && (text[len - 1] == '\r' || text[len - 1] == '\n' || text[len - 1] == ' '))
        text[--len] = '\0';
    if (held != NULL) /* in a handler: a full stderr must not stall the lock, so later */
        snprintf(held + used, HELD_LINES_SIZE - used, "%s%s%s: %s (%d)%s%s\n", call,
                 subject[0] ? " " : "", subject, wsa_error_name(code), code, len > 0 ? ": " : "",
                 text);
    else
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
/** \brief Count a struct connection or struct io just allocated. */
static void object_born(void)
{
    InterlockedIncrement(&shared.live_objects);
}

/** \brief Count a free; while stopping, the last wakes main (which sets `stopping`, then reads). */
static void object_freed(void)
{
    if (InterlockedDecrement(&shared.live_objects) == 0 && shared.stopping)
        (void)SetEvent(shared.drained); /* cannot fail; main's wait is bounded anyway */
}

/** \brief A struct io for \p len bytes at \p data, or NULL; freed once its completion is out. */
static struct io *new_io(enum op op, char *data, DWORD len)
{
    struct io *io = calloc(1, sizeof *io); /* zeroed: a new OVERLAPPED must start all zero */

    if (io == NULL)
        return NULL;
    io->op = op;
    io->wsabuf.buf = data;
    io->wsabuf.len = len;
    io->accepted = INVALID_SOCKET; /* an accept sets it; the others never own a socket */
    object_born();
    return io;
}

/** \brief Free a struct io that is done, and the accept socket it still owns, if any. */
static void free_io(struct io *io)
{
    if (io->accepted != INVALID_SOCKET)
        (void)closesocket(io->accepted); /* nobody's client, or already failing: no report */
    free(io);
    object_freed();
}

/** \brief A listed connection for \p client, nothing pending; from here it owns \p client. */
static struct connection *new_connection(SOCKET client, const SOCKADDR_IN *peer_addr)
{
    struct connection *conn = calloc(1, sizeof *conn);

    if (conn == NULL)
        return NULL;
    conn->socket = client;
    format_peer(peer_addr, conn->peer, sizeof conn->peer);
    EnterCriticalSection(&shared.list_lock);
    conn->next = shared.connections;
    if (conn->next != NULL)
        conn->next->prev = conn;
    shared.connections = conn;
    LeaveCriticalSection(&shared.list_lock);
    object_born();
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

/** \brief Close the socket if still open, unlist and free the connection. Only when idle. */
static void free_connection(struct connection *conn)
{
    close_connection(conn);
    EnterCriticalSection(&shared.list_lock);
    if (conn->prev != NULL)
        conn->prev->next = conn->next;
    else
        shared.connections = conn->next;
    if (conn->next != NULL)
        conn->next->prev = conn->prev;
    LeaveCriticalSection(&shared.list_lock);
    free(conn);
    object_freed(); /* last: the count reaches 0 only when the memory is really gone */
}

/** \brief One operation is over; the last frees \p conn (Interlocked: workers race here). */
static void free_connection_when_idle(struct connection *conn)
{
    if (InterlockedDecrement(&conn->pending) == 0)
        free_connection(conn);
}
// [lifetime]

// [post_recv]
/** \brief Post a receive into the whole buffer: 0, or -1 on an error or when stopping. */
static int post_recv(struct connection *conn)
{
    DWORD flags = 0;
    struct io *io;
    int error;

    /* Stopping: post nothing, quietly. `posting` is held shared: `stopping` cannot change. */
    if (shared.stopping)
        return -1;
    io = new_io(OP_RECV, conn->buffer, (DWORD)sizeof conn->buffer);
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
    struct io *io;
    int error;

    if (shared.stopping)
        return -1; /* stopping: post nothing new, as in post_recv() */
    io = new_io(OP_SEND, conn->buffer + conn->sent, conn->received - conn->sent);
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
    /* Cancelled by the shutdown: expected, not worth a line. */
    if (!(shared.stopping && error == WSA_OPERATION_ABORTED))
        print_error(io->op == OP_RECV ? "WSARecv" : "WSASend", conn->peer, error);
    close_connection(conn);
}
// [on_complete]

// [handle_completion]
/** \brief One completion of \p io: failed, 0 or n bytes; free it, uncount it; count sends. */
static void handle_completion(struct connection *conn, struct io *io, BOOL ok, DWORD bytes)
{
    if (io->op == OP_SEND)
        InterlockedExchangeAdd64(&shared.echoed, (LONG64)bytes);
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
/** \brief A completion (not an exit packet), with `posting` shared: see cancel_everything(). */
static void handle_entry(struct server *server, const OVERLAPPED_ENTRY *entry)
{
    ULONG_PTR key = entry->lpCompletionKey; /* ULONG_PTR, not DWORD: a pointer is 64 bits */
    struct io *io = CONTAINING_RECORD(entry->lpOverlapped, struct io, overlapped);
    /* No BOOL per entry: Internal holds the NTSTATUS, a success when not negative. The failure
     * handlers still ask WSAGetOverlappedResult(), the documented way, for the error. */
    BOOL ok = (LONG)entry->lpOverlapped->Internal >= 0;
    char held[HELD_LINES_SIZE] = "";

    /* Error lines wait until the lock is let go: a blocked stderr must not stall the cancel. */
    (void)TlsSetValue(shared.held_lines, held); /* set up by start_shared(): cannot fail */
    AcquireSRWLockShared(&shared.posting);
    /* The key first: an accept completes with 0 bytes too, a new client, not a FIN. */
    if (key == (ULONG_PTR)&server->listener)
        handle_accept(server, io, ok);
    else
        handle_completion((struct connection *)key, io, ok, entry->dwNumberOfBytesTransferred);
    ReleaseSRWLockShared(&shared.posting);
    (void)TlsSetValue(shared.held_lines, NULL);
    if (held[0] != '\0')
        fprintf(stderr, "%s", held);
}

/** \brief A worker: dequeue up to COMPLETIONS_PER_DEQUEUE at once; end on an exit packet. */
static unsigned __stdcall worker(void *param)
{
    struct server *server = param;

    for (;;) {
        OVERLAPPED_ENTRY entries[COMPLETIONS_PER_DEQUEUE];
        ULONG count = 0, i, exits = 0;

        if (!GetQueuedCompletionStatusEx(server->port, entries, COMPLETIONS_PER_DEQUEUE, &count,
                                         INFINITE, FALSE)) {
            /* Nothing dequeued: a timeout (not with INFINITE) or a broken port. */
            DWORD error = GetLastError();

            if (error == WAIT_TIMEOUT)
                continue;
            print_error("GetQueuedCompletionStatusEx", "", (int)error);
            return 1;
        }
        for (i = 0; i < count; i++) {
            if (entries[i].lpOverlapped == NULL)
                exits++; /* an exit packet: PostQueuedCompletionStatus with no OVERLAPPED */
            else
                handle_entry(server, &entries[i]);
        }
        if (exits == 0)
            continue;
        /* One exit packet is ours; put back the others' it took, or they would wait for ever. */
        for (; exits > 1; exits--)
            if (!PostQueuedCompletionStatus(server->port, 0, 0, NULL))
                print_error("PostQueuedCompletionStatus", "exit packet", (int)GetLastError());
        return 0;
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
    if (count > MAXIMUM_WAIT_OBJECTS - 2)
        count = MAXIMUM_WAIT_OBJECTS - 2; /* main waits on them, the stop and backlog events */
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
    /* From here the connection belongs to the workers: it may already be freed. */
}
// [start_connection]

// [load_accept_functions]
/** \brief Get AcceptEx and GetAcceptExSockaddrs from the socket's provider (no mswsock.lib). */
static int load_accept_functions(struct listener *listener)
{
    GUID accept_ex_id = WSAID_ACCEPTEX;
    GUID get_addresses_id = WSAID_GETACCEPTEXSOCKADDRS;
    DWORD bytes = 0;

    if (WSAIoctl(listener->socket, SIO_GET_EXTENSION_FUNCTION_POINTER, &accept_ex_id,
                 (DWORD)sizeof accept_ex_id, &listener->accept_ex,
                 (DWORD)sizeof listener->accept_ex, &bytes, NULL, NULL) == SOCKET_ERROR) {
        print_error("WSAIoctl(AcceptEx)", listener->where, WSAGetLastError());
        return -1;
    }
    if (WSAIoctl(listener->socket, SIO_GET_EXTENSION_FUNCTION_POINTER, &get_addresses_id,
                 (DWORD)sizeof get_addresses_id, &listener->get_addresses,
                 (DWORD)sizeof listener->get_addresses, &bytes, NULL, NULL) == SOCKET_ERROR) {
        print_error("WSAIoctl(GetAcceptExSockaddrs)", listener->where, WSAGetLastError());
        return -1;
    }
    return 0;
}
// [load_accept_functions]

// [post_accept]
/** \brief Whether an accept error means the listening socket, not one client, is broken. */
static int listener_is_broken(int error)
{
    return error == WSAENOTSOCK || error == WSAEINVAL || error == WSAEFAULT ||
           error == WSANOTINITIALISED || error == WSAENETDOWN;
}

/** \brief Post one AcceptEx with a new socket: 0 when under way, else the error (printed). */
static int post_accept(struct listener *listener)
{
    DWORD unused = 0;
    struct io *io = new_io(OP_ACCEPT, NULL, 0);
    int error;

    if (io == NULL) {
        print_error("calloc", listener->where, ERROR_NOT_ENOUGH_MEMORY);
        return WSAENOBUFS;
    }
    /* The client's socket exists before the client; the io owns it until the accept completes. */
    io->accepted = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED);
    if (io->accepted == INVALID_SOCKET) {
        error = WSAGetLastError();
        print_error("WSASocket", listener->where, error);
        free_io(io);
        return error;
    }
    /* Receive length 0: done when a client connects; a silent client cannot hold the accept. */
    if (listener->accept_ex(listener->socket, io->accepted, io->addresses, ACCEPT_RECEIVE_SIZE,
                            ACCEPT_ADDRESS_SIZE, ACCEPT_ADDRESS_SIZE, &unused, &io->overlapped))
        return 0; /* a client was waiting: done at once, but the completion is queued anyway */
    error = WSAGetLastError();
    if (error == WSA_IO_PENDING)
        return 0; /* under way: the completion comes when a client connects */
    free_io(io); /* failed: no completion will come; this closes the accept socket too */
    print_error("AcceptEx", listener->where, error);
    return error;
}

/** \brief Post accepts until \p wanted are under way: -1 only when the listener is broken. */
static int top_up_accepts(struct listener *listener, LONG wanted)
{
    while (InterlockedIncrement(&listener->posted) <= wanted) {
        int error;

        if (shared.stopping)
            break; /* stopping: the accepts are cancelled, none is replaced */
        error = post_accept(listener);

        if (error == 0)
            continue;
        InterlockedDecrement(&listener->posted); /* that one is not pending */
        if (error == WSAECONNRESET)
            continue; /* that client is gone, the next one is not */
        return listener_is_broken(error) ? -1 : 0; /* else the main thread's tick retries */
    }
    /* That increment was only a test. A thread that saw it may stop one short: the next
     * completion or tick posts the missing accept. */
    InterlockedDecrement(&listener->posted);
    return 0;
}
// [post_accept]

// [on_accept]
/** \brief An accept completed: make the io's socket a full one and hand it to a connection. */
static void on_accept_complete(struct server *server, struct io *io)
{
    struct listener *listener = &server->listener;
    SOCKADDR *local = NULL, *remote = NULL;
    int local_len = 0, remote_len = 0;
    SOCKADDR_IN peer_addr;
    SOCKET client = io->accepted;

    if (shared.stopping)
        return; /* no new clients once stopping: free_io() closes the socket */
    /* Without it getpeername() fails with WSAENOTCONN, and on Windows shutdown() can too. */
    if (setsockopt(client, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT, (const char *)&listener->socket,
                   (int)sizeof listener->socket) == SOCKET_ERROR) {
        print_error("setsockopt(SO_UPDATE_ACCEPT_CONTEXT)", listener->where, WSAGetLastError());
        return; /* free_io() closes the socket */
    }
    /* The addresses are in AcceptEx's buffer, in a format only this call reads. */
    listener->get_addresses(io->addresses, ACCEPT_RECEIVE_SIZE, ACCEPT_ADDRESS_SIZE,
                            ACCEPT_ADDRESS_SIZE, &local, &local_len, &remote, &remote_len);
    memset(&peer_addr, 0, sizeof peer_addr);
    if (remote != NULL && remote_len >= (int)sizeof peer_addr)
        memcpy(&peer_addr, remote, sizeof peer_addr);
    io->accepted = INVALID_SOCKET; /* the connection owns it from here */
    InterlockedIncrement(&shared.served);
    start_connection(server, client, &peer_addr);
}

/** \brief An accept failed, most often a client that reset first: one line; free_io() closes. */
static void on_accept_failed(const struct listener *listener, struct io *io)
{
    DWORD bytes = 0, flags = 0;
    int error = WSAEINVAL; /* kept only if the OVERLAPPED contradicted the packet */

    if (!WSAGetOverlappedResult(listener->socket, &io->overlapped, &bytes, FALSE, &flags))
        error = WSAGetLastError();
    if (!(shared.stopping &&
          error == WSA_OPERATION_ABORTED)) /* cancelled by the shutdown: expected */
        print_error("AcceptEx", listener->where, error);
}

/** \brief A dequeued accept: post its replacement first, then its outcome, then free the io. */
static void handle_accept(struct server *server, struct io *io, BOOL ok)
{
    InterlockedDecrement(&server->listener.posted);
    (void)top_up_accepts(&server->listener, ACCEPTS_POSTED); /* main sees a broken listener */
    if (ok)
        on_accept_complete(server, io);
    else
        on_accept_failed(&server->listener, io);
    free_io(io); /* closes the accept socket unless a connection took it */
}
// [on_accept]

// [on_backlog]
/** \brief FD_ACCEPT: a client waits that no accept took; post more, up to ACCEPTS_POSTED_MAX. */
static int on_backlog(struct listener *listener)
{
    WSANETWORKEVENTS events;
    LONG wanted = listener->posted + ACCEPTS_POSTED;

    /* Resets the event; each AcceptEx re-enables FD_ACCEPT: it fires again if one still waits. */
    if (WSAEnumNetworkEvents(listener->socket, listener->backlog, &events) == SOCKET_ERROR) {
        int error = WSAGetLastError();

        print_error("WSAEnumNetworkEvents", listener->where, error);
        return listener_is_broken(error) ? -1 : 0;
    }
    return top_up_accepts(listener, wanted < ACCEPTS_POSTED_MAX ? wanted : ACCEPTS_POSTED_MAX);
}
// [on_backlog]

// [start_accepting]
/** \brief AcceptEx, the listener on the port, FD_ACCEPT, the first accepts: 0 or -1. */
static int start_accepting(struct server *server)
{
    struct listener *listener = &server->listener;

    if (load_accept_functions(listener) != 0)
        return -1;
    if (CreateIoCompletionPort((HANDLE)listener->socket, server->port, (ULONG_PTR)listener, 0) ==
        NULL) {
        print_error("CreateIoCompletionPort", listener->where, (int)GetLastError());
        return -1;
    }
    /* FD_ACCEPT is signalled only for a client that no posted AcceptEx took. */
    listener->backlog = WSACreateEvent();
    if (listener->backlog == WSA_INVALID_EVENT) {
        print_error("WSACreateEvent", listener->where, WSAGetLastError());
        return -1;
    }
    if (WSAEventSelect(listener->socket, listener->backlog, FD_ACCEPT) == SOCKET_ERROR) {
        print_error("WSAEventSelect(FD_ACCEPT)", listener->where, WSAGetLastError());
        return -1;
    }
    if (top_up_accepts(listener, ACCEPTS_POSTED) != 0 || listener->posted == 0)
        return -1; /* printed; without one accept posted, nobody would ever be served */
    return 0;
}
// [start_accepting]

// [console_handler]
/** \brief Runs on a thread of its own, for Ctrl+C and Ctrl+Break only: it only signals main. */
static BOOL WINAPI on_console_signal(DWORD type)
{
    if (type != CTRL_C_EVENT && type != CTRL_BREAK_EVENT)
        return FALSE;
    (void)SetEvent(shared.stop_requested); /* cannot fail on a valid event */
    return TRUE;
}

/** \brief Make what `shared` holds and install the handler before any other thread: 0 or -1. */
static int start_shared(void)
{
    shared.held_lines = TlsAlloc();
    if (shared.held_lines == TLS_OUT_OF_INDEXES) {
        print_error("TlsAlloc", "", (int)GetLastError());
        return -1;
    }
    InitializeSRWLock(&shared.posting);
    InitializeCriticalSection(&shared.list_lock);
    /* Manual reset: once set, an event stays set for whoever looks later. */
    shared.stop_requested = CreateEventW(NULL, TRUE, FALSE, NULL);
    shared.drained = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (shared.stop_requested == NULL || shared.drained == NULL) {
        print_error("CreateEvent", "", (int)GetLastError());
        return -1;
    }
    if (!SetConsoleCtrlHandler(on_console_signal, TRUE)) {
        print_error("SetConsoleCtrlHandler", "", (int)GetLastError());
        return -1;
    }
    return 0;
}
// [console_handler]

// [watch_workers]
/** \brief Lesson 05's wait, and for a stop request: 0 on a stop, -1 when something broke. */
static int watch_workers(struct server *server)
{
    HANDLE waits[MAXIMUM_WAIT_OBJECTS];
    DWORD count = server->worker_count + 2;

    /* first: if several are signalled, the wait reports the lowest index */
    waits[0] = shared.stop_requested;
    waits[1] = server->listener.backlog;
    memcpy(waits + 2, server->workers, server->worker_count * sizeof *server->workers);
    for (;;) {
        DWORD woke = WaitForMultipleObjects(count, waits, FALSE, TOP_UP_INTERVAL_MS);
        int broken = woke == WAIT_OBJECT_0 + 1 ? on_backlog(&server->listener)
                     : woke == WAIT_TIMEOUT    ? top_up_accepts(&server->listener, ACCEPTS_POSTED)
                                               : 0;

        if (woke == WAIT_OBJECT_0)
            return 0; /* Ctrl+C or Ctrl+Break */
        if (broken != 0)
            return -1; /* the listening socket is broken: printed already */
        if (woke == WAIT_OBJECT_0 + 1 || woke == WAIT_TIMEOUT)
            continue;
        if (woke == WAIT_FAILED)
            print_error("WaitForMultipleObjects", "workers", (int)GetLastError());
        return -1; /* a worker ended: the port is broken, and it printed why */
    }
}
// [watch_workers]

// [cancel_everything]
/** \brief CancelIoEx every operation on \p handle; nothing pending (ERROR_NOT_FOUND) is fine. */
static void cancel_io(HANDLE handle, const char *subject)
{
    if (!CancelIoEx(handle, NULL) && GetLastError() != ERROR_NOT_FOUND)
        print_error("CancelIoEx", subject, (int)GetLastError());
}

/**
 * \brief The cancel pass: with `posting` exclusive (no post or close half done), set `stopping`
 * and cancel every operation. Each still completes (aborted or not) and a worker frees it.
 */
static void cancel_everything(struct server *server)
{
    struct connection *conn;

    AcquireSRWLockExclusive(&shared.posting);
    InterlockedExchange(&shared.stopping, 1);
    cancel_io((HANDLE)server->listener.socket, server->listener.where);
    EnterCriticalSection(&shared.list_lock);
    for (conn = shared.connections; conn != NULL; conn = conn->next)
        if (conn->socket != INVALID_SOCKET) /* closed already: its last completion is on its way */
            cancel_io((HANDLE)conn->socket, conn->peer);
    LeaveCriticalSection(&shared.list_lock);
    ReleaseSRWLockExclusive(&shared.posting);
}
// [cancel_everything]

// [stop_server]
/** \brief Wait at most DRAIN_TIMEOUT_MS for every object to be freed: 0, or -1 (the rest leaks). */
static int wait_until_drained(void)
{
    /* `stopping` is set: from here the free that reaches 0 sets the event. */
    if (shared.live_objects == 0 ||
        WaitForSingleObject(shared.drained, DRAIN_TIMEOUT_MS) == WAIT_OBJECT_0)
        return 0;
    fprintf(stderr, "shutdown: %ld objects still allocated after %d ms; leaving them allocated\n",
            shared.live_objects, DRAIN_TIMEOUT_MS);
    return -1;
}

/** \brief Post one exit packet per worker, join them (at most JOIN_TIMEOUT_MS): 0, or -1. */
static int stop_workers(const struct server *server)
{
    DWORD i, woke;

    for (i = 0; i < server->worker_count; i++) {
        /* No OVERLAPPED: the worker tells it from every real completion. */
        if (!PostQueuedCompletionStatus(server->port, 0, 0, NULL)) {
            print_error("PostQueuedCompletionStatus", "exit packet", (int)GetLastError());
            return -1;
        }
    }
    woke = WaitForMultipleObjects(server->worker_count, server->workers, TRUE, JOIN_TIMEOUT_MS);
    if (woke == WAIT_TIMEOUT || woke == WAIT_FAILED) {
        print_error("WaitForMultipleObjects", "workers to end",
                    woke == WAIT_TIMEOUT ? WAIT_TIMEOUT : (int)GetLastError());
        return -1;
    }
    return 0;
}

/** \brief The shutdown: cancel, drain, stop the workers, free, summarize. 0 when all was freed. */
static int stop_server(struct server *server)
{
    int clean;
    DWORD i;

    cancel_everything(server);
    clean = wait_until_drained() == 0;
    clean = stop_workers(server) == 0 && clean;
    if (clean) {
        /* Nothing pending, no worker: nothing uses these; an error here would change nothing. */
        (void)closesocket(server->listener.socket);
        (void)WSACloseEvent(server->listener.backlog);
        for (i = 0; i < server->worker_count; i++)
            (void)CloseHandle(server->workers[i]);
        free(server->workers);
        (void)CloseHandle(server->port);
        DeleteCriticalSection(&shared.list_lock); /* no connection is left to add or remove */
        (void)WSACleanup(); /* every socket is closed; the process ends anyway */
    }
    printf("shutdown complete: %ld connections served, %lld bytes echoed, %ld objects still "
           "allocated\n",
           shared.served, (long long)shared.echoed, shared.live_objects);
    if (fflush(stdout) != 0)
        clean = 0;
    return clean ? 0 : 1;
}
// [stop_server]

// [main]
/** \brief Start, serve until Ctrl+C or Ctrl+Break, stop: exit 0 if clean, 2 if misused, else 1. */
int main(int argc, char **argv)
{
    /* Not on this stack: the workers outlive main() when it returns 1. */
    static struct server server;
    struct options opts;
    WSADATA wsa;
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
    if (start_shared() != 0)
        return 1;
    /* Workers first, listener second: the listening line means "ready". */
    if (start_workers(&server) != 0)
        return 1; /* ending the process ends the workers started so far */
    server.listener.socket =
        open_listener(&opts, server.listener.where, sizeof server.listener.where);
    if (server.listener.socket == INVALID_SOCKET)
        return 1;
    /* Clients that connect before the first accept is posted wait in the backlog. */
    if (start_accepting(&server) != 0 || watch_workers(&server) != 0)
        return 1; /* broken: as in lesson 05, ending the process ends the rest */
    return stop_server(&server);
}
// [main]
