# The labs' broken servers (tests/labs.def): each is its lesson's server.c with the lab's patch,
# tests/labs/NN-name.patch, applied at build time, compiled into bin/labs/NN_lesson-name.exe. The
# patched source, bin/labs/NN_lesson-name.c, is the handout. A lab that needs a harness around the
# student's code has tests/labs/NN-name.c (linked in) and NN-name.h (forced into the server's build).
# Included by the Windows build after the lessons, so each lab links what its lesson links.
# When a lesson changes under a patch, the build stops at that patch. To carry it over:
#   patch --fuzz=3 -o /tmp/lab.c NN_lesson/server.c tests/labs/NN-name.patch   (then check /tmp/lab.c)
#   diff -u --label a/NN_lesson/server.c --label b/NN_lesson/server.c NN_lesson/server.c /tmp/lab.c \
#     > tests/labs/NN-name.patch
course_labs(_labs)
foreach(lab IN LISTS _labs)
  string(REPLACE "|" ";" lab "${lab}")
  list(GET lab 0 _lesson)
  list(GET lab 1 _name)
  string(SUBSTRING ${_lesson} 0 2 _number)
  set(_patch "${PROJECT_SOURCE_DIR}/tests/labs/${_number}-${_name}.patch")
  set(_handout "${COURSE_BIN_DIR}/labs/${_lesson}-${_name}.c")
  # --fuzz=0: a patch whose context no longer matches the lesson fails the build instead of
  # landing somewhere near.
  add_custom_command(OUTPUT "${_handout}"
    COMMAND ${CMAKE_COMMAND} -E make_directory "${COURSE_BIN_DIR}/labs"
    COMMAND "${COURSE_PATCH}" --quiet --fuzz=0 --output=${_handout} --input=${_patch}
      "${PROJECT_SOURCE_DIR}/${_lesson}/server.c"
    DEPENDS "${_patch}" "${PROJECT_SOURCE_DIR}/${_lesson}/server.c"
    COMMENT "Lab ${_lesson}-${_name}: the lesson with the mistake"
    VERBATIM)
  set(_target "${_lesson}-${_name}")
  course_add_lesson_build(${_target} ${_lesson} labs "${_handout}")
  set(_harness "${PROJECT_SOURCE_DIR}/tests/labs/${_number}-${_name}")
  if(EXISTS "${_harness}.c")
    target_sources(${_target} PRIVATE "${_harness}.c")
    if(MSVC)
      set_source_files_properties("${_handout}" PROPERTIES COMPILE_OPTIONS "/FI${_harness}.h")
    else()
      set_source_files_properties("${_handout}" PROPERTIES COMPILE_OPTIONS "-include;${_harness}.h")
    endif()
  endif()
endforeach()
