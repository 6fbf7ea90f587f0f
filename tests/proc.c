/**
 * \file
 * \brief Server processes for the harness: start, read the first line, wait
 * with a deadline, stop. POSIX (with Wine for `.exe` files) and Windows.
 *
 * A reader thread drains standard output and error all the time, so a server
 * that logs a lot never blocks on a full pipe while a test runs. The reader
 * keeps the first line of standard output (the listening line) and the last
 * 16 KiB of each stream, for error messages.
 */
#ifndef _WIN32
#define _GNU_SOURCE /* pipe2, syscall */
#endif
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
#include <tlhelp32.h>
#else
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
extern char **environ;
#endif

enum { TAIL_SIZE = 16 * 1024, LINE_SIZE = 512 };

/** \brief The last TAIL_SIZE bytes a stream produced, always NUL-terminated. */
struct tail {
    char text[TAIL_SIZE + 1];
    size_t len;
};

struct proc {
    struct monitor *mon; /**< guards the fields below; notified on output and at its end */
    struct tail out, err;
    char first_line[LINE_SIZE];
    size_t first_line_len;
    int first_line_done; /**< a '\n' was seen, or output ended */
    int out_ended, err_ended;
#ifdef _WIN32
    HANDLE process;
    DWORD pid;
    HANDLE out_pipe, err_pipe;
    struct thread *out_reader, *err_reader;
#else
    const char *exe; /**< what proc_start() was given, to start it once more */
    const char *const *args;
    int wine; /**< runs through Wine */
    int retried; /**< Wine may have failed once: this is the second start */
    int tracing; /**< Wine's loader reports each module it loads (the second start) */
    int exe_loaded; /**< the loader reported loading the program itself */
    char err_line[LINE_SIZE]; /**< the standard error line being read, while tracing */
    size_t err_line_len;
    pid_t pid;
    int pidfd; /**< becomes readable when the process ends */
    int out_pipe, err_pipe;
    int wake[2]; /**< written by proc_stop() to end the reader */
    struct thread *reader;
    int reaped, exit_code;
#endif
};

static void tail_append(struct tail *t, const char *data, size_t len)
{
    if (len >= TAIL_SIZE) {
        data += len - TAIL_SIZE;
        len = TAIL_SIZE;
    }
    if (t->len + len > TAIL_SIZE) {
        size_t drop = t->len + len - TAIL_SIZE;

        memmove(t->text, t->text + drop, t->len - drop);
        t->len -= drop;
    }
    memcpy(t->text + t->len, data, len);
    t->len += len;
    t->text[t->len] = '\0';
}

/** \brief Record \p len bytes of output (len 0: the stream ended). */
static void on_output(struct proc *p, int is_err, const char *data, size_t len)
{
    monitor_enter(p->mon);
    if (len == 0) {
        if (is_err) {
            p->err_ended = 1;
        } else {
            p->out_ended = 1;
            p->first_line_done = 1;
        }
    } else if (is_err) {
        tail_append(&p->err, data, len);
    } else {
        tail_append(&p->out, data, len);
        for (size_t i = 0; i < len && !p->first_line_done; i++) {
            if (data[i] == '\n')
                p->first_line_done = 1;
            else if (p->first_line_len + 1 < sizeof p->first_line)
                p->first_line[p->first_line_len++] = data[i];
        }
    }
    monitor_notify(p->mon);
    monitor_leave(p->mon);
}

static int restart_if_wine_failed(struct proc *p);

int proc_first_line(struct proc *p, char *line, size_t size, int64_t deadline)
{
    int done, ended_first;

    monitor_enter(p->mon);
    while (!p->first_line_done && monitor_wait(p->mon, deadline))
        ;
    ended_first = p->out_ended && p->first_line_len == 0;
    done = p->first_line_done && !ended_first;
    if (done) {
        size_t len = p->first_line_len;

        if (len > 0 && p->first_line[len - 1] == '\r') /* a Windows text-mode line end */
            len--;
        if (len >= size)
            len = size - 1;
        memcpy(line, p->first_line, len);
        line[len] = '\0';
    }
    monitor_leave(p->mon);
    if (ended_first && restart_if_wine_failed(p))
        return proc_first_line(p, line, size, deadline);
    return done;
}

