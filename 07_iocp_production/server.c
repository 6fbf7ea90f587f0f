/**
 * \file
 * \brief Lesson 07: the server of lesson 06 as a real IOCP server is built:
 * idle clients cost almost nothing, silent ones are closed, the number of
 * clients has a cap, and IPv6 works.
 *
 * Abstract. As in lesson 06: one completion port, 2 x processors workers,
 * zero-byte AcceptEx posted on the listening socket (its key: the struct
 * listener), one struct connection per client (its key), GetQueuedCompletionStatusEx,
 * and the same clean shutdown. New: a connection embeds its one struct io
 * (it never has two operations in flight) and owns no buffer while idle:
 * only a zero-byte WSARecv is pending. When it completes, a buffer is taken
 * from a pool, the bytes are received and echoed, and the buffer goes back.
 * The accepts' struct io come from a pool too: no malloc per operation.
 * With FILE_SKIP_COMPLETION_PORT_ON_SUCCESS an operation that succeeds at
 * once queues no packet: the thread that posted it handles it.
 *
 * Ownership. An accept's io is taken from its pool by its post and given
 * back by the worker that dequeues its completion; its socket belongs to it
 * until a connection takes it. A buffer is taken by the completion of a
 * zero-byte receive and given back when the echo is sent (or with the
 * connection). A connection is freed by the thread that ends its last
 * operation, after its socket was closed. Every connection, accept io and
 * buffer in use is counted in `shared.live_objects`.
 *
 * Limits. The main thread wakes every TOP_UP_INTERVAL_MS: besides posting
 * the accepts that could not be replaced, it cancels the pending operation
 * of every client silent for longer than the idle timeout, with
 * `shared.posting` held exclusive, as the shutdown does. At the connection
 * cap no accept is posted: further clients wait in the listen backlog until
 * a connection ends and its slot is given to a new accept.
 *
 * Stopping. As in lesson 06: the console handler sets an event, the main
 * thread cancels everything, waits until every object is given back, posts
 * one exit packet per worker, joins them, frees the pools and prints the
 * summary line.
 */
/** Leave the rarely used parts of windows.h out (among them the old winsock.h). */
#define WIN32_LEAN_AND_MEAN
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <process.h>
/* The AcceptEx types, WSAID_ACCEPTEX and SO_UPDATE_ACCEPT_CONTEXT; no mswsock.lib needed. */
#include <mswsock.h>
#include <mstcpip.h> /* struct tcp_keepalive, SIO_KEEPALIVE_VALS */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/** The program's name, for the usage line. */
#define PROGRAM "07_iocp_production"
/** Port used when the command line names none. */
#define DEFAULT_PORT 5000
/** Loopback by default: a lab machine must not expose a server by accident. */
#define DEFAULT_ADDRESS "127.0.0.1"
/** Size of each pooled echo buffer. Only a client whose bytes are being echoed holds one. */
#define BUFFER_SIZE (16 * 1024)
/** Buffers in use at most: the client that finds none is closed, the others go on. */
#define BUFFERS_MAX 16384
/** Free buffers the pool keeps for the next clients; one given back beyond that is freed. */
#define BUFFERS_KEPT 256
/** Seconds of silence after which a client is closed, unless the command line says otherwise. */
#define DEFAULT_IDLE_TIMEOUT 60
/** Keepalive: first probe after this much silence, so a peer gone without FIN or RST is noticed. */
#define KEEPALIVE_TIME_MS 30000
/** Keepalive: time between unanswered probes. */
#define KEEPALIVE_INTERVAL_MS 1000
/** Worker threads per processor: spares for a worker that blocks (a page fault, a lock). */
#define WORKERS_PER_PROCESSOR 2
/** Accepts kept posted: each completion is replaced, so a client that connects finds one waiting.
 */
#define ACCEPTS_POSTED 256
/** The most accepts under way while a burst outruns the replacements (FD_ACCEPT asks for more). */
#define ACCEPTS_POSTED_MAX 4096
/** Bytes AcceptEx waits for before it completes: none, so a silent client cannot hold an accept. */
#define ACCEPT_RECEIVE_SIZE 0
/** Room AcceptEx needs for one address: the largest sockaddr of the family plus 16, as its
 * documentation requires. */
#define ACCEPT_ADDRESS_SIZE(family)                                                                \
    ((DWORD)((family) == AF_INET6 ? sizeof(SOCKADDR_IN6) : sizeof(SOCKADDR_IN)) + 16)
/** How often the main thread posts the accepts that could not be replaced (out of sockets or
 * memory). */
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
    const char *address; /**< numeric IPv4 or IPv6 address to listen on */
    int family; /**< AF_INET or AF_INET6, as the address is written */
    unsigned short port; /**< port to listen on; 0 lets the system choose */
    DWORD idle_timeout; /**< seconds of silence before a client is closed; 0: never */
    LONG max_connections; /**< clients served at once at most; 0: no cap */
};

// [structs]
/** \brief What an operation was: the OVERLAPPED alone cannot say, the tag in its struct io does. */
enum op {
    /** an AcceptEx on the listening socket; its key is the listener, not a connection */
    OP_ACCEPT,
    OP_READY, /**< a zero-byte WSARecv: it completes when the client sent something (or closed) */
    OP_RECV, /**< a WSARecv into the connection's buffer */
    OP_SEND /**< a WSASend of the part of the buffer not yet sent */
};

/**
 * \brief Per-I/O data: one overlapped operation, from its post until its
 * completion is handled. The system writes into `overlapped` until then, so
 * the struct is neither reused nor freed before. A connection embeds one;
 * an accept takes one from `shared.io_pool`.
 */
struct io {
    enum op op; /**< what completed, for the worker's dispatch */
    /** not first, on purpose: CONTAINING_RECORD finds the struct, a cast would not */
    OVERLAPPED overlapped;
    /** OP_RECV, OP_SEND: the part of the connection's buffer this operation fills or sends */
    WSABUF wsabuf;
    /** OP_ACCEPT: the socket AcceptEx makes the client's; this io owns it until then */
    SOCKET accepted;
    /** OP_ACCEPT: where AcceptEx writes the local and remote addresses */
    char addresses[ACCEPT_RECEIVE_SIZE + 2 * ACCEPT_ADDRESS_SIZE(AF_INET6)];
};

/**
 * \brief Per-handle data: one accepted client. Its address is the socket's
 * completion key, so every completion on the socket leads back here.
 */
