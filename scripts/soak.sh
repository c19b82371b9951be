#!/usr/bin/env bash
# Soak: a burst of requests across more adapters than device slots through the streaming job on an
# in-process broker and a local Flink environment; memory sampled against a bound, back pressure
# shown as requests waiting in Kafka, every request checked complete.
#   scripts/soak.sh [--requests 10000] [--adapters 20] [--adapters-on-device 8] [--max-rss-mb 4096]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_built job
exec java -Xmx2g ${JAVA_OPTS:-} $JAVA_OPTS_DEFAULT -Dlog.level=WARN -cp "$(module_classpath job)" io.flinklora.job.SoakMain --root "$ROOT" "$@"
