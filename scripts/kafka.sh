#!/usr/bin/env bash
# kafka.sh runs a single-node Apache Kafka broker (KRaft, combined broker + controller) for development, tests and CI.
#
#   bash scripts/kafka.sh start    reuse a broker already answering on 127.0.0.1:$KAFKA_PORT, or download (once) and
#                                  start one in the background; then create the project's topics (idempotent)
#   bash scripts/kafka.sh stop     stop the broker this script started (SIGTERM, then SIGKILL after a timeout)
#   bash scripts/kafka.sh status   exit 0 when a broker answers on the port, 3 when none does
#
# Needs only Java 17+ and Maven: the broker's jars come from Maven Central (scripts/kafka/pom.xml) into the ignored
# .cache/kafka/<version>/libs. Why this Kafka version, the topics and their retention: docs/kafka.md.
#
# Environment: KAFKA_PORT (9092; the controller listens on KAFKA_PORT+1), KAFKA_ADVERTISED_PORT (KAFKA_PORT: the port
# clients are told to connect to; another one puts a proxy such as the latency lab's toxiproxy in front), KAFKA_VERSION (see below),
# KAFKA_HEAP_OPTS (-Xms256m -Xmx512m), KAFKA_START_TIMEOUT seconds (90), KAFKA_STOP_TIMEOUT seconds (30).
# KAFKA_TLS_PORT (unset: no TLS) adds a listener SSL://127.0.0.1:$KAFKA_TLS_PORT that requires a client certificate
# issued by the mesh's CA in PKI_DIR (.data/pki); its own certificate is issued at each start (npm run certs -- broker).
# The PLAINTEXT listener stays (tools, topic creation, tests). docs/kafka.md "TLS with the mesh's CA".
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
ADVERTISED_PORT="${KAFKA_ADVERTISED_PORT:-$KAFKA_PORT}"
CONTROLLER_PORT="$((KAFKA_PORT + 1))"
HOST=127.0.0.1
CACHE="$ROOT/.cache/kafka"
LIBS="$CACHE/$KAFKA_VERSION/libs"
if [[ "$KAFKA_PORT" == 9092 ]]; then RUN="$CACHE/run"; else RUN="$CACHE/run-$KAFKA_PORT"; fi
DATA="$RUN/data"
PID_FILE="$RUN/kafka.pid"
LOG_FILE="$RUN/kafka.log"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
TLS_PORT="${KAFKA_TLS_PORT:-}"
PKI_DIR="$(realpath -m "${PKI_DIR:-$ROOT/.data/pki}")"

DAEMON_NAME=kafka
DAEMON_CMDLINE="kafka.Kafka $RUN/server.properties"
# shellcheck source=lib/daemon.sh
source "$ROOT/scripts/lib/daemon.sh"

# probe sends a Kafka ApiVersions v0 request (api_key 18, correlation id 1, client id "probe") and succeeds only when
# the answer carries correlation id 1 and error code 0: a real broker, not just any open port.
probe() {
  local reply
  reply="$(timeout 3 bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    printf "\x00\x00\x00\x0f\x00\x12\x00\x00\x00\x00\x00\x01\x00\x05probe" >&3
    head -c 10 <&3 | od -An -tx1' "$HOST" "$KAFKA_PORT" 2>/dev/null | tr -d ' \n')" || return 1
  [[ "${reply:8:12}" == "000000010000" ]]
}


