/**
 * \file
 * \brief Lesson 02: overlapped I/O signalled through event objects; one thread, 63 clients.
 *
 * Abstract. One thread waits on 64 events: the listener's, then one per client.
 * A struct connection (per-connection state) holds the WSAOVERLAPPED (per-operation state) of
 * its one operation; free_connection() frees it, never while that operation is in flight.
 * Ctrl+C ends the process.
 * The limit left for lesson 03: the 64th client at once is turned away.
 */
/** Leave the rarely used parts of windows.h out (among them the old winsock.h). */
#define WIN32_LEAN_AND_MEAN
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/** The program's name, for the usage line. */
#define PROGRAM "02_event_overlapped"
/** Port used when the command line names none. */
#define DEFAULT_PORT 5000
/** Loopback by default: a lab machine must not expose a server by accident. */
#define DEFAULT_ADDRESS "127.0.0.1"
/** Size of each connection's echo buffer: with many clients, most of the memory. */
#define BUFFER_SIZE (64 * 1024)
/** The slot of the listening socket's event: the first of the wait array. */
#define LISTENER_SLOT 0
/** Slots for events: as many as one wait takes, the listener's included. */
#define SLOTS WSA_MAXIMUM_WAIT_EVENTS
/** Clients served at once: every slot but the listener's. */
#define MAX_CLIENTS (SLOTS - 1)

/** \brief What the command line asked for. */
struct options {
    const char *address; /**< numeric IPv4 address to listen on */
    unsigned short port; /**< port to listen on; 0 lets the system choose */
};

// [structs]
/** \brief Which operation a client has in flight (or had last). */
enum op { OP_RECV, /**< a WSARecv() */ OP_SEND /**< a WSASend() */ };

/** \brief One client and its one operation in flight. */
struct connection {
    SOCKET socket; /**< closed by free_connection() */
    WSAEVENT event; /**< overlapped.hEvent, and its slot's; closed by free_connection() */
    WSAOVERLAPPED overlapped; /**< written by the system until the operation completes */
    WSABUF wsabuf; /**< what the current operation receives into or sends from */
    enum op op; /**< which operation that is */
    int in_flight; /**< 1 from a successful post until its result is collected */
    DWORD received; /**< bytes the last receive put in `buffer` */
    DWORD sent; /**< of those, bytes already echoed */
    char peer[64]; /**< "client ADDRESS:PORT", for error messages */
    char buffer[BUFFER_SIZE]; /**< raw bytes, not a string: no NUL at the end, NULs inside */
};

