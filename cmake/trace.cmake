# The trace builds (tests/trace.c): each lesson's server.c linked so that every call that waits or
# completes I/O is written to a trace file when COURSE_TRACE=FILE is set (`./course trace`). Included
# by the MinGW build after the lessons: it needs GNU ld's --wrap.
if(NOT MINGW)
  return()
endif()
set(_wrapped accept recv send WSARecv WSASend WSAWaitForMultipleEvents WSAIoctl SleepEx QueueUserAPC
  GetQueuedCompletionStatus GetQueuedCompletionStatusEx PostQueuedCompletionStatus CancelIoEx
  WaitForMultipleObjects)
list(TRANSFORM _wrapped PREPEND "-Wl,--wrap=" OUTPUT_VARIABLE _wrap_options)
foreach(lesson IN LISTS COURSE_LESSONS)
  course_add_lesson_build("${lesson}-trace" ${lesson} trace "${PROJECT_SOURCE_DIR}/${lesson}/server.c"
    "${PROJECT_SOURCE_DIR}/tests/trace.c")
  # Winsock's and kernel32's functions as plain symbols, not __imp_ pointers, so that --wrap reaches them.
  target_compile_definitions("${lesson}-trace" PRIVATE WINSOCK_API_LINKAGE= WINBASEAPI=)
  target_link_options("${lesson}-trace" PRIVATE ${_wrap_options})
endforeach()

# Lesson 05 without its backlog event (tests/traces/05-no_backlog_event.patch takes the
# WSAEventSelect(FD_ACCEPT) call out): lesson 05's page shows the timeline of the same burst before
# and after, `tests/trace.sh BIN 05_iocp_acceptex_no_backlog_event OUT` records it.
if("05_iocp_acceptex" IN_LIST COURSE_LESSONS AND COURSE_PATCH)
  set(_source "${CMAKE_CURRENT_BINARY_DIR}/trace/05_iocp_acceptex_no_backlog_event.c")
  course_lab_source("${_source}" 05_iocp_acceptex "${PROJECT_SOURCE_DIR}/tests/traces/05-no_backlog_event.patch")
  course_add_lesson_build(05_iocp_acceptex_no_backlog_event-trace 05_iocp_acceptex trace "${_source}"
    "${PROJECT_SOURCE_DIR}/tests/trace.c")
  target_compile_definitions(05_iocp_acceptex_no_backlog_event-trace PRIVATE WINSOCK_API_LINKAGE= WINBASEAPI=)
  target_link_options(05_iocp_acceptex_no_backlog_event-trace PRIVATE ${_wrap_options})
endif()
