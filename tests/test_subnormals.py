"""Subnormal floats as block features: what Swin's masked attention makes and what reads it."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


class _MaskedAttention(torch.nn.Module):
    """softmax(scores + mask) @ v on a 4 x 4 score matrix, 6 pairs masked."""

    def __init__(self, mask_value: float):
        super().__init__()
        mask = torch.zeros(1, 4, 4)
        mask[0, 0, 1:] = mask[0, 1, 2:] = mask[0, 2, 3:] = mask_value  # 3 + 2 + 1 masked pairs
        self.register_buffer("mask", mask)

    def forward(self, x):
        attn = (x + self.mask).softmax(-1)
        return torch.bmm(attn, torch.ones(1, 4, 2))


def test_swins_mask_makes_subnormals_and_the_product_reading_them_is_counted():
    from latmodel.graph.subnormals import count_subnormals

    with torch.no_grad(), count_subnormals() as mode:
        _MaskedAttention(-100.0)(torch.zeros(1, 4, 4))
    # exp(-100) / row sum ~ 1e-44: six subnormal attention weights; bmm multiplies each by the 2 columns of v
    assert (mode.count.values, mode.count.flops) == (6, 12)


def test_a_mask_that_underflows_to_zero_makes_none():
    from latmodel.graph.subnormals import count_subnormals

    with torch.no_grad(), count_subnormals() as mode:
        _MaskedAttention(-1e4)(torch.zeros(1, 4, 4))
    assert (mode.count.values, mode.count.flops) == (0, 0)


def test_block_features_carry_the_counts():
    from latmodel.graph.features import FEATURE_COLUMNS, block_features

    feats, out = block_features(_MaskedAttention(-100.0), torch.zeros(1, 4, 4))
    assert {"subnormal_values", "flops_subnormal"} <= set(FEATURE_COLUMNS)
    assert (feats["subnormal_values"], feats["flops_subnormal"]) == (6, 12)
    assert tuple(out.shape) == (1, 4, 2)


class _MatmulAttention(torch.nn.Module):
    """The same masked attention through composite ops (``matmul``, ``softmax``, ``Dropout``), as torchvision's
    Swin writes it; the input only sets the shape."""

    def __init__(self):
        super().__init__()
        self.inner = _MaskedAttention(-100.0)
        self.drop = torch.nn.Dropout(0.0)

    def forward(self, x):
        attn = self.drop(torch.softmax(x * 0.0 + self.inner.mask, dim=-1))
        return attn.matmul(torch.ones(1, 4, 2))


def test_chain_features_count_the_same_inside_the_profiles_inference_mode():
    # inference mode hands matmul / softmax / dropout to the counter undecomposed: the product's 12 multiply-adds
    # read as 6 and the dropout's copy as 6 more values.  The profile computes features inside it, predictions
    # outside: both must count alike.
    import types

    from latmodel.graph.features import chain_features

    chain = types.SimpleNamespace(input_shape=(1, 4, 4), blocks=[_MatmulAttention().eval()],
                                  infos=[types.SimpleNamespace(index=0, name="attn")])
    outside = chain_features(chain)
    with torch.inference_mode():
        inside = chain_features(chain)
    assert (outside[0]["subnormal_values"], outside[0]["flops_subnormal"]) == (6, 12)
    assert inside == outside


def test_random4_shifted_blocks_make_subnormals_and_the_build_repeats():
    from latmodel.graph.netfeatures import compute_features
    from latmodel.graph.random_nets import random_window_config

    cfg = random_window_config(115)  # 64 px, patch 4: a 16 x 16 map in 7 x 7 windows (padded to 21), then 8, 4
    assert (cfg["window"], cfg["patch"], cfg["depths"], cfg["mask_value"]) == (7, 4, [2, 1, 2], -100.0)
    rows = compute_features("random4:115", 64, 1.0, 1)
    again = compute_features("random4:115", 64, 1.0, 1)
    assert [r["subnormal_values"] for r in rows] == [r["subnormal_values"] for r in again]  # seeded weights
    made = {r["block_name"]: r["subnormal_values"] > 0 for r in rows}
    # only the shifted block of the first stage masks pairs: the last stage's 4 x 4 map fits one window
    assert made == {"stem": False, "stages.0.0": False, "stages.0.1": True, "stages.1": False,  # 1: merge
                    "stages.2.0": False, "stages.3": False, "stages.4.0": False, "stages.4.1": False}


def test_random4_too_small_an_input_says_so():
    from latmodel.errors import NetcutError
    from latmodel.graph.zoo import build_model

    with pytest.raises(NetcutError, match=r"random4:115 needs at least \d+ px, got 8 px"):
        build_model("random4:115", resolution=8)
