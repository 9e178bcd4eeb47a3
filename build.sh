#!/usr/bin/env bash
# build.sh: builds the libtorch shim (build/lib/libmzshim.so) and bin/mezo.
# It installs nothing. libtorch is looked for, in this order:
#   1. $LIBTORCH: an unpacked libtorch (CPU or CUDA; CUDA when lib/libtorch_cuda.so exists)
#   2. Debian's libtorch-dev (1.13, CPU): /usr/include/torch and libtorch.so in the multiarch lib dir
#   3. the libtorch inside a Python torch install, asked of $PYTHON or /usr/bin/python3
# The Go binary links only the shim's C ABI; bin/mezo finds the shim through an
# rpath ($ORIGIN/../build/lib), and the shim finds libtorch through its own rpath.
# Environment: LIBTORCH, PYTHON, JOBS (parallel compile jobs), GO (go command),
#   BUILD_DIR (shim and objects; default ./build), BIN_DIR (mezo; default ./bin),
#   TORCH_FROM=libtorch|debian|python (skip the search and use that source),
#   SHIM_ONLY=1 (build the shim, not mezo: for a machine without Go that runs
#   Go binaries built elsewhere).
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
GO=${GO:-go}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

die() { echo "build.sh: $*" >&2; exit 1; }

# abi_of LIBDIR: prints 1 when libc10 uses the C++11 string ABI, else 0.
abi_of() {
  local n
  n=$(nm -DC "$1/libc10.so" 2>/dev/null | grep -c '__cxx11' || true)
  if [ "${n:-0}" -gt 0 ]; then echo 1; else echo 0; fi
}

from_libtorch() {
  [ -n "${LIBTORCH:-}" ] || die "TORCH_FROM=libtorch needs LIBTORCH"
  [ -d "$LIBTORCH/include" ] && [ -d "$LIBTORCH/lib" ] || die "LIBTORCH=$LIBTORCH has no include/ and lib/"
  inc="$LIBTORCH/include"; lib="$LIBTORCH/lib"; flavour="LIBTORCH"
}
has_debian() {
  [ -f /usr/include/torch/csrc/api/include/torch/torch.h ] && ls /usr/lib/*/libtorch.so >/dev/null 2>&1
}
from_debian() {
  has_debian || die "Debian's libtorch-dev is not installed (apt-get install libtorch-dev)"
  lib=$(dirname "$(ls /usr/lib/*/libtorch.so | head -n1)"); inc=/usr/include; flavour="debian"
}
from_python() {
  local py=${PYTHON:-/usr/bin/python3} tdir
  tdir=$("$py" -c 'import torch,os;print(os.path.dirname(torch.__file__))' 2>/dev/null) || \
    die "${python_hint:+$python_hint }no torch in ${py} (set PYTHON to a Python that has torch)"
  [ -d "$tdir/include" ] && [ -d "$tdir/lib" ] || die "torch in ${py} ($tdir) has no include/ and lib/"
  inc="$tdir/include"; lib="$tdir/lib"; flavour="python:$py"
}

flavour=""
case "${TORCH_FROM:-auto}" in
  libtorch) from_libtorch ;;
  debian) from_debian ;;
  python) from_python ;;
  auto)
    if [ -n "${LIBTORCH:-}" ]; then from_libtorch
    elif has_debian; then from_debian
    else
      python_hint="no libtorch found: LIBTORCH is unset, Debian's libtorch-dev is not installed (apt-get install libtorch-dev), and"
      from_python
    fi ;;
  *) die "TORCH_FROM=$TORCH_FROM: want libtorch, debian or python" ;;
esac

cuda=0
nvcc=""
cuda_ldflags=""
[ -f "$lib/libtorch_cuda.so" ] && cuda=1
abi=$(abi_of "$lib")
# libtorch's headers are third-party: -isystem keeps their warnings out of
# ours (except /usr/include, already a system directory, where -isystem would
# break the C++ headers' #include_next).
if [ "$inc" = /usr/include ]; then
  cxxflags="-isystem $inc/torch/csrc/api/include"
else
  cxxflags="-isystem $inc -isystem $inc/torch/csrc/api/include"
fi
cxxflags="$cxxflags -D_GLIBCXX_USE_CXX11_ABI=$abi"
ldflags="-L$lib -Wl,-rpath,$lib -Wl,--no-as-needed -ltorch -ltorch_cpu -lc10"
if [ "$cuda" = 1 ]; then
  cxxflags="$cxxflags -DMZ_WITH_CUDA"
  ldflags="$ldflags -ltorch_cuda -lc10_cuda"
  # CUDA headers (cuda_runtime_api.h) come with the CUDA toolkit.
  for d in "${CUDA_HOME:-/usr/local/cuda}/include" /usr/local/cuda/include; do
    [ -d "$d" ] && cxxflags="$cxxflags -I$d"
  done
  # The philox z kernel (cgo/shim/*.cu) needs nvcc and the CUDA runtime;
  # without nvcc the shim builds without it and philox on CUDA says so.
  nvcc=${NVCC:-}
  if [ -z "$nvcc" ]; then
    for c in "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" /usr/local/cuda/bin/nvcc "$(command -v nvcc || true)"; do
      if [ -n "$c" ] && [ -x "$c" ]; then nvcc=$c; break; fi
    done
  fi
  if [ -n "$nvcc" ]; then
    cudalib=$(dirname "$(dirname "$nvcc")")/lib64
    cuda_ldflags="-L$cudalib -Wl,-rpath,$cudalib -lcudart"
  else
    echo "build.sh: no nvcc (set NVCC or CUDA_HOME): building without the philox CUDA kernel" >&2
  fi
fi
ldflags="$ldflags -Wl,--as-needed -ldl"

echo "build.sh: libtorch from $flavour ($lib), cuda=$cuda, cxx11 abi=$abi${nvcc:+, nvcc=$nvcc}"
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
BIN_DIR=${BIN_DIR:-$ROOT/bin}
key=$(printf '%s' "$lib $cxxflags $nvcc" | md5sum | cut -c1-12)
make -s -C cgo/shim -j"$JOBS" OBJDIR="$BUILD_DIR/obj/$key" OUT="$BUILD_DIR/lib/libmzshim.so" \
  TORCH_CXXFLAGS="$cxxflags" TORCH_LDFLAGS="$ldflags" NVCC="$nvcc" CUDA_LDFLAGS="$cuda_ldflags"

if [ "${SHIM_ONLY:-0}" = 1 ]; then
  echo "build.sh: built $BUILD_DIR/lib/libmzshim.so (SHIM_ONLY)"
  exit 0
fi

# The binary links the shim's C ABI only. Its rpath finds the shim beside it
# ($ORIGIN/../build/lib for a checkout, $ORIGIN/../lib for an installed tree);
# these come before cgo's own rpath to the checkout's build/lib.
mkdir -p "$BIN_DIR"
CGO_LDFLAGS="-L$BUILD_DIR/lib -Wl,-rpath,\$ORIGIN/../build/lib -Wl,-rpath,\$ORIGIN/../lib ${CGO_LDFLAGS:-}" \
  "$GO" build -o "$BIN_DIR/mezo" ./cmd/mezo
echo "build.sh: built $BUILD_DIR/lib/libmzshim.so and $BIN_DIR/mezo"
