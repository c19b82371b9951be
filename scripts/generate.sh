#!/usr/bin/env bash
# The engine's command line: JSON Lines requests on stdin, one JSON result line per request on stdout.
#   scripts/generate.sh --model DIR [--adapters DIR] [--max-batch N] < requests.jsonl > results.jsonl
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_built gpu
exec java ${JAVA_OPTS:-} $JAVA_OPTS_DEFAULT -cp "$(module_classpath gpu)" io.flinklora.gpu.cli.GenerateCli "$@"
