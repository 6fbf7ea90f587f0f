/**
 * \file
 * \brief The linker's names for the calls the test shims wrap (tests/faults.c, tests/trace.c): with
 * `-Wl,--wrap=X`, the lesson's calls to X reach __wrap_X in the shim, and __real_X is the system's
 * X. A shim defines the __wrap_X of the calls its build wraps (cmake/faults.cmake,
 * cmake/trace.cmake).
 */
#ifndef WRAP_H
#define WRAP_H

#include <winsock2.h>
#include <windows.h>

#include <stddef.h>

int WSAAPI __real_listen(SOCKET s, int backlog);
int WSAAPI __wrap_listen(SOCKET s, int backlog);
SOCKET WSAAPI __real_accept(SOCKET s, struct sockaddr *addr, int *len);
SOCKET WSAAPI __wrap_accept(SOCKET s, struct sockaddr *addr, int *len);
int WSAAPI __real_recv(SOCKET s, char *buf, int len, int flags);
int WSAAPI __wrap_recv(SOCKET s, char *buf, int len, int flags);
int WSAAPI __real_send(SOCKET s, const char *buf, int len, int flags);
int WSAAPI __wrap_send(SOCKET s, const char *buf, int len, int flags);
int WSAAPI __real_WSARecv(SOCKET s, LPWSABUF bufs, DWORD count, LPDWORD got, LPDWORD flags,
                          LPWSAOVERLAPPED ov, LPWSAOVERLAPPED_COMPLETION_ROUTINE done);
int WSAAPI __wrap_WSARecv(SOCKET s, LPWSABUF bufs, DWORD count, LPDWORD got, LPDWORD flags,
                          LPWSAOVERLAPPED ov, LPWSAOVERLAPPED_COMPLETION_ROUTINE done);
int WSAAPI __real_WSASend(SOCKET s, LPWSABUF bufs, DWORD count, LPDWORD sent, DWORD flags,
                          LPWSAOVERLAPPED ov, LPWSAOVERLAPPED_COMPLETION_ROUTINE done);
int WSAAPI __wrap_WSASend(SOCKET s, LPWSABUF bufs, DWORD count, LPDWORD sent, DWORD flags,
                          LPWSAOVERLAPPED ov, LPWSAOVERLAPPED_COMPLETION_ROUTINE done);
SOCKET WSAAPI __real_WSASocketW(int af, int type, int protocol, LPWSAPROTOCOL_INFOW info, GROUP g,
                                DWORD flags);
SOCKET WSAAPI __wrap_WSASocketW(int af, int type, int protocol, LPWSAPROTOCOL_INFOW info, GROUP g,
                                DWORD flags);
DWORD WSAAPI __real_WSAWaitForMultipleEvents(DWORD count, const WSAEVENT *events, BOOL all,
                                             DWORD timeout, BOOL alertable);
DWORD WSAAPI __wrap_WSAWaitForMultipleEvents(DWORD count, const WSAEVENT *events, BOOL all,
                                             DWORD timeout, BOOL alertable);
int WSAAPI __real_WSAIoctl(SOCKET s, DWORD code, LPVOID in, DWORD in_size, LPVOID out,
                           DWORD out_size, LPDWORD returned, LPWSAOVERLAPPED ov,
                           LPWSAOVERLAPPED_COMPLETION_ROUTINE done);
int WSAAPI __wrap_WSAIoctl(SOCKET s, DWORD code, LPVOID in, DWORD in_size, LPVOID out,
                           DWORD out_size, LPDWORD returned, LPWSAOVERLAPPED ov,
                           LPWSAOVERLAPPED_COMPLETION_ROUTINE done);
DWORD WINAPI __real_SleepEx(DWORD ms, BOOL alertable);
DWORD WINAPI __wrap_SleepEx(DWORD ms, BOOL alertable);
DWORD WINAPI __real_QueueUserAPC(PAPCFUNC fn, HANDLE thread, ULONG_PTR data);
DWORD WINAPI __wrap_QueueUserAPC(PAPCFUNC fn, HANDLE thread, ULONG_PTR data);
BOOL WINAPI __real_GetQueuedCompletionStatus(HANDLE port, LPDWORD bytes, PULONG_PTR key,
                                             LPOVERLAPPED *ov, DWORD ms);
BOOL WINAPI __wrap_GetQueuedCompletionStatus(HANDLE port, LPDWORD bytes, PULONG_PTR key,
                                             LPOVERLAPPED *ov, DWORD ms);
BOOL WINAPI __real_GetQueuedCompletionStatusEx(HANDLE port, LPOVERLAPPED_ENTRY entries, ULONG count,
                                               PULONG removed, DWORD ms, BOOL alertable);
BOOL WINAPI __wrap_GetQueuedCompletionStatusEx(HANDLE port, LPOVERLAPPED_ENTRY entries, ULONG count,
                                               PULONG removed, DWORD ms, BOOL alertable);
BOOL WINAPI __real_PostQueuedCompletionStatus(HANDLE port, DWORD bytes, ULONG_PTR key,
                                              LPOVERLAPPED ov);
BOOL WINAPI __wrap_PostQueuedCompletionStatus(HANDLE port, DWORD bytes, ULONG_PTR key,
                                              LPOVERLAPPED ov);
BOOL WINAPI __real_CancelIoEx(HANDLE handle, LPOVERLAPPED ov);
BOOL WINAPI __wrap_CancelIoEx(HANDLE handle, LPOVERLAPPED ov);
DWORD WINAPI __real_WaitForMultipleObjects(DWORD count, const HANDLE *handles, BOOL all, DWORD ms);
DWORD WINAPI __wrap_WaitForMultipleObjects(DWORD count, const HANDLE *handles, BOOL all, DWORD ms);
void *__real_malloc(size_t size);
void *__wrap_malloc(size_t size);
void *__real_calloc(size_t count, size_t size);
void *__wrap_calloc(size_t count, size_t size);

#endif
