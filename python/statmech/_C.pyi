# Type stubs of the native module statmech._C (csrc/python/*.cpp). Loading it registers the
# operators under torch.ops.statmech; the module itself carries the non-tensor API.
# tests/python/test_packaging.py checks that every public name of the module appears here.

from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import torch

def cuda_version() -> int:
    """CUDA version the extension was compiled against (e.g. 13000), or -1 if built without CUDA."""

def version() -> str:
    """Version of the native library."""

class _Meanfield:
    class Activation:
        @staticmethod
        def named(name: str) -> "_Meanfield.Activation": ...
        @staticmethod
        def leaky_relu(negative_slope: float = 0.01) -> "_Meanfield.Activation": ...
        @staticmethod
        def elu(alpha: float = 1.0) -> "_Meanfield.Activation": ...
        @staticmethod
        def custom(fn: Callable[[torch.Tensor], torch.Tensor], name: str = "custom") -> "_Meanfield.Activation": ...
        @staticmethod
        def names() -> List[str]: ...
        @property
        def name(self) -> str: ...
        @property
        def parameter(self) -> float: ...
        @property
        def is_custom(self) -> bool: ...

    class Phase:
        ordered: "_Meanfield.Phase"
        critical: "_Meanfield.Phase"
        chaotic: "_Meanfield.Phase"
        diverging: "_Meanfield.Phase"
        unstable: "_Meanfield.Phase"
        @property
        def value(self) -> int: ...
        @property
        def name(self) -> str: ...

    class FixedPoint:
        sigma_w2: float
        sigma_b2: float
        q_star: float
        stable: bool
        c_star: float
        chi_1: float
        chi_c: float
        xi_q: float
        xi_c: float
        phase: str

    class VarianceFixedPoint:
        q: float
        slope: float  # dq'/dq at q
        stable: bool
        basin_lo: float  # initial variances q0 in [basin_lo, basin_hi) reach this fixed point
        basin_hi: float

    class CriticalLine:
        sigma_w2: torch.Tensor  # NaN where there is no stable edge of chaos
        q_star: torch.Tensor
        reason: torch.Tensor  # int codes, named by critical_reason_name

    class CriticalCurve:
        sigma_w2: torch.Tensor
        sigma_b2: torch.Tensor
        slope: torch.Tensor

    class PhaseDiagram:
        sigma_w2: torch.Tensor
        sigma_b2: torch.Tensor
        q_star: torch.Tensor
        c_star: torch.Tensor
        chi_1: torch.Tensor
        chi_c: torch.Tensor
        xi_q: torch.Tensor
        xi_c: torch.Tensor
        phase: torch.Tensor
        stable: torch.Tensor

    @staticmethod
    def moments(activation: "_Meanfield.Activation", q: float) -> Dict[str, float]: ...
    @staticmethod
    def dual_kernel(activation: "_Meanfield.Activation", q1: float, q2: float, c: float) -> Tuple[float, float]: ...
    @staticmethod
    def dual_kernel_uses_series(activation: "_Meanfield.Activation", q1: float, q2: float, c: float) -> bool: ...
    @staticmethod
    def phase_name(phase: "_Meanfield.Phase") -> str: ...
    @staticmethod
    def q_map(q: float, sigma_w2: float, sigma_b2: float, activation: "_Meanfield.Activation") -> float: ...
    @staticmethod
    def c_map(c: float, q: float, sigma_w2: float, sigma_b2: float, activation: "_Meanfield.Activation") -> float: ...
    @staticmethod
    def fixed_point(sigma_w2: float, sigma_b2: float, activation: "_Meanfield.Activation") -> "_Meanfield.FixedPoint": ...
    @staticmethod
    def critical_sigma_w2(sigma_b2: float, activation: "_Meanfield.Activation") -> float: ...
    @staticmethod
    def critical_point(q_star: float, activation: "_Meanfield.Activation") -> Tuple[float, float]: ...
    @staticmethod
    def critical_line(sigma_b2: torch.Tensor, activation: "_Meanfield.Activation") -> torch.Tensor: ...
    @staticmethod
    def phase_diagram(
        sigma_w2: torch.Tensor, sigma_b2: torch.Tensor, activation: "_Meanfield.Activation"
    ) -> "_Meanfield.PhaseDiagram": ...
    @staticmethod
    def gradient_growth(sigma_w2: float, sigma_b2: float, activation: "_Meanfield.Activation") -> float: ...
    @staticmethod
    def residual_gradient_growth(
        sigma_w2: float,
        sigma_b2: float,
        activation: "_Meanfield.Activation",
        depth: int,
        sigma_v2: float = 1.0,
        sigma_a2: float = 0.0,
        p0: float = 1.0,
    ) -> torch.Tensor: ...
    @staticmethod
    def batchnorm_gradient_growth(activation: "_Meanfield.Activation") -> float: ...
    @staticmethod
    def q_map_tensor(
        q: torch.Tensor, sigma_w2: torch.Tensor, sigma_b2: torch.Tensor, activation: "_Meanfield.Activation",
        dropout: float = 0.0,
    ) -> torch.Tensor: ...
    @staticmethod
    def c_map_tensor(
        c: torch.Tensor, q: torch.Tensor, sigma_w2: torch.Tensor, sigma_b2: torch.Tensor,
        activation: "_Meanfield.Activation", dropout: float = 0.0,
    ) -> torch.Tensor: ...
    @staticmethod
    def fixed_points_tensor(
        sigma_w2: torch.Tensor, sigma_b2: torch.Tensor, activation: "_Meanfield.Activation",
        q0: Optional[torch.Tensor] = None, dropout: float = 0.0,
    ) -> "_Meanfield.PhaseDiagram": ...
    @staticmethod
    def critical_line_with_reasons(
        sigma_b2: torch.Tensor, activation: "_Meanfield.Activation", q0: Optional[float] = None
    ) -> "_Meanfield.CriticalLine": ...
    @staticmethod
    def critical_reason_name(code: int) -> str: ...
    @staticmethod
    def critical_curve(q_star: torch.Tensor, activation: "_Meanfield.Activation") -> "_Meanfield.CriticalCurve": ...

