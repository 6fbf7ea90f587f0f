/**
 * \file
 * \brief The tracing shim for the lessons' trace builds (bin/trace/NN_name-trace.exe): every call
 * that waits for the network or completes I/O is written to a trace file, with its thread, its
 * socket, its bytes and its start and end times, so `./course trace` can draw who waited where.
 *
 * Nothing in the lessons changes. Like tests/faults.c, the trace build compiles a lesson's
 * server.c with WINSOCK_API_LINKAGE and WINBASEAPI empty (so its Winsock and kernel32 calls are
 * plain symbols) and links it with `-Wl,--wrap=NAME` for each call below. AcceptEx, which a lesson
 * gets as a pointer from WSAIoctl, is traced by handing out a pointer to trace_accept_ex instead.
 * Completion routines and APCs are traced by running them through a trampoline that records them.
 *
 * COURSE_TRACE=FILE in the environment turns it on; without it every wrapper only passes the call
 * on. One line per event, flushed every FLUSH_MS by a thread of its own:
 *
 *     START_US END_US THREAD CLASS NAME HANDLE BYTES
 *
 * CLASS is `wait` (a call that blocks until the network or a completion wakes it), `call` (a call
 * that starts or cancels I/O and returns at once), `done` (a completion taken from a port, one per
 * packet, NAME says of what: accept, recv, send, exit for a packet without an OVERLAPPED) or `run`
 * (a completion routine or an APC: NAME is recv, send or apc, START..END is its run time).
 */
#include <winsock2.h>
#include <windows.h>
#include <mswsock.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wrap.h"

enum {
    FLUSH_MS = 20,
    BUFFER_BYTES = 4 << 20, /**< events between two flushes; more are dropped and counted */
    MAP_SLOTS =
        1 << 16, /**< OVERLAPPED -> what it was posted for: a cache, a lost entry reads "other" */
    ROUTINE_SLOTS = 1 << 17, /**< OVERLAPPED -> the lesson's completion routine, until it has run */
};

/** \brief What an OVERLAPPED was posted for, and the routine to run when it completes. */
struct posted {
    const OVERLAPPED *ov;
    const char *name;
    LPWSAOVERLAPPED_COMPLETION_ROUTINE routine;
};

/** A slot of the routine table that held an entry once (linear probing goes on past it). */
#define GONE ((const OVERLAPPED *)1)

static struct {
    volatile LONG state; /* 0: not read yet, 1: on, 2: off */
    HANDLE file;
    CRITICAL_SECTION lock; /* guards buffer, used, dropped and map */
    char *buffer;
    size_t used;
    unsigned long dropped;
    LARGE_INTEGER start, frequency;
    struct posted map[MAP_SLOTS];
    struct posted routines[ROUTINE_SLOTS];
    LPFN_ACCEPTEX accept_ex;
} trace;

static void flush(void)
{
    DWORD written = 0;

    EnterCriticalSection(&trace.lock);
    if (trace.used > 0)
        (void)WriteFile(trace.file, trace.buffer, (DWORD)trace.used, &written, NULL);
    trace.used = 0;
    LeaveCriticalSection(&trace.lock);
}

/* Runs until the process ends. on() sets trace.state to 1 only after starting this thread: a
 * flusher that went on only while the state was 1 could start first, see 0 and end at once,
 * leaving every event in the buffer of a server that is then killed (a busy CI machine did that). */
static DWORD WINAPI flusher(void *unused)
{
    (void)unused;
    while (trace.state != 2) {
        Sleep(FLUSH_MS);
        flush();
    }
    return 0;
}

/** \brief Whether tracing is on; the first call opens the file and starts the flusher. */
static int on(void)
{
    static volatile LONG opening;

    if (trace.state == 0) {
        if (InterlockedCompareExchange(&opening, 1, 0) == 0) {
            const char *path = getenv("COURSE_TRACE");

            InitializeCriticalSection(&trace.lock);
            QueryPerformanceFrequency(&trace.frequency);
            QueryPerformanceCounter(&trace.start);
            trace.buffer = path ? malloc(BUFFER_BYTES) : NULL;
            trace.file = trace.buffer ? CreateFileA(path, GENERIC_WRITE, FILE_SHARE_READ, NULL,
                                                    CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL)
                                      : INVALID_HANDLE_VALUE;
            if (trace.file != INVALID_HANDLE_VALUE &&
                CreateThread(NULL, 0, flusher, NULL, 0, NULL) != NULL) {
                atexit(flush);
                InterlockedExchange(&trace.state, 1);
            } else {
                InterlockedExchange(&trace.state, 2);
            }
        }
        while (trace.state == 0)
            Sleep(0);
    }
    return trace.state == 1;
}

