#!/usr/bin/env bash
# A real Flink 2.2.1 standalone session cluster on localhost: one JobManager (REST API and web UI on
# REST_PORT, default 8081) and TASKMANAGERS TaskManagers (default 1), from Maven Central jars
# (flink-conf/dist/pom.xml: Flink runtime, clients, web UI, connector base, log4j, and DJL with
# PyTorch's native library), configured by flink-conf/config.yaml. Plugins: metrics-prometheus and
# external-resource-gpu. Env: WORK (default target/cluster), TASKMANAGERS, REST_PORT, CUDA=1 (lib/
# with PyTorch's CUDA native library). Logs: $WORK/flink/log/; pid files: $WORK/flink/pids/.
#   scripts/start-flink.sh               JobManager + TASKMANAGERS TaskManagers
#   scripts/start-flink.sh taskmanager   one more TaskManager for the running JobManager
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/cluster-lib.sh"
TASKMANAGERS="${TASKMANAGERS:-1}"
GPU_PLUGIN_VERSION="${GPU_PLUGIN_VERSION:-2.0.0}"   # no 2.2.x release of the GPU driver on Maven Central
FLINK_VERSION=2.2.1
PIDS="$FLINK_HOME/pids"
LOGS="$FLINK_HOME/log"

setup() {
  local profile=()
  [[ "${CUDA:-0}" == 1 ]] && profile=(-Pcuda)
  materialize "$ROOT/flink-conf/dist/pom.xml" "$FLINK_HOME/lib" "${profile[@]}"
  if [[ ! -f "$FLINK_HOME/plugins/.complete" ]]; then
    echo "installing plugins (metrics-prometheus $FLINK_VERSION, external-resource-gpu $GPU_PLUGIN_VERSION) ..." >&2
    rm -rf "$FLINK_HOME/plugins"
    mvn -B -q -Dstyle.color=never -f "$ROOT/flink-conf/dist/pom.xml" dependency:copy \
      -Dartifact="org.apache.flink:flink-metrics-prometheus:$FLINK_VERSION" \
      -DoutputDirectory="$FLINK_HOME/plugins/metrics-prometheus" 1>&2
    mvn -B -q -Dstyle.color=never -f "$ROOT/flink-conf/dist/pom.xml" dependency:copy \
      -Dartifact="org.apache.flink:flink-external-resource-gpu:$GPU_PLUGIN_VERSION" \
      -DoutputDirectory="$FLINK_HOME/plugins/external-resource-gpu" 1>&2
    # The GPU driver runs a discovery script (nvidia-smi); the jar carries it.
    (cd "$FLINK_HOME/plugins/external-resource-gpu" && unzip -q -o ./*.jar '*.sh' && chmod +x ./*.sh)
    touch "$FLINK_HOME/plugins/.complete"
  fi
  mkdir -p "$FLINK_HOME/conf" "$PIDS" "$LOGS" "$FLINK_HOME/tmp" "$FLINK_HOME/checkpoints" "$FLINK_HOME/web-upload"
  sed -e "s#@WORK@#$WORK#g" -e "s#@REST_PORT@#$REST_PORT#g" -e "s#@RPC_PORT@#$RPC_PORT#g" "$ROOT/flink-conf/config.yaml" > "$FLINK_HOME/conf/config.yaml"
  cp "$ROOT/flink-conf/log4j.properties" "$FLINK_HOME/conf/log4j.properties"
}

# JVM flags and -D properties for process kind $1 (JM|TM), as Flink's own scripts compute them.
resource_params() {
  local out
  out="$(java -cp "$FLINK_HOME/lib/*" org.apache.flink.runtime.util.bash.BashJavaUtils "GET_$1_RESOURCE_PARAMS" \
    --configDir "$FLINK_HOME/conf" 2>&1)" || { echo "$out" >&2; exit 1; }
  grep '^BASH_JAVA_UTILS_EXEC_RESULT:' <<< "$out" | sed 's/^BASH_JAVA_UTILS_EXEC_RESULT://'
}

# Starts a process: $1 name (log and pid file), $2 main class, $3 extra JVM options, $4 JVM memory flags, $5 dynamic properties.
launch() {
  local name="$1" main="$2" opts="$3" jvm="$4" dyn="$5"
  # shellcheck disable=SC2086
  FLINK_HOME="$FLINK_HOME" FLINK_CONF_DIR="$FLINK_HOME/conf" FLINK_PLUGINS_DIR="$FLINK_HOME/plugins" \
    nohup java $jvm $(conf_value env.java.default-opts.all) $opts \
    -Dlog.file="$LOGS/$name.log" -Dlog4j.configurationFile="file:$FLINK_HOME/conf/log4j.properties" \
    -Dlog4j2.configurationFile="file:$FLINK_HOME/conf/log4j.properties" \
    -cp "$FLINK_HOME/lib/*" "$main" --configDir "$FLINK_HOME/conf" $dyn \
    > "$LOGS/$name.out" 2>&1 < /dev/null &
  echo $! > "$PIDS/$name.pid"
}

registered_taskmanagers() {
  local body
  body="$(curl -sf "$REST/taskmanagers" 2>/dev/null || true)"
  grep -o '"id":' <<< "$body" | wc -l
}

# Starts one TaskManager (the first free number) and waits until it registered at the ResourceManager.
start_taskmanager() {
  local n=1
  while pid_alive "$PIDS/taskmanager-$n.pid"; do n=$((n + 1)); done
  local params jvm dyn log="$LOGS/taskmanager-$n.log" from=1
  if [[ -f "$log" ]]; then from=$(( $(wc -l < "$log") + 1 )); fi
  params="$(resource_params TM)"
  jvm="$(sed -n 1p <<< "$params")"
  dyn="$(sed -n 2p <<< "$params")"
  launch "taskmanager-$n" org.apache.flink.runtime.taskexecutor.TaskManagerRunner \
    "$(conf_value env.java.opts.taskmanager)" "$jvm" "$dyn"
  for ((i = 0; i < 900; i++)); do
    if tail -n +"$from" "$log" 2>/dev/null | grep -q "Successful registration at resource manager"; then
      echo "taskmanager-$n started (pid $(cat "$PIDS/taskmanager-$n.pid")), registered; log $log"
      return 0
    fi
    if ! pid_alive "$PIDS/taskmanager-$n.pid"; then
      echo "taskmanager-$n exited; see $log" >&2
      tail -20 "$LOGS/taskmanager-$n.out" >&2
      return 1
    fi
    sleep 0.2
  done
  echo "taskmanager-$n did not register in 180 s; see $log" >&2
  return 1
}

if [[ "${1:-}" == taskmanager ]]; then
  pid_alive "$PIDS/jobmanager.pid" || { echo "no JobManager running; run scripts/start-flink.sh first" >&2; exit 1; }
  start_taskmanager
  exit 0
fi

if pid_alive "$PIDS/jobmanager.pid"; then
  echo "flink already running (JobManager pid $(cat "$PIDS/jobmanager.pid")), REST $REST"
  exit 0
fi
setup
params="$(resource_params JM)"
launch jobmanager org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint \
  "$(conf_value env.java.opts.jobmanager)" "$(sed -n 1p <<< "$params")" "$(sed -n 2p <<< "$params")"
echo "jobmanager started (pid $(cat "$PIDS/jobmanager.pid")), log $LOGS/jobmanager.log"
for ((i = 0; i < 600; i++)); do
  curl -sf "$REST/overview" > /dev/null 2>&1 && break
  if ! pid_alive "$PIDS/jobmanager.pid"; then
    echo "JobManager exited; see $LOGS/jobmanager.log" >&2
    tail -20 "$LOGS/jobmanager.out" >&2
    exit 1
  fi
  sleep 0.2
done
curl -sf "$REST/overview" > /dev/null || { echo "REST API not up after 120 s" >&2; exit 1; }
for ((t = 0; t < TASKMANAGERS; t++)); do start_taskmanager; done
echo "flink session cluster running: REST and web UI $REST, $(registered_taskmanagers) TaskManager(s), work dir $FLINK_HOME"
