#!/usr/bin/env bash
# Submits the streaming job to the running session cluster through Flink's REST API (curl): uploads
# job/target/flink-lora-job-*-cluster.jar (POST /jars/upload), then runs it (POST /jars/<id>/run) with
# entry class io.flinklora.job.StreamingJob. Prints the job id on stdout.
#   scripts/submit.sh [--parallelism N] [--jar-id ID] [--from-savepoint PATH [--allow-non-restored-state]]
#                     [job options ...]
# --from-savepoint resumes from a savepoint (scripts/savepoint.sh prints its path) or a retained
# checkpoint, at any parallelism: requests in flight continue at their next token (README "Upgrading
# the job"). --allow-non-restored-state drops state of operators the new job no longer has.
# Job options pass through (see StreamingJob --help), --kafka.<property> V included. Program arguments
# are visible in the REST request: give secrets as ${env:NAME} with Kafka's EnvVarConfigProvider and
# the variable exported before start-flink.sh (README "Kafka security"). Defaults added when not given:
#   --bootstrap-servers localhost:$KAFKA_PORT --model models/stories260k
#   --adapters models/adapters (trained ones) or target/demo/adapters (random demo adapters, made if missing)
# Topics default to the job's own: requests, tokens, completions, errors. --jar-id reuses a jar
# already uploaded (printed on stderr by an earlier submit) instead of uploading it again
# (the last uploaded id is also in $WORK/last-jar-id).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/cluster-lib.sh"

parallelism=1
jar_id=""
savepoint=""
allow_non_restored=false
args=()
# Both spellings count (--name value, --name=value): the job's parser lets the last one win, so a default appended here would override.
have() { local a; for a in "${args[@]+"${args[@]}"}"; do [[ "$a" == "$1" || "$a" == "$1="* ]] && return 0; done; return 1; }
while (($#)); do
  case "$1" in
    --parallelism) parallelism="$2"; shift 2 ;;
    --jar-id) jar_id="$2"; shift 2 ;;
    --from-savepoint) savepoint="$2"; shift 2 ;;
    --allow-non-restored-state) allow_non_restored=true; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
have --bootstrap-servers || args+=(--bootstrap-servers "$BOOTSTRAP")
have --model || args+=(--model "$ROOT/models/stories260k")
if ! have --adapters; then
  if [[ -d "$ROOT/models/adapters/happy" ]]; then
    adapters="$ROOT/models/adapters"
  elif [[ -d "$ROOT/target/demo/adapters/happy" ]]; then
    adapters="$ROOT/target/demo/adapters"
  else
    adapters="$(java $JAVA_OPTS_DEFAULT -cp "$(tools_classpath)" io.flinklora.job.tools.DemoAdapters \
      "$ROOT" "$ROOT/models/stories260k" "$ROOT/target/demo")"
  fi
  args+=(--adapters "$adapters")
fi

curl -sf "$REST/overview" > /dev/null || { echo "no Flink REST API at $REST; run scripts/start-flink.sh" >&2; exit 1; }
if [[ -z "$jar_id" ]]; then
  ensure_built job
  jar="$(ls "$ROOT"/job/target/flink-lora-job-*-cluster.jar | head -1)"
  echo "uploading $(basename "$jar") ($(( $(stat -c %s "$jar") / 1048576 )) MB) to $REST ..." >&2
  resp="$(curl -sS -X POST -H "Expect:" -F "jarfile=@$jar" "$REST/jars/upload")"
  jar_id="$(sed -n 's/.*"filename":"\([^"]*\)".*/\1/p' <<< "$resp")"
  jar_id="${jar_id##*/}"
  [[ -n "$jar_id" ]] || { echo "upload failed: $resp" >&2; exit 1; }
  echo "jar id $jar_id" >&2
  echo "$jar_id" > "$WORK/last-jar-id"
fi

json_escape() { local s="$1"; s="${s//\\/\\\\}"; s="${s//\"/\\\"}"; printf '"%s"' "$s"; }
list=""
for a in "${args[@]}"; do list+="${list:+,}$(json_escape "$a")"; done
restore=""
[[ -n "$savepoint" ]] && restore=",\"savepointPath\":$(json_escape "$savepoint"),\"allowNonRestoredState\":$allow_non_restored"
body="{\"entryClass\":\"io.flinklora.job.StreamingJob\",\"parallelism\":$parallelism,\"programArgsList\":[$list]$restore}"
resp="$(curl -sS -X POST -H "Content-Type: application/json" -d "$body" "$REST/jars/$jar_id/run")"
job_id="$(sed -n 's/.*"jobid":"\([0-9a-f]*\)".*/\1/p' <<< "$resp")"
[[ -n "$job_id" ]] || { echo "run failed: $resp" >&2; exit 1; }
echo "submitted job $job_id (parallelism $parallelism${savepoint:+, from savepoint $savepoint}): ${args[*]}" >&2
echo "$job_id"
