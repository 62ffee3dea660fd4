#!/usr/bin/env bash
# The commands of README.md:
#   scripts/dev.sh example   set everything up, then run the main examples (RBM likelihood, phase diagram)
#   scripts/dev.sh test      set everything up, then run every test (C++ ctest, the out-of-tree
#                            C++ consumers, pytest)
#   scripts/dev.sh build     set everything up (dependencies, build, install) and stop
# All are idempotent: a second run re-checks the dependencies and rebuilds only what changed.
#
# Python: the active virtual environment (or conda environment) when there is one; otherwise the
# project's own .venv, created on first use with --system-site-packages so that a torch installed
# for the system Python is reused rather than downloaded. Never pip outside a virtual environment
# (Debian's and Ubuntu's Pythons forbid it, PEP 668). PYTHON=/path/to/python uses that one as it is.
#
# Network: only when something in requirements.txt is missing (then pip installs exactly that);
# the system packages are installed (with sudo when not root) only when a required one is missing.
#
# Environment: PYTHON, STATMECH_WITH_CUDA=0 (skip the CUDA kernels), STATMECH_BUILD_DIR
# (default build/cmake), TORCH_CUDA_ARCH_LIST, CMAKE_GENERATOR, CMAKE_BUILD_PARALLEL_LEVEL.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export STATMECH_BUILD_DIR=${STATMECH_BUILD_DIR:-$ROOT/build/cmake}
BUILD=$STATMECH_BUILD_DIR
INSTALL=$ROOT/build/install
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}

step() { printf '\n== %s\n' "$*"; }
have() { "$1" --version >/dev/null 2>&1; }  # installed and runnable
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# --- the Python interpreter ------------------------------------------------------------------------
choose_python() {
  if [ -n "${PYTHON:-}" ]; then
    return
  fi
  local base=python3
  command -v python3 >/dev/null || die "python3 not found: install Python 3.10 or newer"
  if python3 -c 'import os, sys; sys.exit(0 if (sys.prefix != sys.base_prefix or os.environ.get("CONDA_PREFIX")) else 1)'; then
    PYTHON=$(python3 -c 'import sys; print(sys.executable)')
    echo "using the active environment's Python: $PYTHON"
    return
  fi
  if [ ! -x "$ROOT/.venv/bin/python" ]; then
    step "no virtual environment is active: creating .venv (with the system's site-packages, so an installed torch is reused)"
    # Without a pip of its own when the system has one: a fresh venv's bundled pip and setuptools
    # would shadow the system's newer ones and send pip to the network for setuptools.
    local without_pip=()
    "$base" -m pip --version >/dev/null 2>&1 && without_pip=(--without-pip)
    "$base" -m venv --system-site-packages "${without_pip[@]}" "$ROOT/.venv" ||
      die "could not create .venv: install the venv module (Debian/Ubuntu: apt-get install python3-venv)"
  fi
  PYTHON=$ROOT/.venv/bin/python
  echo "no virtual environment is active: using $ROOT/.venv (activate it with: source .venv/bin/activate)"
}

# --- system packages -------------------------------------------------------------------------------
check_system_packages() {
  local missing=() want_tests=$1
  have cmake || missing+=(cmake)
  command -v c++ >/dev/null || command -v g++ >/dev/null || missing+=(g++)
  if [ "$want_tests" = 1 ] && [ ! -f /usr/include/gtest/gtest.h ] && [ ! -f /usr/src/googletest/CMakeLists.txt ]; then
    missing+=(libgtest-dev)
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || die "missing: ${missing[*]} (install them with your package manager)"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
      command -v sudo >/dev/null || die "missing: ${missing[*]}; install them as root: apt-get install ${missing[*]}"
      sudo=sudo
    fi
    step "installing Debian packages: ${missing[*]}"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
  fi
  local cmake_version
  cmake_version=$(cmake --version | head -n1 | awk '{print $3}')
  printf '3.22\n%s\n' "$cmake_version" | sort -V -C ||
    die "CMake $cmake_version is too old: 3.22 or newer is needed (pip install cmake)"
  have ninja || echo "note: ninja not found, building with Makefiles (optional: apt-get install ninja-build)"
  have ccache || echo "note: ccache not found, rebuilds compile everything (optional: apt-get install ccache)"
  return 0
}

