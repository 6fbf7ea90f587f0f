/**
 * \file
 * \brief Fault injection for the lessons' test builds (bin/faults/NN_name-faults.exe): the calls
 * a lesson makes for each connection fail now and then, as the system may make them fail, to
 * prove that a failure costs one connection and never the server.
 *
 * Nothing in the lessons changes. The faults build compiles a lesson's server.c with
 * WINSOCK_API_LINKAGE empty (so its Winsock calls are plain symbols) and links it with
 * `-Wl,--wrap=NAME` for each call below: the linker sends the lesson's calls to `__wrap_NAME`
 * here, which fails or passes them on to `__real_NAME`. GNU ld only (MinGW); no MSVC build.
 *
 * COURSE_FAULTS=N in the environment: once the server has called listen(), every Nth call of each
 * function fails, until FAULT_BUDGET failures in all; then none, so the server can show that it
 * recovered. Without COURSE_FAULTS nothing fails.
 *
 * COURSE_SHORT_SENDS=1: every send() and WSASend() of two bytes or more takes only the first half
 * of what it is given (rounded up) and reports that count, as a stack short of buffers may do.
 * Half, not one byte: every such send is short, so a server that ignores the count loses bytes on
 * its first reply, while a server that sends the rest needs only about log2(size) calls per reply
 * and keeps its pace on the checks that move many MiB. A WSASend then completes with fewer bytes
 * than it was asked for, the case that Wine never produces by itself on loopback.
 */
#include <winsock2.h>
#include <windows.h>

#include <stdlib.h>

#include "wrap.h"

enum { FAULT_BUDGET = 30 };

/** \brief The wrapped functions, one counter each. */
enum call { ACCEPT, RECV, SEND, WSARECV, WSASEND, WSASOCKETW, MALLOC, CALLOC, CALLS };

static volatile LONG armed; /* set once listen() succeeded */
static volatile LONG counts[CALLS];
static volatile LONG failures;
static LONG every = -1; /* -1: not read yet; 0: no faults */
static LONG short_sends = -1; /* -1: not read yet; 0: sends are passed on whole */

/** \brief Whether this call of \p which fails now. */
static int fault_now(enum call which)
{
    if (every < 0) {
        const char *text = getenv("COURSE_FAULTS");
        long n = text ? strtol(text, NULL, 10) : 0;

        InterlockedExchange(&every, n > 0 ? (LONG)n : 0);
    }
    if (every == 0 || !armed || InterlockedIncrement(&counts[which]) % every != 0)
        return 0;
    return InterlockedIncrement(&failures) <= FAULT_BUDGET;
}

/** \brief How many of \p len bytes a send passes on: all, or half (rounded up) with
 * COURSE_SHORT_SENDS. */
static ULONG send_share(ULONG len)
{
    if (short_sends < 0) {
        const char *text = getenv("COURSE_SHORT_SENDS");

        InterlockedExchange(&short_sends, text != NULL && strtol(text, NULL, 10) > 0);
    }
    return short_sends && len > 1 ? len - len / 2 : len;
}

int WSAAPI __wrap_listen(SOCKET s, int backlog)
{
    int rc = __real_listen(s, backlog);

    if (rc == 0)
        InterlockedExchange(&armed,
                            1); /* start-up is over: from now on a failure is one client's */
    return rc;
}

/*
 * A failed accept: the system ran out of descriptors or buffers for this connection, which is lost.
 * The real accept is still called, and what it took is closed, so that the listening socket behaves
 * as after any accept call (FD_ACCEPT is signalled again for the clients still waiting).
 */
SOCKET WSAAPI __wrap_accept(SOCKET s, struct sockaddr *addr, int *len)
{
    if (fault_now(ACCEPT)) {
        SOCKET taken = __real_accept(s, addr, len);

        if (taken != INVALID_SOCKET)
            (void)closesocket(taken); /* the lost connection: its client sees it end */
        WSASetLastError(counts[ACCEPT] / every % 2 ? WSAEMFILE : WSAENOBUFS);
        return INVALID_SOCKET;
    }
    return __real_accept(s, addr, len);
}

int WSAAPI __wrap_recv(SOCKET s, char *buf, int len, int flags)
{
    if (fault_now(RECV)) {
        WSASetLastError(WSAENOBUFS);
        return SOCKET_ERROR;
    }
    return __real_recv(s, buf, len, flags);
}

int WSAAPI __wrap_send(SOCKET s, const char *buf, int len, int flags)
{
    if (fault_now(SEND)) {
        WSASetLastError(WSAENOBUFS);
        return SOCKET_ERROR;
    }
    return __real_send(s, buf, len > 0 ? (int)send_share((ULONG)len) : len, flags);
}

