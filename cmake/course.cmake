# Helpers for what every lesson and every tool repeats: warnings as errors, the bin/ folder,
# the Winsock libraries and a static runtime.
include_guard(GLOBAL)
include(CheckCCompilerFlag)

# The warnings every program of the course compiles with, as errors. Each gcc/clang flag is checked
# once, so an older compiler skips what it does not know instead of failing.
set(_course_gcc_warnings
  -Wall -Wextra -Wpedantic -Wshadow -Wformat=2 -Wundef -Wstrict-prototypes
  -Wmissing-prototypes -Wold-style-definition -Wpointer-arith -Wcast-qual -Wwrite-strings
  -Wvla -Werror)
set(COURSE_WARNING_FLAGS "")
if(MSVC)
  # C4996: the CRT's "use the _s variant" advice, which portable C cannot follow. /utf-8: the sources
  # are UTF-8 (trace_svg's Chinese words), whatever the machine's code page.
  set(COURSE_WARNING_FLAGS /W4 /WX /wd4996 /utf-8)
else()
  foreach(flag IN LISTS _course_gcc_warnings)
    string(MAKE_C_IDENTIFIER "COURSE_HAS${flag}" var)
    check_c_compiler_flag(${flag} ${var})
    if(${var})
      list(APPEND COURSE_WARNING_FLAGS ${flag})
    endif()
  endforeach()
endif()

# GCC's static analyzer (-fanalyzer, GCC 10 and later) runs in every build, so its findings are
# errors like any warning: a leak or a use after free on an error path fails the build, and with it
# `./course test`. COURSE_ANALYZER=OFF skips it (it roughly doubles the compile time).
option(COURSE_ANALYZER "Compile with GCC's static analyzer (-fanalyzer)" ON)
if(COURSE_ANALYZER AND CMAKE_C_COMPILER_ID STREQUAL "GNU" AND CMAKE_C_COMPILER_VERSION VERSION_GREATER_EQUAL 12)
  check_c_compiler_flag(-fanalyzer COURSE_HAS_FANALYZER)
  if(COURSE_HAS_FANALYZER)
    list(APPEND COURSE_WARNING_FLAGS -fanalyzer)
  endif()
endif()

# course_target_defaults(TARGET): warnings as errors, C11, and on Windows the Winsock headers
# in their Vista+ form (inet_pton, WSAPoll) with the rarely used parts of windows.h left out.
function(course_target_defaults target)
  target_compile_options(${target} PRIVATE ${COURSE_WARNING_FLAGS})
  set_target_properties(${target} PROPERTIES C_STANDARD 11 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
  if(WIN32)
    target_compile_definitions(${target} PRIVATE _WIN32_WINNT=0x0601 _CRT_SECURE_NO_WARNINGS)
    target_link_libraries(${target} PRIVATE ws2_32)
    if(MINGW)
      # A copied .exe then runs without the mingw runtime DLLs beside it.
      target_link_options(${target} PRIVATE -static)
    elseif(MSVC)
      set_target_properties(${target} PROPERTIES
        MSVC_RUNTIME_LIBRARY "MultiThreaded$<$<CONFIG:Debug>:Debug>")
    endif()
  endif()
endfunction()

# course_add_program(NAME SOURCES...): an executable (a lesson's server is named after its folder)
# in the one bin/ folder of the build, COURSE_BIN_DIR, with no per-configuration subfolder under
# Visual Studio.
function(course_add_program name)
  add_executable(${name} ${ARGN})
  course_target_defaults(${name})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY "$<1:${COURSE_BIN_DIR}>")
endfunction()

# course_add_lesson_build(TARGET LESSON FOLDER SOURCES...): a test build of a lesson from SOURCES
# (its server.c or a lab's patched copy, and any shim), with the warnings and libraries of the lesson
# itself, into COURSE_BIN_DIR/FOLDER. The labs' broken servers, the faults and the trace builds use it.
function(course_add_lesson_build target lesson folder)
  add_executable(${target} ${ARGN})
  course_target_defaults(${target})
  get_target_property(libs ${lesson} LINK_LIBRARIES)
  target_link_libraries(${target} PRIVATE ${libs})
  set_target_properties(${target} PROPERTIES RUNTIME_OUTPUT_DIRECTORY "$<1:${COURSE_BIN_DIR}/${folder}>")
endfunction()

# The program that applies a lab's patch: GNU patch (on Windows, the one Git for Windows brings).
# Without it there are no labs: a note, not an error.
find_program(COURSE_PATCH patch HINTS "$ENV{ProgramFiles}/Git/usr/bin")

# course_lab_source(OUTPUT LESSON PATCH): OUTPUT, made at build time, is LESSON's server.c with the
# lab's PATCH applied. --fuzz=0: a patch whose context no longer matches the lesson fails the build
# instead of landing somewhere near.
function(course_lab_source output lesson patch)
  get_filename_component(dir "${output}" DIRECTORY)
  get_filename_component(name "${output}" NAME_WE)
  # Patched in place on a copy, which keeps the source's mode: patch --output writes a file only its
  # owner can read, and a handout is for the whole class.
  add_custom_command(OUTPUT "${output}"
    COMMAND ${CMAKE_COMMAND} -E make_directory "${dir}"
    COMMAND ${CMAKE_COMMAND} -E copy "${PROJECT_SOURCE_DIR}/${lesson}/server.c" "${output}"
    COMMAND "${COURSE_PATCH}" --quiet --fuzz=0 --no-backup-if-mismatch --input=${patch} "${output}"
    DEPENDS "${patch}" "${PROJECT_SOURCE_DIR}/${lesson}/server.c"
    COMMENT "Lab ${name}: the lesson with the mistake"
    VERBATIM)
endfunction()

# course_labs(VAR): the labs of tests/labs.def whose lesson is built, as a list of
# "LESSON|name|MISTAKE|check" entries: 01_sync_accept|string_buffer|STRING_BUFFER|echoes_random_binary_payloads.
function(course_labs var)
  if(NOT COURSE_PATCH)
    message(STATUS "patch not found: the labs' broken servers are not built")
    set(${var} "" PARENT_SCOPE)
    return()
  endif()
  file(STRINGS "${PROJECT_SOURCE_DIR}/tests/labs.def" lines REGEX "^LAB\\(")
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/tests/labs.def")
  set(labs "")
  foreach(line IN LISTS lines)
    string(REGEX MATCH "^LAB\\(([0-9]+), *([A-Z0-9_]+), *([a-z0-9_]+)," _ "${line}")
    set(number ${CMAKE_MATCH_1})
    set(mistake ${CMAKE_MATCH_2})
    set(check ${CMAKE_MATCH_3})
    string(TOLOWER ${mistake} name)
    foreach(lesson IN LISTS COURSE_LESSONS)
      string(SUBSTRING ${lesson} 0 2 lesson_number)
      if(lesson_number EQUAL number)
        list(APPEND labs "${lesson}|${name}|${mistake}|${check}")
      endif()
    endforeach()
  endforeach()
  set(${var} ${labs} PARENT_SCOPE)
endfunction()
