# Does a lesson's whole trace (tests/trace.sh's LESSON.full.trace) show the lesson's defining event?
#   awk -v lesson=NN -f trace_check.awk LESSON.full.trace
# Prints one line saying what it found; exits 0 when the event is there, 1 when it is not.
#   01  one thread does all the I/O, and the second client is accepted only after the first left
#   02  one thread waits on events and posts every receive and send
#   03  every completion routine runs on one thread, inside one of its alertable waits (or as it
#       starts, with the APCs queued to it before it began)
#   04  the port's completions are taken by more than one worker
#   05  accepts complete on the port (AcceptEx packets), taken by workers among the echoes
#   06  the shutdown in order: cancel, then one exit packet per worker, each taken, then the join
#   07  zero-byte receives, and fewer packets than posts: what completed at once was not queued
function fail(text) { print lesson ": NOT FOUND: " text; failed = 1; exit 1 }
function ok(text) { print lesson ": found: " text; exit 0 }
$1 ~ /^[0-9]+$/ {
  start = $1; end = $2; thread = $3; class = $4; name = $5; handle = $6; bytes = $7
  threads[thread] = 1
  # A socket handle comes back after a close: a recv belongs to the last accept that returned its handle.
  if (class == "wait" && name == "accept") { accepts++; accept_end[accepts] = end; owner[sprintf("%x", bytes)] = accepts }
  if (class == "wait" && name == "recv") { k = owner[handle]; if (end > recv_end[k]) recv_end[k] = end; io_thread[thread] = 1 }
  if (class == "call" && (name == "send" || name == "recv")) io_thread[thread] = 1
  if (class == "wait" && name ~ /^events/) event_waiter[thread] = 1
  if (class == "wait" && name ~ /alertable$/) {
    alert_n[thread]++; alert_from[thread, alert_n[thread]] = start; alert_to[thread, alert_n[thread]] = end
    if (end > alert_last[thread]) alert_last[thread] = end
    if (alert_first[thread] == "" || start < alert_first[thread]) alert_first[thread] = start
  }
  if (class == "run" && name != "apc") { runs++; run_start[runs] = start; run_end[runs] = end; run_thread[runs] = thread }
  if (class == "wait" && name == "port") worker[thread] = 1
  if (class == "done") { done_by[thread]++; if (name == "accept") accept_done++; if (name == "exit") { exits_taken++; exit_at[thread] = start } }
  if (class == "call" && name == "cancel" && (first_cancel == "" || start < first_cancel)) first_cancel = start
  if (class == "call" && name == "post_exit") { posted++; if (start > last_post) last_post = start; if (first_post == "" || start < first_post) first_post = start }
  if (class == "wait" && name == "join") join_end = end
  if (class == "call" && (name == "recv" || name == "send")) { posts++; if (name == "recv" && bytes == 0) zero_posts++ }
  if (class == "done" && (name == "recv" || name == "send")) packets++
}
function count(a,    k, n) { n = 0; for (k in a) n++; return n }
END {
  if (failed) exit 1
  if (NR == 0) fail("the trace is empty")
  if (lesson == "01") {
    if (count(io_thread) != 1) fail(count(io_thread) " threads did I/O, not one")
    if (accepts < 2) fail("the second client was never accepted (" accepts " accepts)")
    if (recv_end[1] == "") fail("the first client was never read with a blocking recv")
    if (recv_end[1] > accept_end[2]) fail("the first client was read after the second was accepted")
    ok("one thread did every recv and send; client 2 was accepted " int((accept_end[2] - accept_end[1]) / 1000) " ms after client 1, once client 1 had left")
  }
  if (lesson == "02") {
    if (count(event_waiter) != 1) fail(count(event_waiter) " threads waited on events, not one")
    for (t in io_thread) if (!(t in event_waiter)) fail("thread " t " posted I/O without waiting on events")
    ok("one thread waited on the events and posted every receive and send")
  }
  if (lesson == "03") {
    if (runs == 0) fail("no completion routine ran")
    for (i = 1; i <= runs; i++) {
      t = run_thread[i]
      if (t != run_thread[1]) fail("routines ran on two threads")
      inside = 0
      for (j = 1; j <= alert_n[t] && !inside; j++) inside = alert_from[t, j] <= run_start[i] && run_end[i] <= alert_to[t, j]
      # A wait is written when it returns: the routines of the wait under way when the server was
      # stopped come after the thread's last recorded wait, and their own wait is not in the trace.
      if (!inside && run_start[i] >= alert_last[t]) inside = 1
      # A thread begins by running the APCs queued to it before it started (QueueUserAPC's page),
      # and the routines of the I/O those APCs post may complete meanwhile: on a loaded machine the
      # I/O thread starts after the accept thread has handed it clients.
      if (!inside && (alert_first[t] == "" || run_start[i] < alert_first[t])) inside = 1
      if (!inside) fail("a routine ran outside every alertable wait of its thread")
    }
    ok(runs " completion routines, all on thread " run_thread[1] ", each inside one of its alertable waits")
  }
  if (lesson == "04") {
    if (count(done_by) < 2) fail("only " count(done_by) " thread took completions")
    ok(count(done_by) " workers took completions from the port")
  }
  if (lesson == "05" || lesson == "06") {
    if (lesson == "05" && accept_done == 0) fail("no accept completed on the port")
    for (t in done_by) if (!(t in worker)) fail("thread " t " took completions without waiting on the port")
  }
  if (lesson == "05") ok(accept_done " accepts completed on the port among the echoes")
  if (lesson == "06") {
    if (first_cancel == "") fail("no CancelIoEx")
    # A worker that takes two exit packets in one batch posts the second again: more posts than workers.
    if (posted < count(worker)) fail(posted " exit packets posted for " count(worker) " workers")
    if (first_post < first_cancel) fail("an exit packet was posted before the cancel")
    if (exits_taken != posted) fail(exits_taken " exit packets taken of " posted)
    for (t in worker) if (!(t in exit_at) || exit_at[t] < first_post) fail("worker " t " took no exit packet")
    if (join_end == "" || join_end < last_post) fail("no join after the exit packets")
    ok("cancel, then " posted " exit packets for " count(worker) " workers, each took one, then the join")
  }
  if (lesson == "07") {
    if (zero_posts == 0) fail("no zero-byte receive was posted")
    if (packets * 2 > posts) fail(packets " packets for " posts " receives and sends: nothing skipped the port")
    ok(zero_posts " zero-byte receives posted; of " posts " receives and sends, " packets " came back as packets, the rest completed where they were posted")
  }
  fail("no check for lesson " lesson)
}
