"""rbm_free_energy: values against brute-force enumeration, gradients, opcheck, compile,
TorchScript, export, edge cases and input errors."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.testing import assert_close

import statmech
from statmech.ops import rbm_free_energy


def brute_force_free_energy(v, W, a, c):
    """-log sum_h exp(-E(v, h)) over all 2^H binary hidden vectors, E = -a.v - c.h - v^T W h.

    Independent of the softplus form the operator uses."""
    hidden = W.shape[1]
    codes = torch.arange(2**hidden).unsqueeze(1)
    states = ((codes >> torch.arange(hidden)) & 1).to(v.dtype)  # [2^H, H]
    negative_energy = (v @ a).unsqueeze(1) + (states @ c).unsqueeze(0) + v @ W @ states.T
    return -torch.logsumexp(negative_energy, dim=1)


def random_rbm(batch, visible, hidden, dtype=torch.float64, device="cpu", seed=0):
    g = torch.Generator().manual_seed(seed)
    v = torch.bernoulli(torch.full((batch, visible), 0.5, dtype=dtype), generator=g)
    W = torch.randn(visible, hidden, dtype=dtype, generator=g)
    a = torch.randn(visible, dtype=dtype, generator=g)
    c = torch.randn(hidden, dtype=dtype, generator=g)
    return [t.to(device) for t in (v, W, a, c)]


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
def test_matches_brute_force_enumeration(dtype, tol, device):
    v, W, a, c = random_rbm(11, 7, 12, dtype, device)
    v[:4] = torch.rand(4, 7, dtype=dtype, device=device)  # real-valued visible rows as well
    expected = brute_force_free_energy(*(t.double().cpu() for t in (v, W, a, c)))
    got = rbm_free_energy(v, W, a, c)
    assert got.shape == (11,) and got.dtype == dtype and got.device == v.device
    assert_close(got.double().cpu(), expected, rtol=tol, atol=tol)


def test_gradients_match_brute_force(device):
    inputs = random_rbm(6, 5, 8, device=device, seed=1)
    inputs[0] = torch.rand(6, 5, dtype=torch.float64, device=device)
    ours = [t.clone().requires_grad_() for t in inputs]
    reference = [t.cpu().clone().requires_grad_() for t in inputs]
    weights = torch.randn(6, dtype=torch.float64)
    (rbm_free_energy(*ours) * weights.to(device)).sum().backward()
    (brute_force_free_energy(*reference) * weights).sum().backward()
    for mine, theirs in zip(ours, reference):
        assert_close(mine.grad.cpu(), theirs.grad, rtol=1e-12, atol=1e-12)


def test_gradcheck_float64(device):
    inputs = [t.requires_grad_() for t in random_rbm(4, 3, 5, device=device, seed=2)]
    inputs[0].data.uniform_()
    assert torch.autograd.gradcheck(rbm_free_energy, inputs)
    # Subsets of inputs requiring grad exercise the output mask of the backward op.
    for i in range(4):
        subset = [t.detach().requires_grad_(j == i) for j, t in enumerate(inputs)]
        assert torch.autograd.gradcheck(rbm_free_energy, subset)


def test_retain_graph_backward_twice_gives_the_same_gradients():
    # The first backward consumes the saved p(h | v) in place; the second must recompute it.
    v, W, a, c = random_rbm(5, 4, 3, seed=8)
    W.requires_grad_()
    free_energy = rbm_free_energy(v, W, a, c)
    weights = torch.randn(5, dtype=torch.float64)
    (first,) = torch.autograd.grad(free_energy, W, weights, retain_graph=True)
    (second,) = torch.autograd.grad(free_energy, W, weights)
    assert_close(first, second, rtol=0, atol=1e-15)
    expected = -(v * weights[:, None]).T @ torch.sigmoid(c + v @ W.detach())
    assert_close(first, expected)


def test_second_derivative_is_refused_clearly():
    v, W, a, c = random_rbm(3, 2, 2, seed=3)
    W.requires_grad_()
    (grad,) = torch.autograd.grad(rbm_free_energy(v, W, a, c).sum(), W, create_graph=True)
    with pytest.raises(RuntimeError, match="_rbm_free_energy_backward"):
        grad.sum().backward()


@pytest.mark.parametrize("requires_grad", [False, True])
def test_opcheck_public_op(requires_grad, device):
    for dtype in (torch.float32, torch.float64):
        args = [t.requires_grad_(requires_grad) for t in random_rbm(5, 4, 3, dtype, device)]
        torch.library.opcheck(torch.ops.statmech.rbm_free_energy.default, args)
    empty = [t.requires_grad_(requires_grad) for t in random_rbm(0, 4, 3, device=device)]
    torch.library.opcheck(torch.ops.statmech.rbm_free_energy.default, empty)


def test_opcheck_private_ops(device):
    v, W, a, c = random_rbm(5, 4, 3, device=device)
    torch.library.opcheck(torch.ops.statmech._rbm_free_energy_forward.default, (v, W, a, c))
    _, p = torch.ops.statmech._rbm_free_energy_forward(v, W, a, c)
    grad = torch.randn(5, dtype=torch.float64, device=device)
    for mask in ([True, True, True, True], [False, True, False, True]):
        torch.library.opcheck(torch.ops.statmech._rbm_free_energy_backward.default, (grad, v, W, a, p, mask))


def test_hidden_probability_is_the_conditional():
    v, W, a, c = random_rbm(4, 3, 6)
    free_energy, p = torch.ops.statmech._rbm_free_energy_forward(v, W, a, c)
    assert_close(p, torch.sigmoid(c + v @ W), rtol=1e-15, atol=1e-15)
    assert_close(free_energy, rbm_free_energy(v, W, a, c))


def test_torch_compile_fullgraph_matches_eager():
    def loss(v, W, a, c):
        return rbm_free_energy(v, W, a, c).mean()

    inputs = random_rbm(8, 6, 5, torch.float32, seed=4)
    eager = [t.clone().requires_grad_() for t in inputs]
    compiled_inputs = [t.clone().requires_grad_() for t in inputs]
    compiled = torch.compile(loss, fullgraph=True, dynamic=True)
    eager_loss = loss(*eager)
    compiled_loss = compiled(*compiled_inputs)
    assert_close(compiled_loss, eager_loss)
    eager_loss.backward()
    compiled_loss.backward()
    for e, k in zip(eager, compiled_inputs):
        assert_close(k.grad, e.grad)
    # A second batch size reuses the dynamic-shape graph.
    more = random_rbm(13, 6, 5, torch.float32, seed=5)
    assert_close(compiled(*more), loss(*more))


def test_torch_export():
    class FreeEnergy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            _, W, a, c = random_rbm(1, 6, 4)
            self.W, self.a, self.c = (torch.nn.Parameter(t) for t in (W, a, c))

        def forward(self, v):
            return rbm_free_energy(v, self.W, self.a, self.c)

    module = FreeEnergy()
    v = random_rbm(5, 6, 4, seed=6)[0]
    batch = torch.export.Dim("batch")
    exported = torch.export.export(module, (v,), dynamic_shapes={"v": {0: batch}})
    assert any("rbm_free_energy" in str(node.target) for node in exported.graph.nodes)
    v2 = random_rbm(9, 6, 4, seed=7)[0]
    assert_close(exported.module()(v2), module(v2))


def test_torchscript_scripts_runs_saves_and_loads(tmp_path):
    @torch.jit.script
    def scripted(v: torch.Tensor, W: torch.Tensor, a: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return torch.ops.statmech.rbm_free_energy(v, W, a, c)

    class Module(torch.nn.Module):
        def forward(self, v, W, a, c):
            return torch.ops.statmech.rbm_free_energy(v, W, a, c)

    inputs = random_rbm(4, 3, 5)
    expected = rbm_free_energy(*inputs)
    assert_close(scripted(*inputs), expected)
    module = torch.jit.script(Module())
    path = tmp_path / "free_energy.pt"
    torch.jit.save(module, str(path))
    assert_close(torch.jit.load(str(path))(*inputs), expected)


def test_non_contiguous_inputs(device):
    v, W, a, c = random_rbm(6, 5, 4, device=device)
    v_t = v.T.contiguous().T
    W_s = torch.randn(4, 10, dtype=torch.float64, device=device).T[::2]
    a_s = torch.randn(10, dtype=torch.float64, device=device)[::2]
    c_s = torch.randn(8, dtype=torch.float64, device=device)[::2]
    assert not (W_s.is_contiguous() or a_s.is_contiguous() or v_t.is_contiguous())
    expected = rbm_free_energy(v, W_s.contiguous(), a_s.contiguous(), c_s.contiguous())
    assert_close(rbm_free_energy(v_t, W_s, a_s, c_s), expected)
    # Expanded (stride-0) visible rows.
    row = v[:1].expand(3, -1)
    assert_close(rbm_free_energy(row, W_s, a_s, c_s), expected[:1].expand(3))


def test_zero_batch(device):
    v, W, a, c = random_rbm(0, 5, 3, device=device)
    W.requires_grad_()
    free_energy = rbm_free_energy(v, W, a, c)
    assert free_energy.shape == (0,)
    free_energy.sum().backward()
    assert torch.equal(W.grad, torch.zeros_like(W))


def test_extreme_fields_are_finite():
    v = torch.ones(1, 1)
    W = torch.tensor([[1e4, -1e4, 50.0, -50.0]])
    free_energy = rbm_free_energy(v, W, torch.zeros(1), torch.zeros(4))
    expected = -(1e4 + 50.0 + torch.log1p(torch.exp(torch.tensor(-50.0))) * 2)
    assert torch.isfinite(free_energy).all()
    assert_close(free_energy, expected.reshape(1), rtol=1e-6, atol=0)


def test_inference_mode():
    inputs = random_rbm(3, 4, 2)
    with torch.inference_mode():
        got = rbm_free_energy(*inputs)
    assert_close(got, brute_force_free_energy(*inputs))


BAD_INPUTS = [
    # (what to change, expected words in the error)
    (lambda v, W, a, c: (v[0], W, a, c), ["rbm_free_energy", "visible", "2-D"]),
    (lambda v, W, a, c: (v, W[0], a, c), ["weight", "2-D"]),
    (lambda v, W, a, c: (v, W, a[None], c), ["visible_bias", "1-D"]),
    (lambda v, W, a, c: (v, W.T, a, c), ["weight", "size(0)"]),
    (lambda v, W, a, c: (v, W, a[:-1], c), ["visible_bias", "size(0)"]),
    (lambda v, W, a, c: (v, W, a, c[:-1]), ["hidden_bias", "size(0)"]),
    (lambda v, W, a, c: (v.int(), W, a, c), ["visible", "float32 or float64", "Int"]),
    (lambda v, W, a, c: (v, W.long(), a, c), ["weight", "float32 or float64", "Long"]),
    (lambda v, W, a, c: (v, W.float(), a, c), ["weight", "dtype", "Float", "Double"]),
    (lambda v, W, a, c: (v, W.to("meta"), a, c), ["weight", "meta", "device"]),
    (lambda v, W, a, c: (v.to("meta"), W, a, c), ["weight", "device"]),
    (lambda v, W, a, c: (v, W, a, c.to("meta")), ["hidden_bias", "device"]),
]


@pytest.mark.parametrize("corrupt,words", BAD_INPUTS)
def test_bad_input_names_the_argument(corrupt, words):
    args = corrupt(*random_rbm(4, 3, 2))
    with pytest.raises(RuntimeError) as error:
        rbm_free_energy(*args)
    for word in words:
        assert word in str(error.value), f"{word!r} not in: {error.value}"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_mixed_cuda_and_cpu_is_an_error():
    v, W, a, c = random_rbm(4, 3, 2)
    with pytest.raises(RuntimeError, match="weight is on cuda"):
        rbm_free_energy(v, W.cuda(), a, c)


def test_import_from_any_directory(tmp_path):
    # Only the directory this statmech came from (site-packages, or the source tree on a machine
    # that runs the tests without installing) is on the path: the import must not need the cwd.
    package_root = str(Path(statmech.__file__).resolve().parents[1])
    out = subprocess.run(
        [sys.executable, "-c", "import statmech; print(statmech.__version__)"],
        cwd=tmp_path, capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": package_root},
    )
    assert out.stdout.strip() == statmech.__version__


def test_cuda_version_matches_the_torch_it_was_built_for():
    """statmech._C.cuda_version() is CUDA_VERSION of the build (e.g. 13000), or -1 without CUDA
    kernels; the import-time check relies on its major version agreeing with torch's."""
    built = statmech._C.cuda_version()
    if built == -1:
        pytest.skip("statmech was built without CUDA kernels")
    assert torch.version.cuda is not None
    assert built // 1000 == int(torch.version.cuda.split(".")[0])


