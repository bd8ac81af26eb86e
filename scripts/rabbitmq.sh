#!/usr/bin/env bash
# rabbitmq.sh runs a RabbitMQ node (the command bus's broker, services/shared/src/commands) for development, tests and
# CI, with no Docker and no systemd: Debian's rabbitmq-server package, its server script started directly.
#
#   bash scripts/rabbitmq.sh start    reuse a RabbitMQ already answering AMQP on 127.0.0.1:$RABBITMQ_NODE_PORT, or
#                                     start a node of our own in the background and wait until it accepts AMQP
#   bash scripts/rabbitmq.sh stop     stop the node this script started (SIGTERM, then SIGKILL after a timeout), then
#                                     the epmd it started for it, by pid
#   bash scripts/rabbitmq.sh status   exit 0 when a RabbitMQ answers AMQP on the port, 3 when none does
#
# Needs the package rabbitmq-server (3.10 on Debian 12, with Erlang): installed with apt-get when missing and the user
# is root; otherwise the script says what to run. On a machine with systemd the package also starts Debian's own
# service on 5672; this script's node is separate from it (its own node name, ports, data and cookie).
#
# It must not disturb a RabbitMQ the user already runs: its node name, data (mnesia), logs, config, plugins file and
# Erlang cookie are its own, under .cache/rabbitmq/run[-<port>]/; a server already answering on the port is reused,
# never stopped; an epmd already listening is used as is and left running. No management plugin: the bus and the
# tests need only AMQP 0-9-1, and the plugin would add seconds to every start.
#
# Environment: RABBITMQ_NODE_PORT (5672), RABBITMQ_DIST_PORT (NODE_PORT + 20000, as RabbitMQ's own default),
# ERL_EPMD_PORT (4369; tests use their own), RABBITMQ_NODENAME (shopmesh@localhost, or shopmesh-<port>@localhost on
# another port), RABBITMQ_START_TIMEOUT seconds (60), RABBITMQ_STOP_TIMEOUT seconds (30).
# To use the CLI tools against this node: HOME=.cache/rabbitmq/run/home ERL_EPMD_PORT=… rabbitmqctl -n <node> status
# (HOME holds the node's own Erlang cookie).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOST=127.0.0.1
NODE_PORT="${RABBITMQ_NODE_PORT:-5672}"
DIST_PORT="${RABBITMQ_DIST_PORT:-$((NODE_PORT + 20000))}"
EPMD_PORT="${ERL_EPMD_PORT:-4369}"
if [[ "$NODE_PORT" == 5672 ]]; then RUN_NAME=run; NODENAME_DEFAULT="shopmesh@localhost"; else RUN_NAME="run-$NODE_PORT"; NODENAME_DEFAULT="shopmesh-$NODE_PORT@localhost"; fi
NODENAME="${RABBITMQ_NODENAME:-$NODENAME_DEFAULT}"
SERVER=/usr/lib/rabbitmq/bin/rabbitmq-server
CACHE="$ROOT/.cache/rabbitmq"
RUN="$CACHE/$RUN_NAME"
PID_FILE="$RUN/rabbitmq.pid"
EPMD_PID_FILE="$RUN/epmd.pid"
LOG_FILE="$RUN/rabbitmq.out"
START_TIMEOUT="${RABBITMQ_START_TIMEOUT:-60}"
STOP_TIMEOUT="${RABBITMQ_STOP_TIMEOUT:-30}"

DAEMON_NAME=rabbitmq
DAEMON_CMDLINE="$SERVER"
# shellcheck source=lib/daemon.sh
source "$ROOT/scripts/lib/daemon.sh"

# our_pid (replacing daemon.sh's): the server script's command line names no node, so the node name in its
# environment is what tells our node from another one started the same way (or a process that reused the pid).
our_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE")"
  pid_matches "$pid" "$SERVER" || return 1
  tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qxF "RABBITMQ_NODENAME=$NODENAME" || return 1
  echo "$pid"
}

