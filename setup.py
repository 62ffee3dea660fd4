"""Build driver for the Python package: a thin layer over the one CMake build.

``pip install --no-build-isolation .`` (or ``-e .``, or ``pip wheel --no-build-isolation .``)
configures CMake in ``build/cmake``, builds the ``statmech_python`` target there, and places
``statmech/_C<EXT_SUFFIX>`` and ``libstatmech.so.*`` into the package. The C++ tests and the
installed C++ package use the same build directory, so the core is compiled once.

--no-build-isolation is required: the extension is compiled against the C++ ABI of one exact
torch release, and must be the torch that is installed (an isolated build would download and
compile against another copy).

The build directory is never stale: it records what it was configured for (the Python, the
torch, the CUDA setting and toolkit, the architectures, the compiler and generator) in
``statmech-build-key.json`` and is configured from scratch when any of it changes. Only the
module built for the running Python (its exact ``EXT_SUFFIX``) is ever copied.

Environment:
    STATMECH_BUILD_DIR        CMake build directory (default: build/cmake)
    STATMECH_WITH_CUDA        0 to skip the CUDA kernels even when a toolkit is found
    TORCH_CUDA_ARCH_LIST      CUDA architectures (default: those the installed torch supports)
    CMAKE_GENERATOR           CMake generator (default: Ninja when installed, else Makefiles)
    CMAKE_BUILD_PARALLEL_LEVEL  parallel compile jobs (default: the number of CPUs)
"""

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).parent.resolve()
VERSION = re.search(r"project\(statmech VERSION ([0-9.]+)", (ROOT / "CMakeLists.txt").read_text()).group(1)
SONAME = "libstatmech.so.{}.{}".format(*VERSION.split(".")[:2])
KEY_FILE = "statmech-build-key.json"

try:
    import torch  # noqa: F401
except ImportError:
    sys.exit(
        "torch-statmech builds against the torch that is installed: install torch first "
        "(pip install -r requirements.txt), then build with pip install --no-build-isolation ."
    )


def _nvcc() -> "str | None":
    """The nvcc CMake's check_language(CUDA) would find: CUDACXX, CUDA_HOME/CUDA_PATH, PATH, /usr/local/cuda."""
    candidates = [os.environ.get("CUDACXX")]
    candidates += [os.path.join(os.environ[v], "bin", "nvcc") for v in ("CUDA_HOME", "CUDA_PATH") if os.environ.get(v)]
    candidates += [shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc"]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return os.path.realpath(candidate)
    return None


def _toolkit() -> "str | None":
    """The CUDA toolkit, as '<nvcc path> <release>', or None when there is none."""
    nvcc = _nvcc()
    if nvcc is None:
        return None
    try:
        out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    release = re.search(r"release ([0-9.]+), V([0-9.]+)", out)
    return f"{nvcc} {release.group(2) if release else 'unknown'}"


def _generator() -> "str | None":
    if os.environ.get("CMAKE_GENERATOR"):
        return None  # CMake reads it itself
    return "Ninja" if shutil.which("ninja") else "Unix Makefiles"


def build_key() -> dict:
    """Everything a configured build directory depends on besides the sources."""
    import torch
    import torch.utils

    return {
        "python": sys.executable,
        "ext_suffix": sysconfig.get_config_var("EXT_SUFFIX"),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "torch_cmake_prefix": torch.utils.cmake_prefix_path,
        "with_cuda": os.environ.get("STATMECH_WITH_CUDA", "1"),
        "cuda_toolkit": _toolkit() if os.environ.get("STATMECH_WITH_CUDA", "1") not in ("0", "OFF", "off") else None,
        "cuda_arch_list": os.environ.get("TORCH_CUDA_ARCH_LIST"),
        "cxx": os.environ.get("CXX"),
        "generator": os.environ.get("CMAKE_GENERATOR") or _generator(),
    }


def _describe_change(old: dict, new: dict) -> str:
    changed = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in new if old.get(k) != new.get(k)]
    return "; ".join(changed) or "no record of the previous configuration"


