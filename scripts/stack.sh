#!/usr/bin/env bash
# Starts and stops fleet's real dependencies on 127.0.0.1: Apache Kafka (KRaft, single node, jars
# from Maven Central cached outside git) and redis-server. Idempotent; stops only what it started.
#   scripts/stack.sh up|down|status|reset [kafka|redis]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${FLEET_CACHE_DIR:-$HOME/.cache/fleet}
STATE=${FLEET_STACK_DIR:-$ROOT/.stack}
KAFKA_VERSION=${FLEET_KAFKA_VERSION:-3.9.2}
KAFKA_PORT=${FLEET_KAFKA_PORT:-19092}
KAFKA_CONTROLLER_PORT=${FLEET_KAFKA_CONTROLLER_PORT:-19093}
REDIS_PORT=${FLEET_REDIS_PORT:-16379}
# A second Kafka listener with TLS + SASL/SCRAM-SHA-512 (on by default; FLEET_KAFKA_SASL=0 turns it
# off): its CA, the user and the password are written under $STATE/kafka/sasl/ for clients and tests.
KAFKA_SASL=${FLEET_KAFKA_SASL:-1}
KAFKA_SASL_PORT=${FLEET_KAFKA_SASL_PORT:-$((KAFKA_PORT + 2))}
KAFKA_SASL_USER=${FLEET_KAFKA_SASL_USER:-fleet}
# Fault tests run a stack of their own: Kafka may live on another address inside a network
# namespace (so its traffic can be throttled with tc), Redis may keep an append-only file (so a
# stop and start is a restart, not a wipe).
KAFKA_HOST=${FLEET_KAFKA_HOST:-127.0.0.1}
KAFKA_NETNS=${FLEET_KAFKA_NETNS:-}
REDIS_APPENDONLY=${FLEET_REDIS_APPENDONLY:-no}
KAFKA_HEAP=${FLEET_KAFKA_HEAP:--Xms256m -Xmx768m}
KAFKA_LIBS=$CACHE/kafka-$KAFKA_VERSION/libs