static long long now_us(void)
{
    LARGE_INTEGER t;

    QueryPerformanceCounter(&t);
    return (t.QuadPart - trace.start.QuadPart) * 1000000 / trace.frequency.QuadPart;
}

static void record(long long start, const char *class, const char *name, ULONG_PTR handle,
                   long long bytes)
{
    char line[160];
    int n = snprintf(line, sizeof line, "%lld %lld %lu %s %s %llx %lld\n", start, now_us(),
                     (unsigned long)GetCurrentThreadId(), class, name, (unsigned long long)handle,
                     bytes);

    if (n <= 0 || (size_t)n >= sizeof line)
        return;
    EnterCriticalSection(&trace.lock);
    if (trace.used + (size_t)n <= BUFFER_BYTES) {
        memcpy(trace.buffer + trace.used, line, (size_t)n);
        trace.used += (size_t)n;
    } else {
        trace.dropped++;
    }
    LeaveCriticalSection(&trace.lock);
}

static struct posted *slot(const OVERLAPPED *ov)
{
    return &trace.map[((ULONG_PTR)ov >> 4) & (MAP_SLOTS - 1)];
}

/** \brief Remember what \p ov was posted for (a newer post on the same slot replaces it). */
static void remember(const OVERLAPPED *ov, const char *name)
{
    EnterCriticalSection(&trace.lock);
    slot(ov)->ov = ov;
    slot(ov)->name = name;
    LeaveCriticalSection(&trace.lock);
}

/** \brief What \p ov was posted for: its name, or "other" when the cache lost it, "exit" for none.
 */
static const char *recall(const OVERLAPPED *ov)
{
    const char *name = ov ? "other" : "exit";

    EnterCriticalSection(&trace.lock);
    if (ov != NULL && slot(ov)->ov == ov)
        name = slot(ov)->name;
    LeaveCriticalSection(&trace.lock);
    return name;
}

/**
 * \brief Keep the lesson's completion routine for \p ov until it has run (one operation per
 * OVERLAPPED is in flight). Returns 0 when the table is full: then the routine is not traced.
 */
static int keep_routine(const OVERLAPPED *ov, const char *name,
                        LPWSAOVERLAPPED_COMPLETION_ROUTINE routine)
{
    size_t i = ((ULONG_PTR)ov >> 4) & (ROUTINE_SLOTS - 1), n;
    int kept = 0;

    EnterCriticalSection(&trace.lock);
    for (n = 0; n < ROUTINE_SLOTS && !kept; n++, i = (i + 1) & (ROUTINE_SLOTS - 1)) {
        struct posted *p = &trace.routines[i];

        if (p->ov == NULL || p->ov == GONE || p->ov == ov) {
            p->ov = ov;
            p->name = name;
            p->routine = routine;
            kept = 1;
        }
    }
    LeaveCriticalSection(&trace.lock);
    return kept;
}

/** \brief Take the routine kept for \p ov out of the table. */
static struct posted take_routine(const OVERLAPPED *ov)
{
    size_t i = ((ULONG_PTR)ov >> 4) & (ROUTINE_SLOTS - 1), n;
    struct posted found = {ov, "other", NULL};

    EnterCriticalSection(&trace.lock);
    for (n = 0; n < ROUTINE_SLOTS && trace.routines[i].ov != NULL;
         n++, i = (i + 1) & (ROUTINE_SLOTS - 1)) {
        if (trace.routines[i].ov == ov) {
            found = trace.routines[i];
            trace.routines[i].ov = GONE;
            break;
        }
    }
    LeaveCriticalSection(&trace.lock);
    return found;
}

SOCKET WSAAPI __wrap_accept(SOCKET s, struct sockaddr *addr, int *len)
{
    long long start = on() ? now_us() : 0;
    SOCKET taken = __real_accept(s, addr, len);
    int error = WSAGetLastError();

    if (trace.state == 1)
        record(start, "wait", "accept", (ULONG_PTR)s,
               taken == INVALID_SOCKET ? -1 : (long long)taken);
    WSASetLastError(error);
    return taken;
}

