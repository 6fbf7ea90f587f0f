# Run a command and check its exit code and output, for tests that need both.
#   cmake "-DCOMMAND=prog;arg;..." -DEXPECT_CODE=2 "-DEXPECT_OUTPUT=regex" -P expect_exit.cmake
execute_process(COMMAND ${COMMAND} RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 550)
message("${out}${err}")
if(NOT code STREQUAL "${EXPECT_CODE}")
  message(FATAL_ERROR "expected exit code ${EXPECT_CODE}, got ${code}")
endif()
if(NOT "${out}${err}" MATCHES "${EXPECT_OUTPUT}")
  message(FATAL_ERROR "expected output matching '${EXPECT_OUTPUT}'")
endif()
