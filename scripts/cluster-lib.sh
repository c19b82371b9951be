# Shared by the cluster scripts (start/stop-kafka, start/stop-flink, submit, produce, consume, e2e-cluster).
# WORK (default target/cluster) holds the materialized jars, configuration, data, logs and pid files.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
WORK="${WORK:-$ROOT/target/cluster}"
mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"
KAFKA_HOME="$WORK/kafka"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
KAFKA_DATA="${KAFKA_DATA:-$KAFKA_HOME/data}"
BOOTSTRAP="${BOOTSTRAP:-localhost:$KAFKA_PORT}"
FLINK_HOME="$WORK/flink"
REST_PORT="${REST_PORT:-8081}"
RPC_PORT="${RPC_PORT:-6123}"
REST="${REST:-http://localhost:$REST_PORT}"

# Materializes the dependencies of pom $1 into folder $2 once (mvn dependency:copy-dependencies).
materialize() {
  local pom="$1" dir="$2"
  shift 2
  if [[ ! -f "$dir/.complete" || "$pom" -nt "$dir/.complete" ]]; then
    echo "materializing $(basename "$(dirname "$pom")") jars from Maven Central into $dir ..." >&2
    rm -rf "$dir" && mkdir -p "$dir"
    mvn -B -q -Dstyle.color=never -f "$pom" "$@" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dir" 1>&2 \
      || { echo "could not materialize $pom" >&2; exit 1; }
    touch "$dir/.complete"
  fi
}

# True when the process in pid file $1 is alive.
pid_alive() {
  [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

# Stops the process in pid file $1: TERM, up to $2 seconds (default 15), then KILL. Idempotent.
stop_pid() {
  local f="$1" wait_s="${2:-15}" pid
  [[ -f "$f" ]] || return 0
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < wait_s * 10; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "pid $pid did not stop in ${wait_s}s; killing it" >&2
      kill -9 "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$f"
}

# Java's default options for the cluster processes, from a flat key in the generated config.yaml.
conf_value() {
  sed -n "s/^$1: *//p" "$FLINK_HOME/conf/config.yaml" | head -1
}

# The job module's class path (tools: produce, consume, checker) as a string.
tools_classpath() {
  ensure_built job
  module_classpath job
}