# probe opens an AMQP 0-9-1 connection: it sends the protocol header and succeeds only when the answer is a
# Connection.Start method frame (type 1, channel 0, class 10, method 10). RabbitMQ opens its AMQP listener at the end
# of its boot, so this is "ready", and it takes milliseconds where each rabbitmq-diagnostics call starts an Erlang VM.
probe() { probe_port "$NODE_PORT"; }
probe_port() {
  local reply
  reply="$(timeout 3 bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    printf "AMQP\x00\x00\x09\x01" >&3
    head -c 11 <&3 | od -An -tx1' "$HOST" "$1" 2>/dev/null | tr -d ' \n')" || return 1
  [[ "${reply:0:6}" == "010000" && "${reply:14:8}" == "000a000a" ]]
}

ensure_installed() {
  [[ -x "$SERVER" ]] && return 0
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    log "installing Debian's rabbitmq-server package (with Erlang)"
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rabbitmq-server >&2 \
      || die "apt-get install rabbitmq-server failed"
    [[ -x "$SERVER" ]] || die "rabbitmq-server installed, but $SERVER is missing"
  else
    die "RabbitMQ is not installed ($SERVER missing). Run: sudo apt-get install --no-install-recommends rabbitmq-server"
  fi
}

epmd_bin() { command -v epmd || ls /usr/lib/erlang/erts-*/bin/epmd 2>/dev/null | head -n 1; }

