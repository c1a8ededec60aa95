#!/usr/bin/env bash
# Starts and stops fleet's real dependencies on 127.0.0.1: Apache Kafka (KRaft, jars from Maven
# Central cached outside git) and redis-server. Idempotent; stops only what it started.
#   scripts/stack.sh up|down|status|reset [kafka|redis|kafka-N|redis-N|sentinels] [--replicated]
# Single node by default (npm start, npm test). `--replicated` (or FLEET_STACK_TOPOLOGY=replicated)
# starts production's shape: three KRaft nodes (replication 3, min.insync.replicas=2, no unclean
# leader election) and Redis as master + replica watched by three Sentinels. The topology chosen at
# `up` is remembered in the state directory, so `down`, `status` and `up kafka-2` need no flag.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${FLEET_CACHE_DIR:-$HOME/.cache/fleet}
STATE=${FLEET_STACK_DIR:-$ROOT/.stack}
args=()
TOPOLOGY=${FLEET_STACK_TOPOLOGY:-}
for a in "$@"; do
  case "$a" in
    --replicated) TOPOLOGY=replicated ;;
    --single) TOPOLOGY=single ;;
    *) args+=("$a") ;;
  esac
done
[ -n "$TOPOLOGY" ] || TOPOLOGY=$(cat "$STATE/topology" 2>/dev/null || echo single)
case "$TOPOLOGY" in single|replicated) ;; *) echo "FLEET_STACK_TOPOLOGY must be single or replicated" >&2; exit 2 ;; esac
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
# namespace (so its traffic can be throttled with tc, or cut), Redis may keep an append-only file
# (so a stop and start is a restart, not a wipe).
KAFKA_HOST=${FLEET_KAFKA_HOST:-127.0.0.1}
KAFKA_NETNS=${FLEET_KAFKA_NETNS:-}
REDIS_APPENDONLY=${FLEET_REDIS_APPENDONLY:-no}
# Another loopback address (say 127.0.35.1) keeps a busy machine's outgoing connections, whose
# ephemeral source ports are taken on 127.0.0.1, off Redis's ports (Kafka: FLEET_KAFKA_HOST).
REDIS_HOST=${FLEET_REDIS_HOST:-127.0.0.1}
# Replicated: node N (1..3) listens on the ports above + 10 × (N - 1); FLEET_KAFKA_HOSTS may give
# each node its own address, and FLEET_KAFKA_NETNS then holds node FLEET_KAFKA_NETNS_NODE only.
# Redis: master on REDIS_PORT, replica on +1, Sentinels on +2..+4 (quorum 2).
if [ "$TOPOLOGY" = replicated ]; then KAFKA_NODES=3; else KAFKA_NODES=1; fi
IFS=',' read -r -a KAFKA_HOSTS <<<"${FLEET_KAFKA_HOSTS:-}"
for n in $(seq 1 "$KAFKA_NODES"); do [ -n "${KAFKA_HOSTS[$((n - 1))]:-}" ] || KAFKA_HOSTS[n - 1]=$KAFKA_HOST; done
KAFKA_NETNS_NODE=${FLEET_KAFKA_NETNS_NODE:-}
SENTINEL_NAME=${FLEET_REDIS_SENTINEL_NAME:-fleet}
SENTINEL_DOWN_AFTER_MS=${FLEET_SENTINEL_DOWN_AFTER_MS:-5000}
if [ "$TOPOLOGY" = replicated ]; then
  KAFKA_HEAP=${FLEET_KAFKA_HEAP:--Xms128m -Xmx512m}
else
  KAFKA_HEAP=${FLEET_KAFKA_HEAP:--Xms256m -Xmx768m}
fi
# The JIT stops at C1 and the GC is the serial one by default: a test stack starts fast and small.
# A long measurement (a soak) may want Kafka's steady-state code: FLEET_KAFKA_JVM_OPTS=-XX:+UseSerialGC.
KAFKA_JVM_OPTS=${FLEET_KAFKA_JVM_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1}
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

