#!/usr/bin/env bash
# Builds DJL's PyTorch JNI library (libdjl_torch.so) against a libtorch that DJL did not ship, so the
# engine can run on the PyTorch already installed on a machine (a pip wheel's torch/ or a libtorch zip).
#   scripts/build-jni.sh --libtorch DIR [--out DIR] [--src DIR] [--jobs N] [--cuda-arch LIST] [--jni-include DIR] [--no-patches]
#     [--builder auto|cmake|direct]
# DIR holds lib/ (libtorch.so ...), include/ and share/cmake/Torch (pip: .../site-packages/torch).
# The JNI sources are DJL's own at the DJL version the engine uses (third_party/djl-pytorch-jni), plus
# its patches/ (bfloat16/int16 dtypes; --no-patches builds DJL's sources as released).
# The result is laid out as a DJL engine cache (OUT/pytorch/<version>-<flavor>-<classifier>/) with
# OUT/env.sh, which exports what DJL needs to load that libtorch and this JNI (see README,
# "Running on your own libtorch / CUDA"). Needs cmake, a C++17 compiler and jni.h (from $JAVA_HOME, the
# javac on PATH, or --jni-include DIR holding jni.h and linux/jni_md.h); javac is optional.
# Builders: cmake runs DJL's CMakeLists.txt (find_package(Torch); for a CUDA libtorch that needs the CUDA
# toolkit). direct compiles the same sources with the C++ compiler alone, against the libtorch's
# headers, without DJL's USE_CUDA parts (an explicit CUDA cache flush and separate CUDA streams for
# TorchScript modules, neither used by this engine): tensors still run on the GPU, because the CUDA
# kernels live in libtorch_cuda.so, which DJL loads before the JNI. auto: cmake for a CPU libtorch or
# when nvcc is on PATH, else direct.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

LIBTORCH="" OUT="$ROOT/target/djl-jni" SRC="$ROOT/third_party/djl-pytorch-jni" JOBS=2 CUDA_ARCH="" JNI_INCLUDE="" PATCHES=1 BUILDER=auto
while [[ $# -gt 0 ]]; do
  case "$1" in
    --libtorch) LIBTORCH="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --src) SRC="$2"; shift 2 ;;
    --jobs) JOBS="$2"; shift 2 ;;
    --cuda-arch) CUDA_ARCH="$2"; shift 2 ;;
    --jni-include) JNI_INCLUDE="$2"; shift 2 ;;
    --no-patches) PATCHES=0; shift ;;
    --builder) BUILDER="$2"; shift 2 ;;
    -h|--help) sed -n 2,17p "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[[ -n "$LIBTORCH" ]] || { echo "--libtorch DIR is required" >&2; exit 2; }
LIBTORCH="$(cd "$LIBTORCH" && pwd)"
[[ -f "$LIBTORCH/lib/libtorch.so" ]] || { echo "$LIBTORCH/lib/libtorch.so not found" >&2; exit 1; }
[[ -d "$LIBTORCH/share/cmake/Torch" ]] || { echo "$LIBTORCH/share/cmake/Torch not found" >&2; exit 1; }
DJL_VERSION="$(cat "$SRC/DJL_VERSION")"

# The libtorch's version and flavor: a pip wheel says so in version.py, a libtorch zip in build-version.
RAW=""
if [[ -f "$LIBTORCH/version.py" ]]; then
  RAW=$(sed -n "s/^__version__ = '\(.*\)'/\1/p" "$LIBTORCH/version.py")
  CUDA=$(sed -n "s/^cuda: Optional\[str\] = '\(.*\)'/\1/p; s/^cuda = '\(.*\)'/\1/p" "$LIBTORCH/version.py")
elif [[ -f "$LIBTORCH/build-version" ]]; then
  RAW=$(cat "$LIBTORCH/build-version")
  CUDA=""
