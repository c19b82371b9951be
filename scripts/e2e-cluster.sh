#!/usr/bin/env bash
# End to end on real processes: a Kafka broker and a Flink session cluster (JobManager + TaskManager),
# the job submitted through the REST API (exactly-once, 1 s checkpoints), 30 requests across the demo
# adapters and the base model, the TaskManager killed with kill -9 mid-generation and a new one
# started, then a read_committed check that every request completed with each token index exactly
# once and with the token ids the engine alone gives (scripts/generate.sh on the same requests).
# Then an upgrade drill: 12 more requests, scripts/savepoint.sh mid-generation, a second TaskManager,
# scripts/submit.sh --from-savepoint at parallelism 2; the resumed job must report resumed sequences
# and every request's tokens must again equal the engine's, each index once. A last job (other topics
# and group) is then submitted to the same session and must run in a TaskManager that ran an earlier
# one (DJL loaded parent-first). Prints the REST API's job list and the generation metrics, and a
# one-line verdict; exit 0 only on success. Stops everything it started.
# Env: WORK (default target/e2e-cluster, wiped first), KAFKA_PORT (19092), REST_PORT (18081), RPC_PORT (16123).
set -euo pipefail
export WORK="${WORK:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/target/e2e-cluster}"
export KAFKA_PORT="${KAFKA_PORT:-19092}" REST_PORT="${REST_PORT:-18081}" RPC_PORT="${RPC_PORT:-16123}"
export TASKMANAGERS=1
source "$(dirname "${BASH_SOURCE[0]}")/cluster-lib.sh"
S="$ROOT/scripts"
REQUESTS="${E2E_REQUESTS:-30}"
t_start=$(date +%s)
log() { printf '[e2e %3ds] %s\n' "$(( $(date +%s) - t_start ))" "$*"; }
fail() { log "FAIL: $*"; echo "e2e-cluster: FAIL $*"; exit 1; }

cleanup() {
  local rc=$?
  log "stopping Flink and Kafka"
  "$S/stop-flink.sh" > /dev/null 2>&1 || true
  "$S/stop-kafka.sh" > /dev/null 2>&1 || true
  exit $rc
}
trap cleanup EXIT

ensure_built job
CP="$(module_classpath job)"
tool() { java $JAVA_OPTS_DEFAULT -cp "$CP" "$@"; }
# Fresh data, logs and checkpoints; the materialized jars are kept between runs.
rm -rf "$WORK/kafka/data" "$WORK/kafka/log" "$WORK/flink/log" "$WORK/flink/checkpoints" "$WORK/flink/pids" "$WORK/flink/tmp"

log "starting Kafka on $BOOTSTRAP"
"$S/start-kafka.sh"
log "starting Flink (JobManager + 1 TaskManager), REST $REST"
"$S/start-flink.sh"
tool io.flinklora.job.tools.CreateTopics "$BOOTSTRAP" 2 requests tokens completions errors \
  requests2 tokens2 completions2 errors2
ADAPTERS="$(tool io.flinklora.job.tools.DemoAdapters "$ROOT" "$ROOT/models/stories260k" "$ROOT/target/demo")"

metric() {   # job vertex name -> value (empty when not reported yet)
  curl -sf "$REST/jobs/$1/vertices/$2/metrics?get=$3" 2>/dev/null | sed -n 's/.*"value":"\([^"]*\)".*/\1/p'
}
job_state() { curl -sf "$REST/jobs/$1" 2>/dev/null | sed -n 's/^{"jid":"[0-9a-f]*","name":"[^"]*","isStoppable":[a-z]*,"state":"\([A-Z]*\)".*/\1/p'; }
gen_vertex() { curl -sf "$REST/jobs/$1" | grep -o '"id":"[0-9a-f]*","slotSharingGroupId":"[0-9a-f]*","name":"multi-LoRA generation' | sed 's/"id":"\([0-9a-f]*\)".*/\1/'; }
wait_running() {   # job: all tasks running
  for ((i = 0; i < 600; i++)); do
    [[ "$(curl -sf "$REST/jobs/$1" 2>/dev/null | grep -o '"status-counts":{[^}]*}' | grep -o '"RUNNING":[0-9]*' | cut -d: -f2)" == 3 ]] && return 0
    sleep 0.2
  done
  return 1
}
MET="0.multi-LoRA_generation"

