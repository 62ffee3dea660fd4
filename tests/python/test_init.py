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
    # 2000 draws: sd of the mean trace 1/sqrt(2000), of the mean squared trace sqrt(2/2000),
    # of the mean entry sqrt(1/(5*2000)); five sds each.
    draws = 2000
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
    # A bound beyond the dtype: was ATen's "from is out of bounds for double" / "to - from" errors.
    (lambda: init.critical_uniform_(torch.empty(3, 4, dtype=torch.float64), 1e308),
     ["critical_uniform_", "sigma_w2 = 1e+308", "beyond what Double holds"]),
    (lambda: init.critical_uniform_(torch.empty(3, 4, dtype=torch.float16), 1e10), ["critical_uniform_", "Half"]),
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


# ---- edge_of_chaos_ (needs the calculator statmech.meanfield) -----------------------------------


def _has_calculator():
    try:
        from statmech import meanfield  # noqa: F401
    except ImportError:
        return False
    return True


needs_calculator = pytest.mark.skipif(not _has_calculator(), reason="statmech.meanfield is not built in this tree")


def tanh_mlp(width=512, depth=4, bias=True):
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(width, width, bias=bias), nn.Tanh()]
    return nn.Sequential(*layers[:-1])


@needs_calculator
def test_edge_of_chaos_mlp_tanh_is_critical_orthogonal_and_reported():
    from statmech import meanfield

    net = tanh_mlp(width=1000, depth=3)
    report = init.edge_of_chaos_(net, sigma_b2=0.05, generator=gen(0))
    expected = meanfield.critical_sigma_w2(0.05, "tanh")
    assert len(report) == 3 and [layer.name for layer in report] == ["0", "2", "4"]
    for layer, module in zip(report, (net[0], net[2], net[4])):
        assert layer.module == "Linear" and layer.shape == (1000, 1000) and layer.activation == "tanh"
        assert layer.distribution == "orthogonal" and layer.sigma_b2 == 0.05
        assert layer.sigma_w2 == pytest.approx(expected, rel=1e-12)
        w = module.weight.detach().double()
        assert (w @ w.T - expected * torch.eye(1000, dtype=torch.float64)).abs().max() < 1e-4
        # Bias ~ N(0, 0.05): the mean square of 1000 draws has relative sd sqrt(2/1000); five sds.
        assert abs(module.bias.detach().double().pow(2).mean().item() / 0.05 - 1) < 5 * math.sqrt(2 / 1000)
    assert "from 1" in report[1].reason and "input" in report[1].reason  # the Tanh before layer 2
    assert "after this first layer" in report[0].reason
    # At that sigma_w2 the calculator's chi_1 is one: the edge of chaos.
    assert meanfield.fixed_point(expected, 0.05, "tanh").chi_1 == pytest.approx(1.0, abs=1e-6)
    text = repr(report)
    for word in ("layer", "activation", "sigma_w2", "sigma_b2", "distribution", "reason", "1000x1000", "tanh"):
        assert word in text


@needs_calculator
def test_relu_critical_sigma_w2_is_calculate_gain_squared():
    net = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 8))
    report = init.edge_of_chaos_(net)
    for layer in report:
        assert layer.activation == "relu"
        assert layer.sigma_w2 == pytest.approx(nn.init.calculate_gain("relu") ** 2, rel=1e-9)  # = 2
    assert torch.count_nonzero(net[0].bias) == 0  # sigma_b2 = 0: zero biases


@needs_calculator
@pytest.mark.parametrize("slope", [0.01, 0.2, 0.5])
def test_leaky_relu_critical_sigma_w2_is_two_over_one_plus_slope_squared(slope):
    net = nn.Sequential(nn.Linear(32, 32), nn.LeakyReLU(slope), nn.Linear(32, 32))
    report = init.edge_of_chaos_(net)
    for layer in report:
        assert layer.activation == f"leaky_relu(negative_slope={slope:g})"
        assert layer.sigma_w2 == pytest.approx(2 / (1 + slope**2), rel=1e-9)
        assert layer.sigma_w2 == pytest.approx(nn.init.calculate_gain("leaky_relu", slope) ** 2, rel=1e-9)


@needs_calculator
def test_pytorch_tanh_gain_is_chaotic():
    from statmech import meanfield

    gain2 = nn.init.calculate_gain("tanh") ** 2  # (5/3)^2 = 25/9
    assert meanfield.fixed_point(gain2, 0.0, "tanh").chi_1 > 1
    assert meanfield.critical_sigma_w2(0.0, "tanh") == pytest.approx(1.0, rel=1e-6)


