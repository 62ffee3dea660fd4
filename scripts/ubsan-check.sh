#!/usr/bin/env bash
# Undefined-behaviour check of the CPU kernels whose branch-free math works on float bit
# patterns (ops/common/vectorizable_math.h: rbm_free_energy's row pass, rbm_train_sgd, the
# binary Hopfield dynamics): builds the library and the C++ tests with
#   -fsanitize=undefined -fno-sanitize-recover=undefined
# in build/ubsan (CUDA off) and runs the tests that feed NaN, +-inf and |x| > 87 through them.
# Any undefined behaviour aborts the test with a "runtime error:" report.
#
#   scripts/ubsan-check.sh            # configure + build (first time ~20 min on 2 cores, ccache helps) + run
#   UBSAN_TESTS='RbmFreeEnergy*' scripts/ubsan-check.sh
#
# Last run clean (2026-11-27, GCC, x86-64, torch 2.11.0): RbmFreeEnergy.*, VectorizableMath*,
# RbmModule.FusedSgdTraining, BinaryHopfield.*. Before the unsigned-shift fix in
# exp_nonpositive it reported "left shift of negative value" for a NaN pre-activation.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${UBSAN_BUILD_DIR:-build/ubsan}
filter=${UBSAN_TESTS:-'RbmFreeEnergy.*:VectorizableMath*:RbmModule.FusedSgdTraining:BinaryHopfield*'}
flags="-fsanitize=undefined -fno-sanitize-recover=undefined"
cmake -S . -B "$build" -G Ninja \
  -DCMAKE_PREFIX_PATH="$(python3 -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')" \
  -DPython_EXECUTABLE="$(command -v python3)" -DSTATMECH_WITH_CUDA=OFF \
  "-DCMAKE_CXX_FLAGS=$flags" "-DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=undefined" \
  "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=undefined" > "$build.configure.log"
cmake --build "$build" --target statmech_tests
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "$build/tests/cpp/statmech_tests" --gtest_filter="$filter"
