"""statmech.init: statistics and orthogonality of the initialisers, Haar measure, reproducibility,
opcheck, torch.compile, TorchScript, errors; edge_of_chaos_ on Sequential MLPs and CNNs."""

import math

import pytest
import torch
from torch import nn
from torch.testing import assert_close

import statmech
from statmech import init

OPS = {
    "critical_normal_": torch.ops.statmech.critical_normal_.default,
    "critical_orthogonal_": torch.ops.statmech.critical_orthogonal_.default,
    "delta_orthogonal_": torch.ops.statmech.delta_orthogonal_.default,
}
WRAPPERS = {"critical_normal_": init.critical_normal_, "critical_orthogonal_": init.critical_orthogonal_,
            "delta_orthogonal_": init.delta_orthogonal_}


def gen(seed, device="cpu"):
    return torch.Generator(device=device).manual_seed(seed)


def orthogonality_tolerance(n, dtype, sigma_w2):
    # Householder QR loses orthogonality by a few sqrt(n) unit roundoffs in practice (worst case
    # O(n u)); 10 sqrt(n) u sigma_w2 leaves a margin of about 10 over what is measured.
    return 10 * math.sqrt(n) * torch.finfo(dtype).eps * sigma_w2


# ---- the tensor initialisers --------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(2000, 500), (128, 64, 3, 3)])
def test_critical_normal_variance_is_sigma_w2_over_fan_in(shape, dtype, device):
    sigma_w2 = 1.7
    w = init.critical_normal_(torch.empty(shape, dtype=dtype, device=device), sigma_w2, generator=gen(0, device))
    n = w.numel()
    fan_in = n // shape[0]
    variance = sigma_w2 / fan_in
    w = w.double()
    # Sample mean ~ N(0, variance/n); the sample variance's relative sd is sqrt(2/n) and the
    # fourth moment's estimate (3 variance^2) has relative sd sqrt(96/n)/3. Five sds each.
    assert abs(w.mean().item()) < 5 * math.sqrt(variance / n)
    assert abs(w.var().item() / variance - 1) < 5 * math.sqrt(2 / n)
    assert abs(w.pow(4).mean().item() / variance**2 - 3) < 5 * math.sqrt(96 / n)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n", [5, 1000])
def test_critical_orthogonal_square_is_sigma_w2_identity(n, dtype, device):
    sigma_w2 = 1.5
    w = init.critical_orthogonal_(torch.empty(n, n, dtype=dtype, device=device), sigma_w2, generator=gen(1, device))
    eye = torch.eye(n, dtype=dtype, device=device)
    tol = orthogonality_tolerance(n, dtype, sigma_w2)
    assert (w @ w.T - sigma_w2 * eye).abs().max().item() < tol
    assert (w.T @ w - sigma_w2 * eye).abs().max().item() < tol


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_critical_orthogonal_wide_tall_and_conv_follow_the_convention(dtype):
    sigma_w2 = 2.0
    wide = init.critical_orthogonal_(torch.empty(300, 1000, dtype=dtype), sigma_w2, generator=gen(2))
    assert (wide @ wide.T - sigma_w2 * torch.eye(300, dtype=dtype)).abs().max() < orthogonality_tolerance(1000, dtype, sigma_w2)
    tall = init.critical_orthogonal_(torch.empty(1000, 300, dtype=dtype), sigma_w2, generator=gen(3))
    column = sigma_w2 * 1000 / 300
    assert (tall.T @ tall - column * torch.eye(300, dtype=dtype)).abs().max() < orthogonality_tolerance(1000, dtype, column)
    # Tall: the q-map holds exactly, |W x|^2 / out = sigma_w2 |x|^2 / fan_in for every x.
    x = torch.randn(300, 4, dtype=dtype, generator=gen(4))
    assert_close((tall @ x).pow(2).mean(0), sigma_w2 * x.pow(2).mean(0), rtol=1e-4, atol=0)
    # Both: mean entry variance sigma_w2 / fan_in, as critical_normal_.
    for w in (wide, tall):
        assert_close(w.pow(2).mean() * w.shape[1], torch.tensor(sigma_w2, dtype=dtype), rtol=1e-4, atol=0)
    conv = init.critical_orthogonal_(torch.empty(64, 16, 3, 3, dtype=dtype), 1.3, generator=gen(5))
    flat = conv.reshape(64, -1)
    assert (flat @ flat.T - 1.3 * torch.eye(64, dtype=dtype)).abs().max() < orthogonality_tolerance(144, dtype, 1.3)