@needs_calculator
def test_edge_of_chaos_cnn_delta_orthogonal_and_fallbacks():
    net = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.Tanh(),
        nn.Conv2d(16, 32, 3, padding=1), nn.Tanh(),
        nn.Conv2d(32, 16, 3, padding=1), nn.Tanh(),   # in > out: fallback
        nn.Conv2d(16, 16, 2), nn.Tanh(),              # even kernel: fallback
        nn.Conv2d(16, 32, 3, groups=2), nn.Tanh(),    # grouped: delta per group
        nn.Flatten(), nn.Dropout(0.1), nn.Linear(32 * 4, 10),
    )
    net.eval()  # dropout in training mode has no edge of chaos (test_meanfield_stability.py)
    report = init.edge_of_chaos_(net, sigma_b2=0.01, generator=gen(1))
    by_name = {layer.name: layer for layer in report}
    assert [by_name[n].distribution for n in ("0", "2", "4", "6", "8", "12")] == [
        "delta_orthogonal", "delta_orthogonal", "orthogonal", "orthogonal", "delta_orthogonal", "orthogonal"]
    assert "in_channels 32 > out_channels 16" in by_name["4"].reason and "fallback" in by_name["4"].reason
    assert "even kernel size" in by_name["6"].reason
    assert "per group of 2" in by_name["8"].reason
    sigma_w2 = by_name["0"].sigma_w2
    centre = net[2].weight.detach()[:, :, 1, 1]
    assert_close(centre.T @ centre, sigma_w2 * 32 / 16 * torch.eye(16), atol=1e-5, rtol=0)
    flat = net[4].weight.detach().reshape(16, -1)
    assert_close(flat @ flat.T, sigma_w2 * torch.eye(16), atol=1e-5, rtol=0)
    for g in range(2):  # each group's [16, 8] centre tap has orthonormal columns
        block = net[8].weight.detach()[16 * g:16 * (g + 1), :, 1, 1]
        assert_close(block.T @ block, sigma_w2 * 2 * torch.eye(8), atol=1e-5, rtol=0)
    # The Linear sees the Tanh at index 9 through Flatten and Dropout.
    assert by_name["12"].activation == "tanh" and "from 9" in by_name["12"].reason
    assert all(layer.module.startswith(("Conv2d", "Linear")) for layer in report)


@needs_calculator
def test_edge_of_chaos_normal_distribution_statistics():
    net = tanh_mlp(width=800, depth=2)
    report = init.edge_of_chaos_(net, distribution="normal", generator=gen(2))
    w = net[0].weight.detach().double()
    assert report[0].distribution == "normal"
    # variance sigma_w2 / 800 from 640000 entries: relative sd sqrt(2/640000), five sds.
    assert abs(w.var().item() * 800 / report[0].sigma_w2 - 1) < 5 * math.sqrt(2 / 640000)


@needs_calculator
def test_edge_of_chaos_with_depth_chooses_a_small_fixed_point():
    from statmech import meanfield

    depth = 50
    net = tanh_mlp(width=64, depth=3)
    report = init.edge_of_chaos_(net, depth=depth, sigma_b2=0.3)
    sigma_w2, sigma_b2 = meanfield.critical_point(1 / depth, "tanh")
    for layer in report:
        assert layer.sigma_w2 == pytest.approx(sigma_w2) and layer.sigma_b2 == pytest.approx(sigma_b2)
        assert "q* = 1/L" in layer.reason
    point = meanfield.fixed_point(sigma_w2, sigma_b2, "tanh")
    assert point.q_star == pytest.approx(1 / depth, rel=1e-6)
    assert point.chi_1 == pytest.approx(1, abs=1e-6)
    assert any("Pennington" in note and "sigma_b2 argument is not used" in note for note in report.notes)


