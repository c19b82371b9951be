#!/usr/bin/env bash
# Benchmarks, measured side by side in one run; results go to bench-out/ (JSON and PNG).
#   scripts/bench.sh [engine|lora|dtype|e2e|label|train|compose|peer|kv|all] [--quick]
#   scripts/bench.sh kv [--quick]   paged KV and prefix caching: KV bytes held, peak memory against transformers + PEFT
#     (needs Python as peer does), labelling behind a shared instruction, TTFT behind a system prompt, widest batch
#   scripts/bench.sh compose   one adapter-mix search generation as one mixed batch vs candidate by candidate
#   scripts/bench.sh peer [--quick] [--threads "1 2"] [--moe-only | --many-only]   the engine against transformers + PEFT
#     (needs Python: python3 -m venv .venv && .venv/bin/pip install torch==2.13.0+cpu transformers peft; PEER_PYTHON
#     overrides): two Llama shapes, many adapters (1,000, Zipf; --many-only: that alone), then a Mixtral with 32
#     adapters on its attention and experts (--moe-only: that alone)
#   scripts/bench.sh label [--random] [--peer-records N]   (stories260k by default; --random: the random-weight
#     benchmark Llama); ends with N records (512) labelled by the engine and by transformers + PEFT, side by side
#   scripts/bench.sh dtype [--quick] [--batches 1,32] [--dtypes float32,bfloat16,float16] [--rounds 3] [--device gpu]
#     [--shape hidden,layers,heads,kvHeads,intermediate,vocab] [--hbm-tbps 4.3]   compute dtypes side by side
#     (bfloat16 needs the JNI of scripts/build-jni.sh: source its env.sh first)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_built gpu
[[ "${1:-}" == "e2e" || "${1:-}" == "all" ]] && ensure_built job
OUT="${BENCH_OUT:-$ROOT/bench-out}"
mkdir -p "$OUT"
# The Python with torch, transformers and peft the peers run on: $PEER_PYTHON, else .venv, else python3.
peer_python() {
  local p
  for p in ${PEER_PYTHON:-} "$ROOT/.venv/bin/python" python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import torch, transformers, peft' 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}
no_peer() {
  echo "$1: no Python with torch, transformers and peft found; $2. Install them with:" >&2
  echo "  python3 -m venv .venv && .venv/bin/pip install torch==2.13.0+cpu transformers peft" >&2
}
what="${1:-engine}"; shift || true
case "$what" in
  engine) exec java -Xmx8g -Dlog.level=WARN ${JAVA_OPTS:-} $JAVA_OPTS_DEFAULT -cp "$(module_classpath gpu)" io.flinklora.gpu.bench.EngineBench "$OUT" "$@" ;;
  dtype) exec java -Xmx12g -Dlog.level=WARN ${JAVA_OPTS:-} $JAVA_OPTS_DEFAULT -cp "$(module_classpath gpu)" io.flinklora.gpu.bench.DtypeBench "$OUT" "$@" ;;
  lora) exec java -Xmx8g -Dlog.level=WARN ${JAVA_OPTS:-} $JAVA_OPTS_DEFAULT -cp "$(module_classpath gpu)" io.flinklora.gpu.bench.LoraBench "$OUT" "$@" ;;
  label)
    args=("$@")
    [[ " ${args[*]:-} " == *" --random "* ]] || args+=(--model "$ROOT/models/stories260k")
    python=$(peer_python) || { no_peer label "the engine runs alone"; python=python3; }
    args+=(--python "$python" --peer-script "$ROOT/scripts/peer/peft_label_peer.py")
    exec java -Xmx8g -Dlog.level=WARN ${JAVA_OPTS:-} $JAVA_OPTS_DEFAULT -cp "$(module_classpath gpu)" io.flinklora.gpu.bench.LabelBench "$OUT" "${args[@]}" ;;
  e2e) exec java -Xmx8g -Dlog.level=WARN ${JAVA_OPTS:-} $JAVA_OPTS_DEFAULT -cp "$(module_classpath job)" io.flinklora.job.E2eBench "$OUT" "$@" ;;
  train) exec java -Xmx4g -Dai.djl.pytorch.num_threads="${TORCH_THREADS:-1}" -Dlog.level=WARN -Dproject.root="$ROOT" ${JAVA_OPTS:-} $JAVA_OPTS_DEFAULT -cp "$(module_classpath gpu)" io.flinklora.gpu.bench.TrainBench "$OUT" "$@" ;;
  compose) exec java -Xmx8g -Dlog.level=WARN -Dproject.root="$ROOT" ${JAVA_OPTS:-} $JAVA_OPTS_DEFAULT -cp "$(module_classpath gpu)" io.flinklora.gpu.bench.ComposeBench "$OUT" "$@" ;;
  peer)
    threads="1 2"; rest=()
    while [[ $# -gt 0 ]]; do
      case "$1" in --threads) threads="$2"; shift 2 ;; *) rest+=("$1"); shift ;; esac
    done
    python=$(peer_python) || { no_peer peer "the engine runs alone"; python=python3; }
    for t in $threads; do
      OMP_NUM_THREADS="$t" java -Xmx12g -Dai.djl.pytorch.num_threads="$t" -Dai.djl.pytorch.num_interop_threads=1 \
        -Dlog.level=WARN ${JAVA_OPTS:-} $JAVA_OPTS_DEFAULT -cp "$(module_classpath gpu)" io.flinklora.gpu.bench.PeerBench \
        "$OUT" --threads "$t" --python "$python" --peer-script "$ROOT/scripts/peer/peft_peer.py" ${rest[@]+"${rest[@]}"}
    done
    exec java -Dlog.level=WARN ${JAVA_OPTS:-} $JAVA_OPTS_DEFAULT -cp "$(module_classpath gpu)" io.flinklora.gpu.bench.PeerBench "$OUT" --plot ;;
  kv)
    python=$(peer_python) || { no_peer kv "the peer's memory is not measured"; python=python3; }
    exec java -Xmx8g -Dai.djl.pytorch.num_threads="${TORCH_THREADS:-1}" -Dai.djl.pytorch.num_interop_threads=1 \
      -Dlog.level=WARN ${JAVA_OPTS:-} $JAVA_OPTS_DEFAULT -cp "$(module_classpath gpu)" io.flinklora.gpu.bench.KvBench \
      "$OUT" --root "$ROOT" --python "$python" "$@" ;;
  all) "$0" engine "$@"; "$0" lora "$@"; "$0" e2e "$@"; "$0" label "$@"; "$0" train "$@"; "$0" compose "$@"; "$0" peer "$@"; "$0" kv "$@" ;;
  *) echo "usage: scripts/bench.sh [engine|lora|dtype|e2e|label|train|compose|peer|kv|all] [--quick]" >&2; exit 2 ;;
esac
