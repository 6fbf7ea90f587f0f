# The labs' broken servers (tests/labs.def): each lesson's server.c again, compiled with one
# LAB_MISTAKE_ switch, into bin/labs/NN_name-mistake.exe. Included by the Windows build after the
# lessons, so each lab links what its lesson links.
course_labs(_labs)
foreach(lab IN LISTS _labs)
  string(REPLACE "|" ";" lab "${lab}")
  list(GET lab 0 _lesson)
  list(GET lab 1 _name)
  list(GET lab 2 _mistake)
  set(_target "${_lesson}-${_name}")
  add_executable(${_target} "${PROJECT_SOURCE_DIR}/${_lesson}/server.c")
  course_target_defaults(${_target})
  target_compile_definitions(${_target} PRIVATE LAB_MISTAKE_${_mistake})
  get_target_property(_libs ${_lesson} LINK_LIBRARIES)
  target_link_libraries(${_target} PRIVATE ${_libs})
  set_target_properties(${_target} PROPERTIES RUNTIME_OUTPUT_DIRECTORY "$<1:${COURSE_BIN_DIR}/labs>")
endforeach()