@needs_calculator
@pytest.mark.parametrize(
    "module,name",
    [(nn.Tanh(), "tanh"), (nn.ReLU(), "relu"), (nn.GELU(), "gelu"), (nn.SiLU(), "silu"), (nn.ELU(0.5), "elu"),
     (nn.SELU(), "selu"), (nn.Sigmoid(), "sigmoid"), (nn.Softplus(), "softplus"), (nn.Hardtanh(), "hard_tanh")],
)
def test_detected_activation_modules_match_the_calculator(module, name):
    from statmech import meanfield

    # relu's critical line is sigma_b2 = 0 only (q* diverges otherwise); silu and gelu have a
    # stable edge of chaos only for sigma_b2 above ~0.63 and ~0.20 (test_meanfield_stability.py).
    sigma_b2 = {"relu": 0.0, "silu": 1.0, "gelu": 0.5}.get(name, 0.1)
    if name == "softplus":  # no edge of chaos at any sigma_b2 (phi(0) = log 2 keeps q* away from 0)
        with pytest.raises(ValueError, match="no edge of chaos for activation softplus"):
            init.edge_of_chaos_(nn.Sequential(nn.Linear(16, 16), module, nn.Linear(16, 16)), sigma_b2=sigma_b2)
        return
    net = nn.Sequential(nn.Linear(16, 16), module, nn.Linear(16, 16))
    report = init.edge_of_chaos_(net, sigma_b2=sigma_b2)
    target = meanfield.activation(name, alpha=0.5) if name == "elu" else name
    assert report[1].activation == (name if name != "elu" else "elu(alpha=0.5)")
    assert report[1].sigma_w2 == pytest.approx(meanfield.critical_sigma_w2(sigma_b2, target), rel=1e-9)


@needs_calculator
def test_gelu_tanh_approximation_uses_exact_gelu():
    from statmech import meanfield

    net = nn.Sequential(nn.Linear(16, 16), nn.GELU(approximate="tanh"), nn.Linear(16, 16))
    report = init.edge_of_chaos_(net, sigma_b2=0.5)
    assert "approximate='tanh'" in report[1].activation
    assert report[1].sigma_w2 == pytest.approx(meanfield.critical_sigma_w2(0.5, "gelu"), rel=1e-12)


@needs_calculator
def test_relu_with_a_bias_variance_has_no_edge_of_chaos():
    with pytest.raises(ValueError, match=r"relu at sigma_b2 = 0.1"):
        init.edge_of_chaos_(nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4)), sigma_b2=0.1)


@needs_calculator
def test_depth_falls_back_when_a_small_fixed_point_is_unreachable():
    # sigmoid(0) = 1/2: a fixed point q* = 1/L would need a negative bias variance.
    report = init.edge_of_chaos_(nn.Sequential(nn.Linear(8, 8), nn.Sigmoid(), nn.Linear(8, 8)), depth=40)
    assert "no critical point with q* = 1/L" in report[0].reason and report[0].sigma_b2 == 0.0


@needs_calculator
def test_activation_argument_is_the_fallback_and_generator_reproduces():
    class Custom(nn.Module):  # not a Sequential: the activation cannot be detected
        def __init__(self):
            super().__init__()
            self.inner = nn.Linear(20, 20)
            self.norm = nn.LayerNorm(20)

        def forward(self, x):
            return self.norm(torch.relu(self.inner(x)))

    a, b = Custom(), Custom()
    report = init.edge_of_chaos_(a, activation="relu", generator=gen(5))
    init.edge_of_chaos_(b, activation=nn.ReLU(), generator=gen(5))
    assert torch.equal(a.inner.weight, b.inner.weight)
    assert report[0].sigma_w2 == pytest.approx(2.0) and "activation argument" in report[0].reason
    assert report.skipped and report.skipped[0][0] == "norm" and "LayerNorm" in report.skipped[0][1]
    with pytest.raises(ValueError, match=r"layer 'inner'.*pass activation="):
        init.edge_of_chaos_(Custom())


@pytest.mark.parametrize(
    "kwargs,words",
    [({"distribution": "uniform"}, ["distribution", "'uniform'"]), ({"sigma_b2": -1.0}, ["sigma_b2", ">= 0"]),
     ({"depth": 0}, ["depth", "positive int"])],
)
def test_edge_of_chaos_bad_arguments_name_them(kwargs, words):
    with pytest.raises(ValueError) as error:
        init.edge_of_chaos_(tanh_mlp(8, 2), **kwargs)
    for word in words:
        assert word in str(error.value)


def test_edge_of_chaos_needs_a_weight_layer():
    with pytest.raises(ValueError, match="no Linear or Conv1d/2d/3d layer"):
        init.edge_of_chaos_(nn.Sequential(nn.Tanh()), activation="tanh")