def test_critical_orthogonal_is_haar_distributed():
    # Under the Haar measure on O(n), tr(O) has mean 0 and E[tr(O)^2] = 1 (its moments match a
    # standard Gaussian's up to order n; Diaconis & Shahshahani 1994), and every entry has mean 0.
    # Without the sign correction of R's diagonal, LAPACK's QR biases the diagonal of Q.
    # 4000 draws: sd of the mean trace 1/sqrt(4000), of the mean squared trace sqrt(2/4000),
    # of the mean entry sqrt(1/(5*4000)); five sds each.
    draws = 4000
    g = gen(6)
    mats = torch.stack([init.critical_orthogonal_(torch.empty(5, 5, dtype=torch.float64), 1.0, generator=g)
                        for _ in range(draws)])
    trace = mats.diagonal(dim1=1, dim2=2).sum(-1)
    assert abs(trace.mean().item()) < 5 / math.sqrt(draws)
    assert abs(trace.pow(2).mean().item() - 1) < 5 * math.sqrt(2 / draws)
    assert mats.mean(0).abs().max().item() < 5 * math.sqrt(1 / (5 * draws))


@pytest.mark.parametrize("shape", [(16, 16, 5), (64, 32, 3, 3), (8, 8, 3, 1, 5)])
def test_delta_orthogonal_centre_tap_is_orthogonal_and_the_rest_zero(shape, device):
    sigma_w2 = 1.2
    w = torch.full(shape, 7.0, dtype=torch.float64, device=device)
    init.delta_orthogonal_(w, sigma_w2, generator=gen(7, device))
    centre_index = (slice(None), slice(None)) + tuple(k // 2 for k in shape[2:])
    centre = w[centre_index]
    rest = w.clone()
    rest[centre_index] = 0
    assert torch.count_nonzero(rest) == 0
    out, inp = shape[:2]
    scale = sigma_w2 * out / inp  # orthonormal columns times sqrt(sigma_w2 out / in)
    eye = torch.eye(inp, dtype=torch.float64, device=device)
    assert (centre.T @ centre - scale * eye).abs().max().item() < orthogonality_tolerance(out, torch.float64, scale)


@pytest.mark.parametrize("name", list(WRAPPERS))
def test_same_generator_seed_gives_the_same_weights(name, device):
    fn = WRAPPERS[name]
    shape = (12, 6, 3)
    a = fn(torch.empty(shape, device=device), 1.0, generator=gen(42, device))
    b = fn(torch.empty(shape, device=device), 1.0, generator=gen(42, device))
    c = fn(torch.empty(shape, device=device), 1.0, generator=gen(43, device))
    assert torch.equal(a, b) and not torch.equal(a, c)
    torch.manual_seed(3)
    d = fn(torch.empty(shape, device=device), 1.0)
    torch.manual_seed(3)
    assert torch.equal(d, fn(torch.empty(shape, device=device), 1.0))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision(dtype):
    w = init.critical_orthogonal_(torch.empty(64, 64, dtype=dtype), 2.0, generator=gen(8)).float()
    # Each entry rounded to 8 (bfloat16) or 11 (float16) significant bits.
    assert (w @ w.T - 2.0 * torch.eye(64)).abs().max() < 2.0 * 0.05
    n = init.critical_normal_(torch.empty(256, 256, dtype=dtype), 2.0, generator=gen(9)).double()
    assert abs(n.var().item() * 256 / 2.0 - 1) < 5 * math.sqrt(2 / 65536) + 0.01


def test_wrappers_return_the_tensor_without_autograd_history():
    w = nn.Parameter(torch.empty(5, 4))
    version = w._version
    for fn in (init.critical_normal_, init.critical_orthogonal_):
        out = fn(w, 1.0)
        assert out is w and out.grad_fn is None and out.requires_grad
    assert w._version > version  # autograd sees the write
    conv = nn.Conv2d(3, 8, 3)
    assert init.delta_orthogonal_(conv.weight, 1.0) is conv.weight


def test_op_on_a_tensor_requiring_grad_in_grad_mode_is_refused():
    with pytest.raises(RuntimeError, match=r"critical_orthogonal_: tensor requires grad.*no_grad"):
        torch.ops.statmech.critical_orthogonal_(nn.Parameter(torch.empty(3, 3)), 1.0)


def test_inference_mode():
    with torch.inference_mode():
        w = init.critical_orthogonal_(torch.empty(4, 4), 3.0)
    assert_close(w @ w.T, 3.0 * torch.eye(4))


# ---- operator checks: opcheck, compile, TorchScript ---------------------------------------------

SAMPLE_SHAPES = {"critical_normal_": [(5, 4), (6, 2, 3)], "critical_orthogonal_": [(5, 4), (3, 8), (6, 2, 3)],
                 "delta_orthogonal_": [(5, 4, 3), (4, 4, 3, 1)]}


@pytest.mark.parametrize("name", list(OPS))
def test_opcheck(name, device):
    for dtype in (torch.float32, torch.float64):
        for shape in SAMPLE_SHAPES[name]:
            torch.library.opcheck(OPS[name], (torch.empty(shape, dtype=dtype, device=device), 1.5))
            # aot_dispatch cannot take a Generator argument (NotImplementedError in torch's
            # AOTAutograd), so the generator form is checked without it.
            torch.library.opcheck(
                OPS[name], (torch.empty(shape, dtype=dtype, device=device), 1.5, gen(0, device)),
                test_utils=("test_schema", "test_autograd_registration", "test_faketensor"),
            )


def test_torch_compile_fullgraph():
    def build(a, b, c):
        init.critical_orthogonal_(a, 2.0)
        init.critical_normal_(b, 0.5)
        init.delta_orthogonal_(c, 3.0)
        return a.sum() + b.sum() + c.sum()

    a, b, c = torch.empty(8, 4), torch.zeros(100, 50), torch.empty(6, 6, 3)
    compiled = torch.compile(build, fullgraph=True)
    compiled(a, b, c)
    assert_close(a.T @ a, 2.0 * (8 / 4) * torch.eye(4))
    assert torch.count_nonzero(b) == b.numel() and abs(b.var().item() * 50 / 0.5 - 1) < 0.1
    assert_close(c[:, :, 1].T @ c[:, :, 1], 3.0 * torch.eye(6))
    assert torch.count_nonzero(c[:, :, 0]) == 0 and torch.count_nonzero(c[:, :, 2]) == 0


def test_fake_tensors_and_meta_report_errors():
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        w = torch.empty(8, 4, 3)
        init.delta_orthogonal_(w, 1.0)
        with pytest.raises(RuntimeError, match="in_channels <= out_channels"):
            init.delta_orthogonal_(torch.empty(4, 8, 3), 1.0)
    with pytest.raises(RuntimeError, match="sigma_w2"):
        init.critical_normal_(torch.empty(3, 3, device="meta"), -1.0)


def test_torchscript_wrappers_with_explicit_sigma_w2_script_save_and_load(tmp_path):
    @torch.jit.script
    def build(w: torch.Tensor, c: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        statmech.init.critical_normal_(w, 2.0, generator=g)
        statmech.init.critical_orthogonal_(w, 2.0, generator=g)
        return statmech.init.delta_orthogonal_(c, 1.0, generator=g)

    c = build(torch.empty(4, 4), torch.empty(5, 5, 3), gen(0))
    assert_close(c[:, :, 1] @ c[:, :, 1].T, torch.eye(5))
    path = tmp_path / "init.pt"
    build.save(str(path))
    loaded = torch.jit.load(str(path))
    expected = build(torch.empty(4, 4), torch.empty(5, 5, 3), gen(1))
    assert torch.equal(loaded(torch.empty(4, 4), torch.empty(5, 5, 3), gen(1)), expected)

    @torch.jit.script
    def ops_form(w: torch.Tensor) -> torch.Tensor:
        torch.ops.statmech.critical_orthogonal_(w, 2.0)
        return w

    w = ops_form(torch.empty(3, 3))
    assert_close(w @ w.T, 2.0 * torch.eye(3))


def test_torchscript_without_sigma_w2_raises_clearly():
    @torch.jit.script
    def build(w: torch.Tensor) -> torch.Tensor:
        return statmech.init.critical_normal_(w, activation="relu")

    with pytest.raises(torch.jit.Error, match="sigma_w2 must be given explicitly in TorchScript"):
        build(torch.empty(3, 3))


# ---- errors -------------------------------------------------------------------------------------

BAD_CALLS = [
    (lambda: init.critical_normal_(torch.empty(5), 1.0), ["critical_normal_", "tensor", "at least 2-D", "1-D"]),
    (lambda: init.critical_orthogonal_(torch.empty(5), 1.0), ["critical_orthogonal_", "tensor", "2-D"]),
    (lambda: init.critical_normal_(torch.empty(3, 3, dtype=torch.int64), 1.0), ["tensor", "floating-point", "Long"]),
    (lambda: init.critical_normal_(torch.empty(3, 3), -1.0), ["critical_normal_", "sigma_w2", "positive", "-1"]),
    (lambda: init.critical_orthogonal_(torch.empty(3, 3), float("inf")), ["sigma_w2", "finite"]),
    (lambda: init.delta_orthogonal_(torch.empty(4, 4), 1.0), ["delta_orthogonal_", "tensor", "3-D to 5-D", "2-D"]),
    (lambda: init.delta_orthogonal_(torch.empty(4, 4, 3, 3, 3, 3), 1.0), ["3-D to 5-D", "6-D"]),
    (lambda: init.delta_orthogonal_(torch.empty(4, 4, 3, 2), 1.0), ["odd", "kernel size 2"]),
    (lambda: init.delta_orthogonal_(torch.empty(4, 8, 3), 1.0),
     ["in_channels <= out_channels", "in_channels = 8", "out_channels = 4"]),
    (lambda: init.delta_orthogonal_(torch.empty(4, 4, 3), 0.0), ["delta_orthogonal_", "sigma_w2"]),
]


@pytest.mark.parametrize("call,words", BAD_CALLS)
def test_bad_input_names_the_argument(call, words):
    with pytest.raises(RuntimeError) as error:
        call()
    for word in words:
        assert word in str(error.value), f"{word!r} not in: {error.value}"


def test_empty_tensors_are_a_no_op():
    assert init.critical_normal_(torch.empty(0, 3), 1.0).shape == (0, 3)
    assert init.critical_orthogonal_(torch.empty(3, 0), 1.0).shape == (3, 0)
    assert init.delta_orthogonal_(torch.empty(4, 0, 3), 1.0).shape == (4, 0, 3)
