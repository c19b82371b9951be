#!/usr/bin/env bash
# Sends generation requests (JSON) to the request topic, keyed by request_id.
#   scripts/produce.sh < requests.jsonl                          one JSON request per line
#   scripts/produce.sh --prompt "Once upon a time" --adapter happy [--id r1] [--max-new-tokens 64]
#   scripts/produce.sh --demo 30 --adapters happy,max,mood       30 requests over the adapters and the base model
# Options: --bootstrap-servers (default localhost:$KAFKA_PORT), --topic (default requests),
# --kafka.<property> V (producer settings, e.g. SASL/TLS, as for the job; README "Kafka security").
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/cluster-lib.sh"
exec java $JAVA_OPTS_DEFAULT -cp "$(tools_classpath)" io.flinklora.job.tools.Produce --bootstrap-servers "$BOOTSTRAP" "$@"
