# Start a persistent wineserver for the Wine prefix in $ENV{WINEPREFIX}, for the test run.
#   cmake -E env WINEPREFIX=... cmake -DWINESERVER=/usr/bin/wineserver -P start_wineserver.cmake
# Its standard streams go to /dev/null: a daemon that inherited ctest's pipes would keep ctest waiting.
execute_process(COMMAND ${WINESERVER} -p
  INPUT_FILE /dev/null OUTPUT_FILE /dev/null ERROR_FILE /dev/null
  RESULT_VARIABLE rc)
# wineserver exits with 2 when a server for this prefix already runs: that one serves as well.
if(NOT rc EQUAL 0 AND NOT rc EQUAL 2)
  message(FATAL_ERROR "${WINESERVER} -p failed (${rc}) for WINEPREFIX=$ENV{WINEPREFIX}")
endif()