# ---- forward-mode AD, wide rows, extreme values, vmap, autocast, CUDA grid ------------------------
def plain_free_energy(v, W, a, c):
    return -(v @ a) - torch.nn.functional.softplus(v @ W + c).sum(-1)


def test_forward_mode_ad_carries_tangents():
    """jvp through the op equals the jvp of the plain expression (dual tensors and torch.func)."""
    primals = random_rbm(5, 4, 3, seed=9)
    primals[0] = torch.rand(5, 4, dtype=torch.float64)
    g = torch.Generator().manual_seed(1)
    tangents = [torch.randn(t.shape, dtype=torch.float64, generator=g) for t in primals]
    expected = torch.func.jvp(plain_free_energy, tuple(primals), tuple(tangents))
    got = torch.func.jvp(rbm_free_energy, tuple(primals), tuple(tangents))
    assert_close(got[0], expected[0])
    assert_close(got[1], expected[1])
    import torch.autograd.forward_ad as fwAD

    with fwAD.dual_level():
        dual = [fwAD.make_dual(p, t) for p, t in zip(primals, tangents)]
        tangent = fwAD.unpack_dual(rbm_free_energy(*dual)).tangent
    assert tangent is not None
    assert_close(tangent, expected[1])
    # Only one input carrying a tangent (the weight).
    only_w = torch.func.jvp(lambda W: rbm_free_energy(primals[0], W, primals[2], primals[3]), (primals[1],), (tangents[1],))
    ref_w = torch.func.jvp(lambda W: plain_free_energy(primals[0], W, primals[2], primals[3]), (primals[1],), (tangents[1],))
    assert_close(only_w[1], ref_w[1])


