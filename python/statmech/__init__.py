"""torch-statmech: the statistical mechanics of neural networks as PyTorch layers and tools.

Importing the package loads the native library, which registers every operator under
``torch.ops.statmech``.
"""

import torch

# Before the native module loads: a module built for another torch would fail with an undefined
# symbol; this says in one line what to rebuild instead.
from statmech._build_check import check_torch_compatibility as _check_torch_compatibility

_check_torch_compatibility()

from statmech import _C  # noqa: E402, F401  (loads libstatmech and registers torch.ops.statmech.*)
from statmech import meanfield, ops  # noqa: E402
from statmech import diagnostics, gp, hopfield, init, modern_hopfield, nn  # noqa: E402

__version__ = _C.version()

__all__ = ["diagnostics", "gp", "hopfield", "init", "meanfield", "modern_hopfield", "nn", "ops", "__version__"]
