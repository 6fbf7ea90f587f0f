# The labs' broken servers (tests/labs.def): each lesson's server.c again, compiled with one
# LAB_MISTAKE_ switch, into bin/labs/NN_name-mistake.exe. Included by the Windows build after the
# lessons, so each lab links what its lesson links.
course_labs(_labs)
foreach(lab IN LISTS _labs)
  string(REPLACE "|" ";" lab "${lab}")
  list(GET lab 0 _lesson)
  list(GET lab 1 _name)
  list(GET lab 2 _mistake)
  course_add_lesson_build("${_lesson}-${_name}" ${_lesson} labs)
  target_compile_definitions("${_lesson}-${_name}" PRIVATE LAB_MISTAKE_${_mistake})
endforeach()