# A CA and a server certificate for every Kafka node's address (PEM keystore: unencrypted PKCS#8
# key + certificate in one file), and a random password for the SCRAM user; made once per state
# directory and shared by the nodes.
kafka_sasl_files() {
  local d=$1 san="" h
  [ -f "$d/server.keystore.pem" ] && [ -f "$d/password" ] && return 0
  command -v openssl >/dev/null || die "openssl not found (needed for FLEET_KAFKA_SASL=1)"
  mkdir -p "$d" && chmod 700 "$d"
  for h in $(printf '%s\n' "${KAFKA_HOSTS[@]}" | sort -u); do san="${san}IP:$h,"; done
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=fleet stack Kafka CA" \
    -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=${KAFKA_HOSTS[0]}" -keyout "$d/server.key.tmp" -out "$d/server.csr" 2>/dev/null
  printf 'subjectAltName=%sDNS:localhost\n' "$san" >"$d/san.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 3650 \
    -extfile "$d/san.ext" -out "$d/server.pem" 2>/dev/null
  openssl pkcs8 -topk8 -nocrypt -in "$d/server.key.tmp" -out "$d/server.key"
  cat "$d/server.key" "$d/server.pem" >"$d/server.keystore.pem"
  rm -f "$d/server.key.tmp" "$d/server.csr" "$d/san.ext"
  openssl rand -hex 24 >"$d/password"
  printf '%s\n' "$KAFKA_SASL_USER" >"$d/user"
  chmod 600 "$d"/*
}

# Node N's state directory: $STATE/kafka for the single node (as always), $STATE/kafka-N when replicated.
kafka_dir() { if [ "$TOPOLOGY" = replicated ]; then echo "$STATE/kafka-$1"; else echo "$STATE/kafka"; fi; }
kafka_host() { echo "${KAFKA_HOSTS[$(($1 - 1))]}"; }
kafka_port() { echo $((KAFKA_PORT + 10 * ($1 - 1))); }
kafka_netns() { # the namespace node N runs in, if any
  if [ -z "$KAFKA_NETNS" ]; then return 0; fi
  if [ "$TOPOLOGY" = single ] || [ "$KAFKA_NETNS_NODE" = "$1" ]; then echo "$KAFKA_NETNS"; fi
}

# Settings that make "acknowledged" mean "on two nodes": every topic gets three replicas, a write
# with acks=all needs two in sync, and a replica that fell behind is never elected (it would drop
# what the others acknowledged).
replicated_properties() {
  cat <<PROPS
default.replication.factor=3
min.insync.replicas=2
unclean.leader.election.enable=false
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
PROPS
}

kafka_node_up() {
  local n=$1 dir sasl=$STATE/kafka/sasl host port cport sport ns
  dir=$(kafka_dir "$n"); host=$(kafka_host "$n"); port=$(kafka_port "$n"); ns=$(kafka_netns "$n")
  cport=$((KAFKA_CONTROLLER_PORT + 10 * (n - 1))); sport=$((KAFKA_SASL_PORT + 10 * (n - 1)))
  mkdir -p "$dir"
  if pid_alive "$dir/pid"; then log "kafka node $n already running (pid $(cat "$dir/pid"))"; return 0; fi
  port_open "$port" "$host" && die "port $port is taken by a process this script did not start"
  fetch_kafka
  local listeners="PLAINTEXT://$host:$port" protocols="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT" extra="" voters="" v
  for v in $(seq 1 "$KAFKA_NODES"); do voters="$voters${voters:+,}$v@$(kafka_host "$v"):$((KAFKA_CONTROLLER_PORT + 10 * (v - 1)))"; done
  if [ "$KAFKA_SASL" = 1 ]; then
    port_open "$sport" "$host" && die "port $sport (SASL_SSL) is taken by a process this script did not start"
    kafka_sasl_files "$sasl"
    listeners="$listeners,SASL_SSL://$host:$sport"
    protocols="$protocols,SASL_SSL:SASL_SSL"
    extra="sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PEM
ssl.keystore.location=$sasl/server.keystore.pem"
  fi
  if [ "$TOPOLOGY" = replicated ]; then
    extra="$extra
$(replicated_properties)"
  else
    extra="$extra
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1"
  fi
  cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$voters
listeners=$listeners,CONTROLLER://$host:$cport
advertised.listeners=$listeners
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=$protocols
$extra
log.dirs=$dir/data
num.partitions=6
# a development stack: at most ~1 GiB per partition (a few 100k-car soaks once filled the disk)
log.retention.bytes=1073741824
log.segment.bytes=134217728
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
    # One cluster id for every node of the state directory.
    [ -s "$STATE/kafka-cluster-id" ] || java -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1 >"$STATE/kafka-cluster-id"
    # In KRaft the SCRAM user is created with the storage, before the broker first starts.
    local scram=()
    [ "$KAFKA_SASL" = 1 ] && scram=(--add-scram "SCRAM-SHA-512=[name=$KAFKA_SASL_USER,password=$(cat "$sasl/password")]")
    java -Dlog4j.configuration="file:$dir/log4j.properties" -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool \
      format -t "$(cat "$STATE/kafka-cluster-id")" -c "$dir/server.properties" "${scram[@]}" \
      >"$dir/format.log" 2>&1 || { cat "$dir/format.log" >&2; die "kafka storage format failed"; }
    if [ "$KAFKA_SASL" = 1 ]; then touch "$sasl/user-created"; fi
  fi
  # shellcheck disable=SC2086
  ${ns:+ip netns exec "$ns"} nohup java $KAFKA_HEAP $KAFKA_JVM_OPTS \
    -Dlog4j.configuration="file:$dir/log4j.properties" -cp "$KAFKA_LIBS/*" kafka.Kafka "$dir/server.properties" \
    >"$dir/stdout.log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
}

# Waits for node N's listeners (a replicated node opens them only once a controller quorum answers).
kafka_node_wait() {
  local n=$1 dir sasl=$STATE/kafka/sasl host port sport
  dir=$(kafka_dir "$n"); host=$(kafka_host "$n"); port=$(kafka_port "$n"); sport=$((KAFKA_SASL_PORT + 10 * (n - 1)))
  if ! wait_until 90 "kafka port" port_open "$port" "$host"; then
    tail -n 30 "$dir/server.log" "$dir/stdout.log" >&2 || true
    die "kafka node $n did not open port $port within 90 s"
  fi
  if [ "$KAFKA_SASL" = 1 ]; then
    wait_until 30 "kafka SASL_SSL port" port_open "$sport" "$host" || die "kafka node $n did not open SASL_SSL port $sport"
    # Storage formatted before the SASL listener existed: add the user through the admin API.
    if [ ! -f "$sasl/user-created" ]; then
      java -Dlog4j.configuration="file:$dir/log4j.properties" -cp "$KAFKA_LIBS/*" kafka.admin.ConfigCommand \
        --bootstrap-server "$host:$port" --alter --entity-type users --entity-name "$KAFKA_SASL_USER" \
        --add-config "SCRAM-SHA-512=[password=$(cat "$sasl/password")]" >"$dir/scram.log" 2>&1 \
        || { cat "$dir/scram.log" >&2; die "could not create the SCRAM user"; }
      touch "$sasl/user-created"
    fi
  fi
  local ns; ns=$(kafka_netns "$n")
  log "kafka $KAFKA_VERSION node $n up on $host:$port${ns:+ in network namespace $ns} (pid $(cat "$dir/pid"))"
}

kafka_up() { # all nodes at once: a replicated node waits for a quorum of controllers
  local n bootstrap="" saslBrokers=""
  for n in $(seq 1 "$KAFKA_NODES"); do kafka_node_up "$n"; done
  for n in $(seq 1 "$KAFKA_NODES"); do kafka_node_wait "$n"; done
  for n in $(seq 1 "$KAFKA_NODES"); do
    bootstrap="$bootstrap${bootstrap:+,}$(kafka_host "$n"):$(kafka_port "$n")"
    saslBrokers="$saslBrokers${saslBrokers:+,}$(kafka_host "$n"):$((KAFKA_SASL_PORT + 10 * (n - 1)))"
  done
  printf '%s\n' "$bootstrap" >"$STATE/kafka-brokers"
  if [ "$KAFKA_SASL" = 1 ]; then
    printf '%s\n' "$saslBrokers" >"$STATE/kafka/sasl/brokers"
    log "kafka SASL_SSL (SCRAM-SHA-512, user $KAFKA_SASL_USER) on $saslBrokers; CA and password in $STATE/kafka/sasl"
  fi
  [ "$TOPOLOGY" = replicated ] && log "FLEET_KAFKA_BROKERS=$bootstrap"
  return 0
}

kafka_down() { local n; for n in $(seq 1 "$KAFKA_NODES"); do stop_pid "$(kafka_dir "$n")/pid" "kafka node $n"; done; }

# --- Redis --------------------------------------------------------------------------------------
ensure_redis_server() {
  command -v redis-server >/dev/null && return 0
  log "redis-server missing: installing Debian's package"
  [ "$(id -u)" = 0 ] || die "redis-server is not installed and this is not root: apt-get install -y redis-server"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
}

redis_dir() { if [ "$1" = 1 ]; then echo "$STATE/redis"; else echo "$STATE/redis-$1"; fi; }
sentinel_port() { echo $((REDIS_PORT + 1 + $1)); }

# The master the Sentinels name now (port), if any answers.
current_master_port() {
  local s
  for s in 1 2 3; do
    pid_alive "$STATE/sentinel-$s/pid" || continue
    redis-cli -h "$REDIS_HOST" -p "$(sentinel_port "$s")" sentinel get-master-addr-by-name "$SENTINEL_NAME" 2>/dev/null | sed -n 2p && return 0
  done
  return 0
}

# Redis node N (1 = master at first, 2 = its replica). Restarted after a failover, a node joins as
# a replica of the master the Sentinels name, never as a second master.
redis_node_up() {
  local n=$1 dir port replicaof=()
  dir=$(redis_dir "$n"); port=$((REDIS_PORT + n - 1))
  mkdir -p "$dir"
  if pid_alive "$dir/pid"; then log "redis node $n already running (pid $(cat "$dir/pid"))"; return 0; fi
  port_open "$port" "$REDIS_HOST" && die "port $port is taken by a process this script did not start"
  ensure_redis_server
  if [ "$TOPOLOGY" = replicated ]; then
    local master; master=$(current_master_port)
    [ -n "$master" ] || { [ "$n" = 1 ] || master=$REDIS_PORT; }
    [ -n "$master" ] && [ "$master" != "$port" ] && replicaof=(--replicaof $REDIS_HOST "$master")
  fi
  # The master tells the Sentinels where its replica is: the address it binds, not the source
  # address the kernel picked for its connection (127.0.0.1, where nothing listens).
  redis-server --bind "$REDIS_HOST" --port "$port" --replica-announce-ip "$REDIS_HOST" --dir "$dir" --save "" --appendonly "$REDIS_APPENDONLY" \
    --daemonize yes --pidfile "$dir/pid" --logfile "$dir/redis.log" "${replicaof[@]}"
  wait_until 20 "redis ping" sh -c "redis-cli -h $REDIS_HOST -p $port ping 2>/dev/null | grep -q PONG" || die "redis did not answer PING"
  log "redis node $n up on $REDIS_HOST:$port${replicaof[2]:+ (replica of ${replicaof[2]})} (pid $(cat "$dir/pid"))"
}

sentinel_up() {
  local s=$1 dir=$STATE/sentinel-$1 port
  port=$(sentinel_port "$s")
  mkdir -p "$dir"
  if pid_alive "$dir/pid"; then return 0; fi
  port_open "$port" "$REDIS_HOST" && die "port $port is taken by a process this script did not start"
  # A Sentinel rewrites its own file (what it learnt: replicas, other Sentinels, the epoch), so the
  # file is written only once per state directory.
  [ -f "$dir/sentinel.conf" ] || cat >"$dir/sentinel.conf" <<CONF
bind $REDIS_HOST
port $port
sentinel announce-ip $REDIS_HOST
dir $dir
sentinel resolve-hostnames no
sentinel monitor $SENTINEL_NAME $REDIS_HOST $REDIS_PORT 2
sentinel down-after-milliseconds $SENTINEL_NAME $SENTINEL_DOWN_AFTER_MS
sentinel failover-timeout $SENTINEL_NAME 10000
sentinel parallel-syncs $SENTINEL_NAME 1
CONF
  redis-server "$dir/sentinel.conf" --sentinel --daemonize yes --pidfile "$dir/pid" --logfile "$dir/sentinel.log"
  wait_until 20 "sentinel" sh -c "redis-cli -h $REDIS_HOST -p $port sentinel get-master-addr-by-name $SENTINEL_NAME 2>/dev/null | grep -q ." || die "sentinel $s did not answer"
}

sentinels_up() {
  local s list=""
  for s in 1 2 3; do sentinel_up "$s"; list="$list${list:+,}$REDIS_HOST:$(sentinel_port "$s")"; done
  log "sentinels up: FLEET_REDIS_SENTINELS=$list FLEET_REDIS_SENTINEL_NAME=$SENTINEL_NAME"
}

redis_up() {
  redis_node_up 1
  if [ "$TOPOLOGY" = replicated ]; then redis_node_up 2; sentinels_up; fi
}

sentinels_down() { local s; for s in 1 2 3; do stop_pid "$STATE/sentinel-$s/pid" "sentinel $s"; done; }
redis_down() {
  if [ "$TOPOLOGY" = replicated ]; then sentinels_down; stop_pid "$(redis_dir 2)/pid" "redis node 2"; fi
  stop_pid "$(redis_dir 1)/pid" redis
}

status() {
  local n s
  for n in $(seq 1 "$KAFKA_NODES"); do
    local name=kafka; [ "$TOPOLOGY" = replicated ] && name=kafka-$n
    if pid_alive "$(kafka_dir "$n")/pid"; then echo "$name: running (pid $(cat "$(kafka_dir "$n")/pid"))"; else echo "$name: stopped"; fi
  done
  if pid_alive "$STATE/redis/pid"; then echo "redis: running (pid $(cat "$STATE/redis/pid"))"; else echo "redis: stopped"; fi
  if [ "$TOPOLOGY" = replicated ]; then
    if pid_alive "$STATE/redis-2/pid"; then echo "redis-2: running (pid $(cat "$STATE/redis-2/pid"))"; else echo "redis-2: stopped"; fi
    for s in 1 2 3; do
      if pid_alive "$STATE/sentinel-$s/pid"; then echo "sentinel-$s: running (pid $(cat "$STATE/sentinel-$s/pid"))"; else echo "sentinel-$s: stopped"; fi
    done
  fi
}

cmd=${args[0]:-status}; what=${args[1]:-all}
if [ "$cmd" = up ]; then mkdir -p "$STATE" && echo "$TOPOLOGY" >"$STATE/topology"; fi
case "$cmd:$what" in
  up:all) redis_up; kafka_up ;;
  up:kafka) kafka_up ;;
  up:redis) redis_up ;;
  up:kafka-[1-3]) kafka_node_up "${what#kafka-}"; kafka_node_wait "${what#kafka-}" ;;
  up:redis-[12]) redis_node_up "${what#redis-}" ;;
  up:sentinels) sentinels_up ;;
  down:all) kafka_down; redis_down ;;
  down:kafka) kafka_down ;;
  down:redis) redis_down ;;
  down:kafka-[1-3]) stop_pid "$(kafka_dir "${what#kafka-}")/pid" "kafka node ${what#kafka-}" ;;
  down:redis-[12]) stop_pid "$(redis_dir "${what#redis-}")/pid" "redis node ${what#redis-}" ;;
  down:sentinels) sentinels_down ;;
  status:*) status ;;
  reset:*) kafka_down; redis_down; rm -rf "$STATE"; log "state removed" ;;
  *) echo "usage: $0 up|down|status|reset [kafka|redis|kafka-N|redis-N|sentinels] [--replicated]" >&2; exit 2 ;;
esac
