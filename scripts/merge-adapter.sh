#!/usr/bin/env bash
# Two modes (scripts/merge-adapter.sh --help prints both):
#
# Fold adapters into a model: writes base + weight * scale * B A as a Hugging Face model folder.
#   scripts/merge-adapter.sh --model DIR --adapter DIR[:WEIGHT] [--adapter DIR[:WEIGHT] ...] --out DIR
#
# Combine adapters into a new PEFT adapter folder, as PEFT's LoraModel.add_weighted_adapter does:
#   scripts/merge-adapter.sh --method linear|cat|svd|ties|ties_svd|dare_linear|dare_linear_svd|dare_ties|
#                                     dare_ties_svd|magnitude_prune|magnitude_prune_svd
#       --adapters DIR[:WEIGHT],DIR[:WEIGHT],... --out DIR
#       [--density D] [--rank R] [--svd-clamp Q] [--majority-sign-method total|frequency] [--seed S]
# Unsupported inputs or options are refused by name with exit status 2.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_built gpu
exec java ${JAVA_OPTS:-} $JAVA_OPTS_DEFAULT -Dlog.level=WARN -cp "$(module_classpath gpu)" io.flinklora.gpu.cli.AdapterToolsCli merge "$@"