/*
 * A WSASend given only the first part of its buffers: a copy of the WSABUF array cut after half the
 * bytes, so the operation (at once or through its completion) reports fewer bytes than asked for.
 * The documentation wants the array valid until the operation completes, and the shim never learns
 * when that is: so each OVERLAPPED gets a slot of its own, which its next send reuses (an
 * OVERLAPPED carries one operation at a time). The table is never emptied; when it is full, or a
 * send has more buffers than a slot holds, the send passes whole.
 */
enum { SLOTS = 8192, SLOT_BUFFERS = 4 };
static struct slot {
    LPWSAOVERLAPPED owner;
    WSABUF part[SLOT_BUFFERS];
} slots[SLOTS];
static CRITICAL_SECTION slots_lock;
static INIT_ONCE slots_once = INIT_ONCE_STATIC_INIT;

static BOOL CALLBACK init_slots(PINIT_ONCE once, PVOID param, PVOID *context)
{
    (void)once, (void)param, (void)context;
    InitializeCriticalSection(&slots_lock);
    return TRUE;
}

/** \brief The slot of \p ov (found or taken), or NULL when the table is full. */
static WSABUF *slot_of(LPWSAOVERLAPPED ov)
{
    size_t at = ((ULONG_PTR)ov >> 4) % SLOTS;
    WSABUF *found = NULL;

    InitOnceExecuteOnce(&slots_once, init_slots, NULL, NULL);
    EnterCriticalSection(&slots_lock);
    for (size_t tries = 0; tries < SLOTS && found == NULL; tries++, at = (at + 1) % SLOTS) {
        if (slots[at].owner == NULL)
            slots[at].owner = ov;
        if (slots[at].owner == ov)
            found = slots[at].part;
    }
    LeaveCriticalSection(&slots_lock);
    return found;
}

static int short_send(SOCKET s, LPWSABUF bufs, DWORD count, LPDWORD sent, DWORD flags,
                      LPWSAOVERLAPPED ov, LPWSAOVERLAPPED_COMPLETION_ROUTINE done)
{
    WSABUF on_stack[SLOT_BUFFERS]; /* enough for a call that completes before it returns */
    WSABUF *part = ov ? slot_of(ov) : on_stack;
    ULONG total = 0, left;
    DWORD n = 0;

    if (part == NULL || count > SLOT_BUFFERS)
        return __real_WSASend(s, bufs, count, sent, flags, ov, done);
    for (DWORD i = 0; i < count; i++)
        total += bufs[i].len;
    left = send_share(total);
    for (; n < count && (left > 0 || n == 0); n++) {
        part[n] = bufs[n];
        if (part[n].len > left)
            part[n].len = left;
        left -= part[n].len;
    }
    return __real_WSASend(s, part, n, sent, flags, ov, done);
}

/* Failing at once: nothing was started, so no completion (event, routine or packet) will come. */
int WSAAPI __wrap_WSARecv(SOCKET s, LPWSABUF bufs, DWORD count, LPDWORD got, LPDWORD flags,
                          LPWSAOVERLAPPED ov, LPWSAOVERLAPPED_COMPLETION_ROUTINE done)
{
    if (fault_now(WSARECV)) {
        WSASetLastError(WSAENOBUFS);
        return SOCKET_ERROR;
    }
    return __real_WSARecv(s, bufs, count, got, flags, ov, done);
}

int WSAAPI __wrap_WSASend(SOCKET s, LPWSABUF bufs, DWORD count, LPDWORD sent, DWORD flags,
                          LPWSAOVERLAPPED ov, LPWSAOVERLAPPED_COMPLETION_ROUTINE done)
{
    if (fault_now(WSASEND)) {
        WSASetLastError(WSAENOBUFS);
        return SOCKET_ERROR;
    }
    return short_send(s, bufs, count, sent, flags, ov, done);
}

SOCKET WSAAPI __wrap_WSASocketW(int af, int type, int protocol, LPWSAPROTOCOL_INFOW info, GROUP g,
                                DWORD flags)
{
    if (fault_now(WSASOCKETW)) {
        WSASetLastError(WSAEMFILE);
        return INVALID_SOCKET;
    }
    return __real_WSASocketW(af, type, protocol, info, g, flags);
}

void *__wrap_malloc(size_t size)
{
    return fault_now(MALLOC) ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t count, size_t size)
{
    return fault_now(CALLOC) ? NULL : __real_calloc(count, size);
}
