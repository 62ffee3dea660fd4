"""Layers of torch-statmech as ``torch.nn.Module``\\ s.

Each module is a thin shell over the operators in ``torch.ops.statmech`` (see ``statmech.ops``):
it holds the parameters and defaults, the op does the computation (with its C++ autograd), so the
same layer has a C++ counterpart in ``statmech::nn`` that gives the same outputs.
"""

__all__: list[str] = []

from statmech.nn.rbm import RBM, GaussianBernoulliRBM  # noqa: E402

__all__ += ["RBM", "GaussianBernoulliRBM"]