struct connection {
    SOCKET socket; /**< the client; INVALID_SOCKET once closed */
    /** operations posted and not yet finished; changed only with Interlocked* */
    volatile LONG pending;
    DWORD received; /**< bytes the last receive put in `buffer` */
    DWORD sent; /**< of those, bytes already echoed */
    char peer[64]; /**< "client ADDRESS:PORT", for error messages */
    /** the previous connection on `shared.connections` (the list the cancel pass walks) */
    struct connection *prev;
    struct connection *next; /**< the next one on that list */
    struct io io; /**< the one operation in flight: a connection never has two */
    /** from `shared.buffer_pool` while an echo is under way, else NULL; raw bytes, not a string */
    char *buffer;
    /** FILE_SKIP_COMPLETION_PORT_ON_SUCCESS is set: a post that succeeds at once queues nothing */
    BOOL skips_packets;
    /** clock_ms() at the last completion: the idle sweep reads it */
    volatile ULONGLONG last_active;
    /** set by the idle sweep when it cancels; the completion then closes */
    volatile LONG timed_out;
};

/**
 * \brief The listening socket and what accepting on it needs. Its address is
 * the listening socket's completion key: a packet with this key is an accept.
 */
struct listener {
    SOCKET socket; /**< the listening socket, associated with the port */
    LPFN_ACCEPTEX accept_ex; /**< AcceptEx, as the socket's provider gave it */
    LPFN_GETACCEPTEXSOCKADDRS get_addresses; /**< GetAcceptExSockaddrs, from the same provider */
    /** accepts posted and not yet completed; Interlocked* only */
    volatile LONG posted;
    /** AF_INET or AF_INET6: the accept sockets and address sizes follow it */
    int family;
    LONG max_connections; /**< the cap on `posted` + `shared.clients`; 0: none */
    /** FD_ACCEPT: a client waits that no posted accept took */
    WSAEVENT backlog;
    char where[64]; /**< "ADDRESS:PORT", for error messages */
};

/** \brief What the main thread and the workers share: the port, the listener (and, for main, the
 * workers). */
struct server {
    /** the completion port; the listener and every client socket are associated with it */
    HANDLE port;
    HANDLE *workers; /**< the worker threads' handles */
    DWORD worker_count; /**< how many workers run */
    /** the listening socket; its address is that socket's completion key */
    struct listener listener;
    ULONGLONG idle_timeout_ms; /**< silence after which the sweep closes a client; 0: never */
};

/**
 * \brief Fixed-size blocks kept for reuse: taking one is a pop from a
 * lock-free list (an SLIST), and a malloc only when the list is empty.
 */
struct pool {
    /** blocks given back; each starts with its SLIST_ENTRY while here */
    SLIST_HEADER free;
    size_t size; /**< bytes per block */
    LONG kept; /**< at most this many on `free`; one more given back is freed */
    LONG limit; /**< at most this many taken at once; 0: no limit */
    volatile LONG taken; /**< blocks taken and not given back */
    volatile LONG allocated; /**< blocks allocated and not freed, taken or on `free` */
};

/**
 * \brief What stopping needs everywhere: the console handler gets nothing but
 * the signal's type, and every allocation and post, wherever it runs, must
 * count or check. The program's one global, `shared`.
 */
struct shared {
    /** manual-reset event: set by the console handler, waited on by main */
    HANDLE stop_requested;
    /** 1 from the cancel pass on: nothing new is posted; set under `posting` */
    volatile LONG stopping;
    /** shared while a worker handles a completion; exclusive for the cancel pass */
    SRWLOCK posting;
    /** TLS slot: the error lines of the handler on this thread, printed after it */
    DWORD held_lines;
    /** manual-reset event: set when the last object is freed while stopping */
    HANDLE drained;
    volatile LONG live_objects; /**< struct connection, accept struct io and buffers in use */
    /** live connections: with `listener.posted`, what the cap limits */
    volatile LONG clients;
    /** the sockets' provider gives IFS handles: packets may be skipped */
    BOOL ifs_handles;
    LONGLONG ticks_per_ms; /**< QueryPerformanceFrequency() / 1000, for clock_ms() */
    struct pool io_pool; /**< the accepts' struct io */
    struct pool buffer_pool; /**< the echo buffers */
    /** connections accepted; counted before start_connection(), which can still fail */
    volatile LONG served;
    volatile LONG64 echoed; /**< bytes the completed sends moved */
    CRITICAL_SECTION list_lock; /**< guards `connections` and each connection's prev/next */
    struct connection *connections; /**< every live connection, newest first */
};

/** The one global: see struct shared for why it cannot be a parameter. */
static struct shared shared = {.held_lines = TLS_OUT_OF_INDEXES};
// [structs]

/* Defined with the accepts, further down; the worker calls them. */
static void handle_accept(struct server *server, struct io *io, BOOL ok);
static int top_up_accepts(struct listener *listener, LONG wanted);

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
            "usage: %s [--idle-timeout SECONDS] [--max-connections N] [port [address]]   (idle "
            "timeout default %d, "
            "0: none; N default 0: no cap; port 0-65535, default %d; numeric IPv4 or IPv6 address, "
            "default %s)\n",
            PROGRAM, DEFAULT_IDLE_TIMEOUT, DEFAULT_PORT, DEFAULT_ADDRESS);
}

/**
 * \brief Read a whole decimal number from 0 to \p max into \p value; return
 * 0 when \p text is one. atoi() would take "50x0" as 50 and "-1" as -1, so
 * strtoul() and a check of where it stopped.
 */
static int parse_number(const char *text, unsigned long max, unsigned long *value)
{
    char *end = NULL;

    if (text[0] < '0' || text[0] > '9')
        return -1;
    *value = strtoul(text, &end, 10);
    return *end == '\0' && *value <= max ? 0 : -1;
}

/**
 * \brief Read `[--idle-timeout SECONDS] [--max-connections N] [port
 * [address]]`; return 0 when the command line is valid. The address's
 * family is the one whose inet_pton() takes it.
 */