download() {
  [[ -f "$LIBS/.complete" ]] && return 0
  command -v mvn >/dev/null || die "mvn not found: install Maven 3.8+ (e.g. apt-get install maven)"
  log "downloading Apache Kafka $KAFKA_VERSION from Maven Central into ${LIBS#"$ROOT"/}"
  local tmp="$LIBS.tmp.$$"
  rm -rf "$tmp"
  local mvn_log="$CACHE/maven-$KAFKA_VERSION.log"
  mvn -B -Dstyle.color=never -f "$ROOT/scripts/kafka/pom.xml" dependency:copy-dependencies \
    -Dkafka.version="$KAFKA_VERSION" -DincludeScope=runtime -DoutputDirectory="$tmp" >"$mvn_log" 2>&1 || {
    rm -rf "$tmp"
    grep -E "ERROR|BUILD" "$mvn_log" | head -n 20 >&2
    die "maven could not fetch org.apache.kafka:kafka_2.13:$KAFKA_VERSION (log: $mvn_log)"
  }
  rm -f "$mvn_log"
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  touch "$LIBS/.complete"
}

# issue_broker_certificate gives the TLS listener a fresh leaf from the mesh's CA (creating the CA if missing):
# brokers/kafka.pem holds the key and the certificate, the PEM keystore the listener reads at start.
issue_broker_certificate() {
  # node_modules/.bin first, as under npm run: tsx then runs on the project's pinned Node (the PKI code needs >= 22).
  PATH="$ROOT/node_modules/.bin:$PATH" PKI_DIR="$PKI_DIR" tsx "$ROOT/scripts/certs.ts" broker >&2 \
    || die "could not issue the broker's certificate in $PKI_DIR"
}

write_config() {
  mkdir -p "$RUN"
  local listeners="PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$CONTROLLER_PORT"
  local advertised="PLAINTEXT://$HOST:$ADVERTISED_PORT"
  local protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
  if [[ -n "$TLS_PORT" ]]; then
    listeners="$listeners,SSL://$HOST:$TLS_PORT"
    advertised="$advertised,SSL://$HOST:$TLS_PORT"
    protocols="$protocols,SSL:SSL"
  fi
  cat >"$RUN/server.properties" <<EOF
# Written by scripts/kafka.sh on every start; edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$CONTROLLER_PORT
listeners=$listeners
advertised.listeners=$advertised
listener.security.protocol.map=$protocols
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$DATA
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# Topics are created up front by scripts/create-topics.ts with explicit partitions and retention (docs/kafka.md).
auto.create.topics.enable=false
EOF
  if [[ -n "$TLS_PORT" ]]; then
    cat >>"$RUN/server.properties" <<EOF
# The TLS listener (KAFKA_TLS_PORT): mutual TLS with the mesh's CA, both stores PEM files from PKI_DIR.
listener.name.ssl.ssl.client.auth=required
listener.name.ssl.ssl.keystore.type=PEM
listener.name.ssl.ssl.keystore.location=$PKI_DIR/brokers/kafka.pem
listener.name.ssl.ssl.truststore.type=PEM
listener.name.ssl.ssl.truststore.location=$PKI_DIR/ca.crt
EOF
  fi
  cat >"$RUN/log4j2.properties" <<'EOF'
# Broker logs go to stdout, which kafka.sh sends to kafka.log beside this file.
appender.out.type=Console
appender.out.name=STDOUT
appender.out.layout.type=PatternLayout
appender.out.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=INFO
rootLogger.appenderRef.out.ref=STDOUT
logger.state.name=state.change.logger
logger.state.level=WARN
logger.clients.name=org.apache.kafka.clients
logger.clients.level=WARN
EOF
}

format_storage() {
  # A data dir formatted by another Kafka version may not start (no downgrades): it is only a dev cache, start afresh.
  if [[ -f "$DATA/meta.properties" && "$(cat "$RUN/version" 2>/dev/null)" != "$KAFKA_VERSION" ]]; then
    log "data dir was formatted by Kafka $(cat "$RUN/version" 2>/dev/null || echo '?'); wiping it for $KAFKA_VERSION"
    rm -rf "$DATA"
  fi
  [[ -f "$DATA/meta.properties" ]] && return 0
  rm -rf "$DATA" # no meta.properties: never formatted, or half deleted; either way nothing worth keeping
  local cluster_id
  cluster_id="$(java -cp "$LIBS/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
  [[ -n "$cluster_id" ]] || die "kafka.tools.StorageTool random-uuid printed nothing"
  java -cp "$LIBS/*" -Dlog4j2.configurationFile="$RUN/log4j2.properties" kafka.tools.StorageTool format \
    -t "$cluster_id" -c "$RUN/server.properties" >>"$RUN/format.log" 2>&1 \
    || { tail -n 20 "$RUN/format.log" >&2; die "formatting $DATA failed (log: $RUN/format.log)"; }
  echo "$KAFKA_VERSION" >"$RUN/version"
}

