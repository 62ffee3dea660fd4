"""Import-time check that the native extension and the running torch agree."""

import torch

from statmech import _C


def check_torch_compatibility() -> None:
    """Raise a clear ImportError when the extension was built for another CUDA major version.

    A mismatch would otherwise surface later as an obscure symbol or driver error.
    """
    built = _C.cuda_version()  # e.g. 13000, or -1 without CUDA kernels
    if built < 0 or torch.version.cuda is None:
        return
    built_major = built // 1000
    torch_major = int(torch.version.cuda.split(".")[0])
    if built_major != torch_major:
        raise ImportError(
            f"statmech was compiled against CUDA {built_major}.x but the installed torch "
            f"{torch.__version__} uses CUDA {torch.version.cuda}. Rebuild statmech against this torch "
            "(pip install --no-build-isolation .), or set STATMECH_WITH_CUDA=0 for a CPU-only build."
        )
