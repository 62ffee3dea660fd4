"""Build driver for the Python package: a thin layer over the one CMake build.

``pip install --no-build-isolation .`` (or ``-e .``) configures CMake in ``build/cmake`` (once),
builds the ``statmech_python`` target there, and places ``statmech/_C*.so`` and
``libstatmech.so.*`` into the package. The C++ tests and the installed C++ package use the same
build directory, so the core is compiled once.

--no-build-isolation is required: the extension is compiled against the C++ ABI of one exact
torch release, and must be the torch that is installed (an isolated build would download and
compile against another copy).

Environment:
    STATMECH_BUILD_DIR   CMake build directory (default: build/cmake)
    STATMECH_WITH_CUDA   0 to skip the CUDA kernels even when nvcc is found
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).parent.resolve()
VERSION = re.search(r"project\(statmech VERSION ([0-9.]+)", (ROOT / "CMakeLists.txt").read_text()).group(1)
SONAME = "libstatmech.so.{}.{}".format(*VERSION.split(".")[:2])


class CMakeExtension(Extension):
    def __init__(self, name: str) -> None:
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext: Extension) -> None:
        import torch.utils

        build_dir = Path(os.environ.get("STATMECH_BUILD_DIR", ROOT / "build" / "cmake")).resolve()
        if not (build_dir / "CMakeCache.txt").exists():
            configure = [
                "cmake", "-S", str(ROOT), "-B", str(build_dir),
                f"-DCMAKE_PREFIX_PATH={torch.utils.cmake_prefix_path}",
                f"-DPython_EXECUTABLE={sys.executable}",
            ]
            if shutil.which("ninja"):
                configure += ["-G", "Ninja"]
            subprocess.check_call(configure)
        subprocess.check_call(["cmake", "--build", str(build_dir), "--target", "statmech_python"])

        destination = Path(self.get_ext_fullpath(ext.name)).parent
        destination.mkdir(parents=True, exist_ok=True)
        module = next(build_dir.glob("_C.*.so"))
        shutil.copy2(module, destination / Path(self.get_ext_fullpath(ext.name)).name)
        # The module finds the core library next to itself (RPATH $ORIGIN), under its soname.
        shutil.copy2(build_dir / SONAME, destination / SONAME)

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
    packages=["statmech"],
    ext_modules=[CMakeExtension("statmech._C")],
    cmdclass={"build_ext": CMakeBuild},
    install_requires=[torch_requirement()],
    extras_require={"gpytorch": ["gpytorch"]},
    zip_safe=False,
)