# our_epmd prints the pid of the epmd this script started for this run, when it is still alive on our port.
our_epmd() {
  [[ -f "$EPMD_PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$EPMD_PID_FILE")"
  pid_matches "$pid" "-port $EPMD_PORT -address $HOST" || return 1
  echo "$pid"
}

# ensure_epmd gives the node a port mapper: one already listening on ERL_EPMD_PORT is used and left alone; otherwise
# this script starts one in the foreground of its own session (not `epmd -daemon`, whose pid nobody knows), so that
# stop can end it by pid. Erlang would otherwise start one itself, which then outlives the node.
ensure_epmd() {
  if port_open "$HOST" "$EPMD_PORT"; then
    our_epmd >/dev/null || log "using the epmd already listening on $HOST:$EPMD_PORT (not ours: it is left running)"
    return 0
  fi
  local bin
  bin="$(epmd_bin)"
  [[ -n "$bin" ]] || die "epmd not found (it comes with the erlang-base package)"
  nohup setsid "$bin" -port "$EPMD_PORT" -address "$HOST" </dev/null >"$RUN/epmd.log" 2>&1 9>&- &
  local pid=$!
  echo "$pid" >"$EPMD_PID_FILE"
  local deadline=$((SECONDS + 10))
  until port_open "$HOST" "$EPMD_PORT"; do
    kill -0 "$pid" 2>/dev/null || die "epmd exited at start (log: $RUN/epmd.log)"
    ((SECONDS < deadline)) || die "epmd did not listen on $HOST:$EPMD_PORT within 10s"
    sleep 0.1
  done
}

# stop_epmd ends the epmd this script started, unless another node has registered with it since (a node of the user's
# on the same epmd port): killing that epmd would cut that node off from its CLI tools and peers.
stop_epmd() {
  local pid names
  pid="$(our_epmd)" || { rm -f "$EPMD_PID_FILE"; return 0; }
  names="$("$(epmd_bin)" -port "$EPMD_PORT" -names 2>/dev/null | grep '^name ' || true)"
  if [[ -n "$names" ]]; then
    log "epmd (pid $pid) still has nodes registered ($(echo "$names" | awk '{print $2}' | paste -sd, -)); leaving it running"
    return 0
  fi
  stop_pid "$pid" epmd || die "epmd (pid $pid) did not exit"
  rm -f "$EPMD_PID_FILE"
  log "stopped its epmd (pid $pid)"
}

write_config() {
  mkdir -p "$RUN/home" "$RUN/mnesia" "$RUN/log"
  # Our own files in place of /etc/rabbitmq's, so a system-wide configuration cannot change this node (and this node
  # never writes there): no plugins, no config beyond the environment below.
  echo "[]." >"$RUN/enabled_plugins"
  : >"$RUN/rabbitmq-env.conf"
  cat >"$RUN/rabbitmq.conf" <<'EOF'
# Written by scripts/rabbitmq.sh on every start; edit the script, not this file.
# Logs to the file under RABBITMQ_LOG_BASE only; the console copy would fill rabbitmq.out twice.
log.console = false
EOF
}

start() {
  daemon_lock "$CACHE/rabbitmq-$NODE_PORT.lock" "$((START_TIMEOUT + 300))"
  local pid
  if probe; then
    log "reusing the RabbitMQ already answering on $HOST:$NODE_PORT"
    return 0
  elif pid="$(our_pid)"; then
    log "rabbitmq (pid $pid) is starting; waiting for it"
    daemon_wait_ready "$pid"
    return 0
  fi
  port_open "$HOST" "$NODE_PORT" && die "$HOST:$NODE_PORT is taken by something that does not answer like RabbitMQ"
  port_open "$HOST" "$DIST_PORT" && die "$HOST:$DIST_PORT (RABBITMQ_DIST_PORT) is taken by another process"
  ensure_installed
  write_config
  ensure_epmd
  log "starting RabbitMQ node $NODENAME on $HOST:$NODE_PORT (distribution $DIST_PORT, epmd $EPMD_PORT; log: ${RUN#"$ROOT"/}/log/)"
  # The distribution listener binds every interface unless told otherwise (inet_dist_use_interface); AMQP binds
  # RABBITMQ_NODE_IP_ADDRESS. HOME: the Erlang cookie is created there, not in the user's home.
  HOME="$RUN/home" \
    RABBITMQ_NODENAME="$NODENAME" \
    RABBITMQ_NODE_IP_ADDRESS="$HOST" \
    RABBITMQ_NODE_PORT="$NODE_PORT" \
    RABBITMQ_DIST_PORT="$DIST_PORT" \
    ERL_EPMD_PORT="$EPMD_PORT" \
    ERL_EPMD_ADDRESS="$HOST" \
    RABBITMQ_MNESIA_BASE="$RUN/mnesia" \
    RABBITMQ_LOG_BASE="$RUN/log" \
    RABBITMQ_CONFIG_FILE="$RUN/rabbitmq.conf" \
    RABBITMQ_ADVANCED_CONFIG_FILE="$RUN/advanced.config" \
    RABBITMQ_CONF_ENV_FILE="$RUN/rabbitmq-env.conf" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$RUN/enabled_plugins" \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
    daemon_launch "$SERVER"
  pid=$DAEMON_PID
  daemon_wait_ready "$pid"
  log "rabbitmq ready (pid $pid): amqp://guest:guest@$HOST:$NODE_PORT"
}

stop() {
  local pid
  if pid="$(our_pid)"; then
    log "stopping rabbitmq (pid $pid)"
    # The pid is the server script, which turns SIGTERM into a clean stop of the Erlang VM and waits for it.
    stop_pid "$pid" || die "rabbitmq (pid $pid) did not exit even after SIGKILL"
    # A SIGKILLed script leaves the VM and its helpers (erl_child_setup, inet_gethost) behind; they share its session.
    local left
    left="$(pgrep -s "$pid" || true)"
    if [[ -n "$left" ]]; then
      log "killing what the server left in its session: $(echo "$left" | paste -sd' ' -)"
      # shellcheck disable=SC2086 # one pid per word
      kill -KILL $left 2>/dev/null || true
    fi
    rm -f "$PID_FILE"
    log "stopped"
  else
    rm -f "$PID_FILE"
    if probe; then log "a RabbitMQ answers on $HOST:$NODE_PORT but this script did not start it; leaving it alone"
    else log "no rabbitmq started by this script is running"; fi
  fi
  stop_epmd
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) daemon_status "$HOST:$NODE_PORT" ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