log "submitting the job (exactly-once, checkpoints every 1000 ms, max batch 4)"
JOB1="$("$S/submit.sh" --model "$ROOT/models/stories260k" --adapters "$ADAPTERS" --group-id e2e-1 \
  --transactional-id-prefix e2e-1 --delivery exactly-once --checkpoint-interval 1000 --max-batch 4)"
JAR_ID="$(cat "$WORK/last-jar-id")"
wait_running "$JOB1" || fail "job $JOB1 did not reach RUNNING"
V1="$(gen_vertex "$JOB1")"
log "job $JOB1 running; generation vertex $V1"

log "producing $REQUESTS requests (150..250 new tokens each, ignore_eos) over happy, max, mood and the base model"
"$S/produce.sh" --demo "$REQUESTS" --adapters happy,max,mood --min-tokens 150 --max-tokens 250 \
  --write "$WORK/requests-1.jsonl"
# The engine alone on the same requests (scripts/generate.sh), for the content check; meanwhile.
engine_alone() {
  "$S/generate.sh" --model "$ROOT/models/stories260k" --adapters "$ADAPTERS" --max-batch 16 \
    < "$WORK/requests-$1.jsonl" > "$WORK/engine-$1.jsonl" 2> "$WORK/generate-$1.log"
}
engine_alone 1 & GEN1=$!

# Wait until generation is well under way (REST metric of the generation operator), then kill.
for ((i = 0; i < 600; i++)); do
  gen="$(metric "$JOB1" "$V1" "$MET.generatedTokens")"
  [[ -n "$gen" && "${gen%.*}" -ge 600 ]] && break
  sleep 0.2
done
[[ -n "${gen:-}" && "${gen%.*}" -ge 600 ]] || fail "generation did not start (generatedTokens=${gen:-none})"
before_done="$(metric "$JOB1" "$V1" "$MET.completedRequests")"
before_running="$(metric "$JOB1" "$V1" "$MET.runningSequences")"
TM_PID="$(cat "$WORK/flink/pids/taskmanager-1.pid")"
kill -9 "$TM_PID"
log "killed TaskManager pid $TM_PID with kill -9 at generatedTokens=$gen completedRequests=$before_done runningSequences=$before_running (REST, <= 2 s old)"
committed_at_kill="$(tool io.flinklora.job.tools.Tokens progress --bootstrap-servers "$BOOTSTRAP" --topic tokens)"
log "committed at the kill: $committed_at_kill"
sleep 1
log "starting a new TaskManager"
"$S/start-flink.sh" taskmanager

wait "$GEN1" || fail "generate.sh: $(tail -3 "$WORK/generate-1.log")"
log "waiting for every request to complete (read_committed check, token ids against the engine alone)"
check="$(tool io.flinklora.job.tools.Tokens check --bootstrap-servers "$BOOTSTRAP" --topic tokens --requests-topic requests \
  --expect-tokens "$WORK/engine-1.jsonl" --timeout 240)" || { echo "$check"; fail "exactly-once check: $check"; }
log "$check"
tokens_total="$(sed -n 's/.* \([0-9]*\) tokens.*/\1/p' <<< "$check")"
attempt="$(curl -sf "$REST/jobs/$JOB1/vertices/$V1" | grep -o '"attempt":[0-9]*' | head -1 | cut -d: -f2)"
log "after recovery: the generation subtask runs attempt ${attempt:-?} (0 = never restarted)"
(( ${attempt:-0} >= 1 )) || fail "the job did not restart after the kill"
# Mid-generation: when the TaskManager died, at most generatedTokens (plus 2 s of REST staleness) of
# the tokens_total had been generated and not every request was complete.
(( ${gen%.*} < tokens_total / 2 && ${before_done%.*} < REQUESTS )) \
  || fail "the kill did not land mid-generation ($gen of $tokens_total tokens, $before_done requests done)"
