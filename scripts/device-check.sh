#!/usr/bin/env bash
# device-check.sh: the GPU checks, for a lent machine with PyTorch and nvcc but
# no Go. Prepare here, run there:
#
#   here:   scripts/device-check.sh prepare      # builds bin/mezo and test binaries into build/device/
#   there:  scripts/device-check.sh run          # (carry build/device and bin) builds the shim against
#                                                  the machine's torch, runs the CUDA checks, writes $OUT
#
# The Go binaries link only the shim's C ABI, so binaries built here run
# against a shim built there against PyTorch 2.x's CUDA libtorch.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
prepare)
  ./build.sh
  mkdir -p build/device
  for p in cgo/torch pkg/model/roberta pkg/model/opt cmd/mezo; do
    go test -c -o "build/device/$(basename "$p").test" "./$p"
  done
  echo "device-check: carry bin/ and build/device/ (with the repository) to the device"
  ;;
run)
  out=${OUT:-/tmp/device-check}
  mkdir -p "$out"
  py=${PYTHON:-python3}
  SHIM_ONLY=1 PYTHON="$py" BUILD_DIR="$PWD/build" ./build.sh 2>&1 | tee "$out/build.log"
  export LD_LIBRARY_PATH="$PWD/build/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export MEZO_SHARED=${MEZO_SHARED:-$PWD/../shared}
  {
    bin/mezo env
    bin/mezo smoke --device cuda
    bin/mezo smoke --device cuda --dtype bfloat16
    bin/mezo --threads 8 smoke --layers 12 --hidden 768 --heads 12 --vocab 50265 --batch 16 --length 128 --reps 3 --device cuda
    (cd cgo/torch && ../../build/device/torch.test -test.v -test.run 'CUDA|ZStream|Restore|Philox|Autocast')
    grep -q 'nvcc=' "$out/build.log" || echo 'device-check: FAIL: the shim was built without nvcc, so without the philox CUDA kernel'
    bin/mezo --threads 8 bench --mode mezo --z philox --device cuda --preset roberta-large --batch 64 --seq 128 --steps 3
    bin/mezo --threads 8 bench --mode mezo --z torch --device cuda --preset roberta-large --batch 64 --seq 128 --steps 3
    bin/mezo --threads 8 bench --mode infer --device cuda --preset roberta-large --batch 64 --seq 128 --steps 3
    # bf16 forwards on fp32 master weights (autocast), against the floor in PERFORMANCE.md §2.3
    bin/mezo --threads 8 bench --mode mezo --precision bf16 --device cuda --preset roberta-large --batch 64 --seq 128 --steps 3
    bin/mezo --threads 8 bench --mode infer --precision bf16 --device cuda --preset roberta-large --batch 64 --seq 128 --steps 3
    bin/mezo --threads 8 bench --mode ft --device cuda --preset roberta-large --batch 64 --seq 128 --steps 3
    bin/mezo --threads 8 bench --mode ft --precision bf16 --device cuda --preset roberta-large --batch 64 --seq 128 --steps 3
    # the reference's step on the same GPU: bench/reference/reference_bench.py takes --device
    for m in infer mezo ft; do "$py" bench/reference/reference_bench.py --device cuda --mode $m --hidden 1024 --layers 24 --heads 16 --ffn 4096 --batch 64 --seq 128 --steps 3; done
    (cd pkg/model/roberta && ../../../build/device/roberta.test -test.v -test.run 'CUDA|Parity')
    # OPT on CUDA in float32 and float16 (the MeZO OPT recipes' dtype)
    (cd pkg/model/opt && ../../../build/device/opt.test -test.v -test.run 'CUDA')
  } 2>&1 | tee "$out/checks.log"
  ;;
*)
  echo "usage: scripts/device-check.sh prepare|run" >&2
  exit 2
  ;;
esac
