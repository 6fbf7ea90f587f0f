# Start Wine for a test run in the prefix $ENV{WINEPREFIX}: a wineserver that stays 60 s after the
# last Windows program ends, and Wine's own background processes (services.exe and friends, started
# by the first Windows program).
#   cmake -E env WINEPREFIX=... cmake -DWINE=/usr/bin/wine -DWINESERVER=/usr/bin/wineserver -P start_wine.cmake
# Both are started with their standard streams on /dev/null: a daemon that inherited a test's output
# pipe would keep ctest waiting for that test long after it ended.
# The wineserver holds a descriptor for every socket of every Windows program: with a thousand
# clients that is more than the usual soft limit of 1024, so it starts with the limit raised
# towards the hard one (at most 65536, as the harness does for itself).
set(_raise_limit [[h=$(ulimit -Hn); if [ "$h" = unlimited ] || [ "$h" -gt 65536 ]; then h=65536; fi; ulimit -n "$h" 2>/dev/null; exec "$0" -p60]])
execute_process(COMMAND sh -c "${_raise_limit}" ${WINESERVER}
  INPUT_FILE /dev/null OUTPUT_FILE /dev/null ERROR_FILE /dev/null
  RESULT_VARIABLE rc)
# wineserver exits with 2 when a server for this prefix already runs: that one serves as well.
if(NOT rc EQUAL 0 AND NOT rc EQUAL 2)
  message(FATAL_ERROR "${WINESERVER} -p60 failed (${rc}) for WINEPREFIX=$ENV{WINEPREFIX}")
endif()
execute_process(COMMAND ${WINE} cmd.exe /c exit 0
  INPUT_FILE /dev/null OUTPUT_FILE /dev/null ERROR_FILE /dev/null
  RESULT_VARIABLE rc TIMEOUT 60)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${WINE} cmd.exe /c exit 0 failed (${rc}) for WINEPREFIX=$ENV{WINEPREFIX}")
endif()