log "REST: /jobs -> $(curl -sf "$REST/jobs")"
names="$(curl -sf "$REST/jobs/$JOB1/vertices/$V1/metrics" | grep -o "\"$MET\.[A-Za-z_.]*\"" | tr -d '"' | sed "s/^$MET\.//" | sort | tr '\n' ' ')"
log "REST: generation operator metrics listed: $names"
for m in tokensPerSecond generatedTokens runningSequences completedRequests batchSize_mean kvCacheBlocksUsed prefixCacheHitRate preemptions timeToFirstTokenMs_median; do
  [[ " $names " == *" $m "* ]] || fail "metric $m not listed by the REST API"
done
log "REST: values $(curl -sf "$REST/jobs/$JOB1/vertices/$V1/metrics?get=$MET.tokensPerSecond,$MET.generatedTokens,$MET.runningSequences,$MET.completedRequests,$MET.batchSize_mean")"

SP_REQUESTS=12
log "upgrade drill: $SP_REQUESTS more requests, then stop-with-savepoint mid-generation"
gen_before="$(metric "$JOB1" "$V1" "$MET.generatedTokens")"
"$S/produce.sh" --demo "$SP_REQUESTS" --id-prefix s --adapters happy,max,mood --min-tokens 150 --max-tokens 250 \
  --write "$WORK/requests-2.jsonl"
engine_alone 2 & GEN2=$!
for ((i = 0; i < 600; i++)); do
  gen="$(metric "$JOB1" "$V1" "$MET.generatedTokens")"
  [[ -n "$gen" && "${gen%.*}" -ge $(( ${gen_before%.*} + 300 )) ]] && break
  sleep 0.2
done
SAVEPOINT="$("$S/savepoint.sh" "$JOB1")" || fail "stop-with-savepoint failed"
# The savepoint operation can report COMPLETED a moment before the REST job state turns FINISHED.
for ((i = 0; i < 150; i++)); do
  state1="$(job_state "$JOB1")"
  [[ "$state1" == FINISHED ]] && break
  sleep 0.2
done
log "savepoint at $SAVEPOINT; job 1 is $state1"
[[ "$state1" == FINISHED ]] || fail "job 1 did not finish with the savepoint"
at_savepoint="$(tool io.flinklora.job.tools.Tokens progress --bootstrap-servers "$BOOTSTRAP" --topic tokens)"
log "committed at the savepoint: $at_savepoint"
finished_at_sp="$(sed -n 's/.*finished=\([0-9]*\).*/\1/p' <<< "$at_savepoint")"
(( finished_at_sp < REQUESTS + SP_REQUESTS )) || fail "the savepoint did not land mid-generation ($at_savepoint)"
log "starting a second TaskManager; resubmitting from the savepoint at parallelism 2"
"$S/start-flink.sh" taskmanager
for ((i = 0; i < 300; i++)); do
  [[ "$(curl -sf "$REST/overview" | sed -n 's/.*"slots-total":\([0-9]*\).*/\1/p')" == 2 ]] && break
  sleep 0.2
done
JOB3="$("$S/submit.sh" --jar-id "$JAR_ID" --from-savepoint "$SAVEPOINT" --parallelism 2 --model "$ROOT/models/stories260k" \
  --adapters "$ADAPTERS" --group-id e2e-1 --transactional-id-prefix e2e-1 --delivery exactly-once --checkpoint-interval 1000 \
  --max-batch 4)"
wait_running "$JOB3" || fail "the resumed job $JOB3 did not reach RUNNING: $(curl -sf "$REST/jobs/$JOB3/exceptions" | head -c 600)"
V3="$(gen_vertex "$JOB3")"
wait "$GEN2" || fail "generate.sh: $(tail -3 "$WORK/generate-2.log")"
cat "$WORK/engine-1.jsonl" "$WORK/engine-2.jsonl" > "$WORK/engine-all.jsonl"
check3="$(tool io.flinklora.job.tools.Tokens check --bootstrap-servers "$BOOTSTRAP" --topic tokens --requests-topic requests \
  --expect-tokens "$WORK/engine-all.jsonl" --timeout 240)" || { echo "$check3"; fail "after the savepoint restore: $check3"; }
