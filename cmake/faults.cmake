# The faults builds (tests/faults.c): each lesson's server.c linked so that its per-connection calls
# fail now and then when COURSE_FAULTS=N is set. Included by the MinGW build after the lessons: it
# needs GNU ld's --wrap.
if(NOT MINGW)
  return()
endif()
set(_wrapped listen accept recv send WSARecv WSASend WSASocketW malloc calloc)
list(TRANSFORM _wrapped PREPEND "-Wl,--wrap=" OUTPUT_VARIABLE _wrap_options)
foreach(lesson IN LISTS COURSE_LESSONS)
  set(_target "${lesson}-faults")
  add_executable(${_target} "${PROJECT_SOURCE_DIR}/${lesson}/server.c" "${PROJECT_SOURCE_DIR}/tests/faults.c")
  course_target_defaults(${_target})
  # Winsock's functions as plain symbols, not __imp_ pointers, so that --wrap can reach them.
  target_compile_definitions(${_target} PRIVATE WINSOCK_API_LINKAGE=)
  get_target_property(_libs ${lesson} LINK_LIBRARIES)
  target_link_libraries(${_target} PRIVATE ${_libs})
  target_link_options(${_target} PRIVATE ${_wrap_options})
  set_target_properties(${_target} PROPERTIES RUNTIME_OUTPUT_DIRECTORY "$<1:${COURSE_BIN_DIR}/faults>")
endforeach()
