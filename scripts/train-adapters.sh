#!/usr/bin/env bash
# Makes the demo adapters (max, happy, mood) from scratch: base-model stories sampled from seeds,
# rewritten by rules, three LoRA adapters trained jointly over the frozen base, PEFT folders written,
# effects measured on held-out prompts through the engine.
#   scripts/train-adapters.sh [--out DIR] [--steps N] [--seed S] [--stories N] [--batch N] [--lr X]
# Writes to target/trained-adapters unless --out says otherwise (--out models/adapters replaces the shipped ones).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_built gpu
cd "$ROOT"
# One PyTorch thread: the tiny model's operations gain nothing from a second one, and on a busy
# machine a second OpenMP thread makes every operation wait for a core (steps got many times slower).
exec java -Dai.djl.pytorch.num_threads="${TORCH_THREADS:-1}" ${JAVA_OPTS:-} $JAVA_OPTS_DEFAULT -Dlog.level=WARN -cp "$(module_classpath gpu)" io.flinklora.gpu.train.TrainAdaptersCli "$@"