/** \brief Once the process has ended, let the reader take its last output (bounded). */
static void wait_output_end(struct proc *p)
{
    int64_t deadline = now_ms() + 2000;

    monitor_enter(p->mon);
    while (!(p->out_ended && p->err_ended) && monitor_wait(p->mon, deadline))
        ;
    monitor_leave(p->mon);
}

static char *copy_tail(struct proc *p, const struct tail *t, char *buf, size_t size)
{
    monitor_enter(p->mon);
    snprintf(buf, size, "%s", t->text);
    monitor_leave(p->mon);
    return buf;
}

char *proc_stderr(struct proc *p, char *buf, size_t size)
{
    return copy_tail(p, &p->err, buf, size);
}
char *proc_stdout(struct proc *p, char *buf, size_t size)
{
    return copy_tail(p, &p->out, buf, size);
}

#ifdef _WIN32
/* ------------------------------------------------------------ Windows ---- */

struct reader_arg {
    struct proc *p;
    int is_err;
};

static void reader_main(void *arg)
{
    struct reader_arg *ra = arg;
    struct proc *p = ra->p;
    int is_err = ra->is_err;
    HANDLE pipe = is_err ? p->err_pipe : p->out_pipe;
    char buf[4096];
    DWORD got;

    free(ra);
    while (ReadFile(pipe, buf, (DWORD)sizeof buf, &got, NULL) && got > 0)
        on_output(p, is_err, buf, got);
    on_output(p, is_err, NULL, 0);
}

static struct thread *start_reader(struct proc *p, int is_err)
{
    struct reader_arg *ra = malloc(sizeof *ra);
    struct thread *t;

    if (ra == NULL)
        return NULL;
    ra->p = p;
    ra->is_err = is_err;
    t = thread_start(reader_main, ra);
    if (t == NULL)
        free(ra);
    return t;
}

/**
 * \brief Append \p arg to \p cmd, quoted the way the C runtime splits a
 * command line: backslashes are doubled before a quote and before the closing
 * quote. Returns -1 when it does not fit.
 */
static int append_quoted(char *cmd, size_t size, const char *arg)
{
    size_t n = strlen(cmd);

    if (n + 4 > size)
        return -1;
    if (n > 0)
        cmd[n++] = ' ';
    cmd[n++] = '"';
    for (const char *c = arg;; c++) {
        size_t slashes = 0;

        while (*c == '\\') {
            slashes++;
            c++;
        }
        /* Before a quote or the end, each backslash is doubled; elsewhere it stands for itself. */
        if (*c == '"' || *c == '\0')
            slashes *= 2;
        if (n + slashes + 4 > size)
            return -1;
        memset(cmd + n, '\\', slashes);
        n += slashes;
        if (*c == '\0')
            break;
        if (*c == '"')
            cmd[n++] = '\\';
        cmd[n++] = *c;
    }
    cmd[n++] = '"';
    cmd[n] = '\0';
    return 0;
}

struct proc *proc_start(const char *exe, const char *const *args, char *err, size_t err_size)
{
    SECURITY_ATTRIBUTES inherit = {(DWORD)sizeof inherit, NULL, TRUE};
    STARTUPINFOA si;
    PROCESS_INFORMATION pi;
    HANDLE out_w = NULL, err_w = NULL, null_in = INVALID_HANDLE_VALUE;
    char cmd[4096] = "";
    struct proc *p = calloc(1, sizeof *p);

