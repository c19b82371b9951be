#!/usr/bin/env bash
# One prepared run of the engine on a GPU machine that has Python with a CUDA PyTorch, CMake and a C++
# compiler, but no Java, no Maven and no network, and that receives a copy of this working tree.
#   scripts/gpu-check.sh prepare        here: target/gpu-check/ = a jlinked JRE (tar.xz), the engine's jars (without
#                                       PyTorch's CPU native and DJL's prebuilt JNI), jni.h; prints sizes
#   scripts/gpu-check.sh run OUT [--quick]   there (or anywhere: without a GPU it falls back to the CPU):
#                                       builds DJL's JNI against the local torch (scripts/build-jni.sh),
#                                       golden greedy check on models/stories260k in float32, float16 and
#                                       bfloat16, then the dtype and multi-LoRA benchmarks; results in OUT
# The device tool carries target/gpu-check (ignored by git) with the tree: carry ["target/gpu-check"],
# command 'scripts/gpu-check.sh run $OUT', timeout_s 560 (the JNI build takes about a minute on 16 cores).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUNDLE="$ROOT/target/gpu-check"
LIMIT_MIB=64

prepare() {
  source "$ROOT/scripts/lib.sh"
  ensure_built gpu
  rm -rf "$BUNDLE"
  mkdir -p "$BUNDLE/lib" "$BUNDLE/jni-include/linux"
  # Modules the engine's jars use (jdeps on each jar) plus what log4j and DJL reach by reflection.
  # Uncompressed modules and stripped native libraries, then xz: 17 MiB instead of jlink --compress=2's 48.
  local jre="$BUNDLE/tmp-jre/jre"
  rm -rf "$BUNDLE/tmp-jre"
  jlink --add-modules java.base,java.compiler,java.desktop,java.logging,java.management,java.naming,java.sql,java.xml,jdk.unsupported \
    --strip-debug --no-header-files --no-man-pages --compress=0 --output "$jre"
  find "$jre" -name '*.so' -exec strip --strip-unneeded {} +
  "$jre/bin/java" -version 2>&1 | head -1
  echo "JRE unpacked: $(( $(du -sb "$jre" | cut -f1) >> 20 )) MiB"
  tar -cJf "$BUNDLE/jre.tar.xz" -C "$BUNDLE/tmp-jre" jre
  rm -rf "$BUNDLE/tmp-jre"
  local jar
  jar=$(ls "$ROOT"/gpu/target/*.jar | grep -v -e '-sources\.jar$' -e '-tests\.jar$' | head -1)
  cp "$jar" "$BUNDLE/lib/"
  for j in $(tr ':' '\n' < "$ROOT/gpu/target/classpath.txt"); do
    case "$(basename "$j")" in
      pytorch-native-*|pytorch-jni-*) ;;  # the machine's own libtorch and a JNI built there replace them
      tokenizers-*)
        # Only the linux-x86_64 native of the Hugging Face tokenizers (the jar carries five platforms).
        python3 -c 'import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as src, zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_DEFLATED) as dst:
    for e in src.infolist():
        if not e.filename.startswith("native/lib/") or e.filename.startswith("native/lib/linux-x86_64/") \
                or e.filename.count("/") < 3:
            dst.writestr(e, src.read(e))' "$j" "$BUNDLE/lib/$(basename "$j")" ;;
      *) cp "$j" "$BUNDLE/lib/" ;;
    esac
  done
  local jh
  jh="$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")"
  cp "$jh/include/jni.h" "$BUNDLE/jni-include/"
  cp "$jh/include/linux/jni_md.h" "$BUNDLE/jni-include/linux/"
  local tree bundle
  tree=$(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
  bundle=$(du -sb "$BUNDLE" | cut -f1)
  printf 'JRE (tar.xz) %s MiB, jars %s MiB, tree (tracked + untracked, not ignored) %s MiB: %s MiB of %s\n' \
    "$(( $(du -sb "$BUNDLE/jre.tar.xz" | cut -f1) >> 20 ))" "$(( $(du -sb "$BUNDLE/lib" | cut -f1) >> 20 ))" \
    "$(( tree >> 20 ))" "$(( (tree + bundle) >> 20 ))" "$LIMIT_MIB"
  (( tree + bundle < LIMIT_MIB << 20 )) || { echo "over the $LIMIT_MIB MiB the device machine takes" >&2; exit 1; }
}

run() {
  local out="$1" quick="${2:-}"
  mkdir -p "$out"
  out="$(cd "$out" && pwd)"
  [[ -f "$BUNDLE/jre.tar.xz" ]] || { echo "no $BUNDLE: run scripts/gpu-check.sh prepare first" >&2; exit 1; }
  local jre_dir="${TMPDIR:-/tmp}/gpu-check-jre"
  rm -rf "$jre_dir" && mkdir -p "$jre_dir"
  tar -xJf "$BUNDLE/jre.tar.xz" -C "$jre_dir" 2>/dev/null \
    || python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$BUNDLE/jre.tar.xz" "$jre_dir"
  local py="${PYTHON:-python3}" torch device
  torch=$("$py" -c 'import os, torch; print(os.path.dirname(torch.__file__))')
  device=$("$py" -c 'import torch; print("gpu" if torch.cuda.is_available() else "cpu")')
  "$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")' | tee "$out/machine.txt"
  nproc >> "$out/machine.txt"

  # The JNI, DJL's extracted natives and the benchmarks' random models (GBs) live in a work folder;
  # only reports and logs go to OUT.
  local work="${TMPDIR:-/tmp}/gpu-check-work"
  rm -rf "$work" && mkdir -p "$work"
  echo "== JNI build against $torch" | tee -a "$out/summary.txt"
  local t0=$SECONDS
  "$ROOT/scripts/build-jni.sh" --libtorch "$torch" --out "$work/djl-jni" --jni-include "$BUNDLE/jni-include" \
    --jobs "$(nproc)" > "$out/build-jni.log" 2>&1 || { tail -30 "$out/build-jni.log"; exit 1; }
  echo "built in $((SECONDS - t0)) s: $(grep -o 'compiled ([a-z]*)' "$out/build-jni.log")" | tee -a "$out/summary.txt"
  # shellcheck disable=SC1091
  source "$work/djl-jni/env.sh"
  local java=("$jre_dir/jre/bin/java" -Dai.djl.offline=true -Dlog4j2.configurationFile="$ROOT/scripts/log4j2-cli.xml")
  local cp="$BUNDLE/lib/*"

  echo "== golden greedy check, models/stories260k on $device" | tee -a "$out/summary.txt"
  local ref="$ROOT/gpu/src/test/resources/stories260k-greedy.jsonl"
  "$py" -c 'import json, sys
for i, l in enumerate(open(sys.argv[1])):
    r = json.loads(l)
    print(json.dumps({"id": "r%d" % i, "prompt_ids": r["prompt_ids"], "max_new_tokens": r["max_new_tokens"], "ignore_eos": True}))' \
    "$ref" > "$out/golden-requests.jsonl"
  local status=0
  for dt in float32 float16 bfloat16; do
    "${java[@]}" -cp "$cp" io.flinklora.gpu.cli.GenerateCli --model "$ROOT/models/stories260k" --device "$device" \
      --dtype "$dt" --max-batch 8 < "$out/golden-requests.jsonl" > "$out/golden-$dt.jsonl" 2> "$out/golden-$dt.log" || status=1
    # float32 must give the float64 reference's tokens exactly (every step has a clear winner); the
    # half types report how far they follow it.
    "$py" -c 'import json, sys
ref = [json.loads(l)["greedy_ids"] for l in open(sys.argv[1])]
got = {}
for l in open(sys.argv[2]):
    o = json.loads(l); got[o["id"]] = o.get("token_ids", [])
agree = sum(next((j for j, (a, b) in enumerate(zip(r, got.get("r%d" % i, []))) if a != b), min(len(r), len(got.get("r%d" % i, []))))
            for i, r in enumerate(ref))
total = sum(len(r) for r in ref)
exact = sum(got.get("r%d" % i) == r for i, r in enumerate(ref))
print("%s: %d/%d rows exact, %d/%d tokens before divergence" % (sys.argv[3], exact, len(ref), agree, total))
sys.exit(0 if sys.argv[3] != "float32" or exact == len(ref) else 1)' "$ref" "$out/golden-$dt.jsonl" "$dt" \
      | tee -a "$out/summary.txt" || status=1
  done

  echo "== benchmarks on $device" | tee -a "$out/summary.txt"
  # One device command may run 10 minutes: each benchmark gets a share (DTYPE_S, LORA_S) and is cut
  # there, keeping what it printed, so the golden check's results always come back.
  local shape="2048,16,16,16,5632,32000" batches="1,2,4,8,16,32,64" rounds=2 hbm=4.3 lq=""
  if [[ "$device" == cpu || "$quick" == --quick ]]; then
    # CPU fallback (a rehearsal, or a machine without its GPU): small model, two batch sizes, one round.
    shape="256,4,4,4,512,4000" batches="1,32" rounds=1 hbm=0 lq="--quick"
  fi
  timeout "${DTYPE_S:-300}" "${java[@]}" -Xmx24g -Dlog.level=WARN -cp "$cp" io.flinklora.gpu.bench.DtypeBench "$work" --device "$device" \
    --shape "$shape" --batches "$batches" --dtypes float32,float16,bfloat16 --rounds "$rounds" --hbm-tbps "$hbm" \
    2>&1 | tee "$out/dtype-bench.txt" | grep -v '^\[' || status=1
  local half=float16
  [[ "$device" == gpu ]] || half=float32
  timeout "${LORA_S:-180}" "${java[@]}" -Xmx24g -Dlog.level=WARN -Dbench.device="$device" -Dbench.dtype="$half" -cp "$cp" \
    io.flinklora.gpu.bench.LoraBench "$work" $lq > "$out/lora-bench.txt" 2>&1 || status=1
  grep -v '^\[' "$out/lora-bench.txt" | tail -25
  cp "$work"/*.json "$work"/*.png "$out/" 2>/dev/null || true
  echo "== done (status $status); results in $out" | tee -a "$out/summary.txt"
  return $status
}

case "${1:-}" in
  prepare) prepare ;;
  run) [[ -n "${2:-}" ]] || { echo "usage: scripts/gpu-check.sh run OUT [--quick]" >&2; exit 2; }; run "$2" "${3:-}" ;;
  *) sed -n 2,10p "$0" >&2; exit 2 ;;
esac
