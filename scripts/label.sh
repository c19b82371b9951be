#!/usr/bin/env bash
# Offline bulk labelling in Flink's BATCH mode on a local Flink environment.
#   scripts/label.sh --input F --output F --model DIR --adapters DIR [--task FILE] [--batch N] [--parallelism N]
# Progress lines and the summary go to stderr. Killed midway? Run the same command again: it resumes.
# --adapters demo uses the demo adapters (models/adapters when shipped, else random ones in target/demo/adapters).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_built job
CP="$(module_classpath job)"
args=()
while [[ $# -gt 0 ]]; do
  if [[ "$1" == "--adapters=demo" ]]; then
    set -- --adapters demo "${@:2}"
  fi
  if [[ "$1" == "--adapters" && "${2:-}" == "demo" ]]; then
    args+=(--adapters "$(java $JAVA_OPTS_DEFAULT -cp "$CP" io.flinklora.job.tools.DemoAdapters "$ROOT" \
      "$ROOT/models/stories260k" "$ROOT/target/demo")")
    shift 2
  else
    args+=("$1"); shift
  fi
done
exec java ${JAVA_OPTS:-} $JAVA_OPTS_DEFAULT -Dlog.level=WARN -cp "$CP" io.flinklora.job.label.LabelJob "${args[@]}"