    if (p == NULL) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    p->mon = monitor_new();
    if (p->mon == NULL) {
        snprintf(err, err_size, "out of memory");
        goto fail;
    }
    {
        int too_long = append_quoted(cmd, sizeof cmd, exe);

        for (; *args && !too_long; args++)
            too_long = append_quoted(cmd, sizeof cmd, *args);
        if (too_long) {
            snprintf(err, err_size, "the command line for %s is too long", exe);
            goto fail;
        }
    }
    if (!CreatePipe(&p->out_pipe, &out_w, &inherit, 0) ||
        !CreatePipe(&p->err_pipe, &err_w, &inherit, 0)) {
        snprintf(err, err_size, "CreatePipe: error %lu", (unsigned long)GetLastError());
        goto fail;
    }
    /* Only the child's ends are inherited. */
    SetHandleInformation(p->out_pipe, HANDLE_FLAG_INHERIT, 0);
    SetHandleInformation(p->err_pipe, HANDLE_FLAG_INHERIT, 0);
    memset(&si, 0, sizeof si);
    si.cb = (DWORD)sizeof si;
    si.dwFlags = STARTF_USESTDHANDLES;
    /* The server reads nothing from the console: NUL, so a test never waits on a keyboard. */
    null_in = CreateFileA("NUL", GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, &inherit,
                          OPEN_EXISTING, 0, NULL);
    si.hStdInput = null_in;
    si.hStdOutput = out_w;
    si.hStdError = err_w;
    /* A process group of its own, so proc_interrupt() can send it Ctrl+Break alone. */
    if (!CreateProcessA(NULL, cmd, NULL, NULL, TRUE, CREATE_NEW_PROCESS_GROUP, NULL, NULL, &si,
                        &pi)) {
        snprintf(err, err_size, "CreateProcess %s: error %lu", exe, (unsigned long)GetLastError());
        goto fail;
    }
    CloseHandle(pi.hThread);
    CloseHandle(null_in);
    null_in = INVALID_HANDLE_VALUE;
    p->process = pi.hProcess;
    p->pid = pi.dwProcessId;
    CloseHandle(out_w);
    CloseHandle(err_w);
    out_w = err_w = NULL;
    p->out_reader = start_reader(p, 0);
    p->err_reader = start_reader(p, 1);
    if (p->out_reader == NULL || p->err_reader == NULL) {
        snprintf(err, err_size, "cannot start a reader thread");
        proc_stop(p);
        return NULL;
    }
    return p;

fail:
    if (null_in != INVALID_HANDLE_VALUE)
        CloseHandle(null_in);
    if (out_w)
        CloseHandle(out_w);
    if (err_w)
        CloseHandle(err_w);
    if (p->out_pipe)
        CloseHandle(p->out_pipe);
    if (p->err_pipe)
        CloseHandle(p->err_pipe);
    monitor_free(p->mon);
    free(p);
    return NULL;
}

static int restart_if_wine_failed(struct proc *p)
{
    (void)p; /* no Wine on Windows */
    return 0;
}

int proc_wine_failed(struct proc *p, char *why, size_t size)
{
    (void)p;
    (void)why;
    (void)size;
    return 0;
}

int proc_wait(struct proc *p, int64_t deadline, int *exit_code)
{
    int64_t left = deadline - now_ms();
    DWORD code = 0;

    if (WaitForSingleObject(p->process, left > 0 ? (DWORD)left : 0) != WAIT_OBJECT_0)
        return 0;
    GetExitCodeProcess(p->process, &code);
    if (exit_code)
        *exit_code = (int)code;
    wait_output_end(p);
    return 1;
}

void proc_interrupt(struct proc *p)
{
    (void)GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT,
                                   p->pid); /* nothing to do if it already ended */
}

static int64_t filetime_100ns(FILETIME t)
{
    return (int64_t)(((uint64_t)t.dwHighDateTime << 32) | t.dwLowDateTime);
}

int proc_threads(struct proc *p, struct proc_thread *out, size_t max)
{
    HANDLE snap = CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0);
    THREADENTRY32 te;
    size_t n = 0;

    if (snap == INVALID_HANDLE_VALUE)
        return -1;
    te.dwSize = (DWORD)sizeof te;
    for (BOOL more = Thread32First(snap, &te); more; more = Thread32Next(snap, &te)) {
        if (te.th32OwnerProcessID != p->pid)
            continue;
        if (n < max) {
            HANDLE h = OpenThread(THREAD_QUERY_LIMITED_INFORMATION, FALSE, te.th32ThreadID);
            FILETIME created, ended, kernel, user;

            out[n].id = te.th32ThreadID;
            out[n].cpu_ms = -1;
            if (h != NULL && GetThreadTimes(h, &created, &ended, &kernel, &user))
                out[n].cpu_ms = (filetime_100ns(kernel) + filetime_100ns(user)) / 10000;
            if (h != NULL)
                CloseHandle(h);
        }
        n++;
    }
    CloseHandle(snap);
    return (int)n;
}

