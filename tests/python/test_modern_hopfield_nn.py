"""statmech.nn.Hopfield, HopfieldPooling, HopfieldLayer: against scaled_dot_product_attention and
a plain multi-head reimplementation, masks, beta modes, energy(), state_dict, TorchScript."""

import io
import math

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from statmech.nn import Hopfield, HopfieldLayer, HopfieldPooling


def data(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def reference_forward(layer, state, stored, value, mask=None, steps=0):
    """Multi-head retrieval written out with nn.functional, from the layer's parameters."""
    b, h = state.shape[0], layer.num_heads

    def heads(x, proj, on, dim):
        if not on:
            return x.unsqueeze(1).expand(b, h, x.shape[1], x.shape[2])
        return F.linear(x, proj.weight, proj.bias).view(b, x.shape[1], h, dim).transpose(1, 2)

    q = heads(state, layer.state_proj, layer.state_projection, layer.head_dim)
    k = heads(stored, layer.stored_proj, layer.stored_projection, layer.head_dim)
    v = heads(value, layer.value_proj, layer.value_projection, layer.pattern_dim)
    beta = layer.effective_beta().view(1, h, 1, 1)
    for _ in range(steps):
        s = beta * q @ k.transpose(-2, -1)
        if mask is not None:
            s = s.masked_fill(~mask, float("-inf"))
        q = torch.softmax(s, -1) @ k
    s = beta * q @ k.transpose(-2, -1)
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    out = (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(b, state.shape[1], -1)
    return F.linear(out, layer.out_proj.weight, layer.out_proj.bias) if layer.out_projection else out


def test_no_projections_no_steps_is_scaled_dot_product_attention():
    layer = Hopfield(
        6, num_heads=1, stored_size=6, value_size=4, beta=0.7, state_projection=False, stored_projection=False,
        value_projection=False, out_projection=False, dtype=torch.float64,
    )
    state, stored, value = data(2, 3, 6), data(2, 5, 6, seed=1), data(2, 5, 4, seed=2)
    expected = F.scaled_dot_product_attention(state, stored, value, scale=0.7)
    assert_close(layer(state, stored, value), expected, rtol=1e-12, atol=1e-12)
    assert layer(state, stored, value).shape == (2, 3, 4)


@pytest.mark.parametrize("steps", [0, 2])
def test_multi_head_matches_the_written_out_maths(steps):
    torch.manual_seed(0)
    layer = Hopfield(
        8, num_heads=2, stored_size=5, value_size=3, pattern_size=4, output_size=7, beta=[0.5, 2.0],
        update_steps=steps, dtype=torch.float64,
    )
    state, stored, value = data(3, 4, 8), data(3, 6, 5, seed=1), data(3, 6, 3, seed=2)
    stored_mask = data(3, 6, seed=3) > -0.5
    stored_mask[:, 0] = True
    got = layer(state, stored, value, stored_mask=stored_mask)
    expected = reference_forward(layer, state, stored, value, stored_mask.view(3, 1, 1, 6), steps)
    assert got.shape == (3, 4, 7)
    assert_close(got, expected, rtol=1e-10, atol=1e-10)
    # The same mask given in the full [B, heads, L, S] form, or as a float mask.
    full = stored_mask.view(3, 1, 1, 6).expand(3, 2, 4, 6)
    assert_close(layer(state, stored, value, mask=full), got, rtol=1e-12, atol=1e-12)
    additive = torch.zeros(3, 1, 1, 6, dtype=torch.float64).masked_fill(~stored_mask.view(3, 1, 1, 6), float("-inf"))
    assert_close(layer(state, stored, value, mask=additive), got, rtol=1e-12, atol=1e-12)


def test_stored_mask_equals_dropping_the_patterns():
    layer = Hopfield(4, num_heads=2, dtype=torch.float64)
    state, stored = data(1, 3, 4), data(1, 5, 4, seed=1)
    keep = torch.tensor([[True, False, True, True, False]])
    assert_close(layer(state, stored, stored_mask=keep), layer(state, stored[:, keep[0]]), rtol=1e-12, atol=1e-12)


def test_batch_first_false_transposes():
    torch.manual_seed(1)
    a = Hopfield(4, num_heads=2, update_steps=1, dtype=torch.float64)
    b = Hopfield(4, num_heads=2, update_steps=1, batch_first=False, dtype=torch.float64)
    b.load_state_dict(a.state_dict())
    x, y = data(2, 3, 4), data(2, 5, 4, seed=1)
    assert_close(b(x.transpose(0, 1), y.transpose(0, 1)), a(x, y).transpose(0, 1))


def test_beta_modes():
    fixed = Hopfield(4, num_heads=2)
    assert_close(fixed.effective_beta(), torch.full((2,), 0.5 ** 0.5))  # 1 / sqrt(hidden_size = 2)
    assert "beta" in dict(fixed.named_buffers()) and not any(n == "raw_beta" for n, _ in fixed.named_parameters())
    learned = Hopfield(4, num_heads=2, beta=[0.3, 4.0], learn_beta=True)
    assert_close(learned.effective_beta(), torch.tensor([0.3, 4.0]))
    learned(data(2, 3, 4, dtype=torch.float32)).sum().backward()
    assert learned.raw_beta.grad is not None and learned.raw_beta.grad.shape == (2,)
    for bad in (0.0, -1.0, [1.0, -1.0]):
        with pytest.raises(ValueError, match="beta must be > 0"):
            Hopfield(4, num_heads=2, beta=bad)
    with pytest.raises(ValueError, match=r"beta must have one entry per head \(2\)"):
        Hopfield(4, num_heads=2, beta=[1.0, 2.0, 3.0])


def test_constructor_errors_name_the_argument():
    with pytest.raises(ValueError, match="input_size .5. must be divisible by num_heads .2."):
        Hopfield(5, num_heads=2)
    with pytest.raises(ValueError, match=r"without the stored projection the head dimension hidden_size \(4\) must equal stored_size \(3\)"):
        Hopfield(4, stored_size=3, state_projection=False, stored_projection=False)
    with pytest.raises(ValueError, match="separation must be"):
        Hopfield(4, separation="relu")
    with pytest.raises(ValueError, match="eps must be >= 0, got nan"):
        Hopfield(4, eps=float("nan"))  # NaN passed the old `eps < 0` test and reached the operator
    with pytest.raises(ValueError, match="stored_mask must be a bool tensor"):
        Hopfield(4)(data(1, 2, 4, dtype=torch.float32), stored_mask=torch.ones(1, 3))


def test_dropout_only_in_training():
    layer = Hopfield(4, dropout=0.5)
    x = data(2, 6, 4, dtype=torch.float32)
    layer.eval()
    assert_close(layer(x), layer(x))
    layer.train()
    torch.manual_seed(0)
    assert not torch.allclose(layer(x), layer.eval()(x))


def gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("make", ["hopfield", "pooling", "layer"])
def test_dropout_draws_from_the_generator(make):
    torch.manual_seed(0)
    layer = {
        "hopfield": lambda: Hopfield(4, num_heads=2, dropout=0.5, update_steps=1),
        "pooling": lambda: HopfieldPooling(4, num_queries=3, dropout=0.5),
        "layer": lambda: HopfieldLayer(4, num_patterns=7, dropout=0.5),
    }[make]().double().train()
    x = data(2, 6, 4)
    first = layer(x, generator=gen(1))
    torch.manual_seed(123)  # the default generator does not enter
    assert torch.equal(first, layer(x, generator=gen(1)))
    assert not torch.allclose(first, layer(x, generator=gen(2)))
    scripted = torch.jit.script(layer)
    assert torch.equal(first, scripted(x, generator=gen(1)))
    layer.eval()
    assert torch.equal(layer(x, generator=gen(1)), layer(x))


def test_dropout_with_a_generator_is_unbiased():
    # Inverted dropout keeps the expectation: the mean output over many draws approaches the
    # evaluation-mode output (the same association without dropout). 2,000 draws: the tolerance is
    # five standard errors of the mean, per entry.
    layer = Hopfield(4, num_heads=2, dropout=0.3, dtype=torch.float64)
    x = data(1, 5, 4)
    with torch.no_grad():
        draws = torch.stack([layer.train()(x, generator=gen(seed)) for seed in range(2000)])
        expected = layer.eval()(x)
    standard_error = draws.std(0) / math.sqrt(draws.shape[0])
    assert bool(((draws.mean(0) - expected).abs() <= 5 * standard_error + 1e-12).all())


@pytest.mark.parametrize("separation", ["sparsemax", "entmax15"])
def test_sparse_separations_give_sparse_associations(separation):
    layer = Hopfield(8, num_heads=2, beta=4.0, separation=separation, update_steps=1, dtype=torch.float64)
    association = layer.association(data(2, 3, 8), data(2, 9, 8, seed=1))
    assert association.shape == (2, 2, 3, 9)
    assert_close(association.sum(-1), torch.ones(2, 2, 3, dtype=torch.float64))
    assert bool((association == 0).any())


def test_energy_of_the_module_is_the_op_on_projected_patterns():
    layer = Hopfield(6, num_heads=3, dtype=torch.float64)
    state, stored = data(2, 4, 6), data(2, 5, 6, seed=1)
    e = layer.energy(state, stored)
    assert e.shape == (2, 3, 4)
    q = layer.state_proj(state).view(2, 4, 3, 2).transpose(1, 2)
    k = layer.stored_proj(stored).view(2, 5, 3, 2).transpose(1, 2)
    assert_close(e, torch.ops.statmech.hopfield_energy(q, k, layer.effective_beta(), None))


def test_pooling_and_layer_shapes_and_energy():
    pool = HopfieldPooling(8, num_queries=3, num_heads=2, output_size=5)
    bags = data(4, 7, 8, dtype=torch.float32)
    assert pool(bags).shape == (4, 3, 5)
    assert pool.association(bags).shape == (4, 2, 3, 7)
    assert pool.energy(bags).shape == (4, 2, 3)
    lookup = HopfieldLayer(8, num_patterns=11, separate_values=True, value_size=6, num_heads=2)
    x = data(4, 5, 8, dtype=torch.float32)
    assert lookup(x).shape == (4, 5, 8)
    assert lookup.association(x).shape == (4, 2, 5, 11)
    assert lookup.energy(x).shape == (4, 2, 5)
    # The pooled output of a bag does not depend on the order of its instances.
    perm = torch.randperm(7)
    assert_close(pool(bags[:, perm]), pool(bags), rtol=1e-5, atol=1e-6)


def _factories():
    x = data(2, 3, 8, dtype=torch.float32)
    bags = data(2, 5, 8, dtype=torch.float32)
    return [
        (lambda: Hopfield(8, num_heads=2, update_steps=2, learn_beta=True, normalize_state=True), (x,)),
        (lambda: Hopfield(8, state_projection=False, stored_projection=False, separation="entmax15"), (x,)),
        (lambda: HopfieldPooling(8, num_queries=2, num_heads=4), (bags,)),
        (lambda: HopfieldLayer(8, num_patterns=6, separate_values=True), (bags,)),
    ]


def _modules():
    torch.manual_seed(0)
    return [(factory(), inputs) for factory, inputs in _factories()]


def test_state_dict_round_trip():
    for factory, inputs in _factories():
        torch.manual_seed(0)
        module = factory()
        torch.manual_seed(1)
        fresh = factory()
        assert not torch.allclose(fresh(*inputs), module(*inputs))
        buffer = io.BytesIO()
        torch.save(module.state_dict(), buffer)
        buffer.seek(0)
        fresh.load_state_dict(torch.load(buffer))
        assert_close(fresh(*inputs), module(*inputs))


def test_torchscript_scripts_each_module():
    for module, inputs in _modules():
        scripted = torch.jit.script(module)
        assert_close(scripted(*inputs), module(*inputs))
        buffer = io.BytesIO()
        torch.jit.save(scripted, buffer)
        buffer.seek(0)
        assert_close(torch.jit.load(buffer)(*inputs), module(*inputs))


def test_torch_export_of_a_module():
    layer = Hopfield(8, num_heads=2, update_steps=2).eval()
    x = data(2, 3, 8, dtype=torch.float32)
    exported = torch.export.export(layer, (x,))
    assert_close(exported.module()(x), layer(x))


# ---- the C++ modules, run through statmech._C.hopfield, against the Python ones -------------------

CPP_CASES = [
    ("Hopfield", 8, dict(num_heads=2, update_steps=2, output_size=5), "forward", 2),
    ("Hopfield", 8, dict(num_heads=2, beta=[0.4, 3.0], learn_beta=True, normalize_state=True, normalize_stored=True,
                         normalize_value=True, separation="sparsemax", update_steps=1, eps=1e-3), "forward", 2),
    ("Hopfield", 6, dict(stored_size=6, value_size=6, state_projection=False, stored_projection=False,
                         value_projection=False, out_projection=False, beta=0.9, bias=False), "forward", 2),
    ("Hopfield", 8, dict(num_heads=4, hidden_size=3, pattern_size=2, separation="entmax15", batch_first=False), "forward", 2),
    ("Hopfield", 8, dict(num_heads=2, update_steps=1), "association", 2),
    ("Hopfield", 8, dict(num_heads=2), "energy", 2),
    ("HopfieldPooling", 8, dict(num_queries=3, num_heads=2, output_size=4), "forward", 1),
    ("HopfieldPooling", 8, dict(num_queries=2, num_heads=2), "association", 1),
    ("HopfieldLayer", 8, dict(num_patterns=7, separate_values=True, value_size=5, num_heads=2), "forward", 1),
    ("HopfieldLayer", 8, dict(num_patterns=7), "energy", 1),
]


@pytest.mark.parametrize("kind,input_size,kwargs,method,count", CPP_CASES)
def test_cpp_module_gives_the_same_outputs_from_the_same_state_dict(kind, input_size, kwargs, method, count):
    """Same options, defaults, parameter names and outputs in statmech.nn and statmech::nn."""
    from statmech import _C

    torch.manual_seed(0)
    python_kwargs = {k: v for k, v in kwargs.items() if k not in ("num_queries", "num_patterns", "separate_values")}
    if kind == "Hopfield":
        module = Hopfield(input_size, **python_kwargs)
    elif kind == "HopfieldPooling":
        module = HopfieldPooling(input_size, kwargs["num_queries"], **python_kwargs)
    else:
        module = HopfieldLayer(input_size, kwargs["num_patterns"], kwargs.get("separate_values", False), **python_kwargs)
    module.eval()
    with torch.no_grad():  # non-trivial LayerNorm affines and biases
        for name, p in module.named_parameters():
            if name.endswith("bias") or name.endswith("norm.weight"):
                p.add_(0.3 * torch.randn_like(p))
    batch_first = kwargs.get("batch_first", True)
    inputs = [data(2, 4, input_size, seed=1), data(2, 5, input_size, seed=2)][:count]
    inputs = [x.float() if batch_first else x.float().transpose(0, 1) for x in inputs]
    expected = getattr(module, method)(*inputs)
    state = {k: v for k, v in module.state_dict().items()}
    got = _C.hopfield.run_module(kind, input_size, kwargs, state, method, inputs)
    assert got.shape == expected.shape
    assert_close(got, expected, rtol=1e-5, atol=1e-6)
