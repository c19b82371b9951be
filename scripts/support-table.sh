#!/usr/bin/env bash
# Rewrites README.md's table of supported architectures and config / adapter fields from the code's
# catalogues (SupportTableTest fails when the README and the code disagree).
#   scripts/support-table.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_built gpu
java ${JAVA_OPTS:-} $JAVA_OPTS_DEFAULT -cp "$(module_classpath gpu)" io.flinklora.gpu.cli.SupportTable --update "$ROOT/README.md"
