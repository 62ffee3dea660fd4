"""Writes a TorchScript model that calls torch.ops.statmech.rbm_free_energy (for main.cpp)."""

import sys

import torch

import statmech  # noqa: F401  (registers torch.ops.statmech)


class FreeEnergy(torch.nn.Module):
    def forward(self, v, weight, visible_bias, hidden_bias):
        return torch.ops.statmech.rbm_free_energy(v, weight, visible_bias, hidden_bias)


torch.jit.script(FreeEnergy()).save(sys.argv[1])
