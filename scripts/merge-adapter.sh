#!/usr/bin/env bash
# Writes base + weight * scale * B A as a Hugging Face model folder.
#   scripts/merge-adapter.sh --model DIR --adapter DIR[:WEIGHT] [--adapter DIR[:WEIGHT] ...] --out DIR
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_built gpu
exec java ${JAVA_OPTS:-} $JAVA_OPTS_DEFAULT -Dlog.level=WARN -cp "$(module_classpath gpu)" io.flinklora.gpu.cli.AdapterToolsCli merge "$@"
