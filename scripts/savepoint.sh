#!/usr/bin/env bash
# Stops a running job with a savepoint (Flink REST API: POST /jobs/<id>/stop) and prints the
# savepoint's path on stdout once it has completed. Requests in flight stay in the savepoint (their
# prompt ids and emitted tokens, in the operator's versioned state) and resume where it is restored:
#   scripts/savepoint.sh JOB_ID [--dir DIR] [--drain] [--timeout S]
#   scripts/submit.sh --from-savepoint "$(scripts/savepoint.sh JOB_ID)" [--parallelism N] [job options ...]
# --dir: target directory (default: the cluster's execution.checkpointing.savepoint-dir, in
# flink-conf/config.yaml $WORK/flink/savepoints). --drain: finish every request in flight first (the
# sources end; no in-flight state is kept) - for retiring a job, not for upgrades. --timeout: seconds
# to wait for the savepoint (default 300).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/cluster-lib.sh"

job="" dir="" drain=false timeout=300
while (($#)); do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --drain) drain=true; shift ;;
    --timeout) timeout="$2"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) job="$1"; shift ;;
  esac
done
[[ -n "$job" ]] || { echo "usage: scripts/savepoint.sh JOB_ID [--dir DIR] [--drain] [--timeout S]" >&2; exit 2; }
curl -sf "$REST/overview" > /dev/null || { echo "no Flink REST API at $REST" >&2; exit 1; }

body="{\"drain\":$drain,\"formatType\":\"CANONICAL\"${dir:+,\"targetDirectory\":\"$dir\"}}"
resp="$(curl -sS -X POST -H "Content-Type: application/json" -d "$body" "$REST/jobs/$job/stop")"
trigger="$(sed -n 's/.*"request-id":"\([^"]*\)".*/\1/p' <<< "$resp")"
[[ -n "$trigger" ]] || { echo "stop-with-savepoint of $job refused: $resp" >&2; exit 1; }
echo "stopping job $job with a savepoint (trigger $trigger) ..." >&2
for ((i = 0; i < timeout * 5; i++)); do
  status="$(curl -sS "$REST/jobs/$job/savepoints/$trigger")"
  if [[ "$status" == *'"id":"COMPLETED"'* ]]; then
    location="$(sed -n 's/.*"location":"\([^"]*\)".*/\1/p' <<< "$status")"
    if [[ -z "$location" ]]; then
      echo "savepoint failed: $(head -c 2000 <<< "$status")" >&2
      exit 1
    fi
    echo "job $job stopped; savepoint at $location" >&2
    echo "$location"
    exit 0
  fi
  sleep 0.2
done
echo "savepoint of $job not complete after ${timeout}s: $status" >&2
exit 1
