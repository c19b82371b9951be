#!/usr/bin/env bash
# The embedded default: an in-process Kafka broker, the streaming job on a local Flink environment
# with models/stories260k and demo adapters, sample prompts across adapters and the base model,
# tokens printed as they stream back, then "completed N/N requests".
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_built job
exec java ${JAVA_OPTS:-} $JAVA_OPTS_DEFAULT -Dlog.level=WARN -cp "$(module_classpath job)" io.flinklora.job.DemoMain "$ROOT"