void proc_stop(struct proc *p)
{
    if (p == NULL)
        return;
    if (WaitForSingleObject(p->process, 0) != WAIT_OBJECT_0) {
        TerminateProcess(p->process, 1);
        WaitForSingleObject(p->process, 5000);
    }
    /* The readers see the end of their pipes once the process is gone, unless a process it started
     * still holds them: then their reads are cancelled. */
    for (int i = 0; i < 2; i++) {
        struct thread *reader = i ? p->err_reader : p->out_reader;

        if (reader == NULL)
            continue;
        monitor_enter(p->mon);
        while (!(i ? p->err_ended : p->out_ended) && monitor_wait(p->mon, now_ms() + 2000))
            ;
        monitor_leave(p->mon);
        thread_cancel_io(reader);
        thread_join(reader);
    }
    CloseHandle(p->out_pipe);
    CloseHandle(p->err_pipe);
    CloseHandle(p->process);
    monitor_free(p->mon);
    free(p);
}

#else
/* -------------------------------------------------------------- POSIX ---- */

/** \brief The file name part of \p path. */
static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash ? slash + 1 : path;
}

/**
 * \brief One whole line of standard error while Wine's loader reports what it
 * loads: its reports are evidence, kept out of the program's output; every
 * other line is output as usual.
 */
static void on_traced_line(struct proc *p, const char *line, size_t len)
{
    char text[LINE_SIZE + 1];

    snprintf(text, sizeof text, "%.*s", (int)len, line);
    if (strstr(text, ":trace:loaddll:") == NULL) {
        on_output(p, 1, line, len);
        return;
    }
    /* `0024:trace:loaddll:build_module Loaded L"Z:\\...\\04_iocp_basic.exe" at ...: native` */
    if (strcasestr(text, base_name(p->exe)) != NULL) {
        monitor_enter(p->mon);
        p->exe_loaded = 1;
        monitor_leave(p->mon);
    }
}

/** \brief Standard error while tracing: split into lines for on_traced_line() (len 0: the end). */
static void on_traced_error(struct proc *p, const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        p->err_line[p->err_line_len++] = data[i];
        if (data[i] == '\n' || p->err_line_len == sizeof p->err_line) {
            on_traced_line(p, p->err_line, p->err_line_len);
            p->err_line_len = 0;
        }
    }
    if (len == 0) {
        if (p->err_line_len > 0)
            on_traced_line(p, p->err_line, p->err_line_len);
        p->err_line_len = 0;
        on_output(p, 1, NULL, 0);
    }
}

static void reader_main(void *arg)
{
    struct proc *p = arg;
    int open_streams = 2;
    char buf[4096];

    while (open_streams > 0) {
        struct pollfd fds[3] = {
            {p->out_pipe, POLLIN, 0},
            {p->err_pipe, POLLIN, 0},
            {p->wake[0], POLLIN, 0},
        };

        if (p->out_pipe < 0)
            fds[0].fd = -1;
        if (p->err_pipe < 0)
            fds[1].fd = -1;
        if (poll(fds, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (fds[2].revents)
            break; /* proc_stop() */
        for (int i = 0; i < 2; i++) {
            int *fd = i ? &p->err_pipe : &p->out_pipe;
            ssize_t got;

            if (*fd < 0 || fds[i].revents == 0)
                continue;
            got = read(*fd, buf, sizeof buf);
            if (got > 0) {
                if (i == 1 && p->tracing)
                    on_traced_error(p, buf, (size_t)got);
                else
                    on_output(p, i, buf, (size_t)got);
            } else if (got == 0 || errno != EINTR) {
                close(*fd);
                *fd = -1;
                open_streams--;
                if (i == 1 && p->tracing)
                    on_traced_error(p, NULL, 0);
                else
                    on_output(p, i, NULL, 0);
            }
        }
    }
}

/**
 * \brief posix_spawnp() with a const argument list: it takes `char *const[]`
 * for historical reasons but never writes to the strings.
 */
static int spawn(pid_t *pid, const posix_spawn_file_actions_t *fa, const char *const *argv,
                 char *const *envp)
{
    union {
        const char *const *in;
        char *const *out;
    } args;
    posix_spawnattr_t attr;
    sigset_t none, pipe_signal;
    int rc;

    args.in = argv;
    posix_spawnattr_init(&attr);
    sigemptyset(&none);
    sigemptyset(&pipe_signal);
    sigaddset(&pipe_signal, SIGPIPE);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &pipe_signal);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    rc = posix_spawnp(pid, argv[0], fa, &attr, args.out, envp ? envp : environ);
    posix_spawnattr_destroy(&attr);
    return rc;
}

/**
 * \brief Run a helper program with its standard streams on /dev/null and wait
 * for it. Returns its exit code, -1 if it could not run.
 */
static int run_quietly(const char *const *argv)
{
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int status = -1, code = -1;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    /* A failure shows later, when the server does not start. */
    if (spawn(&pid, &fa, argv, NULL) == 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status))
        code = WEXITSTATUS(status);
    posix_spawn_file_actions_destroy(&fa);
    return code;
}

