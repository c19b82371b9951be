#!/usr/bin/env bash
# Releases every contract whose schema changed: writes its next schemas/.../released/NAME-vN.avsc
# (AvroCodecTest fails until a changed contract has one). For operator state, also list the new
# version in StateCodec.RELEASED and commit its blobs (schemas/README.md, rule 6).
#   scripts/release-schemas.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_built gpu # its class path holds the schemas module
cd "$ROOT"
exec java -cp "$(module_classpath gpu)" io.flinklora.schemas.codec.ReleaseSchemas schemas/src/main/resources