log() { printf '[stack] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

port_open() { (exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null; }
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_until() { # wait_until <seconds> <description> <command...>
  local deadline=$((SECONDS + $1)) what=$2; shift 2
  until "$@"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}

stop_pid() { # stop_pid <pidfile> <name>: SIGTERM, wait with a deadline, then SIGKILL
  local file=$1 name=$2 pid
  if ! pid_alive "$file"; then rm -f "$file"; log "$name not running (started by us)"; return 0; fi
  pid=$(cat "$file")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then log "$name (pid $pid) ignored SIGTERM for 20 s: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; fi
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$file"
  log "$name stopped"
}

# --- Kafka --------------------------------------------------------------------------------------
fetch_kafka() {
  [ -f "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" ] && return 0
  command -v java >/dev/null || die "java not found (install a JDK 17+)"
  command -v mvn >/dev/null || die "mvn not found (apt-get install -y maven)"
  log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_LIBS"
  local work; work=$(mktemp -d)
  cat >"$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>fleet</groupId><artifactId>kafka-libs</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>
  </dependencies>
</project>
POM
  mkdir -p "$KAFKA_LIBS.tmp"
  mvn -q -f "$work/pom.xml" dependency:copy-dependencies -DoutputDirectory="$KAFKA_LIBS.tmp" -DincludeScope=runtime
  rm -rf "$KAFKA_LIBS" && mv "$KAFKA_LIBS.tmp" "$KAFKA_LIBS" && rm -rf "$work"
}

# A CA and a server certificate for $KAFKA_HOST (PEM keystore: unencrypted PKCS#8 key + certificate
# in one file), and a random password for the SCRAM user; made once per state directory.
kafka_sasl_files() {
  local d=$1
  [ -f "$d/server.keystore.pem" ] && [ -f "$d/password" ] && return 0
  command -v openssl >/dev/null || die "openssl not found (needed for FLEET_KAFKA_SASL=1)"
  mkdir -p "$d" && chmod 700 "$d"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=fleet stack Kafka CA" \
    -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$KAFKA_HOST" -keyout "$d/server.key.tmp" -out "$d/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:%s,DNS:localhost\n' "$KAFKA_HOST" >"$d/san.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 3650 \
    -extfile "$d/san.ext" -out "$d/server.pem" 2>/dev/null
  openssl pkcs8 -topk8 -nocrypt -in "$d/server.key.tmp" -out "$d/server.key"
  cat "$d/server.key" "$d/server.pem" >"$d/server.keystore.pem"
  rm -f "$d/server.key.tmp" "$d/server.csr" "$d/san.ext"
  openssl rand -hex 24 >"$d/password"
  printf '%s\n' "$KAFKA_SASL_USER" >"$d/user"
  chmod 600 "$d"/*
}

kafka_up() {
  local dir=$STATE/kafka sasl=$STATE/kafka/sasl
  mkdir -p "$dir"
  if pid_alive "$dir/pid"; then log "kafka already running (pid $(cat "$dir/pid"))"; return 0; fi
  port_open "$KAFKA_PORT" "$KAFKA_HOST" && die "port $KAFKA_PORT is taken by a process this script did not start"
  fetch_kafka
  local listeners="PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT" protocols="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT" extra=""
  if [ "$KAFKA_SASL" = 1 ]; then
    port_open "$KAFKA_SASL_PORT" "$KAFKA_HOST" && die "port $KAFKA_SASL_PORT (SASL_SSL) is taken by a process this script did not start"
    kafka_sasl_files "$sasl"
    listeners="$listeners,SASL_SSL://$KAFKA_HOST:$KAFKA_SASL_PORT"
    protocols="$protocols,SASL_SSL:SASL_SSL"
    extra="sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PEM
ssl.keystore.location=$sasl/server.keystore.pem"
  fi
  cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
listeners=$listeners,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=$listeners
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=$protocols
$extra
log.dirs=$dir/data
num.partitions=6
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
PROPS
  cat >"$dir/log4j.properties" <<L4J
log4j.rootLogger=WARN, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$dir/server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
L4J
  if [ ! -f "$dir/data/meta.properties" ]; then
    local cid; cid=$(java -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
    # In KRaft the SCRAM user is created with the storage, before the broker first starts.
    local scram=()
    [ "$KAFKA_SASL" = 1 ] && scram=(--add-scram "SCRAM-SHA-512=[name=$KAFKA_SASL_USER,password=$(cat "$sasl/password")]")
    java -Dlog4j.configuration="file:$dir/log4j.properties" -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool \
      format -t "$cid" -c "$dir/server.properties" "${scram[@]}" \
      >"$dir/format.log" 2>&1 || { cat "$dir/format.log" >&2; die "kafka storage format failed"; }
    if [ "$KAFKA_SASL" = 1 ]; then touch "$sasl/user-created"; fi
  fi
  # shellcheck disable=SC2086
  ${KAFKA_NETNS:+ip netns exec "$KAFKA_NETNS"} nohup java $KAFKA_HEAP -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Dlog4j.configuration="file:$dir/log4j.properties" -cp "$KAFKA_LIBS/*" kafka.Kafka "$dir/server.properties" \
    >"$dir/stdout.log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
  if ! wait_until 60 "kafka port" port_open "$KAFKA_PORT" "$KAFKA_HOST"; then
    tail -n 30 "$dir/server.log" "$dir/stdout.log" >&2 || true
    die "kafka did not open port $KAFKA_PORT within 60 s"
  fi
  if [ "$KAFKA_SASL" = 1 ]; then
    wait_until 30 "kafka SASL_SSL port" port_open "$KAFKA_SASL_PORT" "$KAFKA_HOST" || die "kafka did not open SASL_SSL port $KAFKA_SASL_PORT"
    # Storage formatted before the SASL listener existed: add the user through the admin API.
    if [ ! -f "$sasl/user-created" ]; then
      java -Dlog4j.configuration="file:$dir/log4j.properties" -cp "$KAFKA_LIBS/*" kafka.admin.ConfigCommand \
        --bootstrap-server "$KAFKA_HOST:$KAFKA_PORT" --alter --entity-type users --entity-name "$KAFKA_SASL_USER" \
        --add-config "SCRAM-SHA-512=[password=$(cat "$sasl/password")]" >"$dir/scram.log" 2>&1 \
        || { cat "$dir/scram.log" >&2; die "could not create the SCRAM user"; }
      touch "$sasl/user-created"
    fi
    printf '%s:%s\n' "$KAFKA_HOST" "$KAFKA_SASL_PORT" >"$sasl/brokers"
    log "kafka SASL_SSL (SCRAM-SHA-512, user $KAFKA_SASL_USER) on $KAFKA_HOST:$KAFKA_SASL_PORT; CA and password in $sasl"
  fi
  log "kafka $KAFKA_VERSION up on $KAFKA_HOST:$KAFKA_PORT${KAFKA_NETNS:+ in network namespace $KAFKA_NETNS} (pid $(cat "$dir/pid"))"
}

kafka_down() { stop_pid "$STATE/kafka/pid" kafka; }

# --- Redis --------------------------------------------------------------------------------------
ensure_redis_server() {
  command -v redis-server >/dev/null && return 0
  log "redis-server missing: installing Debian's package"
  [ "$(id -u)" = 0 ] || die "redis-server is not installed and this is not root: apt-get install -y redis-server"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
}

redis_up() {
  local dir=$STATE/redis
  mkdir -p "$dir"
  if pid_alive "$dir/pid"; then log "redis already running (pid $(cat "$dir/pid"))"; return 0; fi
  port_open "$REDIS_PORT" && die "port $REDIS_PORT is taken by a process this script did not start"
  ensure_redis_server
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$dir" --save "" --appendonly "$REDIS_APPENDONLY" \
    --daemonize yes --pidfile "$dir/pid" --logfile "$dir/redis.log"
  wait_until 20 "redis ping" sh -c "redis-cli -p $REDIS_PORT ping 2>/dev/null | grep -q PONG" || die "redis did not answer PING"
  log "redis up on 127.0.0.1:$REDIS_PORT (pid $(cat "$dir/pid"))"
}

redis_down() { stop_pid "$STATE/redis/pid" redis; }

status() {
  for s in kafka redis; do
    if pid_alive "$STATE/$s/pid"; then echo "$s: running (pid $(cat "$STATE/$s/pid"))"; else echo "$s: stopped"; fi
  done
}

cmd=${1:-status}; what=${2:-all}
case "$cmd:$what" in
  up:all) redis_up; kafka_up ;;
  up:kafka) kafka_up ;;
  up:redis) redis_up ;;
  down:all) kafka_down; redis_down ;;
  down:kafka) kafka_down ;;
  down:redis) redis_down ;;
  status:*) status ;;
  reset:*) kafka_down; redis_down; rm -rf "$STATE"; log "state removed" ;;
  *) echo "usage: $0 up|down|status|reset [kafka|redis]" >&2; exit 2 ;;
esac
