# Sourced by the harness's shell scripts: start a lesson's server under Wine on a port and wait for its
# listening line, stop it again. Needs $tmp (a private directory) and the Wine environment.
#   start_server SERVER.exe [PORT]   sets server_pid and server_address (HOST:PORT); fails after 30 s
#   wait_server                      waits until it ends by itself; returns its exit code; what it
#                                    printed after the listening line is then in $tmp/server.out
#   stop_server                      kills it if it still runs and reaps it
#   field FILE NAME                  the key=value field NAME of FILE's last line
#   raise_descriptor_limit           the soft limit of open descriptors up to the hard one (at most
#                                    65,536): every connection is a descriptor here, in the server
#                                    and in the wineserver, which inherit the limit

server_pid=""
server_address=""
server_reader=""

start_server() {
  local exe=$1 port=${2:-0} line=""
  rm -f "$tmp/listening"
  mkfifo "$tmp/listening"
  wine "$exe" "$port" > "$tmp/listening" 2> "$tmp/server.err" &
  server_pid=$!
  exec 3< "$tmp/listening"
  # Waits for the line itself, not for a fixed time; 30 s covers Wine's first start in a new prefix.
  if ! IFS= read -r -t 30 line <&3; then
    echo "$(basename "$exe") printed no listening line within 30 s: $(tr -d '\r' < "$tmp/server.err")" >&2
    return 1
  fi
  line=${line%$'\r'}
  server_address=${line#listening on }
  # Keep reading what it prints, so a chatty server never blocks on a full pipe.
  cat <&3 > "$tmp/server.out" &
  server_reader=$!
  exec 3<&-
}

wait_server() {
  local code=0
  wait "$server_pid" || code=$?
  wait "$server_reader" 2>/dev/null || true
  server_pid=""
  return "$code"
}

stop_server() {
  if [[ -n $server_pid ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  server_pid=""
}

field() { tr -d '\r' < "$1" | sed -n '$p' | tr ' ' '\n' | sed -n "s/^$2=//p"; }

raise_descriptor_limit() {
  local hard
  hard=$(ulimit -Hn)
  [[ $hard == unlimited ]] || ((hard > 65536)) && hard=65536
  ulimit -n "$hard"
}