static int parse_options(int argc, char **argv, struct options *opts)
{
    IN6_ADDR probe; /* large enough for either family */
    unsigned long number;
    int i = 1;

    opts->address = DEFAULT_ADDRESS;
    opts->family = AF_INET;
    opts->port = DEFAULT_PORT;
    opts->idle_timeout = DEFAULT_IDLE_TIMEOUT;
    opts->max_connections = 0;
    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (strcmp(argv[i], "--idle-timeout") == 0 &&
            parse_number(argv[i + 1], 86400, &number) == 0)
            opts->idle_timeout = (DWORD)number;
        else if (strcmp(argv[i], "--max-connections") == 0 &&
                 parse_number(argv[i + 1], 1000000, &number) == 0)
            opts->max_connections = (LONG)number;
        else
            return -1;
    }
    if (argc - i > 2 || (i < argc && strncmp(argv[i], "--", 2) == 0))
        return -1; /* too many words, or an option without its value */
    if (i < argc) {
        if (parse_number(argv[i], 65535, &number) != 0)
            return -1;
        opts->port = (unsigned short)number;
    }
    if (i + 1 < argc)
        opts->address = argv[i + 1];
    if (inet_pton(AF_INET, opts->address, &probe) == 1)
        opts->family = AF_INET;
    else if (inet_pton(AF_INET6, opts->address, &probe) == 1)
        opts->family = AF_INET6;
    else
        return -1;
    return 0;
}
// [parse_options]

// [open_listener]
/**
 * \brief Create the listening socket, bind it, listen, and print the
 * `listening on ADDRESS:PORT` line with the port the system really gave.
 *
 * Writes the real "ADDRESS:PORT" into \p where, for later messages. Returns
 * INVALID_SOCKET after printing which call failed. The caller owns the socket
 * and closes it.
 */