create_topics() {
  local tsx="$ROOT/node_modules/.bin/tsx"
  [[ -x "$tsx" ]] || tsx="npx --no-install tsx"
  KAFKA_BROKERS="$HOST:$KAFKA_PORT" $tsx "$ROOT/scripts/create-topics.ts"
}

start() {
  mkdir -p "$CACHE"
  # One start at a time: two test runs (or `npm start` and a test run) must not launch two brokers on one data dir.
  daemon_lock "$CACHE/kafka-$KAFKA_PORT.lock" "$((START_TIMEOUT + 120))"

  local pid
  if probe; then
    # A broker started without the TLS listener cannot gain one without a restart: say so rather than carry on.
    if [[ -n "$TLS_PORT" ]] && ! port_open "$HOST" "$TLS_PORT"; then
      die "the broker on $HOST:$KAFKA_PORT has no TLS listener on $TLS_PORT: stop it (KAFKA_PORT=$KAFKA_PORT bash scripts/kafka.sh stop) and start again"
    fi
    # It reads its certificate at start only: one that has expired since refuses every client, so say so here.
    local keystore
    keystore="$(sed -n 's/^listener.name.ssl.ssl.keystore.location=//p' "$RUN/server.properties" 2>/dev/null)"
    if [[ -n "$TLS_PORT" && -f "$keystore" ]] && command -v openssl >/dev/null && ! openssl x509 -checkend 0 -noout -in "$keystore" >/dev/null; then
      die "the broker's TLS certificate ($keystore) has expired: restart the broker (KAFKA_PORT=$KAFKA_PORT bash scripts/kafka.sh stop, then start)"
    fi
    log "reusing the broker already answering on $HOST:$KAFKA_PORT"
  elif pid="$(our_pid)"; then
    log "broker (pid $pid) is starting; waiting for it"
    daemon_wait_ready "$pid"
  else
    port_open "$HOST" "$KAFKA_PORT" && die "$HOST:$KAFKA_PORT is taken by something that does not answer like a Kafka broker"
    if [[ -n "$TLS_PORT" ]] && port_open "$HOST" "$TLS_PORT"; then die "$HOST:$TLS_PORT (KAFKA_TLS_PORT) is taken by another process"; fi
    command -v java >/dev/null || die "java not found: install a JDK 17+ (e.g. apt-get install openjdk-17-jre-headless)"
    download
    if [[ -n "$TLS_PORT" ]]; then issue_broker_certificate; fi
    write_config
    format_storage
    log "starting Apache Kafka $KAFKA_VERSION on $HOST:$KAFKA_PORT${TLS_PORT:+ (TLS on $TLS_PORT)} (log: ${LOG_FILE#"$ROOT"/})"
    KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
    # shellcheck disable=SC2086 # KAFKA_HEAP_OPTS holds several JVM flags
    daemon_launch java $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$RUN/log4j2.properties" \
      -cp "$LIBS/*" kafka.Kafka "$RUN/server.properties"
    pid=$DAEMON_PID
    daemon_wait_ready "$pid"
    log "broker ready (pid $pid)"
  fi
  create_topics
}

case "${1:-}" in
  start) start ;;
  stop) daemon_stop "$HOST:$KAFKA_PORT" ;;
  status) daemon_status "$HOST:$KAFKA_PORT" ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