/**
 * \brief Set Wine up the way the build did: the build tree's own prefix,
 * quiet, no pop-ups (COURSE_WINE_ENV, from CMake), unless the user's
 * environment already says otherwise. Then make sure a wineserver runs, and
 * Wine's background processes (services.exe and friends), on /dev/null:
 * started on demand by a server, they would inherit its output pipes and hold
 * them open after it ended.
 *
 * Called before every start, not once: Wine 8 sometimes loses its wineserver
 * when a program with many sockets is killed. The next program would then
 * start a wineserver of its own, which runs wineboot inside that program's
 * start and shuts down 3 s after the last program ends, racing every later
 * start. Asking costs about 2 ms when a wineserver runs (it exits with 2).
 */
static void prepare_wine(void)
{
    static int env_done;
    char settings[] = COURSE_WINE_ENV;
    char *save = NULL;
    /* Kept 30 s after the last Windows program ends, so a grading run starts Wine once. */
    const char *const server[] = {COURSE_WINESERVER, "-p30", NULL};
    const char *const boot[] = {COURSE_WINE, "cmd.exe", "/c", "exit", "0", NULL};
    int started;

    if (!env_done) {
        for (char *kv = strtok_r(settings, "|", &save); kv; kv = strtok_r(NULL, "|", &save)) {
            char *eq = strchr(kv, '=');

            if (eq) {
                *eq = '\0';
                setenv(kv, eq + 1, 0);
            }
        }
    }
    /* Forks into the background once ready (0); exits with 2 at once if one runs. */
    started = run_quietly(server) == 0;
    /* The first time, boot whatever runs: a wineserver someone started by hand may have none of
     * the background processes yet. Not under ctest, whose fixture booted it (COURSE_WINE_BOOTED):
     * that saves a Wine start (about 0.1 s) per test. */
    if (started || (!env_done && getenv("COURSE_WINE_BOOTED") == NULL))
        run_quietly(boot);
    env_done = 1;
}

static int ends_with_exe(const char *path)
{
    size_t n = strlen(path);

    return n > 4 && (strcmp(path + n - 4, ".exe") == 0 || strcmp(path + n - 4, ".EXE") == 0);
}

/** \brief The Wine that runs a `.exe`: the build's, or COURSE_TEST_WINE (a fake, in the harness's
 * own tests). */
static const char *wine_command(void)
{
    const char *fake = getenv("COURSE_TEST_WINE");

    return fake && *fake ? fake : COURSE_WINE;
}

/**
 * \brief The environment of a second start: as ours, but Wine's loader reports
 * every module it loads (and Wine prints its errors). "-all" first, so Debian's
 * wine script prints no hint about wine32. Freed by the caller.
 */
static char **tracing_environment(void)
{
    static char traced[] = "WINEDEBUG=-all,err+all,+loaddll";
    size_t n = 0, k = 0;
    char **envp;

    while (environ[n])
        n++;
    envp = calloc(n + 2, sizeof *envp);
    if (envp == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "WINEDEBUG=", 10) != 0)
            envp[k++] = environ[i];
    envp[k] = traced;
    return envp;
}

