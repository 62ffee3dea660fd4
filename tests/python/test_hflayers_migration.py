"""hopfield_from_hflayers, hopfield_pooling_from_hflayers, hopfield_layer_from_hflayers: our
Hopfield, HopfieldPooling and HopfieldLayer built from difflayers' (= hflayers') give the same
outputs. difflayers is a test-only dependency (`pip install --no-deps difflayers`); these
tests skip without it."""

import pytest
import torch
from torch.testing import assert_close

from statmech.nn import hopfield_from_hflayers, hopfield_layer_from_hflayers, hopfield_pooling_from_hflayers

difflayers = pytest.importorskip("difflayers")


def data(*shape, seed=0):
    return torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def randomise_(module, std=0.5, seed=0):
    """Their initialisation (N(0, 0.02), LayerNorm weight 1) makes every association nearly
    uniform; larger random weights make the comparison sensitive to every parameter."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, dtype=p.dtype, generator=g) * std)
    return module


CONFIGS = {
    "defaults (input LayerNorms on)": dict(input_size=8),
    "four heads, own sizes": dict(
        input_size=8, hidden_size=3, pattern_size=5, output_size=6, num_heads=4, stored_pattern_size=7,
        pattern_projection_size=4, scaling=0.6,
    ),
    "no LayerNorms, two update steps": dict(
        input_size=6, num_heads=2, update_steps_max=2, update_steps_eps=1e-12, normalize_stored_pattern=False,
        normalize_stored_pattern_affine=False, normalize_state_pattern=False, normalize_state_pattern_affine=False,
        normalize_pattern_projection=False, normalize_pattern_projection_affine=False,
    ),
    "static stored and state patterns": dict(
        input_size=6, stored_pattern_as_static=True, state_pattern_as_static=True, hidden_size=6, scaling=0.9,
        update_steps_max=1, update_steps_eps=1e-12,
    ),
    "no output projection, non-affine LayerNorms": dict(
        input_size=8, num_heads=2, disable_out_projection=True, normalize_stored_pattern_affine=False,
        normalize_state_pattern_affine=False, normalize_pattern_projection_affine=False,
    ),
}


def inputs_for(theirs, batch=3, queries=4, stored=5):
    core = theirs.association_core
    state = data(batch, queries, core.embed_dim, seed=1)
    stored_p = data(batch, stored, core.kdim, seed=2)
    value = data(batch, stored, core.vdim, seed=3)
    return state, stored_p, value


@pytest.mark.parametrize("name", list(CONFIGS))
def test_outputs_agree_with_difflayers(name):
    torch.manual_seed(0)
    theirs = randomise_(difflayers.Hopfield(**CONFIGS[name]).double()).eval()
    ours = hopfield_from_hflayers(theirs)
    state, stored, value = inputs_for(theirs)
    expected = theirs((stored, state, value))
    got = ours(state, stored, value)
    assert got.shape == expected.shape
    assert_close(got, expected, rtol=1e-10, atol=1e-10)


def test_masks_translate():
    torch.manual_seed(0)
    theirs = randomise_(difflayers.Hopfield(input_size=8, num_heads=2).double()).eval()
    ours = hopfield_from_hflayers(theirs)
    state, stored, value = inputs_for(theirs)
    padding = torch.tensor([[False, False, True, False, True]] * 3)  # theirs: True = ignore
    association = data(4, 5, seed=9) > 0.8  # theirs: True = ignore
    association[:, 0] = False
    expected = theirs((stored, state, value), stored_pattern_padding_mask=padding, association_mask=association)
    got = ours(state, stored, value, mask=~association, stored_mask=~padding)
    assert_close(got, expected, rtol=1e-10, atol=1e-10)


def test_default_initialisation_agrees_too():
    theirs = difflayers.Hopfield(input_size=8, num_heads=2).double().eval()
    ours = hopfield_from_hflayers(theirs)
    state, stored, value = inputs_for(theirs)
    assert_close(ours(state, stored, value), theirs((stored, state, value)), rtol=1e-10, atol=1e-12)


def test_unsupported_options_are_refused_by_name():
    with pytest.raises(NotImplementedError, match="add_zero_association"):
        hopfield_from_hflayers(difflayers.Hopfield(input_size=4, add_zero_association=True))
    with pytest.raises(NotImplementedError, match="update_steps_max=None"):
        hopfield_from_hflayers(difflayers.Hopfield(input_size=4, update_steps_max=None))
    with pytest.raises(NotImplementedError, match="per-head scaling"):
        hopfield_from_hflayers(difflayers.Hopfield(input_size=4, num_heads=2, scaling=torch.tensor([1.0, 2.0])))


# ---- HopfieldPooling and HopfieldLayer ----------------------------------------------------------

NO_NORMS = dict(
    normalize_stored_pattern=False, normalize_stored_pattern_affine=False, normalize_state_pattern=False,
    normalize_state_pattern_affine=False, normalize_pattern_projection=False,
    normalize_pattern_projection_affine=False,
)

POOLING_CONFIGS = {
    "defaults, three queries, two heads": dict(input_size=8, quantity=3, num_heads=2),
    "own sizes, no LayerNorms, two update steps": dict(
        input_size=6, quantity=2, num_heads=3, hidden_size=4, pattern_size=5, output_size=7, stored_pattern_size=9,
        pattern_projection_size=4, scaling=0.7, update_steps_max=2, update_steps_eps=1e-12, **NO_NORMS,
    ),
    "no output projection": dict(input_size=8, quantity=4, num_heads=2, disable_out_projection=True),
}


@pytest.mark.parametrize("name", list(POOLING_CONFIGS))
def test_pooling_outputs_agree_with_difflayers(name):
    torch.manual_seed(0)
    theirs = randomise_(difflayers.HopfieldPooling(**POOLING_CONFIGS[name]).double()).eval()
    ours = hopfield_pooling_from_hflayers(theirs)
    core = theirs.hopfield.association_core
    stored, value = data(3, 5, core.kdim, seed=2), data(3, 5, core.vdim, seed=3)
    padding = torch.tensor([[False, False, True, False, True]] * 3)  # theirs: True = ignore
    if core.kdim == core.vdim:
        expected = theirs(stored)
        got = ours(stored)
        assert got.shape == (3, theirs.quantity, ours.hopfield.output_size)
        assert_close(got.flatten(1), expected, rtol=1e-10, atol=1e-12)
    expected = theirs((stored, value), stored_pattern_padding_mask=padding)
    got = ours(stored, value, stored_mask=~padding)
    assert_close(got.flatten(1), expected, rtol=1e-10, atol=1e-12)


LAYER_CONFIGS = {
    "defaults, six patterns, two heads": dict(input_size=8, quantity=6, num_heads=2),
    "separate targets, own sizes, no LayerNorms, one update step": dict(
        input_size=6, quantity=5, num_heads=2, hidden_size=3, pattern_size=4, output_size=5, stored_pattern_size=7,
        pattern_projection_size=3, lookup_weights_as_separated=True, scaling=0.8, update_steps_max=1,
        update_steps_eps=1e-12, **NO_NORMS,
    ),
    "separate targets, defaults": dict(input_size=8, quantity=4, lookup_weights_as_separated=True),
}


@pytest.mark.parametrize("name", list(LAYER_CONFIGS))
def test_layer_outputs_agree_with_difflayers(name):
    torch.manual_seed(0)
    theirs = randomise_(difflayers.HopfieldLayer(**LAYER_CONFIGS[name]).double()).eval()
    ours = hopfield_layer_from_hflayers(theirs)
    assert (ours.values is not None) == (theirs.target_weights is not None)
    state = data(3, 4, theirs.hopfield.association_core.embed_dim, seed=1)
    expected = theirs(state)
    got = ours(state)
    assert got.shape == expected.shape
    assert_close(got, expected, rtol=1e-10, atol=1e-12)
    # Masks: their association mask [L, S], True = ignore; ours True = takes part.
    association = data(4, theirs.quantity, seed=9) > 0.8
    association[:, 0] = False
    assert_close(ours(state, mask=~association), theirs(state, association_mask=association), rtol=1e-10, atol=1e-12)


def test_pooling_and_layer_default_initialisation_and_frozen_weights():
    theirs = difflayers.HopfieldPooling(input_size=8, quantity=2, trainable=False).double().eval()
    ours = hopfield_pooling_from_hflayers(theirs)
    stored = data(2, 5, 8, seed=4)
    assert_close(ours(stored).flatten(1), theirs(stored), rtol=1e-10, atol=1e-12)
    assert not ours.queries.requires_grad
    theirs = difflayers.HopfieldLayer(
        input_size=8, quantity=3, lookup_weights_as_separated=True, lookup_targets_as_trainable=False
    ).double().eval()
    ours = hopfield_layer_from_hflayers(theirs)
    state = data(2, 4, 8, seed=5)
    assert_close(ours(state), theirs(state), rtol=1e-10, atol=1e-12)
    assert ours.patterns.requires_grad and not ours.values.requires_grad


def test_pooling_and_layer_refuse_what_hopfield_refuses():
    with pytest.raises(NotImplementedError, match="hopfield_pooling_from_hflayers: add_zero_association"):
        hopfield_pooling_from_hflayers(difflayers.HopfieldPooling(input_size=4, add_zero_association=True))
    with pytest.raises(NotImplementedError, match="hopfield_layer_from_hflayers: update_steps_max=None"):
        hopfield_layer_from_hflayers(difflayers.HopfieldLayer(input_size=4, quantity=2, update_steps_max=None))
