"""Smoke test of an installed wheel, run in a fresh virtual environment (no system site-packages)
that holds only the pinned torch and the wheel. Run from outside the repository."""

import math
import os

import torch

import statmech
from statmech import _build_check, _C

package = os.path.dirname(statmech.__file__)
assert "site-packages" in package, f"statmech imported from {package}, not from the installed wheel"
for name in ("py.typed", "_C.pyi"):
    assert os.path.exists(os.path.join(package, name)), f"{name} missing from the wheel"
record = _build_check.read_build_record(_C.__file__)
assert record is not None and record["torch"] == torch.__version__, record

# With zero couplings and biases every hidden unit contributes softplus(0) = log 2 to -F, and
# dF/dc_j = -p(h_j = 1 | v) = -1/2 per row.
batch, visible, hidden = 3, 5, 4
v = torch.bernoulli(torch.full((batch, visible), 0.5, dtype=torch.float64))
weight = torch.zeros(visible, hidden, dtype=torch.float64, requires_grad=True)
a = torch.zeros(visible, dtype=torch.float64, requires_grad=True)
c = torch.zeros(hidden, dtype=torch.float64, requires_grad=True)
free_energy = statmech.ops.rbm_free_energy(v, weight, a, c)
torch.testing.assert_close(free_energy, torch.full((batch,), -hidden * math.log(2.0), dtype=torch.float64))
free_energy.sum().backward()
torch.testing.assert_close(c.grad, torch.full((hidden,), -0.5 * batch, dtype=torch.float64))
assert abs(statmech.meanfield.critical_sigma_w2(0.0, "relu") - 2.0) < 1e-9
import statmech.nn  # noqa: E402,F401  (subpackages are in the wheel)

print(f"wheel smoke test passed: statmech {statmech.__version__} from {package}, built {record}")
