#!/usr/bin/env bash
# Demo of what exists today: the inference engine streaming a mixed batch of prompts with
# models/stories260k through continuous batching. (The Kafka + Flink streaming job replaces this
# demo when it lands; see README "Status".)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_built gpu
requests=$(cat <<'JSON'
{"id": "r1", "prompt": "Once upon a time", "max_new_tokens": 48}
{"id": "r2", "prompt": "Tom had a big red ball.", "max_new_tokens": 40}
{"id": "r3", "prompt": "The sun was hot and the dog was", "max_new_tokens": 32, "temperature": 0.8, "top_p": 0.9, "seed": 7}
{"id": "r4", "prompt": "Lily and Ben went to the park to", "max_new_tokens": 48, "stop": ["."]}
{"id": "r5", "prompt": "not json at all
JSON
)
echo "$requests" | java ${JAVA_OPTS:-} $JAVA_OPTS_DEFAULT -Dlog.level=WARN -cp "$(module_classpath gpu)" \
  io.flinklora.gpu.cli.GenerateCli --model "$ROOT/models/stories260k" --max-batch 4 \
  | python3 "$ROOT/scripts/show_results.py"
