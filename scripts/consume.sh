#!/usr/bin/env bash
# Reads the token topic (read_committed, Avro TokenEvents) and prints one line per request as it
# completes: [r3 adapter=happy] text...  <length, 150 tokens>
#   scripts/consume.sh [--topic tokens] [--expect N] [--timeout S] [--from-end]
#   scripts/consume.sh progress                       committed tokens and finished requests so far
#   scripts/consume.sh check --requests-topic requests  every request complete, each index exactly once
# All modes take --kafka.<property> V (consumer settings, e.g. SASL/TLS, as for the job; README "Kafka security").
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/cluster-lib.sh"
mode=print
if [[ "${1:-}" == print || "${1:-}" == progress || "${1:-}" == check ]]; then mode="$1"; shift; fi
exec java $JAVA_OPTS_DEFAULT -cp "$(tools_classpath)" io.flinklora.job.tools.Tokens "$mode" --bootstrap-servers "$BOOTSTRAP" "$@"
