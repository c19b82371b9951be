#!/usr/bin/env bash
# Benchmarks, measured side by side in one run; results go to bench-out/ (JSON and PNG).
#   scripts/bench.sh [engine|lora|e2e|label|train|all] [--quick]
#   scripts/bench.sh label [--random]   (stories260k by default; --random: the random-weight benchmark Llama)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_built gpu
[[ "${1:-}" == "e2e" || "${1:-}" == "all" ]] && ensure_built job
OUT="${BENCH_OUT:-$ROOT/bench-out}"
mkdir -p "$OUT"
what="${1:-engine}"; shift || true
case "$what" in
  engine) exec java -Xmx8g -Dlog.level=WARN ${JAVA_OPTS:-} $JAVA_OPTS_DEFAULT -cp "$(module_classpath gpu)" io.flinklora.gpu.bench.EngineBench "$OUT" "$@" ;;
  lora) exec java -Xmx8g -Dlog.level=WARN ${JAVA_OPTS:-} $JAVA_OPTS_DEFAULT -cp "$(module_classpath gpu)" io.flinklora.gpu.bench.LoraBench "$OUT" "$@" ;;
  label)
    args=("$@")
    [[ " ${args[*]:-} " == *" --random "* ]] || args+=(--model "$ROOT/models/stories260k")
    exec java -Xmx8g -Dlog.level=WARN ${JAVA_OPTS:-} $JAVA_OPTS_DEFAULT -cp "$(module_classpath gpu)" io.flinklora.gpu.bench.LabelBench "$OUT" "${args[@]}" ;;
  e2e) exec java -Xmx8g -Dlog.level=WARN ${JAVA_OPTS:-} $JAVA_OPTS_DEFAULT -cp "$(module_classpath job)" io.flinklora.job.E2eBench "$OUT" "$@" ;;
  train) exec java -Xmx4g -Dai.djl.pytorch.num_threads="${TORCH_THREADS:-1}" -Dlog.level=WARN -Dproject.root="$ROOT" ${JAVA_OPTS:-} $JAVA_OPTS_DEFAULT -cp "$(module_classpath gpu)" io.flinklora.gpu.bench.TrainBench "$OUT" "$@" ;;
  all) "$0" engine "$@"; "$0" lora "$@"; "$0" e2e "$@"; "$0" label "$@"; "$0" train "$@" ;;
  *) echo "usage: scripts/bench.sh [engine|lora|e2e|label|train|all] [--quick]" >&2; exit 2 ;;
esac
