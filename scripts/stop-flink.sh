#!/usr/bin/env bash
# Stops the TaskManagers and the JobManager started by start-flink.sh (idempotent). Running jobs are
# not cancelled first: a new session would not recover them (standalone, no HA); cancel them through
# the REST API if you want a clean end. Checkpoints stay in $WORK/flink/checkpoints.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/cluster-lib.sh"
PIDS="$FLINK_HOME/pids"
stopped=0
for f in "$PIDS"/taskmanager-*.pid "$PIDS"/jobmanager.pid; do
  [[ -f "$f" ]] || continue
  if pid_alive "$f"; then
    stop_pid "$f" 20
    echo "$(basename "$f" .pid) stopped"
    stopped=$((stopped + 1))
  else
    rm -f "$f"
  fi
done
(( stopped > 0 )) || echo "flink not running"