static SOCKET open_listener(const struct options *opts, char *where, size_t where_size)
{
    SOCKADDR_STORAGE addr; /* room for either family */
    int addr_len = (int)sizeof addr;
    char subject[64];
    BOOL exclusive = TRUE;
    SOCKET listener;
    /* An IPv6 address is written in brackets before its port: "[::1]:5000". */
    const char *open = opts->family == AF_INET6 ? "[" : "",
               *close = opts->family == AF_INET6 ? "]" : "";

    snprintf(subject, sizeof subject, "%s%s%s:%u", open, opts->address, close,
             (unsigned)opts->port);
    listener = socket(opts->family, SOCK_STREAM, IPPROTO_TCP);
    if (listener == INVALID_SOCKET) {
        print_error("socket", "", WSAGetLastError());
        return INVALID_SOCKET;
    }
    /* On Windows SO_REUSEADDR would let a second program bind the same port
     * and steal connections; SO_EXCLUSIVEADDRUSE makes that bind fail. */
    if (setsockopt(listener, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&exclusive,
                   (int)sizeof exclusive) == SOCKET_ERROR) {
        print_error("setsockopt(SO_EXCLUSIVEADDRUSE)", subject, WSAGetLastError());
        goto fail;
    }
    memset(&addr, 0, sizeof addr);
    addr.ss_family = (ADDRESS_FAMILY)opts->family;
    if (opts->family == AF_INET6) {
        ((SOCKADDR_IN6 *)&addr)->sin6_port = htons(opts->port);
        /* checked in parse_options() */
        (void)inet_pton(AF_INET6, opts->address, &((SOCKADDR_IN6 *)&addr)->sin6_addr);
    } else {
        ((SOCKADDR_IN *)&addr)->sin_port = htons(opts->port);
        /* checked in parse_options() */
        (void)inet_pton(AF_INET, opts->address, &((SOCKADDR_IN *)&addr)->sin_addr);
    }
    if (bind(listener, (SOCKADDR *)&addr,
             opts->family == AF_INET6 ? (int)sizeof(SOCKADDR_IN6) : (int)sizeof(SOCKADDR_IN)) ==
        SOCKET_ERROR) {
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
    /* The port sits at the same place in both sockaddr forms, but say which one is read. */
    snprintf(where, where_size, "%s%s%s:%u", open, opts->address, close,
             (unsigned)ntohs(opts->family == AF_INET6 ? ((SOCKADDR_IN6 *)&addr)->sin6_port
                                                      : ((SOCKADDR_IN *)&addr)->sin_port));
    printf("listening on %s\n", where);
    /* stdout is a pipe when a test runs us, so it is fully buffered: without
     * the flush the line would sit in our buffer and the test would wait. */
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

/** \brief Write "client ADDRESS:PORT" (or "client [ADDRESS]:PORT") of a peer into \p out, for error
 * messages. */
static void format_peer(const SOCKADDR_STORAGE *addr, char *out, size_t out_size)
{
    char host[INET6_ADDRSTRLEN] = "?";

    if (addr->ss_family == AF_INET6) {
        const SOCKADDR_IN6 *in6 = (const SOCKADDR_IN6 *)addr;

        (void)inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host); /* "?" if it fails */
        snprintf(out, out_size, "client [%s]:%u", host, (unsigned)ntohs(in6->sin6_port));
    } else {
        const SOCKADDR_IN *in4 = (const SOCKADDR_IN *)addr;

        (void)inet_ntop(AF_INET, &in4->sin_addr, host, sizeof host); /* "?" if it fails */
        snprintf(out, out_size, "client %s:%u", host, (unsigned)ntohs(in4->sin_port));
    }
}

/**
 * \brief Milliseconds on the system's monotonic clock, for the idle sweep.
 * QueryPerformanceCounter reads the clock itself. (GetTickCount64 would do
 * on Windows; under Wine 8 it reads a value the wineserver updates, which
 * lagged by more than half a second under load and closed clients early.)
 */
static ULONGLONG clock_ms(void)
{
    LARGE_INTEGER now;

    (void)QueryPerformanceCounter(&now); /* cannot fail since Windows XP */
    return (ULONGLONG)(now.QuadPart / shared.ticks_per_ms);
}

// [pool]
/** \brief An empty pool of \p size byte blocks: at most \p limit taken (0: no limit), \p kept kept
 * free. */
static void pool_init(struct pool *pool, size_t size, LONG limit, LONG kept)
{
    InitializeSListHead(&pool->free);
    pool->size = size;
    pool->limit = limit;
    pool->kept = kept;
}

/**
 * \brief Take a block: a free one if there is one, else a new one. NULL when
 * the limit is reached or memory is short. Not zeroed.
 */
static void *pool_take(struct pool *pool)
{
    void *block;

    if (InterlockedIncrement(&pool->taken) > pool->limit && pool->limit > 0) {
        InterlockedDecrement(&pool->taken);
        return NULL;
    }
    block = InterlockedPopEntrySList(&pool->free);
    if (block != NULL)
        return block;
    /* An SLIST wants MEMORY_ALLOCATION_ALIGNMENT (16 bytes on x64), which
     * malloc() gives on Windows; and a block is never smaller than an entry. */
    block = malloc(pool->size > sizeof(SLIST_ENTRY) ? pool->size : sizeof(SLIST_ENTRY));
    if (block == NULL) {
        InterlockedDecrement(&pool->taken);
        return NULL;
    }
    InterlockedIncrement(&pool->allocated);
    return block;
}

/**
 * \brief Give a block back: onto the free list, or freed when the list holds
 * `kept` already (after a burst, the memory goes back to the system).
 */
static void pool_give(struct pool *pool, void *block)
{
    if (QueryDepthSList(&pool->free) < pool->kept) {
        InterlockedPushEntrySList(&pool->free, (SLIST_ENTRY *)block);
    } else {
        free(block);
        InterlockedDecrement(&pool->allocated);
    }
    InterlockedDecrement(&pool->taken);
}

/** \brief Free every block on the free list (at shutdown, with nothing taken any more). */
static void pool_drain(struct pool *pool)
{
    SLIST_ENTRY *block;

    while ((block = InterlockedPopEntrySList(&pool->free)) != NULL) {
        free(block);
        InterlockedDecrement(&pool->allocated);
    }
}
// [pool]

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

/**
 * \brief A struct io for an accept, from the pool. Given back by the worker
 * that dequeues its completion (free_io()), or by the post when the call
 * fails. NULL when memory is short.
 */
static struct io *new_io(enum op op, char *data, DWORD len)
{
    struct io *io = pool_take(&shared.io_pool);

    if (io == NULL)
        return NULL;
    memset(io, 0, sizeof *io); /* a new OVERLAPPED must start all zero */
    io->op = op;
    io->wsabuf.buf = data;
    io->wsabuf.len = len;
    io->accepted = INVALID_SOCKET; /* an accept sets it; the others never own a socket */
    object_born();
    return io;
}

/**
 * \brief Give back a struct io whose completion has been dequeued (or whose
 * post failed). An accept socket it still owns (the accept failed, or nobody
 * took the client) is closed with it.
 */
static void free_io(struct io *io)
{
    if (io->accepted != INVALID_SOCKET)
        /* never connected to anyone, or already failing: nothing to report */
        (void)closesocket(io->accepted);
    pool_give(&shared.io_pool, io);
    object_freed();
}

/**
 * \brief A struct connection for the accepted socket \p client, with nothing
 * pending and no buffer, on the list of live connections. From here it owns
 * \p client: free_connection() closes it.
 */
static struct connection *new_connection(SOCKET client, const SOCKADDR_STORAGE *peer_addr)
{
    struct connection *conn = calloc(1, sizeof *conn);

    if (conn == NULL)
        return NULL;
    conn->socket = client;
    conn->last_active = clock_ms();
    format_peer(peer_addr, conn->peer, sizeof conn->peer);
    EnterCriticalSection(&shared.list_lock);
    conn->next = shared.connections;
    if (conn->next != NULL)
        conn->next->prev = conn;
    shared.connections = conn;
    LeaveCriticalSection(&shared.list_lock);
    InterlockedIncrement(&shared.clients);
    object_born();
    return conn;
}

/**
 * \brief Take a buffer from the pool for the echo about to start. Returns 0,
 * or -1 after a line on stderr when none is left (the caller closes this
 * client; the others go on).
 */
static int take_buffer(struct connection *conn)
{
    conn->buffer = pool_take(&shared.buffer_pool);
    if (conn->buffer == NULL) {
        /* none left, or no memory */
        print_error("buffer pool", conn->peer, ERROR_NOT_ENOUGH_MEMORY);
        return -1;
    }
    object_born();
    return 0;
}

/** \brief Give the connection's buffer back to the pool, if it holds one: nothing is pending on it.
 */
static void give_back_buffer(struct connection *conn)
{
    if (conn->buffer == NULL)
        return;
    pool_give(&shared.buffer_pool, conn->buffer);
    conn->buffer = NULL;
    object_freed();
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

/**
 * \brief Close the socket if still open, take the connection off the list and
 * free it. Only with nothing pending.
 */
static void free_connection(struct connection *conn)
{
    close_connection(conn);
    give_back_buffer(conn);
    EnterCriticalSection(&shared.list_lock);
    if (conn->prev != NULL)
        conn->prev->next = conn->next;
    else
        shared.connections = conn->next;
    if (conn->next != NULL)
        conn->next->prev = conn->prev;
    LeaveCriticalSection(&shared.list_lock);
    free(conn);
    /* after the free: the cap counts a connection until it is gone */
    InterlockedDecrement(&shared.clients);
    object_freed(); /* last: the count reaches 0 only when the memory is really gone */
}

/**
 * \brief One operation of \p conn is over: take it off the count, and the
 * caller that takes the last one off frees the connection. Interlocked even
 * with one operation in flight: an operation is counted by the worker that
 * posts it and uncounted by the one that dequeues its completion, often
 * another, so the poster's decrement here can meet the next handler's
 * increment or decrement, and a plain pending-- could lose one of them. A
 * handler that wants the connection to live on has posted its next
 * operation before this, so the count cannot pass through 0.
 */
static int free_connection_when_idle(struct connection *conn)
{
    if (InterlockedDecrement(&conn->pending) != 0)
        return 0;
    free_connection(conn);
    return 1; /* freed: the caller gives its slot under the cap to a new accept */
}
// [lifetime]

// [post_recv]
/** \brief Make the connection's one io ready for its next operation: a fresh OVERLAPPED, the tag,
 * the bytes. */
static void prepare_io(struct connection *conn, enum op op, char *data, DWORD len)
{
    /* reused: it must start all zero again */
    memset(&conn->io.overlapped, 0, sizeof conn->io.overlapped);
    conn->io.op = op;
    conn->io.wsabuf.buf = data;
    conn->io.wsabuf.len = len;
}

/**
 * \brief What a post's call returned \p rc, made into the three outcomes.
 * 0: under way, the completion comes through the port. 1: done at once, and
 * the socket skips the packet of such a success, so none will come: the
 * caller handles the operation now. -1: failed, printed, nothing pending.
 */
static int post_outcome(struct connection *conn, int rc, const char *call)
{
    int error;

    if (rc == 0)
        /* without the mode its packet is queued anyway: a worker handles it, once */
        return conn->skips_packets ? 1 : 0;
    error = WSAGetLastError();
    if (error == WSA_IO_PENDING)
        return 0; /* under way: the completion comes later */
    /* Failed: no completion will come, so nothing else will uncount it. */
    InterlockedDecrement(&conn->pending);
    print_error(call, conn->peer, error);
    return -1;
}

/**
 * \brief Post a zero-byte receive: while the client is silent the connection
 * holds no buffer, only this. It completes, with 0 bytes, when bytes or the
 * client's FIN arrive. Returns as post_outcome(), or -1 without a word when
 * the server is stopping. The caller holds `shared.posting` shared.
 */
static int post_ready(struct connection *conn)
{
    DWORD flags = 0;

    /* Stopping: post nothing new, quietly (the cancel pass may be over). */
    if (shared.stopping)
        return -1;
    prepare_io(conn, OP_READY, NULL, 0);
    /* Count it before the call: once the call is made, a worker may dequeue
     * the completion and end the operation before WSARecv even returns here. */
    InterlockedIncrement(&conn->pending);
    return post_outcome(
        conn, WSARecv(conn->socket, &conn->io.wsabuf, 1, NULL, &flags, &conn->io.overlapped, NULL),
        "WSARecv");
}

/**
 * \brief Post one receive into the connection's whole buffer, taken from the
 * pool when the zero-byte receive completed. Returns as post_ready().
 */
static int post_recv(struct connection *conn)
{
    DWORD flags = 0;

    if (shared.stopping)
        return -1; /* stopping: post nothing new, as in post_ready() */
    prepare_io(conn, OP_RECV, conn->buffer, BUFFER_SIZE);
    InterlockedIncrement(&conn->pending); /* before the call, as in post_ready() */
    /* No byte-count pointer: the count is in the OVERLAPPED, whichever way the operation completes.
     */
    return post_outcome(
        conn, WSARecv(conn->socket, &conn->io.wsabuf, 1, NULL, &flags, &conn->io.overlapped, NULL),
        "WSARecv");
}
// [post_recv]

// [post_send_rest]
/**
 * \brief Post one send of what the buffer still owes the client, from
 * `sent` to `received`. Returns as post_ready().
 */
static int post_send_rest(struct connection *conn)
{
    if (shared.stopping)
        return -1; /* stopping: post nothing new, as in post_ready() */
    prepare_io(conn, OP_SEND, conn->buffer + conn->sent, conn->received - conn->sent);
    InterlockedIncrement(&conn->pending); /* before the call, as in post_ready() */
    return post_outcome(
        conn, WSASend(conn->socket, &conn->io.wsabuf, 1, NULL, 0, &conn->io.overlapped, NULL),
        "WSASend");
}
// [post_send_rest]

// [on_complete]
/**
 * \brief The end of every handler that posts: a post that failed closes the
 * connection. Returns 1 when the post completed at once and queued no packet.
 */
static int went_on(struct connection *conn, int posted)
{
    if (posted < 0)
        close_connection(conn);
    return posted > 0;
}

/**
 * \brief The zero-byte receive completed: the client sent bytes, or its FIN.
 * Only now take a buffer and receive into it (at once, most often: the bytes
 * are there). No buffer left: close this client only.
 */
static int on_ready(struct connection *conn)
{
    if (take_buffer(conn) != 0) {
        close_connection(conn);
        return 0;
    }
    return went_on(conn, post_recv(conn));
}

/**
 * \brief A receive brought \p bytes bytes (more than 0): send them all back
 * before anything else. No receive is posted until they are sent, so a
 * receive never overwrites bytes the client has not got back yet.
 */
static int on_recv_complete(struct connection *conn, DWORD bytes)
{
    conn->received = bytes;
    conn->sent = 0;
    return went_on(conn, post_send_rest(conn));
}

/**
 * \brief A send took \p bytes bytes. A send may take fewer than it was given:
 * then send the rest (a worker never calls a blocking send(), it would hold a
 * thread of the pool for as long as the client does not read). When
 * everything is back with the client, the buffer goes back to the pool and
 * a zero-byte receive waits for the client's next bytes.
 */
static int on_send_complete(struct connection *conn, DWORD bytes)
{
    conn->sent += bytes;
    if (conn->sent < conn->received)
        return went_on(conn, post_send_rest(conn));
    give_back_buffer(conn); /* the send is complete: the system reads the buffer no more */
    return went_on(conn, post_ready(conn));
}

/** \brief 0 bytes: after a receive, the client's FIN (all echoed): shut our side too, and close. */
static void on_peer_closed(struct connection *conn, enum op op)
{
    if (op == OP_RECV && shutdown(conn->socket, SD_SEND) == SOCKET_ERROR)
        print_error("shutdown", conn->peer, WSAGetLastError());
    close_connection(conn);
}

/**
 * \brief An operation failed (most often the client reset): one line on
 * stderr, close this client, the others go on. GetLastError() after the
 * dequeue holds a system status code (a reset is ERROR_NETNAME_DELETED, 64);
 * WSAGetOverlappedResult() gives the Winsock error for it (WSAECONNRESET).
 */
static void on_io_failed(struct connection *conn, struct io *io)
{
    DWORD bytes = 0, flags = 0;
    /* kept only if the OVERLAPPED contradicts the packet, which it does not */
    int error = WSAEINVAL;

    if (!WSAGetOverlappedResult(conn->socket, &io->overlapped, &bytes, FALSE, &flags))
        error = WSAGetLastError();
    /* Cancelled by the shutdown or by the idle sweep: expected, not worth a line. */
    if (!((shared.stopping || conn->timed_out) && error == WSA_OPERATION_ABORTED))
        print_error(io->op == OP_SEND ? "WSASend" : "WSARecv", conn->peer, error);
    close_connection(conn);
}
// [on_complete]

// [handle_completion]
/**
 * \brief Handle one completion of the connection's operation: the three
 * outcomes that come with an OVERLAPPED (failed, 0 bytes, n bytes), and the
 * zero-byte receive, whose 0 bytes mean "something arrived". Returns 1 when
 * the handler's post completed at once. A send's bytes count as echoed,
 * also those of a send that then failed: they were sent.
 */
static int on_completion(struct connection *conn, BOOL ok, DWORD bytes)
{
    enum op op = conn->io.op;

    conn->last_active = clock_ms();
    if (op == OP_SEND)
        InterlockedExchangeAdd64(&shared.echoed, (LONG64)bytes);
    if (!ok) {
        on_io_failed(conn, &conn->io); /* the I/O failed: this client's problem only */
        return 0;
    }
    if (conn->timed_out) {
        /* the sweep found it silent, and it completed before the cancel */
        close_connection(conn);
        return 0;
    }
    if (op == OP_READY)
        /* 0 bytes, as always: the client's bytes wait in the system */
        return on_ready(conn);
    if (bytes == 0) {
        on_peer_closed(conn, op); /* success with 0 bytes: the client closed */
        return 0;
    }
    if (op == OP_RECV)
        return on_recv_complete(conn, bytes); /* success, bytes moved; the tag says which way */
    return on_send_complete(conn, bytes);
}

/**
 * \brief Handle a completion of \p conn's operation, then each next
 * operation that completes at once (no packet comes for those: the
 * OVERLAPPED holds their result), until the echo is done. A zero-byte
 * receive that completes at once starts the client's next echo: it goes
 * through the port as a packet of our own and waits its turn behind the
 * other clients, so that a client that always has bytes ready waits in the
 * queue once per echo, like every other, and cannot keep this worker.
 * Returns 1 when it freed the connection.
 */
static int handle_completion(const struct server *server, struct connection *conn, BOOL ok,
                             DWORD bytes)
{
    for (;;) {
        int again = on_completion(conn, ok, bytes);
        DWORD flags = 0;

        /* Last for this operation: the handler may have posted the next one. */
        if (free_connection_when_idle(conn))
            return 1;
        if (!again)
            return 0;
        ok = WSAGetOverlappedResult(conn->socket, &conn->io.overlapped, &bytes, FALSE, &flags);
        /* Its status stays in the OVERLAPPED, where handle_entry() reads it. */
        if (conn->io.op == OP_READY && ok &&
            PostQueuedCompletionStatus(server->port, bytes, (ULONG_PTR)conn, &conn->io.overlapped))
            return 0;
    }
}
// [handle_completion]

// [worker]
/**
 * \brief Handle one completion taken from the port, not an exit packet. The
 * key says the listener or a connection, the OVERLAPPED leads to the struct
 * io, and its Internal field holds the operation's status. Holds
 * `shared.posting` shared meanwhile, so that the cancel pass never meets a
 * post or a close half done.
 */
static void handle_entry(struct server *server, const OVERLAPPED_ENTRY *entry)
{
    /* ULONG_PTR, not DWORD: it holds a pointer, 64 bits on x64 */
    ULONG_PTR key = entry->lpCompletionKey;
    /* The OVERLAPPED sits inside a struct io; CONTAINING_RECORD steps back to the struct's start.
     */
    struct io *io = CONTAINING_RECORD(entry->lpOverlapped, struct io, overlapped);
    /* No BOOL per completion here: the status is the NTSTATUS the system
     * wrote into Internal, a success when not negative (NT_SUCCESS). Internal
     * is documented as reserved for the system; the documented way is
     * WSAGetOverlappedResult(), which the failure handlers still call to
     * name the error. */
    BOOL ok = (LONG)entry->lpOverlapped->Internal >= 0;
    char held[HELD_LINES_SIZE] = "";

    /* The handler's error lines wait in `held` until the lock is let go: a
     * stderr that blocks would otherwise stall the cancel pass for ever. */
    (void)TlsSetValue(shared.held_lines, held); /* set up by start_shared(): cannot fail */
    AcquireSRWLockShared(&shared.posting);
    /* The key first, the bytes after: an accept completes with 0 bytes
     * too (it receives none), and that is a new client, not a FIN. */
    if (key == (ULONG_PTR)&server->listener)
        handle_accept(server, io, ok);
    else if (handle_completion(server, (struct connection *)key, ok,
                               entry->dwNumberOfBytesTransferred))
        /* a client left: at the cap, its slot takes an accept */
        (void)top_up_accepts(&server->listener, ACCEPTS_POSTED);
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

// [skip_packets]
/**
 * \brief Ask the system not to queue a packet for an operation on this
 * socket that succeeds at once: the poster handles it (post_outcome()). Only
 * when the provider gives real handles (`shared.ifs_handles`): a layered
 * provider without them would break the mode. If the call fails, the
 * packets still come: slower, never wrong.
 */
static void skip_completion_packets(struct connection *conn)
{
    if (!shared.ifs_handles)
        return;
    if (SetFileCompletionNotificationModes((HANDLE)conn->socket,
                                           FILE_SKIP_COMPLETION_PORT_ON_SUCCESS))
        conn->skips_packets = TRUE;
    else
        print_error("SetFileCompletionNotificationModes", conn->peer, (int)GetLastError());
}

/**
 * \brief Whether the provider of the listening socket (and so of every accept
 * socket, made alike) gives IFS handles: XP1_IFS_HANDLES in its protocol
 * information. Returns 0 or -1 after printing the failed call.
 */
static int check_ifs_handles(const struct listener *listener)
{
    WSAPROTOCOL_INFOW info;
    int len = (int)sizeof info;

    if (getsockopt(listener->socket, SOL_SOCKET, SO_PROTOCOL_INFOW, (char *)&info, &len) ==
        SOCKET_ERROR) {
        print_error("getsockopt(SO_PROTOCOL_INFO)", listener->where, WSAGetLastError());
        return -1;
    }
    shared.ifs_handles = (info.dwServiceFlags1 & XP1_IFS_HANDLES) != 0;
    return 0;
}
// [skip_packets]

// [keepalive]
/**
 * \brief TCP keepalive for this client: a peer that vanished without FIN or
 * RST (its machine lost power, a cable was pulled) would otherwise keep its
 * zero-byte receive pending for ever. Probes go only while the connection
 * is idle (nothing unacknowledged), the very state of a waiting client, so
 * it works even with the idle timeout off. A failure costs only the probes:
 * one line, go on.
 */
static void keep_alive(const struct connection *conn)
{
    /* on, first probe, interval */
    struct tcp_keepalive values = {1, KEEPALIVE_TIME_MS, KEEPALIVE_INTERVAL_MS};
    DWORD bytes = 0;

    if (WSAIoctl(conn->socket, SIO_KEEPALIVE_VALS, &values, (DWORD)sizeof values, NULL, 0, &bytes,
                 NULL, NULL) == SOCKET_ERROR)
        print_error("WSAIoctl(SIO_KEEPALIVE_VALS)", conn->peer, WSAGetLastError());
}
// [keepalive]

// [start_connection]
/**
 * \brief Give an accepted socket to the workers: wrap it in a connection,
 * associate it with the port (the connection's address as its key), set its
 * modes and post its first, zero-byte, receive. A failure closes this client
 * only. Owns \p client. Called by the worker that completed the accept.
 */
static void start_connection(const struct server *server, SOCKET client,
                             const SOCKADDR_STORAGE *peer_addr)
{
    int posted;
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
    skip_completion_packets(conn);
    keep_alive(conn);
    posted = post_ready(conn);
    if (posted < 0) {
        free_connection(conn); /* the post failed: nothing is pending, nothing else knows it */
        return;
    }
    if (posted > 0) {
        DWORD bytes = 0, flags = 0; /* the client's bytes came with it: done at once, no packet */
        BOOL ok = WSAGetOverlappedResult(conn->socket, &conn->io.overlapped, &bytes, FALSE, &flags);

        (void)handle_completion(server, conn, ok, bytes);
    }
    /* From here the connection belongs to whichever worker dequeues its
     * completion: it may already be freed. */
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

/**
 * \brief Post one AcceptEx on the listening socket, with a new socket for the
 * client it will accept. Returns 0 when it is under way (a completion will
 * come), or the error after printing it (nothing is pending then).
 */
static int post_accept(struct listener *listener)
{
    DWORD unused = 0;
    struct io *io = new_io(OP_ACCEPT, NULL, 0);
    int error;

    if (io == NULL) {
        print_error("malloc", listener->where, ERROR_NOT_ENOUGH_MEMORY);
        return WSAENOBUFS;
    }
    /* The client's socket exists before the client: overlapped, like the
     * listener. The io owns it; when the accept completes, the connection does. */
    io->accepted =
        WSASocketW(listener->family, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED);
    if (io->accepted == INVALID_SOCKET) {
        error = WSAGetLastError();
        print_error("WSASocket", listener->where, error);
        free_io(io);
        return error;
    }
    /* dwReceiveDataLength 0: complete as soon as a client connects. With a
     * receive buffer, a client that connects and says nothing would hold
     * this accept for as long as it likes. */
    if (listener->accept_ex(listener->socket, io->accepted, io->addresses, ACCEPT_RECEIVE_SIZE,
                            ACCEPT_ADDRESS_SIZE(listener->family),
                            ACCEPT_ADDRESS_SIZE(listener->family), &unused, &io->overlapped))
        return 0; /* a client was waiting: done at once, but the completion is queued anyway */
    error = WSAGetLastError();
    if (error == WSA_IO_PENDING)
        return 0; /* under way: the completion comes when a client connects */
    free_io(io); /* failed: no completion will come; this closes the accept socket too */
    print_error("AcceptEx", listener->where, error);
    return error;
}

/**
 * \brief Post accepts until \p wanted are under way. Each slot is taken
 * on the count before its post (a worker may complete it at once) and given
 * back if the post fails. A client that reset before we took it costs one
 * retry; a lack of sockets or memory stops here, and the main thread tries
 * again a second later (retrying now would spin on the same error). Posts
 * nothing once the server is stopping. Returns -1 only when the listening
 * socket is broken.
 */
static int top_up_accepts(struct listener *listener, LONG wanted)
{
    while (InterlockedIncrement(&listener->posted) <= wanted) {
        int error;

        if (shared.stopping)
            break; /* stopping: the accepts are cancelled, none is replaced */
        /* At the cap: each posted accept may become a client, so accepts and
         * clients together stay within it. The clients beyond wait in the
         * backlog until one leaves (handle_entry() then tops up). */
        if (listener->max_connections > 0 &&
            listener->posted + shared.clients > listener->max_connections)
            break;
        error = post_accept(listener);

        if (error == 0)
            continue;
        InterlockedDecrement(&listener->posted); /* that one is not pending */
        if (error == WSAECONNRESET)
            continue; /* that client is gone, the next one is not */
        return listener_is_broken(error) ? -1 : 0;
    }
    /* The increment that found the count full was only a test: give it back.
     * While it is out, another thread topping up at the same moment may see
     * the count full and stop one short; the next completion or tick posts
     * the missing accept. */
    InterlockedDecrement(&listener->posted);
    return 0;
}
// [post_accept]

// [on_accept]
/**
 * \brief An accept completed with a client in the io's socket: make it a
 * full socket, learn the peer's address, and hand it to a new connection.
 */
static void on_accept_complete(struct server *server, struct io *io)
{
    struct listener *listener = &server->listener;
    SOCKADDR *local = NULL, *remote = NULL;
    int local_len = 0, remote_len = 0;
    SOCKADDR_STORAGE peer_addr;
    SOCKET client = io->accepted;

    if (shared.stopping)
        return; /* no new clients once stopping: free_io() closes the socket */
    /* Without it the socket has not taken on the listener's properties:
     * getpeername() fails with WSAENOTCONN, and on Windows shutdown() can too. */
    if (setsockopt(client, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT, (const char *)&listener->socket,
                   (int)sizeof listener->socket) == SOCKET_ERROR) {
        print_error("setsockopt(SO_UPDATE_ACCEPT_CONTEXT)", listener->where, WSAGetLastError());
        return; /* free_io() closes the socket */
    }
    /* The addresses are in AcceptEx's buffer, in a format only this call reads. */
    listener->get_addresses(
        io->addresses, ACCEPT_RECEIVE_SIZE, ACCEPT_ADDRESS_SIZE(listener->family),
        ACCEPT_ADDRESS_SIZE(listener->family), &local, &local_len, &remote, &remote_len);
    memset(&peer_addr, 0, sizeof peer_addr);
    if (remote != NULL && remote_len > 0 && remote_len <= (int)sizeof peer_addr)
        /* as long as the family's sockaddr, no longer */
        memcpy(&peer_addr, remote, (size_t)remote_len);
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

/**
 * \brief Handle a dequeued accept: the outcome first, then uncount the
 * accept, then post its replacement. In that order a new client is counted
 * in `shared.clients` before its accept leaves `posted`, so the cap is never
 * passed, not even for a moment.
 */
static void handle_accept(struct server *server, struct io *io, BOOL ok)
{
    if (ok)
        on_accept_complete(server, io);
    else
        on_accept_failed(&server->listener, io);
    InterlockedDecrement(&server->listener.posted);
    free_io(io); /* closes the accept socket unless a connection took it */
    /* errors are printed; main sees a broken listener */
    (void)top_up_accepts(&server->listener, ACCEPTS_POSTED);
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
/**
 * \brief Load AcceptEx, associate the listening socket with the port (its key:
 * the listener), ask for FD_ACCEPT on the backlog event and post the first
 * accepts. Returns 0, or -1 after printing the failed call.
 */
static int start_accepting(struct server *server)
{
    struct listener *listener = &server->listener;

    if (load_accept_functions(listener) != 0 || check_ifs_handles(listener) != 0)
        return -1;
    /* The accepts complete to the listening socket's association, with its key. */
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
        /* the error is printed; without one accept posted, nobody would ever be served */
        return -1;
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

/**
 * \brief Make what `shared` holds and install the console handler, before any
 * other thread starts. The handler and the two events then stay until the
 * process ends: a second Ctrl+C during the shutdown only sets the event again.
 * Returns 0, or -1 after printing the failed call.
 */
static int start_shared(void)
{
    LARGE_INTEGER frequency;

    shared.held_lines = TlsAlloc();
    if (shared.held_lines == TLS_OUT_OF_INDEXES) {
        print_error("TlsAlloc", "", (int)GetLastError());
        return -1;
    }
    InitializeSRWLock(&shared.posting);
    InitializeCriticalSection(&shared.list_lock);
    (void)QueryPerformanceFrequency(&frequency); /* cannot fail since Windows XP; fixed at boot */
    shared.ticks_per_ms = frequency.QuadPart >= 1000 ? frequency.QuadPart / 1000 : 1;
    pool_init(&shared.io_pool, sizeof(struct io), 0, ACCEPTS_POSTED_MAX);
    pool_init(&shared.buffer_pool, BUFFER_SIZE, BUFFERS_MAX, BUFFERS_KEPT);
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

// [close_idle]
/* Defined with the shutdown, further down; the sweep cancels as the shutdown does. */
static void cancel_io(HANDLE handle, const char *subject);

/**
 * \brief Whether \p conn is open and has been silent for longer than
 * \p timeout_ms at \p now. A worker may have set `last_active` after \p now
 * was read: `now - last_active` would then wrap around to a huge silence,
 * so the sum is compared instead.
 */
static int is_idle(const struct connection *conn, ULONGLONG now, ULONGLONG timeout_ms)
{
    return conn->socket != INVALID_SOCKET && !conn->timed_out &&
           conn->last_active + timeout_ms < now;
}

/**
 * \brief The idle sweep, on the main thread. A first look under the list's
 * lock alone: most sweeps find nobody and stop the workers for nothing. When
 * some client is idle, the cancel pass of lesson 06 for those clients only:
 * with `posting` held exclusive no worker is inside a handler, so no socket
 * is half closed and no connection freed while we cancel. The cancelled
 * operation completes with WSA_OPERATION_ABORTED; its worker sees
 * `timed_out` and closes the connection, and the last completion frees it.
 */
static void close_idle_connections(const struct server *server)
{
    ULONGLONG now = clock_ms();
    struct connection *conn;
    int found = 0;

    if (server->idle_timeout_ms == 0)
        return;
    EnterCriticalSection(&shared.list_lock);
    for (conn = shared.connections; conn != NULL && !found; conn = conn->next)
        found = is_idle(conn, now, server->idle_timeout_ms);
    LeaveCriticalSection(&shared.list_lock);
    if (!found)
        return;
    AcquireSRWLockExclusive(&shared.posting);
    EnterCriticalSection(&shared.list_lock);
    for (conn = shared.connections; conn != NULL; conn = conn->next) {
        if (!is_idle(conn, now, server->idle_timeout_ms))
            continue;
        /* Set first: the operation may have completed already, its packet still queued. */
        InterlockedExchange(&conn->timed_out, 1);
        cancel_io((HANDLE)conn->socket, conn->peer);
    }
    LeaveCriticalSection(&shared.list_lock);
    ReleaseSRWLockExclusive(&shared.posting);
}
// [close_idle]

// [watch_workers]
/**
 * \brief What the main thread does while the server runs: wait for a stop
 * request, for the backlog event or for a worker to end (only a broken port
 * ends one), waking every TOP_UP_INTERVAL_MS to post the accepts that could
 * not be replaced for lack of sockets or memory, and to close the idle
 * clients (also when the backlog event keeps it busy). Returns 0 when a stop
 * was requested, -1 when the port or the listening socket is broken.
 */
static int watch_workers(struct server *server)
{
    HANDLE waits[MAXIMUM_WAIT_OBJECTS];
    DWORD count = server->worker_count + 2;
    ULONGLONG next_sweep = clock_ms() + TOP_UP_INTERVAL_MS;

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
        if (clock_ms() >= next_sweep) {
            close_idle_connections(server);
            next_sweep = clock_ms() + TOP_UP_INTERVAL_MS;
        }
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

/**
 * \brief The shutdown, on the main thread: cancel, drain, stop the workers,
 * close and free the rest, print the summary line. Returns the exit code: 0
 * when everything was freed, 1 when something could not be.
 */
static int stop_server(struct server *server)
{
    int clean;
    DWORD i;

    cancel_everything(server);
    clean = wait_until_drained() == 0;
    clean = stop_workers(server) == 0 && clean;
    if (clean) {
        /* Nothing is pending and no worker runs: nothing can use these any more. */
        /* no accept left on it; an error would change nothing */
        (void)closesocket(server->listener.socket);
        /* the listener that signalled it is closed */
        (void)WSACloseEvent(server->listener.backlog);
        for (i = 0; i < server->worker_count; i++)
            /* ended threads: closing only drops our reference */
            (void)CloseHandle(server->workers[i]);
        free(server->workers);
        (void)CloseHandle(server->port);
        DeleteCriticalSection(&shared.list_lock); /* no connection is left to add or remove */
        /* nothing is taken any more: every block is on the free lists */
        pool_drain(&shared.io_pool);
        pool_drain(&shared.buffer_pool);
        (void)WSACleanup(); /* every socket is closed; the process ends anyway */
    }
    /* Honest: what is in use, and what the pools still hold besides. */
    printf("shutdown complete: %ld connections served, %lld bytes echoed, %ld objects still "
           "allocated\n",
           shared.served, (long long)shared.echoed,
           shared.live_objects + (shared.io_pool.allocated - shared.io_pool.taken) +
               (shared.buffer_pool.allocated - shared.buffer_pool.taken));
    if (fflush(stdout) != 0)
        clean = 0;
    return clean ? 0 : 1;
}
// [stop_server]

// [main]
/**
 * \brief Start Winsock, parse the command line, install the console handler,
 * start the port and its workers, listen, post the accepts, and wait for a
 * stop request; then stop everything. Exit codes: 0 after a clean shutdown, 2
 * for a bad command line, 1 for a failed start, a broken listening socket or
 * port, or a shutdown that could not free everything.
 */
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
    server.listener.family = opts.family;
    server.listener.max_connections = opts.max_connections;
    server.idle_timeout_ms = (ULONGLONG)opts.idle_timeout * 1000;
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
