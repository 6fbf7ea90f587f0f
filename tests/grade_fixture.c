/**
 * \file
 * \brief A submission for the tests of `./course grade` (tests/grade_class.sh): an echo server,
 * one client at a time, that first tries to leave the grader's sandbox and says on stderr how each
 * attempt ended. Built as bin/grade/grade_fixture_escape.exe, and with FIXTURE_HANGS as
 * grade_fixture_hang.exe, which never prints its listening line.
 *
 * The attempts: read a file the test leaves in the host's /tmp, through the Z: drive and through
 * Wine's path to the Unix root (\\?\unix\...), and connect to 192.0.2.1 (TEST-NET-1, an address for
 * documentation that no network routes). In the grader's network namespace only loopback exists,
 * so that connect fails at once with WSAENETUNREACH and no packet leaves the machine.
 */
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>

#include <stdio.h>
#include <stdlib.h>

/** \brief Try to open \p path for reading; one line on stderr says how it went. */
static void try_read(const char *path)
{
    HANDLE h = CreateFileA(path, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING, 0, NULL);

    if (h == INVALID_HANDLE_VALUE) {
        fprintf(stderr, "escape: read %s: failed (error %lu)\n", path,
                (unsigned long)GetLastError());
        return;
    }
    CloseHandle(h);
    fprintf(stderr, "escape: read %s: SUCCEEDED\n", path);
}

/** \brief Try to connect outside loopback, for at most 2 s; one line on stderr says how it went. */
static void try_connect(void)
{
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    struct sockaddr_in to;
    u_long nonblocking = 1;
    fd_set writable, failed;
    struct timeval wait = {2, 0};
    int error = 0, len = (int)sizeof error;

    if (s == INVALID_SOCKET)
        return;
    memset(&to, 0, sizeof to);
    to.sin_family = AF_INET;
    to.sin_port = htons(9);
    inet_pton(AF_INET, "192.0.2.1", &to.sin_addr);
    ioctlsocket(s, FIONBIO, &nonblocking);
    if (connect(s, (struct sockaddr *)&to, (int)sizeof to) == 0) {
        fprintf(stderr, "escape: connect 192.0.2.1:9: SUCCEEDED\n");
    } else if ((error = WSAGetLastError()) != WSAEWOULDBLOCK) {
        fprintf(stderr, "escape: connect 192.0.2.1:9: failed (error %d)\n", error);
    } else {
        FD_ZERO(&writable);
        FD_ZERO(&failed);
        FD_SET(s, &writable);
        FD_SET(s, &failed);
        if (select(0, NULL, &writable, &failed, &wait) == 1 && FD_ISSET(s, &writable))
            fprintf(stderr, "escape: connect 192.0.2.1:9: SUCCEEDED\n");
        else if (getsockopt(s, SOL_SOCKET, SO_ERROR, (char *)&error, &len) == 0 && error != 0)
            fprintf(stderr, "escape: connect 192.0.2.1:9: failed (error %d)\n", error);
        else
            fprintf(stderr, "escape: connect 192.0.2.1:9: failed (no answer in 2 s)\n");
    }
    closesocket(s);
}

/** \brief Echo one client until it closes; every send is continued until all of it is out. */
static void echo(SOCKET client)
{
    char buf[16384];
    int got;

    while ((got = recv(client, buf, (int)sizeof buf, 0)) > 0)
        for (int sent = 0, n; sent < got; sent += n)
            if ((n = send(client, buf + sent, got - sent, 0)) <= 0)
                return;
    shutdown(client, SD_SEND);
}

int main(int argc, char **argv)
{
    WSADATA wsa;
    SOCKET listener;
    struct sockaddr_in at;
    int len = (int)sizeof at;

    if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0)
        return 1;
    try_read("Z:\\tmp\\course_grade_secret.txt");
    try_read("\\\\?\\unix\\tmp\\course_grade_secret.txt");
    try_connect();
    fflush(stderr);
#ifdef FIXTURE_HANGS
    Sleep(INFINITE);
#endif
    listener = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    memset(&at, 0, sizeof at);
    at.sin_family = AF_INET;
    at.sin_port = htons((u_short)(argc > 1 ? atoi(argv[1]) : 5000));
    at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (listener == INVALID_SOCKET || bind(listener, (struct sockaddr *)&at, len) != 0 ||
        listen(listener, 16) != 0 || getsockname(listener, (struct sockaddr *)&at, &len) != 0) {
        fprintf(stderr, "socket, bind or listen: error %d\n", WSAGetLastError());
        return 1;
    }
    printf("listening on 127.0.0.1:%u\n", ntohs(at.sin_port));
    fflush(stdout);
    for (;;) {
        SOCKET client = accept(listener, NULL, NULL);

        if (client == INVALID_SOCKET)
            continue;
        echo(client);
        closesocket(client);
    }
}