fi
[[ -n "$RAW" ]] || { echo "cannot tell the libtorch version (no version.py or build-version in $LIBTORCH)" >&2; exit 1; }
VERSION="${RAW%%+*}"
if [[ -f "$LIBTORCH/lib/libtorch_cuda.so" ]]; then
  [[ -n "${CUDA:-}" ]] || CUDA=$(echo "$RAW" | sed -n 's/.*+cu\([0-9]*\).*/\1/p' | sed 's/\(.*\)\(.\)$/\1.\2/')
  FLAVOR="cu$(echo "$CUDA" | tr -d .)"
else
  FLAVOR="cpu"
fi
CLASSIFIER="linux-$(uname -m)"
echo "libtorch $VERSION ($FLAVOR) at $LIBTORCH; DJL JNI sources $DJL_VERSION" >&2

BUILD="$OUT/build-$VERSION-$FLAVOR"
rm -rf "$BUILD"
mkdir -p "$BUILD/classes" "$BUILD/src"
# Patches are applied to a copy so the vendored tree stays byte-identical to DJL's release.
cp -r "$SRC/engines" "$SRC/api" "$BUILD/src/"
if [[ "$PATCHES" == 1 ]]; then
  for p in "$SRC"/patches/*.patch; do
    echo "applying $(basename "$p")" >&2
    if command -v patch >/dev/null; then
      patch -s -p1 -d "$BUILD/src" < "$p"
    else
      (cd "$BUILD/src" && git apply -p1 "$p")
    fi
  done
fi
NATIVE="$BUILD/src/engines/pytorch/pytorch-native"
# The JNI header comes from the Java class whose native methods the library implements; a copy generated
# from the same source is committed for machines without a JDK.
HEADER=ai_djl_pytorch_jni_PyTorchLibrary.h
if command -v javac >/dev/null; then
  javac -h "$BUILD/include" -d "$BUILD/classes" \
    "$SRC/engines/pytorch/pytorch-engine/src/main/java/ai/djl/pytorch/jni/PyTorchLibrary.java"
  cmp -s "$BUILD/include/$HEADER" "$SRC/include/$HEADER" || echo "warning: $SRC/include/$HEADER is stale" >&2
else
  mkdir -p "$BUILD/include" && cp "$SRC/include/$HEADER" "$BUILD/include/"
fi
if [[ -z "$JNI_INCLUDE" ]]; then
  JH="${JAVA_HOME:-}"
  [[ -n "$JH" ]] || { command -v javac >/dev/null && JH="$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")"; }
  JNI_INCLUDE="${JH:-/nonexistent}/include"
fi
[[ -f "$JNI_INCLUDE/jni.h" && -f "$JNI_INCLUDE/linux/jni_md.h" ]] || { echo "jni.h not found in $JNI_INCLUDE (use --jni-include)" >&2; exit 1; }

FALLBACK=0
if [[ "$BUILDER" == auto ]]; then
  if command -v cmake >/dev/null && { [[ "$FLAVOR" == cpu ]] || command -v nvcc >/dev/null; }; then
    BUILDER=cmake FALLBACK=1   # a CUDA toolkit that does not suit the libtorch's CMake config: fall back
  else
    BUILDER=direct
  fi
fi
# DJL's sources switch to the pre-2.2 API only for these versions (as its build.sh does).
OLD_API=0
[[ "$VERSION" == "1.13.1" || "$VERSION" == "2.0.1" || "$VERSION" =~ ^2\.1\. ]] && OLD_API=1
START=$(date +%s)
if [[ "$BUILDER" == cmake ]]; then
  CMAKE_ARGS=(-S "$NATIVE" -B "$BUILD/cmake" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$LIBTORCH"
    -DCMAKE_CXX_FLAGS="-I$BUILD/include"
    # Only the headers are used; the library is loaded by a running JVM, so libjvm is not linked.
    -DJAVA_INCLUDE_PATH="$JNI_INCLUDE" -DJAVA_INCLUDE_PATH2="$JNI_INCLUDE/linux" -DJAVA_JVM_LIBRARY=NotNeeded)
  [[ "$OLD_API" == 1 ]] && CMAKE_ARGS+=(-DPT_VERSION=V1_13_X)
  if [[ "$FLAVOR" == cu* ]]; then
    CMAKE_ARGS+=(-DUSE_CUDA=1)
    [[ -z "$CUDA_ARCH" ]] || CMAKE_ARGS+=(-DTORCH_CUDA_ARCH_LIST="$CUDA_ARCH")
  fi
  if cmake "${CMAKE_ARGS[@]}" >&2 && cmake --build "$BUILD/cmake" -- -j "$JOBS" >&2; then
    LIB="$BUILD/cmake/libdjl_torch.so"
  elif [[ "$FALLBACK" == 1 ]]; then
    echo "cmake build failed; building with the compiler alone (--builder direct)" >&2
    BUILDER=direct
  else
    exit 1
  fi
fi
if [[ "$BUILDER" == direct ]]; then
  CXX="${CXX:-c++}"
  FLAGS=(-std=c++17 -O3 -DNDEBUG -fPIC -I"$BUILD/include" -I"$JNI_INCLUDE" -I"$JNI_INCLUDE/linux"
    -I"$BUILD/src/api/src/main/native" -isystem "$LIBTORCH/include" -isystem "$LIBTORCH/include/torch/csrc/api/include")
  [[ "$OLD_API" == 1 ]] && FLAGS+=(-DV1_13_X)
  # Older libtorch builds ask for the pre-C++11 string ABI in their CMake config; newer ones ask nothing.
  ABI=$(grep -ho '_GLIBCXX_USE_CXX11_ABI=[01]' "$LIBTORCH/share/cmake/Torch/TorchConfig.cmake" 2>/dev/null | head -1 || true)
  [[ -z "$ABI" ]] || FLAGS+=("-D$ABI")
  mkdir -p "$BUILD/obj"
  export CXX BUILD
  printf '%s\n' "$NATIVE"/src/main/native/*.cc | xargs -P "$JOBS" -I{} sh -c \
    'f="$1"; shift; echo "compiling $(basename "$f")" >&2; exec "$CXX" "$@" -c "$f" -o "$BUILD/obj/$(basename "$f").o"' \
    _ {} "${FLAGS[@]}"
  LIB="$BUILD/libdjl_torch.so"
  # --allow-shlib-undefined: a CUDA libtorch's own dependencies (cuBLAS, cuDNN in site-packages/nvidia)
  # are found at run time through its RUNPATH, not needed at link time.
  "$CXX" -shared -o "$LIB" "$BUILD"/obj/*.o -L"$LIBTORCH/lib" -Wl,--no-as-needed -ltorch -ltorch_cpu -lc10 \
    -Wl,--as-needed -Wl,--allow-shlib-undefined -Wl,-rpath,'$ORIGIN'
elif [[ "$BUILDER" != cmake ]]; then
  echo "--builder must be auto, cmake or direct" >&2; exit 2
fi
echo "compiled ($BUILDER) in $(( $(date +%s) - START )) s" >&2

DEST="$OUT/pytorch/$VERSION-$FLAVOR-$CLASSIFIER"
mkdir -p "$DEST"
cp "$LIB" "$DEST/$DJL_VERSION-libdjl_torch.so"
# DJL looks for the JNI as ENGINE_CACHE_DIR/pytorch/<PYTORCH_VERSION>-<PYTORCH_FLAVOR>-<classifier>/
# <djl version>-libdjl_torch.so once PYTORCH_LIBRARY_PATH names the libtorch (LibUtils.findJniLibrary).
cat > "$OUT/env.sh" <<EOF
# Generated by scripts/build-jni.sh: source it to run DJL on $LIBTORCH ($VERSION, $FLAVOR).
export PYTORCH_LIBRARY_PATH="$LIBTORCH/lib"
export PYTORCH_VERSION="$VERSION"
export PYTORCH_FLAVOR="$FLAVOR"
export ENGINE_CACHE_DIR="$OUT"
EOF
echo "$DEST/$DJL_VERSION-libdjl_torch.so" >&2
echo "source $OUT/env.sh to use it" >&2
