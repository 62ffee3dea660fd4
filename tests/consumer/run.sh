#!/usr/bin/env bash
# Builds the TorchScript-only consumer against an installed statmech and runs it, then checks that
# find_package(statmech) refuses another torch release.
#   tests/consumer/run.sh PYTHON INSTALL_PREFIX TORCH_CMAKE_PREFIX BUILD_DIR
set -euo pipefail
python=$1 install=$2 torch_prefix=$3
build=$(mkdir -p "$4" && cd "$4" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
generator=()
if [ -z "${CMAKE_GENERATOR:-}" ] && ninja --version >/dev/null 2>&1; then generator=(-G Ninja); fi
# The installed package names no path of the build machine: torch comes in through imported targets.
if grep -nE '[";]/[A-Za-z_.]' "$install"/lib/cmake/statmech/statmechTargets*.cmake; then
  echo "absolute paths in the installed statmechTargets*.cmake"; exit 1
fi
cmake -S "$here" -B "$build" "${generator[@]}" -DCMAKE_PREFIX_PATH="$install;$torch_prefix" >/dev/null
cmake --build "$build"
# The operators must come from libstatmech, which the linker kept although nothing references it.
readelf -d "$build/jit_consumer" | grep -q 'NEEDED.*libstatmech' ||
  { echo "jit_consumer does not load libstatmech (dropped by --as-needed)"; exit 1; }
PYTHONWARNINGS=ignore "$python" "$here/make_model.py" "$build/free_energy.pt"
"$build/jit_consumer" "$build/free_energy.pt"

# find_package(statmech) against another torch release fails, with a message saying so.
fake=$build/fake-torch/Torch
mkdir -p "$fake"
echo 'message(FATAL_ERROR "the fake torch must not be loaded")' > "$fake/TorchConfig.cmake"
echo 'set(PACKAGE_VERSION "2.0.1")' > "$fake/TorchConfigVersion.cmake"
if cmake -S "$here" -B "$build/other-torch" -DCMAKE_PREFIX_PATH="$install;$build/fake-torch" >"$build/other-torch.log" 2>&1; then
  echo "find_package(statmech) accepted torch 2.0.1"; exit 1
fi
tr -s ' \n' ' ' <"$build/other-torch.log" | grep -q "was built against torch [0-9.]*, but this project uses torch 2.0.1" ||
  { cat "$build/other-torch.log"; echo "find_package(statmech) failed without saying why"; exit 1; }
echo "find_package(statmech) refuses torch 2.0.1 with a clear message"
