#!/usr/bin/env bash
# goaws.sh runs goaws, a local emulator of Amazon SNS and SQS in one process, for the command bus's SQS adapter
# (services/shared/src/commands) in development and tests.
#
#   bash scripts/goaws.sh start    reuse a goaws already answering on 127.0.0.1:$GOAWS_PORT, or start one in the
#                                  background and wait until /health answers
#   bash scripts/goaws.sh stop     stop the goaws this script started (SIGTERM, then SIGKILL after a timeout)
#   bash scripts/goaws.sh status   exit 0 when a goaws answers on the port, 3 when none does
#
# The binary is .tools/bin/goaws, pinned in scripts/tools.sh (npm run tools). Its configuration is
# scripts/goaws/goaws.yaml with the port set; queues and topics live in memory, so a restart starts empty.
# goaws v0.4.5 listens on 0.0.0.0 whatever its configuration says (the address is hard-coded in its main), so unlike
# the other scripts' servers it is reachable from other hosts: use it on a trusted network only. Clients use
# 127.0.0.1.
#
# Environment: GOAWS_PORT (4100), GOAWS_START_TIMEOUT seconds (20), GOAWS_STOP_TIMEOUT seconds (10).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GOAWS_PORT="${GOAWS_PORT:-4100}"
HOST=127.0.0.1
BIN="$ROOT/.tools/bin/goaws"
CACHE="$ROOT/.cache/goaws"
if [[ "$GOAWS_PORT" == 4100 ]]; then RUN="$CACHE/run"; else RUN="$CACHE/run-$GOAWS_PORT"; fi
CONFIG="$RUN/goaws.yaml"
PID_FILE="$RUN/goaws.pid"
LOG_FILE="$RUN/goaws.log"
START_TIMEOUT="${GOAWS_START_TIMEOUT:-20}"
STOP_TIMEOUT="${GOAWS_STOP_TIMEOUT:-10}"

DAEMON_NAME=goaws
DAEMON_CMDLINE="-config $CONFIG"
# shellcheck source=lib/daemon.sh
source "$ROOT/scripts/lib/daemon.sh"

# probe: goaws's /health answers "OK".
probe() { [[ "$(curl -fsS --max-time 3 "http://$HOST:$GOAWS_PORT/health" 2>/dev/null)" == OK ]]; }

start() {
  daemon_lock "$CACHE/goaws-$GOAWS_PORT.lock" "$((START_TIMEOUT + 60))"
  local pid
  if probe; then
    log "reusing the goaws already answering on $HOST:$GOAWS_PORT"
  elif pid="$(our_pid)"; then
    log "goaws (pid $pid) is starting; waiting for it"
    daemon_wait_ready "$pid"
  else
    port_open "$HOST" "$GOAWS_PORT" && die "$HOST:$GOAWS_PORT is taken by something that does not answer like goaws"
    command -v curl >/dev/null || die "curl not found: the readiness check asks /health with curl"
    [[ -x "$BIN" ]] || die "$BIN not found: run npm run tools (needs Go)"
    mkdir -p "$RUN"
    sed "s/^  Port: .*/  Port: $GOAWS_PORT/" "$ROOT/scripts/goaws/goaws.yaml" >"$CONFIG"
    log "starting goaws on port $GOAWS_PORT (log: ${LOG_FILE#"$ROOT"/})"
    # cd: goaws resolves relative paths (its message log) against its working directory; keep them in the run dir.
    (cd "$RUN" && daemon_launch "$BIN" -config "$CONFIG")
    pid="$(cat "$PID_FILE")"
    daemon_wait_ready "$pid"
    log "goaws ready (pid $pid): SNS and SQS on http://$HOST:$GOAWS_PORT"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) daemon_stop "$HOST:$GOAWS_PORT" ;;
  status) daemon_status "$HOST:$GOAWS_PORT" ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
