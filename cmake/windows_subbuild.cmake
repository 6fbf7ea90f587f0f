# Linux only: build the Windows programs with mingw-w64 in a sub-build of this same source tree, and
# prepare the Wine prefix they run in. Included by the top-level CMakeLists.txt.
include_guard(GLOBAL)
include(ExternalProject)

set(_mingw_toolchain "${PROJECT_SOURCE_DIR}/cmake/mingw-w64-x86_64.cmake")
find_program(COURSE_WINE wine)
find_program(COURSE_WINESERVER wineserver)
foreach(tool COURSE_WINE COURSE_WINESERVER)
  if(NOT ${tool})
    message(FATAL_ERROR "${tool} not found: the lessons are Windows programs and run here under Wine. "
      "Install it (Debian/Ubuntu: sudo apt-get install wine wine64), or let ./course do it.")
  endif()
endforeach()

if(CMAKE_BUILD_TYPE)
  set(_windows_build_type ${CMAKE_BUILD_TYPE})
else()
  set(_windows_build_type RelWithDebInfo)
endif()

ExternalProject_Add(windows_programs
  SOURCE_DIR "${PROJECT_SOURCE_DIR}"
  BINARY_DIR "${CMAKE_BINARY_DIR}/windows"
  CMAKE_ARGS
    "-DCMAKE_TOOLCHAIN_FILE=${_mingw_toolchain}"
    "-DCMAKE_BUILD_TYPE=${_windows_build_type}"
    "-DCOURSE_BIN_DIR=${COURSE_BIN_DIR}"
  INSTALL_COMMAND ""
  # Always ask the sub-build: it is incremental itself and knows which sources changed.
  BUILD_ALWAYS ON)

# The Wine prefix of this build tree: never the user's ~/.wine. Headless (no Mono or Gecko
# installer pop-ups), quiet, 64-bit. Tests, echo_grade and ./course run all use these settings.
set(COURSE_WINEPREFIX "${CMAKE_BINARY_DIR}/wineprefix")
set(COURSE_WINE_ENV
  "WINEPREFIX=${COURSE_WINEPREFIX}" "WINEARCH=win64" "WINEDEBUG=-all" "WINEDLLOVERRIDES=mscoree,mshtml=")

# Creating a prefix costs about 5 s, so it is done once, at build time. `wineserver -w` waits until
# wineboot's helper processes have gone, so no build tool is left waiting on their output.
add_custom_command(OUTPUT "${COURSE_WINEPREFIX}/system.reg"
  COMMAND ${CMAKE_COMMAND} -E env ${COURSE_WINE_ENV} ${COURSE_WINE} wineboot --init
  COMMAND ${CMAKE_COMMAND} -E env ${COURSE_WINE_ENV} ${COURSE_WINESERVER} -w
  COMMENT "Creating the Wine prefix ${COURSE_WINEPREFIX} (once, a few seconds)"
  VERBATIM)
add_custom_target(wine_prefix ALL DEPENDS "${COURSE_WINEPREFIX}/system.reg")
