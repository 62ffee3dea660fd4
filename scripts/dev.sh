#!/usr/bin/env bash
# The two commands of README.md:
#   scripts/dev.sh example   set everything up, then run the main examples (RBM likelihood, phase diagram)
#   scripts/dev.sh test      set everything up, then run every test (C++ ctest, the out-of-tree
#                            C++ consumer, pytest)
# Both are idempotent: a second run re-checks the dependencies and rebuilds only what changed.
#
# Environment: PYTHON (default python3), STATMECH_WITH_CUDA=0 to skip the CUDA kernels.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-python3}
BUILD=$ROOT/build/cmake
INSTALL=$ROOT/build/install

step() { printf '\n== %s\n' "$*"; }

install_system_packages() {
  local missing=()
  command -v cmake >/dev/null || missing+=(cmake)
  command -v ninja >/dev/null || missing+=(ninja-build)
  command -v ccache >/dev/null || missing+=(ccache)
  command -v g++ >/dev/null || missing+=(g++)
  [ -f /usr/include/gtest/gtest.h ] || missing+=(libgtest-dev)
  if [ ${#missing[@]} -gt 0 ]; then
    step "installing Debian packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
  fi
}

setup() {
  install_system_packages
  step "Python dependencies (requirements.txt pins torch)"
  "$PYTHON" -m pip install -q --disable-pip-version-check -r requirements.txt
  step "build and install the Python package (CMake build in build/cmake)"
  "$PYTHON" -m pip install -q --disable-pip-version-check --no-build-isolation -e .
  step "build the C++ tests and examples, install the C++ package into build/install"
  cmake --build "$BUILD"
  cmake --install "$BUILD" --prefix "$INSTALL" >/dev/null
}

run_tests() {
  local failed=0
  step "C++ tests (ctest)"
  ctest --test-dir "$BUILD" --output-on-failure || failed=1

  step "C++ consumer: examples/cpp built out of tree against build/install"
  local torch_prefix
  torch_prefix=$("$PYTHON" -c "import torch.utils; print(torch.utils.cmake_prefix_path)")
  local passed=0 failures=0 program
  if cmake -S examples/cpp -B build/examples-cpp -G Ninja -DCMAKE_PREFIX_PATH="$INSTALL;$torch_prefix" >/dev/null &&
     cmake --build build/examples-cpp; then
    for program in rbm_exact_likelihood edge_of_chaos; do
      if ./build/examples-cpp/$program; then passed=$((passed + 1)); else failures=$((failures + 1)); fi
    done
  else
    failures=1
  fi
  echo "C++ consumer: $passed passed, $failures failed"
  [ "$failures" -eq 0 ] || failed=1

  step "Python tests (pytest)"
  (cd "$ROOT" && "$PYTHON" -m pytest tests/python) || failed=1
  return $failed
}

case "${1:-}" in
  example)
    setup
    step "main examples: examples/python/rbm_exact_likelihood.py, examples/python/phase_diagram.py"
    "$PYTHON" examples/python/rbm_exact_likelihood.py
    "$PYTHON" examples/python/phase_diagram.py
    echo "plots: examples/output/"
    ;;
  test)
    setup
    run_tests
    ;;
  *)
    echo "usage: $0 example|test" >&2
    exit 2
    ;;
esac
