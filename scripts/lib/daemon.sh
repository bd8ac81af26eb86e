# shellcheck shell=bash
# daemon.sh is the process control the broker and sink scripts share (kafka.sh, zipkin.sh, rabbitmq.sh, mailpit.sh,
# goaws.sh): start a server in the background with a pid file, know whether that pid is still ours, wait a bounded time
# until it is ready, stop it with a bounded wait (SIGTERM, then SIGKILL, then a bounded wait again) and hold a lock so
# two starts on one port do not race. Source it; it defines functions only and changes no shell options.
#
# Before calling them, the sourcing script sets:
#   DAEMON_NAME            the log prefix and the name in messages ("kafka", "zipkin", ...)
#   PID_FILE, LOG_FILE     where the pid and the server's output go
#   START_TIMEOUT, STOP_TIMEOUT   seconds
#   DAEMON_CMDLINE         a fixed string that the server's /proc/<pid>/cmdline (NULs read as spaces) contains: it
#                          tells our server from a process that reused the pid
# and defines probe(): success only when the server answers like itself (not merely an open port).

log() { printf '[%s] %s\n' "$DAEMON_NAME" "$*" >&2; }
die() {
  printf '[%s] error: %s\n' "$DAEMON_NAME" "$*" >&2
  exit 1
}

# port_open HOST PORT: something accepts TCP connections there.
port_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null; }

# pid_matches PID STRING: the process is alive and its command line contains STRING.
pid_matches() {
  local pid="$1"
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$2"
}

# our_pid prints the pid from PID_FILE when that process is still our server (guards against pid reuse).
our_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE")"
  pid_matches "$pid" "$DAEMON_CMDLINE" || return 1
  echo "$pid"
}

# daemon_lock FILE WAIT_SECONDS: take an exclusive lock on fd 9 for the rest of the script (released at exit), so one
# start at a time runs per port: two test runs must not launch two servers on one port or one data dir.
daemon_lock() {
  mkdir -p "$(dirname "$1")"
  exec 9>"$1"
  flock -w "$2" 9 || die "another $DAEMON_NAME start holds $1"
}

# daemon_launch CMD...: run CMD in the background in a session of its own, output to LOG_FILE, pid to PID_FILE.
# setsid: the server must outlive the shell (and the test runner) that started it; stop uses the pid file.
# 9>&-: the server must not inherit the start lock, or the next start would wait for the server to exit.
daemon_launch() {
  mkdir -p "$(dirname "$PID_FILE")" "$(dirname "$LOG_FILE")"
  nohup setsid "$@" </dev/null >"$LOG_FILE" 2>&1 9>&- &
  DAEMON_PID=$!
  echo "$DAEMON_PID" >"$PID_FILE"
}

# daemon_wait_ready PID: poll probe every half second until it succeeds; fail when the process exits first (showing
# the end of its log) or after START_TIMEOUT seconds.
daemon_wait_ready() {
  local pid="$1" deadline=$((SECONDS + START_TIMEOUT))
  until probe; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$LOG_FILE" >&2 || true
      rm -f "$PID_FILE"
      die "$DAEMON_NAME exited during start-up (log: $LOG_FILE)"
    fi
    ((SECONDS < deadline)) || die "$DAEMON_NAME did not answer after ${START_TIMEOUT}s (log: $LOG_FILE)"
    sleep 0.5
  done
}

# stop_pid PID [LABEL]: SIGTERM, wait up to STOP_TIMEOUT seconds, then SIGKILL and wait up to 10 s more. Returns 1 when
# the process is still there after all that (a process in uninterruptible sleep), so the caller can say so.
stop_pid() {
  local pid="$1" label="${2:-$DAEMON_NAME}"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    log "$label still running after ${STOP_TIMEOUT}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 10))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  fi
  ! kill -0 "$pid" 2>/dev/null
}

# daemon_stop [ADDRESS]: stop the server this script started, by its pid file; leave alone one it did not start.
daemon_stop() {
  local pid address="${1:-}"
  if ! pid="$(our_pid)"; then
    rm -f "$PID_FILE"
    if probe; then log "a $DAEMON_NAME answers${address:+ on $address} but this script did not start it; leaving it alone"
    else log "no $DAEMON_NAME started by this script is running"; fi
    return 0
  fi
  log "stopping $DAEMON_NAME (pid $pid)"
  stop_pid "$pid" || die "$DAEMON_NAME (pid $pid) did not exit even after SIGKILL"
  rm -f "$PID_FILE"
  log "stopped"
}

# daemon_status ADDRESS: exit 0 when the server answers (saying whether this script started it), 3 when it does not.
daemon_status() {
  local pid address="$1"
  if probe; then
    if pid="$(our_pid)"; then echo "running: $address (pid $pid, started by $DAEMON_NAME.sh)"
    else echo "running: $address (not started by $DAEMON_NAME.sh)"; fi
    return 0
  fi
  echo "not running: nothing answers like $DAEMON_NAME on $address"
  return 3
}
