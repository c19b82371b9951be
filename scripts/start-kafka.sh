#!/usr/bin/env bash
# A real Apache Kafka 4.2.0 broker on localhost (KRaft: broker and controller in one process), from
# Maven Central jars (flink-conf/kafka/pom.xml). Env: WORK (default target/cluster), KAFKA_PORT
# (default 9092; the controller listens on KAFKA_PORT+1), KAFKA_DATA (default $WORK/kafka/data).
# Writes $WORK/kafka/kafka.pid and logs to $WORK/kafka/log/server.log; returns once the broker is up.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/cluster-lib.sh"

PIDFILE="$KAFKA_HOME/kafka.pid"
if pid_alive "$PIDFILE"; then
  echo "kafka already running (pid $(cat "$PIDFILE")) on $BOOTSTRAP"
  exit 0
fi
materialize "$ROOT/flink-conf/kafka/pom.xml" "$KAFKA_HOME/libs"
mkdir -p "$KAFKA_HOME/config" "$KAFKA_HOME/log" "$KAFKA_DATA"
CONF="$KAFKA_HOME/config/server.properties"
cat > "$CONF" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@localhost:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://localhost:$KAFKA_PORT,CONTROLLER://localhost:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://localhost:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$KAFKA_DATA
num.partitions=2
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
PROPS
cp "$ROOT/flink-conf/log4j.properties" "$KAFKA_HOME/config/log4j.properties"
KAFKA_CP="$KAFKA_HOME/libs/*"
KAFKA_JVM=(-Xms512m -Xmx1g -Dlog4j2.configurationFile="$KAFKA_HOME/config/log4j.properties"
  -Dlog.file="$KAFKA_HOME/log/server.log")

if [[ ! -f "$KAFKA_DATA/meta.properties" ]]; then
  cluster_id="$(java -cp "$KAFKA_CP" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)"
  java "${KAFKA_JVM[@]}" -cp "$KAFKA_CP" kafka.tools.StorageTool format -t "$cluster_id" -c "$CONF" >/dev/null
  echo "formatted $KAFKA_DATA (cluster id $cluster_id)"
fi

start_line=$(wc -l < "$KAFKA_HOME/log/server.log" 2>/dev/null || echo 0)
nohup java "${KAFKA_JVM[@]}" -cp "$KAFKA_CP" kafka.Kafka "$CONF" > "$KAFKA_HOME/log/server.out" 2>&1 < /dev/null &
echo $! > "$PIDFILE"
for ((i = 0; i < 600; i++)); do
  if ! pid_alive "$PIDFILE"; then
    echo "kafka exited; see $KAFKA_HOME/log/server.out and server.log" >&2
    tail -20 "$KAFKA_HOME/log/server.out" >&2
    rm -f "$PIDFILE"
    exit 1
  fi
  if tail -n +"$((start_line + 1))" "$KAFKA_HOME/log/server.log" 2>/dev/null | grep -q "Kafka Server started"; then
    echo "kafka broker running (pid $(cat "$PIDFILE")) on $BOOTSTRAP, data in $KAFKA_DATA"
    exit 0
  fi
  sleep 0.1
done
echo "kafka did not start in 60 s; see $KAFKA_HOME/log/server.log" >&2
exit 1
