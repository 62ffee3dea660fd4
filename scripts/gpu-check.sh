#!/usr/bin/env bash
# One pass on a machine with an NVIDIA GPU: build the library with its CUDA kernels against the
# installed torch, run the C++ and Python tests (the CUDA cases run there; CI has no GPU), and
# the GPU rows of the benchmarks. Needs no network: GoogleTest comes from /usr/src/googletest, or
# from a copy in .device/googletest when the machine has none.
#
#   scripts/gpu-check.sh            logs and benchmark output in $OUT (default build/gpu-check)
#
# Environment: PYTHON (default python3), TORCH_CUDA_ARCH_LIST (default: this GPU's architecture),
# GPU_CHECK_CXX (default /usr/bin/g++), PYTEST_TIMEOUT and BENCH_TIMEOUT (seconds per pytest run / benchmark),
# BENCHMARKS=0 to stop after the tests (when the GPU rows are already taken and time is short),
# PYTEST_REST=0 to run only the device cases of pytest (the others run in CI).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-python3}
OUT=${OUT:-$ROOT/build/gpu-check}
BUILD=$ROOT/build/gpu
mkdir -p "$OUT"
step() { printf '\n== %s (%s s)\n' "$*" "$SECONDS"; }
status=0

step "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/gpu.txt"
"$PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())" | tee -a "$OUT/gpu.txt"

if [ ! -f /usr/src/googletest/CMakeLists.txt ] && [ -d .device/googletest ]; then
  cp -r .device/googletest /usr/src/googletest
fi
# Test- and benchmark-only packages the machine may lack (expecttest, difflayers, learnergy), as
# wheels brought along in .device/whl: installed beside the machine's own packages, never over them.
if ls .device/whl/*.whl >/dev/null 2>&1; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .device/whl/*.whl \
    && export PYTHONPATH=/tmp/site
fi

step "build with CUDA kernels"
# A compiler that links the shared libstdc++ torch loads (the configure step refuses one that links
# it statically). The GPU image puts a relocated GCC with only libstdc++.a first on PATH, and a
# library built with it crashed on the first operator error. The image also exports
# CXX=/opt/gcc/bin/g++, so the ambient CXX is not used: the distribution's g++ is, unless
# GPU_CHECK_CXX names another. A build folder configured with another compiler starts afresh.
export CXX=${GPU_CHECK_CXX:-/usr/bin/g++} CUDAHOSTCXX=${GPU_CHECK_CXX:-/usr/bin/g++}
arch=$("$PYTHON" -c "import torch; p = torch.cuda.get_device_capability(); print(f'{p[0]}.{p[1]}')")
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-$arch}
grep -qs "CMAKE_CXX_COMPILER:.*=$CXX\$" "$BUILD/CMakeCache.txt" || rm -rf "$BUILD"
cmake -S . -B "$BUILD" -G Ninja -DSTATMECH_WITH_CUDA=ON -DSTATMECH_BUILD_EXAMPLES=OFF \
  -DCMAKE_PREFIX_PATH="$("$PYTHON" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')" \
  -DPython_EXECUTABLE="$(command -v "$PYTHON")" >"$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
grep "statmech:" "$OUT/configure.log"
cmake --build "$BUILD" -j "$(nproc)" >"$OUT/build.log" 2>&1 || { grep -B2 -A12 "error" "$OUT/build.log" | head -80; exit 1; }
cp "$BUILD"/_C.*.so "$BUILD"/libstatmech.so.* python/statmech/
export PYTHONPATH=$ROOT/python${PYTHONPATH:+:$PYTHONPATH}

step "C++ tests (ctest)"
ctest --test-dir "$BUILD" -j 8 --output-on-failure >"$OUT/ctest.log" 2>&1 || status=1
grep -E "tests passed|Failed|\*\*\*" "$OUT/ctest.log" | head -30
grep -iE "cuda.*(Passed|Failed|Skipped)" "$OUT/ctest.log" | head -40

# The device cases first, in one process (they are what this machine is for), then the rest in
# parallel with two threads per xdist worker (with torch's default of one thread per core, 14
# workers on 16 cores ran 70 % of the suite in 110 s; one process on a 2-core machine runs it all
# in about 65 s).
step "Python tests: CUDA cases"
timeout "${PYTEST_TIMEOUT:-300}" "$PYTHON" -m pytest tests/python -q -rfEs -k "cuda or gpu or device" \
  -p no:cacheprovider >"$OUT/pytest-cuda.log" 2>&1 || status=1
tail -15 "$OUT/pytest-cuda.log"
if [ "${PYTEST_REST:-1}" != 0 ]; then
  step "Python tests: the rest"
  xdist=(); "$PYTHON" -c "import xdist" 2>/dev/null && xdist=(-n 8)
  OMP_NUM_THREADS=2 timeout "${PYTEST_TIMEOUT:-300}" "$PYTHON" -m pytest tests/python -q -rfEs "${xdist[@]}" \
    -k "not (cuda or gpu or device)" -p no:cacheprovider >"$OUT/pytest.log" 2>&1 || status=1
  tail -15 "$OUT/pytest.log"
fi

if [ "${BENCHMARKS:-1}" = 0 ]; then
  step "done (benchmarks skipped), status $status"
  tar -czf "$OUT/logs.tgz" -C "$OUT" --exclude logs.tgz . 2>/dev/null
  exit $status
fi
step "GPU benchmark rows"
bench() {  # bench NAME ARGS...: one benchmark on the GPU, output in $OUT/NAME.txt
  local name=$1; shift
  [ -f "benchmarks/$name.py" ] || return 0
  echo "-- $name $*"
  timeout "${BENCH_TIMEOUT:-90}" "$PYTHON" "benchmarks/$name.py" "$@" >"$OUT/$name.txt" 2>&1 || echo "($name exited $?)"
  tail -12 "$OUT/$name.txt"
}
bench bench_rbm_free_energy --device cuda
bench bench_hopfield_retrieval --device cuda
bench bench_hopfield_classical --device cuda
bench bench_rbm_training --device cuda
bench bench_rbm_ais --device cuda
bench bench_gp_cuda
step "done, status $status"
# The device tool returns at most eight files: keep the logs in one archive as well.
tar -czf "$OUT/logs.tgz" -C "$OUT" --exclude logs.tgz . 2>/dev/null
exit $status