check_python_headers() {
  local include
  include=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
  if [ ! -f "$include/Python.h" ]; then
    local version
    version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    die "Python.h not found in $include: the Python development headers are needed to build the extension module (Debian/Ubuntu: apt-get install python$version-dev)"
  fi
}

# --- Python packages -------------------------------------------------------------------------------
install_requirements() {
  step "Python dependencies (requirements.txt pins torch)"
  local unmet
  if unmet=$("$PYTHON" scripts/check_requirements.py requirements.txt); then
    echo "all satisfied"
    return
  fi
  echo "missing or in another version:"
  echo "$unmet" | sed 's/^/  /'
  local names
  names=$(echo "$unmet" | cut -d: -f1 | tr '\n' ' ')
  "$PYTHON" -m pip install -q --disable-pip-version-check -r requirements.txt ||
    die "could not install $names(pip failed: is the package index reachable? On an offline machine install them from a local wheel directory: pip install --no-index --find-links DIR -r requirements.txt)"
}

setup() {
  local want_tests=$1
  choose_python
  check_system_packages "$want_tests"
  check_python_headers
  install_requirements
  step "build and install the Python package (CMake build in ${BUILD#$ROOT/})"
  "$PYTHON" -m pip install -q --disable-pip-version-check --no-build-isolation --no-deps -e .
  step "build the C++ tests and examples, install the C++ package into build/install"
  cmake --build "$BUILD"
  cmake --install "$BUILD" --prefix "$INSTALL" >/dev/null
}

consumer_generator() {
  if [ -z "${CMAKE_GENERATOR:-}" ] && have ninja; then echo "-GNinja"; fi
}

run_tests() {
  local failed=0 torch_prefix generator
  torch_prefix=$("$PYTHON" -c "import torch.utils; print(torch.utils.cmake_prefix_path)")
  generator=$(consumer_generator)

  step "C++ tests (ctest)"
  ctest --test-dir "$BUILD" --output-on-failure -j "$CMAKE_BUILD_PARALLEL_LEVEL" || failed=1

  step "C++ consumers built out of tree against build/install: examples/cpp, tests/consumer (torch::jit::load only, --as-needed)"
  local passed=0 failures=0 program
  if cmake -S examples/cpp -B build/examples-cpp $generator -DCMAKE_PREFIX_PATH="$INSTALL;$torch_prefix" >/dev/null &&
     cmake --build build/examples-cpp; then
    for program in rbm_exact_likelihood edge_of_chaos; do
      if ./build/examples-cpp/$program; then passed=$((passed + 1)); else failures=$((failures + 1)); fi
    done
  else
    failures=$((failures + 1))
  fi
  if tests/consumer/run.sh "$PYTHON" "$INSTALL" "$torch_prefix" build/consumer; then
    passed=$((passed + 1))
  else
    failures=$((failures + 1))
  fi
  echo "C++ consumers: $passed passed, $failures failed"
  [ "$failures" -eq 0 ] || failed=1

  step "Python tests (pytest)"
  "$PYTHON" -m pytest tests/python || failed=1
  return $failed
}

case "${1:-}" in
  example)
    setup 0
    step "main examples: examples/python/rbm_exact_likelihood.py, examples/python/phase_diagram.py"
    "$PYTHON" examples/python/rbm_exact_likelihood.py
    "$PYTHON" examples/python/phase_diagram.py
    echo "plots: examples/output/"
    ;;
  test)
    setup 1
    run_tests
    ;;
  build)
    setup 1
    ;;
  *)
    echo "usage: $0 example|test|build" >&2
    exit 2
    ;;
esac