int WSAAPI __wrap_recv(SOCKET s, char *buf, int len, int flags)
{
    long long start = on() ? now_us() : 0;
    int got = __real_recv(s, buf, len, flags);
    int error = WSAGetLastError();

    if (trace.state == 1)
        record(start, "wait", "recv", (ULONG_PTR)s, got);
    WSASetLastError(error);
    return got;
}

int WSAAPI __wrap_send(SOCKET s, const char *buf, int len, int flags)
{
    long long start = on() ? now_us() : 0;
    int sent = __real_send(s, buf, len, flags);
    int error = WSAGetLastError();

    if (trace.state == 1)
        record(start, "call", "send", (ULONG_PTR)s, sent);
    WSASetLastError(error);
    return sent;
}

/** \brief A completion routine's run, recorded, then the lesson's routine. */
static void CALLBACK trace_routine(DWORD error, DWORD bytes, LPWSAOVERLAPPED ov, DWORD flags)
{
    struct posted p = take_routine(ov);
    long long start = now_us();

    if (p.routine != NULL)
        p.routine(error, bytes, ov, flags);
    record(start, "run", p.name, 0, bytes);
}

static int post(const char *name, SOCKET s, LPWSABUF bufs, DWORD count, LPWSAOVERLAPPED ov,
                LPWSAOVERLAPPED_COMPLETION_ROUTINE *done)
{
    long long asked = 0;

    if (!on())
        return 0;
    for (DWORD i = 0; i < count; i++)
        asked += bufs[i].len;
    if (ov != NULL)
        remember(ov, name);
    if (ov != NULL && *done != NULL && keep_routine(ov, name, *done))
        *done = trace_routine;
    record(now_us(), "call", name, (ULONG_PTR)s, asked);
    return 1;
}

int WSAAPI __wrap_WSARecv(SOCKET s, LPWSABUF bufs, DWORD count, LPDWORD got, LPDWORD flags,
                          LPWSAOVERLAPPED ov, LPWSAOVERLAPPED_COMPLETION_ROUTINE done)
{
    (void)post("recv", s, bufs, count, ov, &done);
    return __real_WSARecv(s, bufs, count, got, flags, ov, done);
}

int WSAAPI __wrap_WSASend(SOCKET s, LPWSABUF bufs, DWORD count, LPDWORD sent, DWORD flags,
                          LPWSAOVERLAPPED ov, LPWSAOVERLAPPED_COMPLETION_ROUTINE done)
{
    (void)post("send", s, bufs, count, ov, &done);
    return __real_WSASend(s, bufs, count, sent, flags, ov, done);
}

static BOOL PASCAL trace_accept_ex(SOCKET listener, SOCKET accepted, PVOID out, DWORD receive,
                                   DWORD local, DWORD remote, LPDWORD got, LPOVERLAPPED ov)
{
    if (on()) {
        remember(ov, "accept");
        record(now_us(), "call", "accept", (ULONG_PTR)listener, receive);
    }
    return trace.accept_ex(listener, accepted, out, receive, local, remote, got, ov);
}

/* AcceptEx is reached through a pointer: hand out trace_accept_ex, which calls the real one. */
int WSAAPI __wrap_WSAIoctl(SOCKET s, DWORD code, LPVOID in, DWORD in_size, LPVOID out,
                           DWORD out_size, LPDWORD returned, LPWSAOVERLAPPED ov,
                           LPWSAOVERLAPPED_COMPLETION_ROUTINE done)
{
    static const GUID accept_ex_id = WSAID_ACCEPTEX;
    int rc = __real_WSAIoctl(s, code, in, in_size, out, out_size, returned, ov, done);

    if (rc == 0 && code == SIO_GET_EXTENSION_FUNCTION_POINTER && in_size == sizeof accept_ex_id &&
        memcmp(in, &accept_ex_id, sizeof accept_ex_id) == 0 && out_size >= sizeof trace.accept_ex) {
        memcpy(&trace.accept_ex, out, sizeof trace.accept_ex);
        {
            LPFN_ACCEPTEX ours = trace_accept_ex;

            memcpy(out, &ours, sizeof ours);
        }
    }
    return rc;
}

