from __future__ import annotations

import torch
import torch.nn as nn

from latmodel.graph.blocks import split_model
from latmodel.graph.features import COLUMN_DOCS, FEATURE_COLUMNS, chain_features
from latmodel.graph.netfeatures import network_features
from latmodel.measure.table import TABLE_COLUMNS, TABLE_DOCS


def test_every_column_documented():
    assert set(FEATURE_COLUMNS) == set(COLUMN_DOCS)
    assert set(TABLE_COLUMNS) == set(TABLE_DOCS)
    assert len(TABLE_COLUMNS) == len(set(TABLE_COLUMNS))


def test_tiny_features_hand_computed(tiny):
    rows = chain_features(split_model(tiny, 8, name="tiny"))
    b0, b1, b2, b3 = rows
    # conv 3->4, 3x3, 8x8 output: 4*8*8 outputs x 3 inputs x 9 taps
    assert b0["flops_conv"] == 4 * 8 * 8 * 3 * 9 == 6912
    assert b0["flops_conv_dense"] == 6912 and b0["n_conv_dense"] == 1
    assert b0["flops_norm"] == 2 * 256  # fvcore: batch norm at inference, 2 flops per element
    assert b0["flops_elementwise"] == 256  # our relu handle: one per output element
    assert b0["flops"] == 6912 + 512 + 256
    assert b0["params"] == 4 * 3 * 9 + 2 * 4
    assert b0["param_bytes"] == 4 * b0["params"]
    assert b0["in_bytes"] == 3 * 8 * 8 * 4 and b0["out_bytes"] == 4 * 8 * 8 * 4
    # depthwise 3x3 on 4 channels + relu6 (hardtanh)
    assert b1["flops_conv_depthwise"] == 4 * 8 * 8 * 9 == 2304
    assert b1["n_conv_depthwise"] == 1 and b1["flops_elementwise"] == 256
    # pointwise 4->8
    assert b2["flops_conv_pointwise"] == 8 * 8 * 8 * 4 == 2048
    assert b2["max_kernel_size"] == 1 and b2["activations"] == 512
    # max pool 2x2: 8*4*4 outputs x 4 window elements
    assert b3["flops_pool"] == 8 * 4 * 4 * 4 == 512 and b3["stride"] == 2.0 and b3["n_pool"] == 1
    for r in rows:
        assert set(FEATURE_COLUMNS) <= set(r)