log "resumed job $JOB3 (parallelism 2): $check3"
resumed=0
for ((i = 0; i < 100; i++)); do
  r0="$(metric "$JOB3" "$V3" "0.multi-LoRA_generation.resumedRequests")"
  r1="$(metric "$JOB3" "$V3" "1.multi-LoRA_generation.resumedRequests")"
  [[ -n "$r0" && -n "$r1" ]] && { resumed=$(( ${r0%.*} + ${r1%.*} )); break; }
  sleep 0.2
done
log "REST: resumedRequests of the two subtasks: ${r0:-?} + ${r1:-?}"
(( resumed > 0 )) || fail "the resumed job reports no sequences resumed from the savepoint"
TMS="$(curl -sf "$REST/jobs/$JOB3/vertices/$V3/taskmanagers" | grep -o '"taskmanager-id":"[^"]*"' | cut -d'"' -f4 | sort -u | tr '\n' ' ')"

log "cancelling the resumed job; submitting job 2 (topics requests2/tokens2, group e2e-2) with the same jar"
curl -sf -X PATCH "$REST/jobs/$JOB3?mode=cancel" > /dev/null
for ((i = 0; i < 300; i++)); do [[ "$(job_state "$JOB3")" == CANCELED ]] && break; sleep 0.2; done
[[ "$(job_state "$JOB3")" == CANCELED ]] || fail "the resumed job did not cancel"
JOB2="$("$S/submit.sh" --jar-id "$JAR_ID" --model "$ROOT/models/stories260k" --adapters "$ADAPTERS" --group-id e2e-2 \
  --transactional-id-prefix e2e-2 --request-topics requests2 --token-topic tokens2 --completion-topic completions2 \
  --error-topic errors2 --checkpoint-interval 1000 --max-batch 4)"
wait_running "$JOB2" || fail "job 2 did not reach RUNNING: $(curl -sf "$REST/jobs/$JOB2/exceptions" | head -c 600)"
"$S/produce.sh" --topic requests2 --demo 4 --adapters happy,max,mood --min-tokens 20 --max-tokens 30
check2="$(tool io.flinklora.job.tools.Tokens check --bootstrap-servers "$BOOTSTRAP" --topic tokens2 --requests-topic requests2 --timeout 120)" \
  || fail "job 2: $check2"
TM2="$(curl -sf "$REST/jobs/$JOB2/vertices/$(gen_vertex "$JOB2")/taskmanagers" | grep -o '"taskmanager-id":"[^"]*"' | head -1 | cut -d'"' -f4)"
restarts2="$(curl -sf "$REST/jobs/$JOB2/vertices/$(gen_vertex "$JOB2")" | grep -o '"attempt":[0-9]*' | head -1 | cut -d: -f2)"
log "job 2 $JOB2: $check2; TaskManager $TM2 (the resumed job ran in $TMS), generation attempt ${restarts2:-?}"
[[ " $TMS " == *" $TM2 "* ]] || fail "job 2 ran in a TaskManager that ran no earlier job ($TM2, not one of $TMS)"
(( ${restarts2:-0} == 0 )) || fail "job 2 restarted $restarts2 time(s): $(curl -sf "$REST/jobs/$JOB2/exceptions" | head -c 600)"
log "REST: /jobs -> $(curl -sf "$REST/jobs")"
log "REST: job 2 generation metrics $(curl -sf "$REST/jobs/$JOB2/vertices/$(gen_vertex "$JOB2")/metrics?get=$MET.tokensPerSecond,$MET.generatedTokens,$MET.completedRequests,$MET.batchSize_mean")"
elapsed=$(( $(date +%s) - t_start ))
echo "e2e-cluster: PASS $REQUESTS/$REQUESTS requests, $tokens_total tokens, each index exactly once and equal to the engine alone's, 1 TaskManager killed (kill -9 mid-generation, $before_done requests done), generation subtask restarted (attempt $attempt); savepoint mid-generation ($at_savepoint) resumed at parallelism 2 ($resumed sequences resumed), all $(( REQUESTS + SP_REQUESTS )) requests equal to the engine's; a later job in the same session ran 4/4; ${elapsed}s"