@pytest.mark.parametrize("hidden", [16, 17, 33, 500])
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 2e-5), (torch.float64, 1e-11)])
def test_vectorised_row_pass_against_plain_pytorch(hidden, dtype, tol):
    """Hidden sizes that fill the 16 lanes exactly, leave a tail, and span many blocks; fields
    scaled so pre-activations reach +-400 (beyond float32's exp range of +-87)."""
    g = torch.Generator().manual_seed(hidden)
    v = torch.rand(9, 12, dtype=torch.float64, generator=g)
    W = 40 * torch.randn(12, hidden, dtype=torch.float64, generator=g)
    a = torch.randn(12, dtype=torch.float64, generator=g)
    c = torch.randn(hidden, dtype=torch.float64, generator=g)
    pre = v @ W + c
    assert pre.abs().max() > 87
    expected = plain_free_energy(v, W, a, c)
    got = rbm_free_energy(*(t.to(dtype) for t in (v, W, a, c)))
    assert torch.isfinite(got).all()
    assert_close(got.double(), expected, rtol=tol, atol=tol * float(expected.abs().max()))
    # the gradient path (sigmoid) through the same row pass
    W_ = W.to(dtype).requires_grad_()
    rbm_free_energy(v.to(dtype), W_, a.to(dtype), c.to(dtype)).sum().backward()
    expected_grad = -(v.T @ torch.sigmoid(pre))
    assert_close(W_.grad.double(), expected_grad, rtol=tol * 10, atol=tol * 10 * float(expected_grad.abs().max()))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("hidden", [16, 17, 33])
