"""Import-time check that the native extension and the running torch agree, made BEFORE it loads.

A C++ extension is bound to the C++ ABI of the one torch release it was compiled against. Loaded
into another release it fails with an undefined symbol (or worse, loads and misbehaves), and with
CUDA kernels it also needs a torch built for the same CUDA major version. The build writes what it
compiled against into the module file as a string (``csrc/cmake/build_record.cpp.in``); this
module finds that string in the file without loading it and turns a mismatch into a one-line
``ImportError`` that says what to rebuild.
"""

from __future__ import annotations

import importlib.util
import re
from typing import Dict, Optional

import torch

_RECORD = re.compile(rb"statmech-build-record:([^\x00]*?);end")
_REBUILD = "rebuild it against the installed torch: pip install --no-build-isolation . (or scripts/dev.sh test)"


def read_build_record(path: str) -> Optional[Dict[str, str]]:
    """The build record in the extension module at ``path``, e.g.
    ``{"torch": "2.11.0+cu130", "torch_cuda": "13.0", "cuda_kernels": "13.0.88"}``, or None."""
    with open(path, "rb") as module_file:
        match = _RECORD.search(module_file.read())
    if match is None:
        return None
    return dict(field.split("=", 1) for field in match.group(1).decode().split(";") if "=" in field)


def _release(version: str) -> str:
    return version.split("+", 1)[0]


def mismatch(record: Dict[str, str], torch_version: str, torch_cuda: Optional[str]) -> Optional[str]:
    """Why an extension built as ``record`` cannot load into this torch, or None when it can.

    The torch release must be the same (the C++ ABI); an extension with CUDA kernels also needs a
    CUDA build of torch of the same CUDA major version. A CPU-only extension works with any build
    (CPU or CUDA) of its release.
    """
    built = record.get("torch", "?")
    if _release(built) != _release(torch_version):
        return f"statmech was built for torch {built} but torch {torch_version} is installed: {_REBUILD}"
    kernels = record.get("cuda_kernels", "none")
    if kernels != "none":
        if torch_cuda is None:
            return (
                f"statmech was built with CUDA {kernels} kernels for torch {built}, but the installed torch "
                f"{torch_version} has no CUDA: {_REBUILD} (STATMECH_WITH_CUDA=0 for a CPU-only build)"
            )
        if kernels.split(".")[0] != torch_cuda.split(".")[0]:
            return (
                f"statmech was built with CUDA {kernels} kernels but the installed torch {torch_version} "
                f"uses CUDA {torch_cuda}: {_REBUILD} (STATMECH_WITH_CUDA=0 for a CPU-only build)"
            )
    return None


def check_torch_compatibility() -> None:
    """Raise a one-line ImportError when ``statmech._C`` was built for another torch.

    Must run before ``statmech._C`` is imported; it only reads the module file.
    """
    spec = importlib.util.find_spec("statmech._C")
    if spec is None or not spec.origin:
        raise ImportError(
            "statmech._C (the native module) is missing: build it with pip install --no-build-isolation . "
            "(or scripts/dev.sh test)"
        )
    record = read_build_record(spec.origin)
    if record is None:
        raise ImportError(f"{spec.origin} carries no build record (an older build): {_REBUILD}")
    problem = mismatch(record, torch.__version__, torch.version.cuda)
    if problem is not None:
        raise ImportError(problem)