/** \brief What the one thread waits on: events[i] and clients[i], slots 0 to count-1, no hole. */
struct server {
    SOCKET listener; /**< closed by main() */
    char where[64]; /**< "ADDRESS:PORT" it listens on, for messages */
    DWORD count; /**< slots in use, the listener's included */
    WSAEVENT events[SLOTS]; /**< [0]: the listener's (main() closes it); then clients' */
    struct connection *clients[SLOTS]; /**< [0] unused: slot 0 is the listener */
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
 * \p accept_event is set when a client waits to be accepted.
 */
static SOCKET open_listener(const struct options *opts, WSAEVENT accept_event, char *where,
                            size_t where_size)
{
    SOCKADDR_IN addr;
    int addr_len = (int)sizeof addr;
    char subject[64];
    BOOL exclusive = TRUE;
    SOCKET listener;

    snprintf(subject, sizeof subject, "%s:%u", opts->address, (unsigned)opts->port);
    listener = WSASocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED);
    if (listener == INVALID_SOCKET) {
        print_error("WSASocket", "", WSAGetLastError());
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
    /* Before listen(): no client arrives unseen. accept() is non-blocking from here. */
    if (WSAEventSelect(listener, accept_event, FD_ACCEPT) == SOCKET_ERROR) {
        print_error("WSAEventSelect(FD_ACCEPT)", subject, WSAGetLastError());
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
/** \brief A connection for \p client with its own event, or NULL (printed); it owns \p client. */
static struct connection *new_connection(SOCKET client, const char *peer)
{
    struct connection *conn = malloc(sizeof *conn);

    if (conn == NULL) {
        print_error("malloc", peer, ERROR_NOT_ENOUGH_MEMORY);
        return NULL;
    }
    memset(conn, 0, offsetof(struct connection, buffer)); /* everything but the buffer */
    conn->event = WSACreateEvent(); /* manual-reset, not signalled */
    if (conn->event == WSA_INVALID_EVENT) {
        print_error("WSACreateEvent", peer, WSAGetLastError());
        free(conn);
        return NULL;
    }
    conn->socket = client;
    snprintf(conn->peer, sizeof conn->peer, "%s", peer);
    return conn;
}

/** \brief Close the socket, wait for an operation still in flight (it writes into us), free. */
static void free_connection(struct connection *conn)
{
    if (closesocket(conn->socket) == SOCKET_ERROR)
        print_error("closesocket", conn->peer, WSAGetLastError());
    /* closesocket() cancels the operation in flight; its end sets the event. */
    if (conn->in_flight &&
        WSAWaitForMultipleEvents(1, &conn->event, TRUE, WSA_INFINITE, FALSE) == WSA_WAIT_FAILED) {
        print_error("WSAWaitForMultipleEvents", conn->peer, WSAGetLastError());
        return; /* not knowing whether it ended, leaking is the safe choice */
    }
    if (!WSACloseEvent(conn->event))
        print_error("WSACloseEvent", conn->peer, WSAGetLastError());
    free(conn);
}
// [lifetime]

// [post_recv]
/** \brief A post's outcome: 0 if done now or pending (the event is set then), or the error. */
static int started_or_error(struct connection *conn, int rc)
{
    int error;

    if (rc == 0) {
        conn->in_flight = 1; /* done already: the event is set, collected like any other */
        return 0;
    }
    error = WSAGetLastError();
    if (error == WSA_IO_PENDING) {
        conn->in_flight = 1; /* under way: the event is set when it is done */
        return 0;
    }
    return error; /* failed: nothing in flight */
}

/** \brief Zero the WSAOVERLAPPED, reset its event: nothing is in flight, no completion is lost. */
static int prepare_overlapped(struct connection *conn)
{
    if (!WSAResetEvent(conn->event))
        return WSAGetLastError();
    memset(&conn->overlapped, 0, sizeof conn->overlapped);
    conn->overlapped.hEvent = conn->event;
    return 0;
}

/** \brief Post one overlapped receive into the whole buffer. Returns 0 or the error. */
static int post_recv(struct connection *conn)
{
    DWORD flags = 0; /* in and out: WSARecv reads it, so it must be set */
    int error = prepare_overlapped(conn);

    if (error != 0)
        return error;
    conn->op = OP_RECV;
    conn->wsabuf.buf = conn->buffer;
    conn->wsabuf.len = (ULONG)sizeof conn->buffer;
    return started_or_error(
        conn, WSARecv(conn->socket, &conn->wsabuf, 1, NULL, &flags, &conn->overlapped, NULL));
}
// [post_recv]

// [post_send_rest]
/** \brief Post one send of what is still owed (`sent` to `received`); 0 or the error. */
static int post_send_rest(struct connection *conn)
{
    int error = prepare_overlapped(conn);

    if (error != 0)
        return error;
    conn->op = OP_SEND;
    conn->wsabuf.buf = conn->buffer + conn->sent;
    conn->wsabuf.len = (ULONG)(conn->received - conn->sent);
    return started_or_error(
        conn, WSASend(conn->socket, &conn->wsabuf, 1, NULL, 0, &conn->overlapped, NULL));
}
// [post_send_rest]

// [on_complete]
/** \brief \p bytes came: send them back, or finish on FIN. 0 while the client goes on, else -1. */
static int on_recv_complete(struct connection *conn, DWORD bytes)
{
    int error;

    if (bytes == 0) {
        if (shutdown(conn->socket, SD_SEND) == SOCKET_ERROR)
            print_error("shutdown", conn->peer, WSAGetLastError());
        return -1;
    }
    conn->received = bytes;
    conn->sent = 0;
    error = post_send_rest(conn);
    if (error != 0) {
        print_error("WSASend", conn->peer, error);
        return -1;
    }
    return 0;
}

/** \brief A send took \p bytes: send the rest, or receive again. 0 while it goes on, or -1. */
static int on_send_complete(struct connection *conn, DWORD bytes)
{
    int error;

    conn->sent += bytes;
    if (conn->sent < conn->received) {
        error = post_send_rest(conn); /* fewer bytes than asked: normal, not an error */
        if (error != 0)
            print_error("WSASend", conn->peer, error);
    } else {
        error = post_recv(conn);
        if (error != 0)
            print_error("WSARecv", conn->peer, error);
    }
    return error != 0 ? -1 : 0;
}

/** \brief The client's event is set: collect its result, post the next. 0, or -1: free the slot. */
static int on_client_event(struct connection *conn)
{
    DWORD bytes = 0, flags = 0;

    if (!WSAGetOverlappedResult(conn->socket, &conn->overlapped, &bytes, FALSE, &flags)) {
        int error = WSAGetLastError();

        if (error == WSA_IO_INCOMPLETE)
            return 0; /* not done after all: never free an OVERLAPPED in use */
        conn->in_flight = 0;
        /* A reset or a network error is this client's problem only. */
        print_error(conn->op == OP_RECV ? "WSARecv" : "WSASend", conn->peer, error);
        return -1;
    }
    conn->in_flight = 0;
    return conn->op == OP_RECV ? on_recv_complete(conn, bytes) : on_send_complete(conn, bytes);
}
// [on_complete]

// [slots]
/** \brief Put \p conn in the first free slot: the end of the array. */
static void add_slot(struct server *server, struct connection *conn)
{
    server->events[server->count] = conn->event;
    server->clients[server->count] = conn;
    server->count++;
}

/** \brief Free the client in \p slot; the last client moves into it, so no hole is left. */
static void free_slot(struct server *server, DWORD slot)
{
    DWORD last = server->count - 1;

    free_connection(server->clients[slot]);
    server->events[slot] = server->events[last];
    server->clients[slot] = server->clients[last];
    server->events[last] = WSA_INVALID_EVENT;
    server->clients[last] = NULL;
    server->count--;
}
// [slots]

// [scan]
/** \brief The lowest slot from \p from on whose event is set now, or server->count if none is. */
static DWORD next_set_slot(const struct server *server, DWORD from)
{
    DWORD rc;

    if (from >= server->count)
        return server->count;
    rc = WSAWaitForMultipleEvents(server->count - from, &server->events[from], FALSE, 0, FALSE);
    if (rc - WSA_WAIT_EVENT_0 < server->count - from) /* WSA_WAIT_EVENT_0 + i: slot from + i */
        return from + (rc - WSA_WAIT_EVENT_0);
    return server->count; /* none is set (a failure shows in the next main wait) */
}

/** \brief Serve every client slot from \p from (1 or more) on whose event is set. */
static void serve_set_clients(struct server *server, DWORD from)
{
    DWORD slot = from;

    while ((slot = next_set_slot(server, slot)) < server->count) {
        if (on_client_event(server->clients[slot]) != 0)
            free_slot(server, slot); /* the last client moved here: look at this slot again */
        else
            slot++;
    }
}
// [scan]

// [accept]
/** \brief All slots are taken: close the accepted client at once, unread; nobody else notices. */
static void turn_away(SOCKET client, const char *peer)
{
    fprintf(stderr, "%s: turned away: all %d client slots are in use\n", peer, MAX_CLIENTS);
    if (closesocket(client) == SOCKET_ERROR)
        print_error("closesocket", peer, WSAGetLastError());
}

/** \brief Give \p socket its own event and slot and post its first receive; a failure closes it. */
static void take_client(struct server *server, SOCKET socket, const char *peer)
{
    struct connection *conn;
    int error;

    /* Drop the listener's WSAEventSelect it inherits: it reports by completions only. */
    if (WSAEventSelect(socket, NULL, 0) == SOCKET_ERROR) {
        print_error("WSAEventSelect", peer, WSAGetLastError());
        goto fail;
    }
    conn = new_connection(socket, peer);
    if (conn == NULL)
        goto fail;
    error = post_recv(conn);
    if (error != 0) {
        print_error("WSARecv", peer, error);
        free_connection(conn); /* closes the socket; nothing is in flight */
        return;
    }
    add_slot(server, conn);
    return;

fail:
    (void)closesocket(socket); /* already failing: the first error is the one to report */
}

/** \brief Whether an accept() error means the listening socket, not one client, is broken. */
static int listener_is_broken(int error)
{
    return error == WSAENOTSOCK || error == WSAEINVAL || error == WSAEFAULT ||
           error == WSANOTINITIALISED || error == WSAENETDOWN;
}

/** \brief The listener's event is set: accept one client (see the text), give it a slot or not. */
static int accept_one_client(struct server *server)
{
    WSANETWORKEVENTS happened;

    if (WSAEnumNetworkEvents(server->listener, server->events[LISTENER_SLOT], &happened) ==
        SOCKET_ERROR) {
        print_error("WSAEnumNetworkEvents", server->where, WSAGetLastError());
        return -1;
    }
    if ((happened.lNetworkEvents & FD_ACCEPT) && happened.iErrorCode[FD_ACCEPT_BIT] != 0)
        print_error("FD_ACCEPT", server->where, happened.iErrorCode[FD_ACCEPT_BIT]);
    for (;;) {
        SOCKADDR_IN peer_addr;
        int peer_len = (int)sizeof peer_addr;
        char peer[64];
        SOCKET client = accept(server->listener, (SOCKADDR *)&peer_addr, &peer_len);

        if (client == INVALID_SOCKET) {
            int error = WSAGetLastError();

            if (error == WSAEWOULDBLOCK)
                return 0; /* nobody waits after all */
            print_error("accept", server->where, error);
            if (listener_is_broken(error))
                return -1;
            /* Out of sockets or buffers: a moment's pause, not a spin on the same error. */
            if (error == WSAEMFILE || error == WSAENOBUFS) {
                Sleep(100);
                return 0;
            }
            continue; /* a client that reset while it waited: take the next */
        }
        format_peer(&peer_addr, peer, sizeof peer);
        /* Full? A client may have left this round: collect that first, its slot goes here. */
        if (server->count == SLOTS)
            serve_set_clients(server, LISTENER_SLOT + 1);
        if (server->count == SLOTS)
            turn_away(client, peer); /* the limit of this lesson */
        else
            take_client(server, client, peer);
        return 0;
    }
}
// [accept]

// [event_loop]
/** \brief Serve every set slot from \p first on (low ones must not starve others), then accept. */
static int serve_set_slots(struct server *server, DWORD first)
{
    serve_set_clients(server, first > LISTENER_SLOT ? first : LISTENER_SLOT + 1);
    /* The listener last: a slot freed in this round goes to a client of this round. */
    if (next_set_slot(server, LISTENER_SLOT) == LISTENER_SLOT)
        return accept_one_client(server);
    return 0;
}

/** \brief Wait for any event, serve what is set, again; until the listener or the wait breaks. */
static void serve_clients(struct server *server)
{
    for (;;) {
        DWORD rc =
            WSAWaitForMultipleEvents(server->count, server->events, FALSE, WSA_INFINITE, FALSE);

        if (rc == WSA_WAIT_FAILED) {
            print_error("WSAWaitForMultipleEvents", server->where, WSAGetLastError());
            return;
        }
        if (rc >= WSA_WAIT_EVENT_0 + server->count)
            continue; /* a timeout or an APC: neither can happen with INFINITE and FALSE */
        if (serve_set_slots(server, rc - WSA_WAIT_EVENT_0) != 0)
            return;
    }
}
// [event_loop]

// [main]
/** \brief Serve until the listener breaks, then free everything: exit 2 if misused, else 1. */
int main(int argc, char **argv)
{
    struct options opts;
    struct server server;
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
    memset(&server, 0, sizeof server);
    server.events[LISTENER_SLOT] = WSACreateEvent();
    if (server.events[LISTENER_SLOT] == WSA_INVALID_EVENT) {
        print_error("WSACreateEvent", "", WSAGetLastError());
        (void)WSACleanup();
        return 1;
    }
    server.count = 1;
    server.listener =
        open_listener(&opts, server.events[LISTENER_SLOT], server.where, sizeof server.where);
    if (server.listener != INVALID_SOCKET) {
        serve_clients(&server);
        while (server.count > 1)
            free_slot(&server, server.count - 1);
        (void)closesocket(server.listener); /* ending anyway: an error here changes nothing */
    }
    (void)WSACloseEvent(server.events[LISTENER_SLOT]); /* ending anyway */
    (void)WSACleanup();
    return 1; /* serve_clients() returns only when the listener is broken */
}
// [main]
