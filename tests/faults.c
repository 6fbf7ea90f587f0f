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
 */
#include <winsock2.h>
#include <windows.h>

#include <stdlib.h>

#include "wrap.h"

enum { FAULT_BUDGET = 30 };

/** \brief The wrapped functions, one counter each. */
enum call { ACCEPT, RECV, SEND, WSARECV, WSASEND, WSASOCKETW, MALLOC, CALLOC, CALLS };

static volatile LONG armed;           /* set once listen() succeeded */
static volatile LONG counts[CALLS];
static volatile LONG failures;
static LONG every = -1;               /* -1: not read yet; 0: no faults */

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

int WSAAPI __wrap_listen(SOCKET s, int backlog)
{
    int rc = __real_listen(s, backlog);

    if (rc == 0)
        InterlockedExchange(&armed, 1); /* start-up is over: from now on a failure is one client's */
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
    return __real_send(s, buf, len, flags);
}

/* Failing at once: nothing was started, so no completion (event, routine or packet) will come. */
int WSAAPI __wrap_WSARecv(SOCKET s, LPWSABUF bufs, DWORD count, LPDWORD got, LPDWORD flags, LPWSAOVERLAPPED ov,
                          LPWSAOVERLAPPED_COMPLETION_ROUTINE done)
{
    if (fault_now(WSARECV)) {
        WSASetLastError(WSAENOBUFS);
        return SOCKET_ERROR;
    }
    return __real_WSARecv(s, bufs, count, got, flags, ov, done);
}

int WSAAPI __wrap_WSASend(SOCKET s, LPWSABUF bufs, DWORD count, LPDWORD sent, DWORD flags, LPWSAOVERLAPPED ov,
                          LPWSAOVERLAPPED_COMPLETION_ROUTINE done)
{
    if (fault_now(WSASEND)) {
        WSASetLastError(WSAENOBUFS);
        return SOCKET_ERROR;
    }
    return __real_WSASend(s, bufs, count, sent, flags, ov, done);
}

SOCKET WSAAPI __wrap_WSASocketW(int af, int type, int protocol, LPWSAPROTOCOL_INFOW info, GROUP g, DWORD flags)
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