def test_nan_and_inf_follow_plain_pytorch(dtype, hidden):
    """Non-finite entries in the hidden bias give the plain expression's result (NaN rows stay
    NaN, +inf gives -inf, -inf contributes 0) and leave the other lanes of the block untouched."""
    v, W, a, _ = random_rbm(4, 5, hidden, dtype, seed=hidden)
    c = torch.zeros(hidden, dtype=dtype)
    for special in (float("nan"), float("inf"), float("-inf")):
        for position in (0, hidden // 2, hidden - 1):
            c_special = c.clone()
            c_special[position] = special
            assert_close(rbm_free_energy(v, W, a, c_special), plain_free_energy(v, W, a, c_special), equal_nan=True)
    v_nan = v.clone()
    v_nan[1, 0] = float("nan")
    got = rbm_free_energy(v_nan, W, a, c)
    assert torch.isnan(got[1]) and torch.isfinite(got[[0, 2, 3]]).all()


def test_vmap_uses_the_operator_without_the_fallback_warning():
    v, W, a, c = random_rbm(6, 5, 4, seed=10)
    stacked = torch.stack([v, 1 - v, v.flip(0)])  # [3, 6, 5]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the slow-path fallback warns
        out = torch.vmap(rbm_free_energy, in_dims=(0, None, None, None))(stacked, W, a, c)
        outs_w = torch.vmap(rbm_free_energy, in_dims=(None, 0, None, None))(v, torch.stack([W, 2 * W]), a, c)
    assert_close(out, torch.stack([plain_free_energy(x, W, a, c) for x in stacked]))
    assert_close(outs_w, torch.stack([plain_free_energy(v, w, a, c) for w in (W, 2 * W)]))
    # per-sample gradients: vmap over grad
    per_sample = torch.func.vmap(torch.func.grad(lambda W_, x: rbm_free_energy(x[None], W_, a, c).sum()), in_dims=(None, 0))(W, v)
    expected = torch.stack([-(x[:, None] * torch.sigmoid(c + x @ W)[None, :]) for x in v])
    assert_close(per_sample, expected)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_autocast_computes_in_float32(dtype, device):
    if device.type == "cpu" and dtype == torch.float16:
        pytest.skip("CPU autocast lowers to bfloat16 only")
    v, W, a, c = (t.to(device) for t in random_rbm(8, 6, 40, torch.float32, seed=11))
    low = [t.to(dtype) for t in (v, W, a, c)]
    with torch.autocast(device.type, dtype=dtype):
        got = rbm_free_energy(*low)
    assert got.dtype == torch.float32
    assert_close(got, rbm_free_energy(*(t.float() for t in low)), rtol=1e-6, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("hidden", [1, 255, 256, 257, 5000])
@pytest.mark.parametrize("batch", [1, 70000])
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-4), (torch.float64, 1e-10)])
def test_cuda_kernel_grid_against_plain_pytorch(hidden, batch, dtype, tol):
    """The CUDA row pass over block / grid boundaries (hidden around 256 threads, 70000 rows)."""
    g = torch.Generator(device="cuda").manual_seed(hidden + batch)
    v = torch.rand(batch, 32, dtype=dtype, device="cuda", generator=g)
    W = 3 * torch.randn(32, hidden, dtype=dtype, device="cuda", generator=g)
    a = torch.randn(32, dtype=dtype, device="cuda", generator=g)
    c = torch.randn(hidden, dtype=dtype, device="cuda", generator=g)
    expected = plain_free_energy(v.double(), W.double(), a.double(), c.double())
    got = rbm_free_energy(v, W, a, c)
    assert_close(got.double(), expected, rtol=tol, atol=tol * float(expected.abs().max()))
    W_ = W.clone().requires_grad_()
    rbm_free_energy(v, W_, a, c).sum().backward()
    expected_grad = -(v.double().T @ torch.sigmoid(v.double() @ W.double() + c.double()))
    assert_close(W_.grad.double(), expected_grad, rtol=tol * 10, atol=tol * 10 * float(expected_grad.abs().max()))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gradcheck_on_cuda():
    inputs = [t.cuda().requires_grad_() for t in random_rbm(5, 4, 300, seed=12)]
    inputs[0].data.uniform_()
    assert torch.autograd.gradcheck(rbm_free_energy, inputs)


def test_private_backward_checks_that_its_inputs_fit():
    # A visible of another width than weight gave gradients of mismatched shapes, silently; a
    # float32 hidden_probability an ATen GEMM dtype error.
    backward = torch.ops.statmech._rbm_free_energy_backward
    v, W, a, c = random_rbm(4, 3, 2, seed=5)
    p = torch.rand(4, 2, dtype=v.dtype)
    grad = torch.ones(4, dtype=v.dtype)
    with pytest.raises(RuntimeError, match=r"_rbm_free_energy_backward: weight.size\(0\) must equal the number of visible units"):
        backward(grad, v[:, :2], W, a, p.clone(), [True] * 4)
    with pytest.raises(RuntimeError, match="_rbm_free_energy_backward: hidden_probability has dtype Float"):
        backward(grad, v, W, a, p.float(), [True] * 4)
