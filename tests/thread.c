/**
 * \file
 * \brief The few threading pieces the harness and the tools need, on POSIX
 * threads and on Win32: a monotonic clock, a monitor (a mutex with a
 * condition variable, waited on with a deadline) and threads.
 */
#ifndef _WIN32
#define _POSIX_C_SOURCE 200809L /* clock_gettime, pthread_condattr_setclock */
#endif
#include "harness.h"

#include <stdlib.h>

#ifdef _WIN32
#include <windows.h>
#include <process.h>
#else
#include <pthread.h>
#include <time.h>
#endif

struct monitor {
#ifdef _WIN32
    CRITICAL_SECTION lock;
    CONDITION_VARIABLE changed;
#else
    pthread_mutex_t lock;
    pthread_cond_t changed;
#endif
};

struct thread {
    void (*run)(void *);
    void *arg;
#ifdef _WIN32
    HANDLE handle;
#else
    pthread_t id;
#endif
};

int64_t now_ms(void)
{
#ifdef _WIN32
    return (int64_t)GetTickCount64();
#else
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
#endif
}

int64_t now_us(void)
{
#ifdef _WIN32
    static LARGE_INTEGER freq;
    LARGE_INTEGER t;

    if (freq.QuadPart == 0)
        QueryPerformanceFrequency(&freq); /* the same on every call: a race here is harmless */
    QueryPerformanceCounter(&t);
    return (int64_t)(t.QuadPart / freq.QuadPart * 1000000 +
                     t.QuadPart % freq.QuadPart * 1000000 / freq.QuadPart);
#else
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
#endif
}

#ifdef _WIN32
struct monitor *monitor_new(void)
{
    struct monitor *m = malloc(sizeof *m);

    if (m) {
        InitializeCriticalSection(&m->lock);
        InitializeConditionVariable(&m->changed);
    }
    return m;
}

void monitor_free(struct monitor *m)
{
    if (m)
        DeleteCriticalSection(&m->lock);
    free(m);
}

void monitor_enter(struct monitor *m)
{
    EnterCriticalSection(&m->lock);
}
void monitor_leave(struct monitor *m)
{
    LeaveCriticalSection(&m->lock);
}
void monitor_notify(struct monitor *m)
{
    WakeAllConditionVariable(&m->changed);
}

int monitor_wait(struct monitor *m, int64_t deadline)
{
    int64_t left = deadline - now_ms();

    if (left <= 0)
        return 0;
    SleepConditionVariableCS(&m->changed, &m->lock, (DWORD)left);
    return 1;
}

static unsigned __stdcall thread_main(void *arg)
{
    struct thread *t = arg;

    t->run(t->arg);
    return 0;
}

struct thread *thread_start(void (*run)(void *), void *arg)
{
    struct thread *t = malloc(sizeof *t);

    if (t == NULL)
        return NULL;
    t->run = run;
    t->arg = arg;
    t->handle = (HANDLE)_beginthreadex(NULL, 0, thread_main, t, 0, NULL);
    if (t->handle == NULL) {
        free(t);
        return NULL;
    }
    return t;
}

void thread_cancel_io(struct thread *t)
{
    (void)CancelSynchronousIo(t->handle); /* fails harmlessly when the thread is not in a read */
}

void thread_join(struct thread *t)
{
    WaitForSingleObject(t->handle, INFINITE);
    CloseHandle(t->handle);
    free(t);
}
#else
struct monitor *monitor_new(void)
{
    struct monitor *m = malloc(sizeof *m);
    pthread_condattr_t attr;

    if (m == NULL)
        return NULL;
    pthread_mutex_init(&m->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* deadlines come from now_ms() */
    pthread_cond_init(&m->changed, &attr);
    pthread_condattr_destroy(&attr);
    return m;
}

void monitor_free(struct monitor *m)
{
    if (m) {
        pthread_cond_destroy(&m->changed);
        pthread_mutex_destroy(&m->lock);
    }
    free(m);
}

void monitor_enter(struct monitor *m)
{
    pthread_mutex_lock(&m->lock);
}
void monitor_leave(struct monitor *m)
{
    pthread_mutex_unlock(&m->lock);
}
void monitor_notify(struct monitor *m)
{
    pthread_cond_broadcast(&m->changed);
}

int monitor_wait(struct monitor *m, int64_t deadline)
{
    struct timespec ts;

    if (deadline <= now_ms())
        return 0;
    ts.tv_sec = (time_t)(deadline / 1000);
    ts.tv_nsec = (long)(deadline % 1000) * 1000000L;
    pthread_cond_timedwait(&m->changed, &m->lock, &ts);
    return 1;
}

static void *thread_main(void *arg)
{
    struct thread *t = arg;

    t->run(t->arg);
    return NULL;
}

struct thread *thread_start(void (*run)(void *), void *arg)
{
    struct thread *t = malloc(sizeof *t);

    if (t == NULL)
        return NULL;
    t->run = run;
    t->arg = arg;
    if (pthread_create(&t->id, NULL, thread_main, t) != 0) {
        free(t);
        return NULL;
    }
    return t;
}

void thread_cancel_io(struct thread *t)
{
    (void)t; /* POSIX readers wait in poll() with a wake-up pipe instead */
}

void thread_join(struct thread *t)
{
    pthread_join(t->id, NULL);
    free(t);
}
#endif
