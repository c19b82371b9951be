#!/usr/bin/env bash
# Learns mix weights of existing adapters for a new task from a few examples (LoRAHub-style, CMA-ES,
# gradient-free; each generation's candidates x examples scored as one mixed batch):
#   scripts/compose-adapters.sh --model DIR --adapters ROOT --use a,b,c --examples task.jsonl --out DIR
#       [--steps 100] [--l1 0.05] [--seed 1] [--population N] [--sigma 0.5] [--bound 1.5]
# Writes OUT/weights.json (a request's "adapters" list), OUT/fused/ (one PEFT adapter that serves like
# the mix) and OUT/search.json; one progress line per generation on stderr. --help prints the details.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_built gpu
exec java ${JAVA_OPTS:-} $JAVA_OPTS_DEFAULT -Dlog.level=WARN -cp "$(module_classpath gpu)" io.flinklora.gpu.compose.ComposeCli "$@"
