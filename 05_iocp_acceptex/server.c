/**
 * \file
 * \brief Lesson 05: an echo server on an I/O completion port whose accepts
 * are overlapped operations too (AcceptEx), served by a pool of worker threads.
 *
 * Abstract. The main thread creates one completion port, starts 2 x processors
 * worker threads that wait on it, listens, associates the listening socket
 * with the port (its key: the struct listener) and posts ACCEPTS_POSTED
 * accepts with AcceptEx, loaded through WSAIoctl. AcceptEx receives no data
 * (dwReceiveDataLength = 0), so an accept completes when a client connects,
 * silent or not. A worker that dequeues an accept posts a replacement,
 * finishes the accepted socket (SO_UPDATE_ACCEPT_CONTEXT, the peer's address
 * from GetAcceptExSockaddrs), gives it a struct connection (per-handle data,
 * its key) and posts its first receive. From then on the echo is lesson 04's:
 * the key leads to the connection, the OVERLAPPED to a struct io (per-I/O
 * data) whose op tag says accept, receive or send.
 *
 * Ownership. A struct io is allocated by the post_* function that starts its
 * operation and freed by the worker that dequeues its completion (or by the
 * post itself when the call failed: then no completion comes). The socket an
 * accept will turn into the client is created by post_accept() and owned by
 * that accept's struct io until the accept completes; then a new connection
 * owns it, or, if the accept failed, free_io() closes it. A connection counts
 * its operations in flight (`pending`); the worker that ends the last one,
 * after the socket was closed, frees it. One operation per connection is in
 * flight at a time: receive, then send those bytes (as many sends as it
 * takes), then receive again.
 *
 * The main thread no longer accepts: it waits on the worker threads, waking
 * once a second to post the accepts that could not be replaced for lack of
 * sockets or memory. The program stops on Ctrl+C (the system ends the process,
 * its threads and its sockets) or when the listening socket or the port
 * breaks: then main() returns and ending the process ends the workers. The
 * limit this lesson leaves is that stop: nothing is counted, cancelled or
 * freed. Lesson 06 stops everything one by one.
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
#define PROGRAM "05_iocp_acceptex"
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
    io->accepted = INVALID_SOCKET; /* an accept sets it; the others never own a socket */
    return io;
}

/** \brief Free a struct io that is done, and the accept socket it still owns, if any. */
static void free_io(struct io *io)
{
    if (io->accepted != INVALID_SOCKET)
        (void)closesocket(io->accepted); /* nobody's client, or already failing: no report */
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
    struct server *server = param;

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
        /* The key is the listener or a connection; CONTAINING_RECORD finds the struct io. */
        io = CONTAINING_RECORD(overlapped, struct io, overlapped);
        /* The key first: an accept completes with 0 bytes too, a new client, not a FIN. */
        if (key == (ULONG_PTR)&server->listener)
            handle_accept(server, io, ok);
        else
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
    if (count > MAXIMUM_WAIT_OBJECTS - 1)
        count = MAXIMUM_WAIT_OBJECTS - 1; /* main waits on them and the backlog event in one call */
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
        int error = post_accept(listener);

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
    start_connection(server, client, &peer_addr);
}

/** \brief An accept failed, most often a client that reset first: one line; free_io() closes. */
static void on_accept_failed(const struct listener *listener, struct io *io)
{
    DWORD bytes = 0, flags = 0;
    int error = WSAEINVAL; /* kept only if the OVERLAPPED contradicted the packet */

    if (!WSAGetOverlappedResult(listener->socket, &io->overlapped, &bytes, FALSE, &flags))
        error = WSAGetLastError();
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

// [watch_workers]
/**
 * \brief The main thread's wait (no getchar()): for the backlog event or a worker's end (a
 * broken port), topping up every TOP_UP_INTERVAL_MS. Returns when the port or listener breaks.
 */
static void watch_workers(struct server *server)
{
    HANDLE waits[MAXIMUM_WAIT_OBJECTS];

    waits[0] = server->listener.backlog;
    memcpy(waits + 1, server->workers, server->worker_count * sizeof *waits);
    for (;;) {
        DWORD woke =
            WaitForMultipleObjects(server->worker_count + 1, waits, FALSE, TOP_UP_INTERVAL_MS);
        int broken = woke == WAIT_OBJECT_0  ? on_backlog(&server->listener)
                     : woke == WAIT_TIMEOUT ? top_up_accepts(&server->listener, ACCEPTS_POSTED)
                                            : 0;

        if (broken != 0)
            return; /* the listening socket is broken: printed already */
        if (woke == WAIT_OBJECT_0 || woke == WAIT_TIMEOUT)
            continue;
        if (woke == WAIT_FAILED)
            print_error("WaitForMultipleObjects", "workers", (int)GetLastError());
        return; /* a worker ended: the port is broken, and it printed why */
    }
}
// [watch_workers]

// [main]
/** \brief Start, then watch until the listener or the port breaks: exit 2 if misused, else 1. */
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
    /* Workers first, listener second: the listening line means "ready". */
    if (start_workers(&server) != 0)
        return 1; /* ending the process ends the workers started so far */
    server.listener.socket =
        open_listener(&opts, server.listener.where, sizeof server.listener.where);
    if (server.listener.socket == INVALID_SOCKET)
        return 1;
    /* Clients that connect before the first accept is posted wait in the backlog. */
    if (start_accepting(&server) == 0)
        watch_workers(&server);
    /* Broken. The workers may be amid a client, so no cleanup here: returning ends the process,
     * its threads and sockets. Lesson 06 stops them one by one instead. */
    return 1;
}
// [main]