DWORD WSAAPI __wrap_WSAWaitForMultipleEvents(DWORD count, const WSAEVENT *events, BOOL all,
                                             DWORD timeout, BOOL alertable)
{
    long long start = on() ? now_us() : 0;
    DWORD woke = __real_WSAWaitForMultipleEvents(count, events, all, timeout, alertable);

    if (trace.state == 1)
        record(start, "wait", alertable ? "events_alertable" : "events", 0, (long long)woke);
    return woke;
}

DWORD WINAPI __wrap_SleepEx(DWORD ms, BOOL alertable)
{
    long long start = on() ? now_us() : 0;
    DWORD woke = __real_SleepEx(ms, alertable);

    if (trace.state == 1)
        record(start, "wait", alertable ? "sleep_alertable" : "sleep", 0, (long long)woke);
    return woke;
}

/** \brief What an APC needs to run through the trampoline: the lesson's function and its data. */
struct apc {
    PAPCFUNC fn;
    ULONG_PTR data;
};

static void CALLBACK trace_apc(ULONG_PTR data)
{
    struct apc a = *(struct apc *)data;
    long long start = now_us();

    free((void *)data);
    a.fn(a.data);
    record(start, "run", "apc", a.data, 0);
}

DWORD WINAPI __wrap_QueueUserAPC(PAPCFUNC fn, HANDLE thread, ULONG_PTR data)
{
    struct apc *a = on() ? malloc(sizeof *a) : NULL;
    DWORD rc;

    if (a == NULL)
        return __real_QueueUserAPC(fn, thread, data); /* not traced, still run */
    a->fn = fn;
    a->data = data;
    record(now_us(), "call", "apc", data, 0);
    rc = __real_QueueUserAPC(trace_apc, thread, (ULONG_PTR)a);
    if (rc == 0)
        free(a);
    return rc;
}

BOOL WINAPI __wrap_GetQueuedCompletionStatus(HANDLE port, LPDWORD bytes, PULONG_PTR key,
                                             LPOVERLAPPED *ov, DWORD ms)
{
    long long start = on() ? now_us() : 0;
    BOOL ok = __real_GetQueuedCompletionStatus(port, bytes, key, ov, ms);
    DWORD error = GetLastError();

    if (trace.state == 1) {
        record(start, "wait", "port", (ULONG_PTR)port, 0);
        if (*ov != NULL || ok)
            record(now_us(), "done", recall(*ov), *key, *bytes);
    }
    SetLastError(error);
    return ok;
}

BOOL WINAPI __wrap_GetQueuedCompletionStatusEx(HANDLE port, LPOVERLAPPED_ENTRY entries, ULONG count,
                                               PULONG removed, DWORD ms, BOOL alertable)
{
    long long start = on() ? now_us() : 0;
    BOOL ok = __real_GetQueuedCompletionStatusEx(port, entries, count, removed, ms, alertable);
    DWORD error = GetLastError();

    if (trace.state == 1) {
        record(start, "wait", "port", (ULONG_PTR)port, ok ? (long long)*removed : 0);
        for (ULONG i = 0; ok && i < *removed; i++)
            record(now_us(), "done", recall(entries[i].lpOverlapped), entries[i].lpCompletionKey,
                   entries[i].dwNumberOfBytesTransferred);
    }
    SetLastError(error);
    return ok;
}

BOOL WINAPI __wrap_PostQueuedCompletionStatus(HANDLE port, DWORD bytes, ULONG_PTR key,
                                              LPOVERLAPPED ov)
{
    if (on())
        record(now_us(), "call", ov ? "post_packet" : "post_exit", key, bytes);
    return __real_PostQueuedCompletionStatus(port, bytes, key, ov);
}

BOOL WINAPI __wrap_CancelIoEx(HANDLE handle, LPOVERLAPPED ov)
{
    if (on())
        record(now_us(), "call", "cancel", (ULONG_PTR)handle, 0);
    return __real_CancelIoEx(handle, ov);
}

DWORD WINAPI __wrap_WaitForMultipleObjects(DWORD count, const HANDLE *handles, BOOL all, DWORD ms)
{
    long long start = on() ? now_us() : 0;
    DWORD woke = __real_WaitForMultipleObjects(count, handles, all, ms);

    if (trace.state == 1)
        record(start, "wait", all ? "join" : "objects", 0, (long long)woke);
    return woke;
}
