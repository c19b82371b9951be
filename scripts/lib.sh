# Shared helpers for the scripts: locate the repo, build what is missing, assemble class paths.
# Maven's own output goes to stderr so that scripts keep stdout for results.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JAVA_OPTS_DEFAULT="-Dai.djl.offline=true -Dlog4j2.configurationFile=$ROOT/scripts/log4j2-cli.xml"

# Builds module $1 (and what it depends on) when its jar is missing or older than any source file.
ensure_built() {
  local module="$1"
  local jar
  jar=$(ls "$ROOT/$module"/target/*.jar 2>/dev/null | grep -v -e '-sources\.jar$' -e '-tests\.jar$' -e '-cluster\.jar$' | head -1 || true)
  local cpfile="$ROOT/$module/target/classpath.txt"
  if [[ -z "$jar" || ! -f "$cpfile" ]] || [[ -n "$(find "$ROOT"/*/src "$ROOT/pom.xml" "$ROOT"/*/pom.xml -newer "$jar" -type f 2>/dev/null | head -1)" ]]; then
    echo "building $module (first run or sources changed)..." >&2
    (cd "$ROOT" && mvn -B -q -pl "$module" -am package -DskipTests 1>&2) || { echo "build failed" >&2; exit 1; }
  fi
}

# Prints the runtime class path of module $1 (its jar plus dependencies).
module_classpath() {
  local module="$1"
  local jar
  jar=$(ls "$ROOT/$module"/target/*.jar | grep -v -e '-sources\.jar$' -e '-tests\.jar$' -e '-cluster\.jar$' | head -1)
  echo "$jar:$(cat "$ROOT/$module/target/classpath.txt")"
}
