"""Layers of torch-statmech as ``torch.nn.Module``\\ s.

Each module is a thin shell over the operators in ``torch.ops.statmech`` (see ``statmech.ops``):
it holds the parameters and defaults, the op does the computation (with its C++ autograd), so the
same layer has a C++ counterpart in ``statmech::nn`` that gives the same outputs.
"""

from statmech.nn.activations import TransformedActivation
from statmech.nn.binary_hopfield import BinaryHopfield, DenseAssociativeMemory
from statmech.nn.hopfield import (
    Hopfield,
    HopfieldLayer,
    HopfieldPooling,
    hopfield_from_hflayers,
    hopfield_layer_from_hflayers,
    hopfield_pooling_from_hflayers,
)
from statmech.nn.rbm import GaussianBernoulliRBM, RBM

__all__ = [
    "BinaryHopfield",
    "DenseAssociativeMemory",
    "GaussianBernoulliRBM",
    "Hopfield",
    "HopfieldLayer",
    "HopfieldPooling",
    "RBM",
    "TransformedActivation",
    "hopfield_from_hflayers",
    "hopfield_layer_from_hflayers",
    "hopfield_pooling_from_hflayers",
]
