# The faults builds (tests/faults.c): each lesson's server.c linked so that its per-connection calls
# fail now and then when COURSE_FAULTS=N is set. Included by the MinGW build after the lessons: it
# needs GNU ld's --wrap.
if(NOT MINGW)
  return()
endif()
set(_wrapped listen accept recv send WSARecv WSASend WSASocketW malloc calloc)
list(TRANSFORM _wrapped PREPEND "-Wl,--wrap=" OUTPUT_VARIABLE _wrap_options)
foreach(lesson IN LISTS COURSE_LESSONS)
  course_add_lesson_build("${lesson}-faults" ${lesson} faults "${PROJECT_SOURCE_DIR}/${lesson}/server.c"
    "${PROJECT_SOURCE_DIR}/tests/faults.c")
  # Winsock's functions as plain symbols, not __imp_ pointers, so that --wrap can reach them.
  target_compile_definitions("${lesson}-faults" PRIVATE WINSOCK_API_LINKAGE=)
  target_link_options("${lesson}-faults" PRIVATE ${_wrap_options})
endforeach()