def ensure_configured(build_dir: Path) -> None:
    key = build_key()
    key_path = build_dir / KEY_FILE
    if (build_dir / "CMakeCache.txt").exists():
        try:
            old = json.loads(key_path.read_text())
        except (OSError, ValueError):
            old = {}
        if old == key:
            return
        print(f"statmech: {build_dir} was configured for another setup ({_describe_change(old, key)}): "
              "configuring it from scratch", flush=True)
        shutil.rmtree(build_dir)
    import torch.utils

    configure = [
        "cmake", "-S", str(ROOT), "-B", str(build_dir),
        f"-DCMAKE_PREFIX_PATH={torch.utils.cmake_prefix_path}",
        f"-DPython_EXECUTABLE={sys.executable}",
        f"-DSTATMECH_WITH_CUDA={'OFF' if key['with_cuda'] in ('0', 'OFF', 'off') else 'ON'}",
    ]
    if _generator():
        configure += ["-G", _generator()]
    subprocess.check_call(configure)
    build_dir.mkdir(parents=True, exist_ok=True)
    key_path.write_text(json.dumps(key, indent=1) + "\n")


def set_rpath(library: Path, rpath: str) -> None:
    """Rewrite the run path of an ELF file in place (CMake's own ELF editor, as `cmake --install` uses)."""
    with tempfile.NamedTemporaryFile("w", suffix=".cmake", delete=False) as script:
        script.write(f'file(RPATH_SET FILE "{library}" NEW_RPATH "{rpath}")\n')
    try:
        subprocess.check_call(["cmake", "-P", script.name])
    finally:
        os.unlink(script.name)


class CMakeExtension(Extension):
    def __init__(self, name: str) -> None:
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext: Extension) -> None:
        build_dir = Path(os.environ.get("STATMECH_BUILD_DIR", ROOT / "build" / "cmake")).resolve()
        ensure_configured(build_dir)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL") or str(os.cpu_count() or 1)
        subprocess.check_call(["cmake", "--build", str(build_dir), "--target", "statmech_python", "--parallel", jobs])

        target = Path(self.get_ext_fullpath(ext.name))
        target.parent.mkdir(parents=True, exist_ok=True)
        # Exactly the module of the running Python: a _C*.so of another Python is never taken.
        module = build_dir / f"_C{sysconfig.get_config_var('EXT_SUFFIX')}"
        if not module.exists():
            raise RuntimeError(f"statmech: {module} was not built (is {build_dir} configured for {sys.executable}?)")
        shutil.copy2(module, target)
        # The module finds the core library next to itself (RPATH $ORIGIN), under its soname. In the
        # build tree the library carries the build machine's directories; the packaged copy only
        # $ORIGIN (in Python, `import torch` has loaded every torch library before us).
        shutil.copy2(build_dir / SONAME, target.parent / SONAME)
        set_rpath(target.parent / SONAME, "$ORIGIN")

    def copy_extensions_to_source(self) -> None:
        # Editable installs copy the extension modules into the source tree; the core library
        # they load must go along.
        super().copy_extensions_to_source()
        package_dir = Path(self.get_finalized_command("build_py").get_package_dir("statmech"))
        shutil.copy2(Path(self.build_lib) / "statmech" / SONAME, package_dir / SONAME)


def torch_requirement() -> str:
    # The extension is bound to the C++ ABI of the torch it was compiled against.
    import torch

    return f"torch=={torch.__version__.split('+')[0]}"


# pip (setuptools' build backend) and `python setup.py` run this file as __main__; tests import it.
if __name__ == "__main__":
    setup(
        name="torch-statmech",
        version=VERSION,
        description="Statistical mechanics of neural networks for PyTorch: energy-based layers, "
        "edge-of-chaos initialisation, NNGP/NTK kernels",
        long_description=(ROOT / "README.md").read_text(),
        long_description_content_type="text/markdown",
        license="BSD-3-Clause",
        python_requires=">=3.10",
        package_dir={"": "python"},
        packages=find_packages("python"),
        package_data={"statmech": ["py.typed", "*.pyi"]},
        ext_modules=[CMakeExtension("statmech._C")],
        cmdclass={"build_ext": CMakeBuild},
        install_requires=[torch_requirement()],
        extras_require={"gpytorch": ["gpytorch"]},
        zip_safe=False,
    )
