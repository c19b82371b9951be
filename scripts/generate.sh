#!/usr/bin/env bash
# The engine's command line: JSON Lines requests on stdin, one JSON result line per request on stdout.
#   scripts/generate.sh --model DIR [--adapters DIR] [--max-batch N] < requests.jsonl > results.jsonl
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_built gpu
# Weights, KV cache and activations live off the Java heap; what the heap holds is small and short-lived
# (requests, JSON, adapters while they load). One engine thread: the serial collector and a heap that
# starts small and gives memory back keep the process ~0.2 GB smaller than the JVM's defaults, at the
# same speed (docs/benchmarks.md). JAVA_OPTS comes after, so it can override any of them.
GENERATE_JVM="-XX:+UseSerialGC -Xms32m -XX:MinHeapFreeRatio=10 -XX:MaxHeapFreeRatio=30"
exec java $GENERATE_JVM ${JAVA_OPTS:-} $JAVA_OPTS_DEFAULT -cp "$(module_classpath gpu)" io.flinklora.gpu.cli.GenerateCli "$@"
