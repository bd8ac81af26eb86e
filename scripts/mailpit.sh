#!/usr/bin/env bash
# mailpit.sh runs Mailpit, an SMTP sink with a web UI and an HTTP API, for development and tests: mail sent to it is
# kept and shown, never delivered.
#
#   bash scripts/mailpit.sh start    reuse a Mailpit already answering on 127.0.0.1:$MAILPIT_HTTP_PORT, or start one in
#                                    the background and wait until both its HTTP API and its SMTP port answer
#   bash scripts/mailpit.sh stop     stop the Mailpit this script started (SIGTERM, then SIGKILL after a timeout)
#   bash scripts/mailpit.sh status   exit 0 when a Mailpit answers on the HTTP port, 3 when none does
#
# The binary is .tools/bin/mailpit, pinned in scripts/tools.sh (npm run tools). Both listeners bind 127.0.0.1. Mail is
# kept in a temporary database that Mailpit deletes when it stops: a development sink, not an archive.
# UI: http://127.0.0.1:$MAILPIT_HTTP_PORT/, API: /api/v1/, SMTP: 127.0.0.1:$MAILPIT_SMTP_PORT (no auth, no TLS).
#
# Environment: MAILPIT_SMTP_PORT (1025), MAILPIT_HTTP_PORT (8025), MAILPIT_START_TIMEOUT seconds (20),
# MAILPIT_STOP_TIMEOUT seconds (10).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SMTP_PORT="${MAILPIT_SMTP_PORT:-1025}"
HTTP_PORT="${MAILPIT_HTTP_PORT:-8025}"
HOST=127.0.0.1
BIN="$ROOT/.tools/bin/mailpit"
CACHE="$ROOT/.cache/mailpit"
if [[ "$HTTP_PORT" == 8025 ]]; then RUN="$CACHE/run"; else RUN="$CACHE/run-$HTTP_PORT"; fi
PID_FILE="$RUN/mailpit.pid"
LOG_FILE="$RUN/mailpit.log"
START_TIMEOUT="${MAILPIT_START_TIMEOUT:-20}"
STOP_TIMEOUT="${MAILPIT_STOP_TIMEOUT:-10}"

DAEMON_NAME=mailpit
DAEMON_CMDLINE="--listen $HOST:$HTTP_PORT "
# shellcheck source=lib/daemon.sh
source "$ROOT/scripts/lib/daemon.sh"

# probe: the API's /api/v1/info answers with Mailpit's version, and the SMTP port greets with 220.
probe() {
  local info banner
  info="$(curl -fsS --max-time 3 "http://$HOST:$HTTP_PORT/api/v1/info" 2>/dev/null)" || return 1
  [[ "$info" == *'"Version"'* ]] || return 1
  banner="$(timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1" || exit 1; head -c 3 <&3' "$HOST" "$SMTP_PORT" 2>/dev/null)" || return 1
  [[ "$banner" == 220 ]]
}

start() {
  daemon_lock "$CACHE/mailpit-$HTTP_PORT.lock" "$((START_TIMEOUT + 60))"
  local pid
  if probe; then
    log "reusing the Mailpit already answering on $HOST:$HTTP_PORT (SMTP $SMTP_PORT)"
  elif pid="$(our_pid)"; then
    log "mailpit (pid $pid) is starting; waiting for it"
    daemon_wait_ready "$pid"
  else
    port_open "$HOST" "$HTTP_PORT" && die "$HOST:$HTTP_PORT is taken by something that does not answer like Mailpit"
    port_open "$HOST" "$SMTP_PORT" && die "$HOST:$SMTP_PORT (MAILPIT_SMTP_PORT) is taken by another process"
    command -v curl >/dev/null || die "curl not found: the readiness check asks the API with curl"
    [[ -x "$BIN" ]] || die "$BIN not found: run npm run tools (needs Go)"
    log "starting Mailpit: SMTP $HOST:$SMTP_PORT, UI and API http://$HOST:$HTTP_PORT/ (log: ${LOG_FILE#"$ROOT"/})"
    # --disable-version-check: no call to GitHub at start (offline machines, CI).
    daemon_launch "$BIN" --listen "$HOST:$HTTP_PORT" --smtp "$HOST:$SMTP_PORT" --disable-version-check
    pid=$DAEMON_PID
    daemon_wait_ready "$pid"
    log "mailpit ready (pid $pid)"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) daemon_stop "$HOST:$HTTP_PORT" ;;
  status) daemon_status "$HOST:$HTTP_PORT" ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
