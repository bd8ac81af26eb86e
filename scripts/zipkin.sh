#!/usr/bin/env bash
# zipkin.sh runs a Zipkin server (traces: collector, API and UI in one process) for development and tests, with no
# Docker: the server's executable jar comes from Maven Central, as scripts/kafka.sh fetches Kafka.
#
#   bash scripts/zipkin.sh start    reuse a Zipkin already answering on 127.0.0.1:$ZIPKIN_PORT, or download (once) and
#                                   start one in the background, then wait until /health says UP
#   bash scripts/zipkin.sh stop     stop the server this script started (SIGTERM, then SIGKILL after a timeout)
#   bash scripts/zipkin.sh status   exit 0 when a Zipkin answers on the port, 3 when none does
#
# Needs only Java 17+ and Maven: io.zipkin:zipkin-server:$ZIPKIN_VERSION, classifier exec (about 130 MB), is cached in
# the ignored .cache/zipkin/<version>/. Spans are kept in memory (STORAGE_TYPE=mem): a restart forgets them, which is
# what a development viewer wants. UI: http://127.0.0.1:$ZIPKIN_PORT/zipkin/, API: /api/v2/, spans in: /api/v2/spans.
#
# Environment: ZIPKIN_PORT (9411), ZIPKIN_VERSION (3.5.1), ZIPKIN_JAVA_OPTS (-Xms64m -Xmx256m), ZIPKIN_MAX_SPANS (500000,
# the in-memory store's bound), ZIPKIN_START_TIMEOUT seconds (90), ZIPKIN_STOP_TIMEOUT seconds (20).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ZIPKIN_VERSION="${ZIPKIN_VERSION:-3.5.1}"
ZIPKIN_PORT="${ZIPKIN_PORT:-9411}"
HOST=127.0.0.1
CACHE="$ROOT/.cache/zipkin"
JAR="$CACHE/$ZIPKIN_VERSION/zipkin-server-$ZIPKIN_VERSION-exec.jar"
if [[ "$ZIPKIN_PORT" == 9411 ]]; then RUN="$CACHE/run"; else RUN="$CACHE/run-$ZIPKIN_PORT"; fi
PID_FILE="$RUN/zipkin.pid"
LOG_FILE="$RUN/zipkin.log"
START_TIMEOUT="${ZIPKIN_START_TIMEOUT:-90}"
STOP_TIMEOUT="${ZIPKIN_STOP_TIMEOUT:-20}"

DAEMON_NAME=zipkin
DAEMON_CMDLINE="-jar $JAR --armeria.ports[0].port=$ZIPKIN_PORT "
# shellcheck source=lib/daemon.sh
source "$ROOT/scripts/lib/daemon.sh"

# probe succeeds only when /health answers with status UP: a Zipkin that is ready, not just any open port.
probe() {
  local body
  body="$(curl -fsS --max-time 3 "http://$HOST:$ZIPKIN_PORT/health" 2>/dev/null)" || return 1
  [[ "$body" == *'"status"'*'"UP"'* ]]
}

download() {
  [[ -f "$JAR" ]] && return 0
  command -v mvn >/dev/null || die "mvn not found: install Maven 3.8+ (e.g. apt-get install maven)"
  log "downloading Zipkin server $ZIPKIN_VERSION (exec jar, about 130 MB) from Maven Central into ${JAR#"$ROOT"/}"
  mkdir -p "$CACHE"
  local tmp="$CACHE/$ZIPKIN_VERSION.tmp.$$" mvn_log="$CACHE/maven-$ZIPKIN_VERSION.log"
  rm -rf "$tmp"
  # dependency:copy needs no pom: it resolves one artifact (through ~/.m2 and any mirror in settings.xml) and copies it.
  mvn -B -Dstyle.color=never dependency:copy -Dartifact="io.zipkin:zipkin-server:$ZIPKIN_VERSION:jar:exec" \
    -DoutputDirectory="$tmp" >"$mvn_log" 2>&1 || {
    rm -rf "$tmp"
    grep -E "ERROR|BUILD" "$mvn_log" | head -n 20 >&2
    die "maven could not fetch io.zipkin:zipkin-server:$ZIPKIN_VERSION:exec (log: $mvn_log)"
  }
  rm -f "$mvn_log"
  mkdir -p "$(dirname "$JAR")"
  # The rename is the commit point: a jar at $JAR is always whole, never a download cut short.
  mv "$tmp/$(basename "$JAR")" "$JAR"
  rm -rf "$tmp"
}

start() {
  mkdir -p "$CACHE"
  # One start at a time per port: two test runs must not race to launch two servers on one port.
  daemon_lock "$CACHE/zipkin-$ZIPKIN_PORT.lock" "$((START_TIMEOUT + 300))"

  local pid
  if probe; then
    log "reusing the Zipkin already answering on $HOST:$ZIPKIN_PORT"
  elif pid="$(our_pid)"; then
    log "zipkin (pid $pid) is starting; waiting for it"
    daemon_wait_ready "$pid"
  else
    port_open "$HOST" "$ZIPKIN_PORT" && die "$HOST:$ZIPKIN_PORT is taken by something that does not answer like Zipkin"
    command -v java >/dev/null || die "java not found: install a JDK 17+ (e.g. apt-get install openjdk-17-jre-headless)"
    command -v curl >/dev/null || die "curl not found: the readiness check asks /health with curl"
    download
    mkdir -p "$RUN"
    log "starting Zipkin $ZIPKIN_VERSION on $HOST:$ZIPKIN_PORT (log: ${LOG_FILE#"$ROOT"/})"
    # Zipkin serves through Armeria, which listens on every interface unless its port entry names an ip. Spring
    # binds a list from one source as a whole, so the entry is given whole here (port, ip, protocol), replacing the
    # jar's `armeria.ports` (zipkin-server-shared.yml) rather than merging into it.
    ZIPKIN_JAVA_OPTS="${ZIPKIN_JAVA_OPTS:--Xms64m -Xmx256m}"
    # shellcheck disable=SC2086 # ZIPKIN_JAVA_OPTS holds several JVM flags
    STORAGE_TYPE=mem MEM_MAX_SPANS="${ZIPKIN_MAX_SPANS:-500000}" SELF_TRACING_ENABLED=false \
      daemon_launch java $ZIPKIN_JAVA_OPTS -Djava.awt.headless=true -jar "$JAR" \
      "--armeria.ports[0].port=$ZIPKIN_PORT" "--armeria.ports[0].ip=$HOST" "--armeria.ports[0].protocols[0]=http"
    pid=$DAEMON_PID
    daemon_wait_ready "$pid"
    log "zipkin ready (pid $pid): UI http://$HOST:$ZIPKIN_PORT/zipkin/"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) daemon_stop "$HOST:$ZIPKIN_PORT" ;;
  status) daemon_status "$HOST:$ZIPKIN_PORT" ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