/**
 * \brief Start p->exe with p->args (a first or a second time): pipes, the
 * process, the reader. Returns 0, or -1 with the reason in \p err and p
 * unchanged.
 */
static int spawn_process(struct proc *p, char *err, size_t err_size)
{
    const char *argv[64];
    size_t argc = 0;
    int out[2] = {-1, -1}, errp[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    char **envp = NULL;
    pid_t pid;
    int rc;

    if (p->wine)
        argv[argc++] = wine_command();
    argv[argc++] = p->exe;
    for (const char *const *a = p->args; *a && argc + 1 < sizeof argv / sizeof argv[0]; a++)
        argv[argc++] = *a;
    argv[argc] = NULL;

    if (p->tracing && (envp = tracing_environment()) == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0) {
        snprintf(err, err_size, "pipe: %s", strerror(errno));
        goto fail;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
    rc = spawn(&pid, &fa, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    free(envp);
    envp = NULL;
    if (rc != 0) {
        snprintf(err, err_size, "cannot start %s: %s", argv[0], strerror(rc));
        goto fail;
    }
    close(out[1]);
    close(errp[1]);
    /* What a first start left is gone from here on: the reader is not running. */
    memset(&p->out, 0, sizeof p->out);
    memset(&p->err, 0, sizeof p->err);
    p->first_line_len = 0;
    p->first_line_done = p->out_ended = p->err_ended = 0;
    p->reaped = 0;
    p->exit_code = 0;
    p->pid = pid;
    p->out_pipe = out[0];
    p->err_pipe = errp[0];
    p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
    p->reader = thread_start(reader_main, p);
    if (p->reader == NULL) {
        snprintf(err, err_size, "cannot start a reader thread");
        close(out[0]);
        close(errp[0]);
        p->out_pipe = p->err_pipe = -1;
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
        if (p->pidfd >= 0)
            close(p->pidfd);
        p->pidfd = -1;
        return -1;
    }
    return 0;

fail:
    free(envp);
    for (int i = 0; i < 2; i++) {
        if (out[i] >= 0)
            close(out[i]);
        if (errp[i] >= 0)
            close(errp[i]);
    }
    return -1;
}

struct proc *proc_start(const char *exe, const char *const *args, char *err, size_t err_size)
{
    struct proc *p = calloc(1, sizeof *p);

    if (p == NULL) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    p->pidfd = p->wake[0] = p->wake[1] = p->out_pipe = p->err_pipe = -1;
    p->exe = exe;
    p->args = args;
    p->wine = ends_with_exe(exe);
    p->mon = monitor_new();
    if (p->mon == NULL) {
        snprintf(err, err_size, "out of memory");
        free(p);
        return NULL;
    }
    if (p->wine)
        prepare_wine();
    if (pipe2(p->wake, O_CLOEXEC) != 0) {
        snprintf(err, err_size, "pipe: %s", strerror(errno));
        goto fail;
    }
    if (spawn_process(p, err, err_size) != 0)
        goto fail;
    return p;

fail:
    if (p->wake[0] >= 0)
        close(p->wake[0]);
    if (p->wake[1] >= 0)
        close(p->wake[1]);
    monitor_free(p->mon);
    free(p);
    return NULL;
}

/** Reap the process if it has ended; returns 1 once it has. */
static int try_reap(struct proc *p)
{
    int status;

    if (p->reaped)
        return 1;
    if (waitpid(p->pid, &status, WNOHANG) != p->pid)
        return 0;
    p->reaped = 1;
    p->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return 1;
}

/** \brief Wait until the process has ended, up to \p deadline; 1 once it is reaped. */
static int wait_reaped(struct proc *p, int64_t deadline)
{
    while (!try_reap(p)) {
        int64_t left = deadline - now_ms();
        struct pollfd pfd = {p->pidfd, POLLIN, 0};

        if (left <= 0)
            return 0;
        if (p->pidfd < 0) {
            /* No pidfd (a kernel older than 5.3): look again every 10 ms. */
            poll(NULL, 0, left < 10 ? (int)left : 10);
            continue;
        }
        if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
            return 0;
    }
    return 1;
}

int proc_wait(struct proc *p, int64_t deadline, int *exit_code)
{
    if (!wait_reaped(p, deadline))
        return 0;
    wait_output_end(p);
    if (restart_if_wine_failed(p))
        return proc_wait(p, deadline, exit_code);
    if (exit_code)
        *exit_code = p->exit_code;
    return 1;
}

/** \brief Whether one line of standard error is Wine's own: its fatal errors and its debug
 * channels. */
static int is_wine_line(const char *line)
{
    static const char *const fatal[] = {"wine: ", "wineserver: ", "wine client error", NULL};
    size_t hex = strspn(line, "0123456789abcdef");

    for (const char *const *f = fatal; *f; f++)
        if (strncmp(line, *f, strlen(*f)) == 0)
            return 2;
    /* `0044:err:winediag:...`: a thread id and a debug class */
    if (hex == 4 && (strncmp(line + 4, ":err:", 5) == 0 || strncmp(line + 4, ":fixme:", 7) == 0 ||
                     strncmp(line + 4, ":warn:", 6) == 0 || strncmp(line + 4, ":trace:", 7) == 0))
        return 1;
    return 0;
}

enum verdict {
    PROGRAM_RAN, /**< its outcome is its own: an exit, a message, a line */
    WINE_MAYBE, /**< ended with code 1 and not a word: how Wine fails to start a program, and how a
                   program may fail */
    WINE_FAILED, /**< Wine said so, or its loader never loaded the program */
};

/**
 * \brief For a program run through Wine that ended before its first line:
 * who ended it. Wine's loader and wineserver end a program that they cannot
 * start with exit code 1; with WINEDEBUG=-all they say nothing (or only their
 * fatal "wine: ..." lines). A program that printed anything of its own ran.
 * \p evidence gets Wine's first line of its own, if any.
 */
static enum verdict wine_verdict(struct proc *p, char *evidence, size_t size)
{
    char text[TAIL_SIZE + 1], *save = NULL;
    int wine_said = 0, program_said = 0;
    enum verdict v;

    evidence[0] = '\0';
    monitor_enter(p->mon);
    snprintf(text, sizeof text, "%s", p->err.text);
    program_said = p->out.len > 0;
    for (char *line = strtok_r(text, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
        int kind = is_wine_line(line);

        if (kind == 0)
            program_said = 1;
        if (kind == 2 && !wine_said)
            snprintf(evidence, size, "%s", line);
        wine_said |= kind == 2;
    }
    if (!p->wine || p->exit_code != 1 || program_said)
        v = PROGRAM_RAN;
    else if (wine_said)
        v = WINE_FAILED;
    else if (!p->tracing)
        v = WINE_MAYBE;
    else
        v = p->exe_loaded ? PROGRAM_RAN : WINE_FAILED;
    monitor_leave(p->mon);
    return v;
}

/** \brief Close the process's pipes and its pidfd (each only if open). */
static void close_pipes(struct proc *p)
{
    if (p->out_pipe >= 0)
        close(p->out_pipe);
    if (p->err_pipe >= 0)
        close(p->err_pipe);
    if (p->pidfd >= 0)
        close(p->pidfd);
    p->out_pipe = p->err_pipe = p->pidfd = -1;
}

/** \brief Stop the reader of an ended process (it ends by itself once both streams have). */
static void end_reader(struct proc *p)
{
    char byte;

    if (!(p->out_ended && p->err_ended) && write(p->wake[1], "x", 1) != 1)
        abort(); /* cannot fail short of a bug */
    thread_join(p->reader);
    p->reader = NULL;
    if (!(p->out_ended && p->err_ended) && read(p->wake[0], &byte, 1) != 1)
        abort();
    close_pipes(p);
}

/**
 * \brief The program ended before its first line, perhaps because Wine could
 * not start it: then start it once more (its loader reporting what it loads),
 * say so on stderr and return 1. A failure of the program's own is left as it is.
 */
static int restart_if_wine_failed(struct proc *p)
{
    char evidence[LINE_SIZE], err[256];
    enum verdict v;

    /* Output ends a moment before the process: wait for its exit code (bounded), for the caller
     * too. */
    if (!wait_reaped(p, now_ms() + 2000))
        return 0;
    wait_output_end(p);
    if (!p->wine || p->retried)
        return 0;
    v = wine_verdict(p, evidence, sizeof evidence);
    if (v == PROGRAM_RAN)
        return 0;
    fprintf(stderr,
            "harness: '%s' ended with code 1 before printing a line%s%s%s, which is how Wine fails "
            "when it "
            "cannot start a program: no verdict on it; starting it once more\n",
            p->exe, v == WINE_FAILED ? " (Wine said '" : " and said nothing",
            v == WINE_FAILED ? evidence : "", v == WINE_FAILED ? "')" : "");
    end_reader(p);
    prepare_wine(); /* the wineserver may be what went away */
    p->retried = p->tracing = 1;
    if (spawn_process(p, err, sizeof err) != 0) {
        fprintf(stderr, "harness: cannot start '%s' once more: %s\n", p->exe, err);
        p->reader = NULL;
        p->out_ended = p->err_ended = p->first_line_done = 1;
        return 0; /* it stays ended, with what it printed the first time */
    }
    return 1;
}

int proc_wine_failed(struct proc *p, char *why, size_t size)
{
    char evidence[LINE_SIZE];

    if (!p->wine || !p->reaped || wine_verdict(p, evidence, sizeof evidence) != WINE_FAILED)
        return 0;
    if (evidence[0])
        snprintf(why, size, "Wine said '%s'", evidence);
    else
        snprintf(why, size,
                 "it ended with code 1 and no output%s, and Wine's loader never loaded it",
                 p->retried ? " twice" : "");
    return 1;
}

void proc_interrupt(struct proc *p)
{
    if (!try_reap(p))
        (void)kill(p->pid, SIGINT); /* it may end between the two: nothing to do then */
}

int proc_threads(struct proc *p, struct proc_thread *out, size_t max)
{
    char path[320];
    long ticks = sysconf(_SC_CLK_TCK);
    size_t n = 0;
    struct dirent *e;
    DIR *dir;

    snprintf(path, sizeof path, "/proc/%ld/task", (long)p->pid);
    dir = opendir(path);
    if (dir == NULL || ticks <= 0) {
        if (dir)
            closedir(dir);
        return -1;
    }
    while ((e = readdir(dir)) != NULL) {
        char stat[1024], *after;
        unsigned long long utime, stime;
        FILE *f;

        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        if (n < max) {
            out[n].id = strtoul(e->d_name, NULL, 10);
            out[n].cpu_ms = -1;
            snprintf(path, sizeof path, "/proc/%ld/task/%s/stat", (long)p->pid, e->d_name);
            f = fopen(path, "r");
            stat[0] = '\0';
            if (f != NULL) {
                if (fgets(stat, sizeof stat, f) == NULL)
                    stat[0] = '\0';
                fclose(f);
            }
            /* The name, field 2, is in parentheses and may hold spaces: count fields after the last
             * ')'. utime and stime are fields 14 and 15, in clock ticks. */
            after = strrchr(stat, ')');
            if (after != NULL &&
                sscanf(after + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                       &stime) == 2)
                out[n].cpu_ms = (int64_t)((utime + stime) * 1000 / (unsigned long long)ticks);
        }
        n++;
    }
    closedir(dir);
    return (int)n;
}

void proc_stop(struct proc *p)
{
    if (p == NULL)
        return;
    if (!try_reap(p)) {
        kill(p->pid, SIGKILL);
        proc_wait(p, now_ms() + 5000, NULL);
    }
    /* Ends the reader even if something still holds a pipe open; it cannot fail short of a bug.
     * (No reader: a second start failed, see restart_if_wine_failed().) */
    if (p->reader != NULL) {
        if (write(p->wake[1], "x", 1) != 1)
            abort();
        thread_join(p->reader);
    }
    close_pipes(p);
    close(p->wake[0]);
    close(p->wake[1]);
    monitor_free(p->mon);
    free(p);
}
#endif
