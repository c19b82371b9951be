#!/usr/bin/env bash
# Stops the broker started by start-kafka.sh (nothing to do when it is not running). Data stays in
# KAFKA_DATA; remove that folder for a fresh broker.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/cluster-lib.sh"
if pid_alive "$KAFKA_HOME/kafka.pid"; then
  stop_pid "$KAFKA_HOME/kafka.pid" 30
  echo "kafka stopped"
else
  rm -f "$KAFKA_HOME/kafka.pid"
  echo "kafka not running"
fi
