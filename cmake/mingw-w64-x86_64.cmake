# Cross-compile the Windows programs on Linux with mingw-w64 (Debian: package mingw-w64).
# The host triple is the one thing to change for another mingw-w64 target.
set(COURSE_MINGW_TRIPLE x86_64-w64-mingw32 CACHE STRING "mingw-w64 host triple")

set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

find_program(COURSE_MINGW_CC ${COURSE_MINGW_TRIPLE}-gcc)
if(NOT COURSE_MINGW_CC)
  message(FATAL_ERROR "${COURSE_MINGW_TRIPLE}-gcc not found: the lessons are Windows programs, "
    "cross-compiled here with mingw-w64. Install it (Debian/Ubuntu: sudo apt-get install mingw-w64), "
    "or let ./course do it.")
endif()
set(CMAKE_C_COMPILER ${COURSE_MINGW_CC})

# Headers and libraries come from the mingw-w64 sysroot only; programs run on the build machine.
set(CMAKE_FIND_ROOT_PATH /usr/${COURSE_MINGW_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