def test_grouped_and_elementwise_ops():
    class Res(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 3, padding=1, groups=2, bias=False)

        def forward(self, x):
            return torch.sigmoid(self.conv(x)) * x + x

    net = nn.Sequential(nn.Conv2d(3, 4, 1, bias=False), Res(), nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()
    rows = chain_features(split_model(net, 4, name="g"))
    grouped = rows[1]
    assert grouped["flops_conv_grouped"] == 4 * 4 * 4 * 2 * 9 and grouped["n_conv_grouped"] == 1
    # sigmoid, mul, add: three elementwise ops over 64 elements
    assert grouped["flops_elementwise"] == 3 * 64


def test_relu6_counts_alike_as_a_module_or_a_function():
    """nn.ReLU6 runs as hardtanh, F.relu6 as its own op: one flop an element either way."""
    import torch.nn.functional as F

    class Functional(nn.Module):
        def forward(self, x):
            return F.relu6(x)

    flops = []
    for act in (nn.ReLU6(), Functional()):
        net = nn.Sequential(nn.Conv2d(3, 4, 1, bias=False), act, nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()
        flops.append(sum(r["flops_elementwise"] for r in chain_features(split_model(net, 4, name="r6"))))
    assert flops == [4 * 4 * 4] * 2


def test_network_features_cached_and_consistent():
    a = network_features("mobilenet_v2", 64)
    b = network_features("mobilenet_v2", 64)
    assert a == b and a is not b
    assert len(a) == 19
    assert a[0]["in_height_px"] == 64 and a[-1]["out_channels"] == 1280


def test_fvcore_noise_is_silenced(capfd, caplog):
    import latmodel.graph.netfeatures as f

    f.clear_cache()
    network_features("efficientnet_lite0", 64)
    out, err = capfd.readouterr()
    assert "Unsupported operator" not in err + out
    assert "FutureWarning" not in err


def test_padding_kernel_activation_concat_and_pool_features_hand_computed():
    from latmodel.graph.features import block_features

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(8, 24, 3, padding=1, bias=False)
            self.dw = nn.Conv2d(24, 24, 5, padding=2, groups=24, bias=False)
            self.act = nn.SiLU()
            self.pool = nn.MaxPool2d(2)

        def forward(self, x):
            y = self.act(self.dw(self.conv(x)))
            return self.pool(torch.cat([y, y], 1))

    feats, out = block_features(Block().eval(), torch.zeros(1, 8, 4, 4))
    assert tuple(out.shape) == (1, 48, 2, 2)
    dense = 24 * 16 * 8 * 9  # 24x4x4 outputs x 8 inputs x 3x3 taps
    depthwise = 24 * 16 * 25
    assert feats["flops_conv"] == dense + depthwise
    assert feats["flops_conv_depthwise_large"] == depthwise  # 5x5
    assert feats["flops_act_transcendental"] == 24 * 16  # SiLU output elements
    assert feats["flops_cat"] == 48 * 16
    assert feats["flops_max_pool"] == 48 * 4 * 4  # 48x2x2 outputs x 2x2 window
    assert feats["flops_avg_pool"] == 0


def test_windowed_average_pooling_is_counted_apart_from_max_pooling_and_global_reductions():
    from latmodel.graph.features import block_features

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.avg = nn.AvgPool2d(2)
            self.max = nn.MaxPool2d(3, stride=1, padding=1)
            self.gap = nn.AdaptiveAvgPool2d(1)

        def forward(self, x):
            return self.gap(self.max(self.avg(x)))

    feats, out = block_features(Block().eval(), torch.zeros(1, 4, 8, 8))
    assert tuple(out.shape) == (1, 4, 1, 1)
    assert feats["flops_avg_pool"] == 4 * 4 * 4 * 4  # 4x4x4 outputs x 2x2 window
    assert feats["flops_max_pool"] == 4 * 4 * 4 * 9  # 4x4x4 outputs x 3x3 window
    assert feats["flops_pool"] == 4 * 4 * 4 * 4 + 4 * 4 * 4 * 9 + 4 * 4 * 4  # + the global pool's input elements



def test_only_exponential_activations_count_as_transcendental_and_explicit_padding_is_counted():
    from latmodel.graph.features import block_features

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.pad = nn.ZeroPad2d((0, 1, 0, 1))  # TensorFlow 'same' padding for a 3x3 stride-2 conv
            self.dw = nn.Conv2d(4, 4, 3, stride=2, padding=0, groups=4, bias=False)
            self.hswish = nn.Hardswish()
            self.gelu = nn.GELU()

        def forward(self, x):
            y = self.hswish(self.dw(self.pad(x)))  # 4x4x4 elements, piecewise linear: not counted
            return self.gelu(y) * torch.sigmoid(y)  # 64 + 64 exponential elements

    feats, out = block_features(Block().eval(), torch.zeros(1, 4, 8, 8))
    assert tuple(out.shape) == (1, 4, 4, 4)
    assert feats["flops_pad"] == 4 * 9 * 9  # the padded copy: 4 channels x 9 x 9
    assert feats["flops_act_transcendental"] == 2 * 4 * 4 * 4
    assert feats["flops_conv_depthwise"] == 4 * 4 * 4 * 9


def test_channels_last_layer_norm_gelu_permute_and_layer_scale_hand_computed():
    from latmodel.graph.features import block_features

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = nn.LayerNorm(4)
            self.act = nn.GELU()
            self.gamma = nn.Parameter(torch.ones(4))

        def forward(self, x):
            y = self.act(self.norm(x.permute(0, 2, 3, 1)))  # (1, 2, 3, 4): 24 elements
            return (self.gamma * y).permute(0, 3, 1, 2)

    with torch.no_grad():
        feats, out = block_features(Block().eval(), torch.zeros(1, 4, 2, 3))
    assert tuple(out.shape) == (1, 4, 2, 3)
    assert feats["flops_layer_norm"] == 5 * 24  # fvcore: 5 flops per element with an affine transform
    assert feats["flops_gelu"] == 24
    assert feats["flops_copy"] == 2 * 24  # two permutes
    assert feats["flops_window"] == 0 and feats["flops_attention"] == 0 and feats["attention_seq_len"] == 0
    assert feats["flops_layer_scale"] == 0  # counted from a split block's graph (shapes recorded there)


def test_attention_fast_path_and_sdpa_hand_computed():
    from latmodel.graph.features import block_features

    class MHA(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, x):
            return self.attn(x, x, x, need_weights=False)[0]  # eval + no grad: one fused operator

    class SDPA(nn.Module):
        def forward(self, x):
            q = x.view(1, 5, 2, 4).transpose(1, 2)  # 2 heads of 4 channels
            return torch.nn.functional.scaled_dot_product_attention(q, q, q)

    x = torch.randn(1, 5, 8)
    with torch.no_grad():
        mha, _ = block_features(MHA().eval(), x)
        sdpa, _ = block_features(SDPA().eval(), x)
    # Q, K, V, output projections: 4 x 5 tokens x 8 x 8; Q K^T and A V: 2 x 5 x 5 x 8; softmax: 2 heads x 5 x 5
    assert mha["flops_linear"] == 4 * 5 * 8 * 8 + 2 * 5 * 5 * 8
    assert mha["flops_attention"] == 2 * 5 * 5 * 8 == 400
    assert mha["flops_softmax"] == 2 * 5 * 5 and mha["attention_seq_len"] == 5
    assert sdpa["flops_attention"] == 400 and sdpa["flops_softmax"] == 50 and sdpa["attention_seq_len"] == 5



def test_attention_lengths_belong_to_their_own_count():
    """The attention handles record sequence lengths into the list of the count that binds them (no
    module-level state): two counts' handles never share one (torch's tracer itself is not thread-safe,
    so this is checked on the bindings)."""
    import functools

    from latmodel.graph.op_handles import LENGTH_HANDLES, OP_HANDLES, op_handles_for

    a, b = [], []
    ha, hb = op_handles_for(a), op_handles_for(b)
    assert all(ha[op].keywords["lengths"] is a and hb[op].keywords["lengths"] is b for op in LENGTH_HANDLES)
    assert set(ha) == set(OP_HANDLES) and not any(isinstance(h, functools.partial) for h in OP_HANDLES.values())