# statmech._C.meanfield: the native half of statmech.meanfield.
meanfield: _Meanfield


class _KernelShaping:
    class ActivationTransform:
        """phi_hat(x) = output_scale * (phi(input_scale * x + input_shift) + output_shift)."""

        @property
        def activation(self) -> "_Meanfield.Activation": ...
        @property
        def input_scale(self) -> float: ...
        @property
        def input_shift(self) -> float: ...
        @property
        def output_shift(self) -> float: ...
        @property
        def output_scale(self) -> float: ...
        @property
        def method(self) -> str: ...
        @property
        def local_target(self) -> float: ...
        @property
        def residual(self) -> float: ...

    @staticmethod
    def dks(
        activation: "_Meanfield.Activation", depth: int, subnet_max_func: object, max_slope_func: object,
        zeta: float, local_q_slope: float,
    ) -> "_KernelShaping.ActivationTransform": ...
    @staticmethod
    def tat(
        activation: "_Meanfield.Activation", depth: int, subnet_max_func: object, max_curv_func: object,
        tau: float, eta: float,
    ) -> "_KernelShaping.ActivationTransform": ...
    @staticmethod
    def local_maps(
        activation: "_Meanfield.Activation", input_scale: float, input_shift: float, output_shift: float,
        output_scale: float,
    ) -> Dict[str, float]: ...

# statmech._C.kernel_shaping: the native half of statmech.meanfield.dks / tat.
kernel_shaping: _KernelShaping

class _Hopfield:
    @staticmethod
    def run_module(
        kind: str, input_size: int, kwargs: dict, state: Mapping[str, torch.Tensor], method: str,
        inputs: Sequence[Optional[torch.Tensor]],
    ) -> torch.Tensor:
        """Build the C++ module `kind`, load `state` (a state_dict) and run `method` on `inputs` in
        eval mode (used by the tests that compare the C++ and Python Hopfield modules)."""

# statmech._C.hopfield: the C++ Hopfield modules, for cross-checks from Python.
hopfield: _Hopfield

class _Gp:
    @staticmethod
    def fc_kernel_activation(
        x1: torch.Tensor, x2: Optional[torch.Tensor], sigma_w2: torch.Tensor, sigma_b2: torch.Tensor, depth: int,
        activation: _Meanfield.Activation, parameterization: str, width: float, nngp: bool, ntk: bool,
        diagonal: bool,
    ) -> torch.Tensor:
        """fc_kernel for an Activation object (a user-defined one evaluated eagerly, serially, with
        the interpreter lock released; C++ autograd). Returns [outputs, N, M] or [outputs, N]."""

# statmech._C.gp: fc_kernel with user-defined activations (statmech.gp.fc_kernel).
gp: _Gp
