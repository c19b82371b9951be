#!/usr/bin/env bash
# Writes a PEFT LoRA adapter from the difference of a fine-tuned model and its base (truncated SVD).
#   scripts/extract-adapter.sh --base DIR --tuned DIR --rank R --out DIR [--targets q_proj,v_proj]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_built gpu
exec java ${JAVA_OPTS:-} $JAVA_OPTS_DEFAULT -Dlog.level=WARN -cp "$(module_classpath gpu)" io.flinklora.gpu.cli.AdapterToolsCli extract "$@"
