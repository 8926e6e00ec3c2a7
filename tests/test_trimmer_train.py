"""trimmer.train: feature cache, head training, finetune/full modes, config validation."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from latmodel.errors import NetcutError
from trimmer.splits import DataSplits, to_model_input
from trimmer.pooled import extract_pooled_features
from trimmer.train import evaluate_accuracy, train_head_on_features, train_trn
from trimmer.train_config import MODE_DEFAULTS, TrainConfig, TrainResult
from trimmer.trn import TRN, Head

RES = 16


def tiny_blocks(seed: int = 0) -> list[nn.Module]:
    """Three small conv blocks in eval mode (as latmodel.graph.blocks hands them out)."""
    torch.manual_seed(seed)
    return [
        nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU()).eval(),
        nn.Sequential(nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.BatchNorm2d(6), nn.ReLU()).eval(),
        nn.Sequential(nn.Conv2d(6, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU()).eval(),
    ]


def toy_data(per_class=(12, 4, 4), seed: int = 0) -> DataSplits:
    """Three classes of 8x8 greyscale images: dark, mid-grey and bright noise (linearly separable by mean)."""
    g = torch.Generator().manual_seed(seed)
    levels = ((0, 60), (100, 160), (200, 256))

    def split(n):
        xs = [torch.randint(lo, hi, (n, 8, 8), generator=g, dtype=torch.int64) for lo, hi in levels]
        ys = [torch.full((n,), c, dtype=torch.int64) for c in range(3)]
        return torch.cat(xs).to(torch.uint8), torch.cat(ys)

    parts = [split(n) for n in per_class]
    return DataSplits(*parts[0], *parts[1], *parts[2], classes=("dark", "grey", "bright"), source="toy")


def _params(modules):
    return [p.detach().clone() for m in modules for p in m.parameters()]


def _buffers(modules):
    return [b.detach().clone() for m in modules for b in m.buffers()]


# --------------------------------------------------------------------------- feature cache


def test_extract_pooled_features_matches_block_by_block():
    blocks = tiny_blocks()
    data = toy_data()
    feats = extract_pooled_features(blocks, data.train_x, RES, [2, 0], batch_size=7, device="cpu", progress=False)
    assert sorted(feats) == [0, 2]
    assert feats[0].shape == (36, 4) and feats[2].shape == (36, 8)
    assert feats[0].dtype == torch.float32
    with torch.no_grad():
        h0 = blocks[0](to_model_input(data.train_x, RES))
        h2 = blocks[2](blocks[1](h0))
    assert torch.allclose(feats[0], h0.mean(dim=(2, 3)), atol=1e-6)
    assert torch.allclose(feats[2], h2.mean(dim=(2, 3)), atol=1e-6)
    assert all(not b.training for b in blocks)


def test_extract_pooled_features_bfloat16_is_float32_output_close_to_float32():
    blocks = tiny_blocks()
    data = toy_data()
    ref = extract_pooled_features(blocks, data.train_x, RES, [2], progress=False)
    low = extract_pooled_features(blocks, data.train_x, RES, [2], progress=False, precision="bfloat16")
    assert low[2].dtype == torch.float32 and low[2].shape == ref[2].shape
    assert torch.allclose(low[2], ref[2], rtol=0.05, atol=0.02)


def test_extract_pooled_features_restores_train_flags_and_checks_cuts():
    blocks = tiny_blocks()
    blocks[1].train()
    x = toy_data().val_x
    extract_pooled_features(blocks, x, RES, [1], progress=False)
    assert [b.training for b in blocks] == [False, True, False]
    with pytest.raises(NetcutError, match=r"cut index 3 is out of range; the network has blocks 0\.\.2"):
        extract_pooled_features(blocks, x, RES, [3], progress=False)
    empty = extract_pooled_features(blocks, x[:0], RES, [2], progress=False)
    assert empty[2].shape == (0, 8)


# --------------------------------------------------------------------------- head


def test_head_same_on_maps_and_pooled_features():
    torch.manual_seed(0)
    head = Head(4, 3).eval()
    maps = torch.randn(5, 4, 3, 3)
    assert torch.allclose(head(maps), head(maps.mean(dim=(2, 3))), atol=1e-6)
    trn = TRN(tiny_blocks(), Head(8, 3))
    assert isinstance(trn.blocks, nn.ModuleList) and trn.cut_index == 2
    assert trn(torch.zeros(2, 3, RES, RES)).shape == (2, 3)


def test_train_head_on_features_separable_and_folded():
    g = torch.Generator().manual_seed(1)
    centres = torch.tensor([[5.0, 0.0], [0.0, 5.0], [-5.0, -5.0]]) + 100.0  # far from zero: exercises standardisation
    def sample(n):
        y = torch.arange(3).repeat_interleave(n)
        return centres[y] + 0.3 * torch.randn(3 * n, 2, generator=g), y
    (ftr, ytr), (fva, yva), (fte, yte) = sample(20), sample(5), sample(5)
    state, res = train_head_on_features(ftr, ytr, fva, yva, fte, yte, 3, TrainConfig(epochs=20, batch_size=8, patience=20))
    assert set(state) == {"weight", "bias"} and state["weight"].shape == (3, 2)
    assert res.val_accuracy == 1.0 and res.test_accuracy == 1.0
    assert (res.n_train, res.n_val, res.n_test) == (60, 15, 15)
    fc = nn.Linear(2, 3)
    fc.load_state_dict(state)  # folded weights act on the raw features
    assert bool((fc(fte).argmax(1) == yte).all())


def test_head_mode_is_deterministic_and_learns():
    data = toy_data()
    cfg = TrainConfig(mode="head", epochs=15, batch_size=8, patience=15, seed=3)
    blocks = tiny_blocks()
    trn1, r1 = train_trn(blocks, 3, data, RES, cfg, progress=False)
    trn2, r2 = train_trn(blocks, 3, data, RES, cfg, progress=False)
    assert torch.equal(trn1.head.fc.weight, trn2.head.fc.weight)
    assert torch.equal(trn1.head.fc.bias, trn2.head.fc.bias)
    assert dict(r1.to_dict(), train_seconds=0) == dict(r2.to_dict(), train_seconds=0)
    assert r1.test_accuracy == 1.0 and r1.val_accuracy == 1.0
    assert (r1.n_train, r1.n_val, r1.n_test, r1.epochs_run) == (36, 12, 12, 15)
    assert 1 <= r1.best_epoch <= 15
    # the TRN itself reproduces the accuracy computed on cached features
    assert evaluate_accuracy(trn1, data.test_x, data.test_y, RES, batch_size=5) == r1.test_accuracy
    assert trn1.blocks[0] is blocks[0]  # head mode shares the frozen blocks


def test_early_stopping_stops_after_patience():
    clean = toy_data()
    g = torch.Generator().manual_seed(0)
    shuffled = [y[torch.randperm(len(y), generator=g)] for y in (clean.train_y, clean.val_y, clean.test_y)]
    noise = DataSplits(clean.train_x, shuffled[0], clean.val_x, shuffled[1], clean.test_x, shuffled[2],
                       classes=clean.classes, source="noise")  # labels unrelated to images: nothing to learn
    _, res = train_trn(tiny_blocks(), 3, noise, RES, TrainConfig(epochs=50, patience=2, batch_size=8), progress=False)
    assert res.epochs_run == res.best_epoch + 2 < 50


# --------------------------------------------------------------------------- finetune / full


def test_finetune_trains_only_the_last_blocks():
    blocks = tiny_blocks()
    before_p, before_b = _params(blocks), _buffers(blocks)
    frozen_p, last_p = _params(blocks[:2]), _params(blocks[2:])
    frozen_b = _buffers(blocks[:2])
    cfg = TrainConfig(mode="finetune", epochs=3, batch_size=8, finetune_blocks=1, patience=None, lr=1e-2)
    trn, res = train_trn(blocks, 3, toy_data(), RES, cfg, progress=False)
    # the caller's blocks are untouched
    assert all(torch.equal(a, b) for a, b in zip(before_p, _params(blocks)))
    assert all(torch.equal(a, b) for a, b in zip(before_b, _buffers(blocks)))
    # frozen blocks: same parameters and batch-norm statistics; last block: changed
    assert all(torch.equal(a, b) for a, b in zip(frozen_p, _params(trn.blocks[:2])))
    assert all(torch.equal(a, b) for a, b in zip(frozen_b, _buffers(trn.blocks[:2])))
    assert all(not torch.equal(a, b) for a, b in zip(last_p, _params(trn.blocks[2:])))
    assert res.epochs_run == 3 and not trn.training
    assert evaluate_accuracy(trn, toy_data().test_x, toy_data().test_y, RES) == res.test_accuracy


def test_finetune_without_frozen_cache_gives_same_result():
    data = toy_data()
    cfg = TrainConfig(mode="finetune", epochs=2, batch_size=8, finetune_blocks=2, patience=None)
    trn_a, ra = train_trn(tiny_blocks(), 3, data, RES, cfg, progress=False)
    trn_b, rb = train_trn(tiny_blocks(), 3, data, RES, TrainConfig.from_dict({**cfg.to_dict(), "cache_frozen_bytes": 0}),
                          progress=False)
    for a, b in zip(trn_a.parameters(), trn_b.parameters()):
        assert torch.allclose(a, b, atol=1e-5)
    assert (ra.val_accuracy, ra.test_accuracy) == (rb.val_accuracy, rb.test_accuracy)


def test_full_mode_changes_every_block():
    blocks = tiny_blocks()
    before = [_params([b]) for b in blocks]
    trn, res = train_trn(blocks, 3, toy_data(), RES, TrainConfig(mode="full", epochs=2, batch_size=8), progress=False)
    for old, new in zip(before, trn.blocks):
        assert all(not torch.equal(a, b) for a, b in zip(old, _params([new])))
    assert res.n_train == 36 and math.isfinite(res.test_accuracy)


# --------------------------------------------------------------------------- records and errors


def test_config_validation():
    with pytest.raises(NetcutError, match="epochs must be an integer >= 1, got 0"):
        TrainConfig(epochs=0)
    with pytest.raises(NetcutError, match="mode must be one of head, finetune, full, got 'partial'"):
        TrainConfig(mode="partial")
    with pytest.raises(NetcutError, match="device must be 'cpu', 'cuda' or 'cuda:N'"):
        TrainConfig(device="tpu")
    with pytest.raises(NetcutError, match="dropout"):
        TrainConfig(dropout=1.0)
    with pytest.raises(NetcutError, match="optimizer must be one of adamw, sgd"):
        TrainConfig(optimizer="lbfgs")
    with pytest.raises(NetcutError, match="unknown training option\\(s\\) epoch;"):
        TrainConfig.from_dict({"epoch": 3})


def test_config_defaults_per_mode():
    assert (TrainConfig().effective_optimizer, TrainConfig().effective_lr) == ("adamw", 1e-2)
    assert (TrainConfig(mode="finetune").effective_optimizer, TrainConfig(mode="finetune").effective_lr) == ("adamw", 1e-3)
    assert (TrainConfig(mode="full").effective_optimizer, TrainConfig(mode="full").effective_lr) == ("sgd", 1e-2)
    assert TrainConfig(mode="full", lr=0.5, optimizer="adamw").effective_lr == 0.5
    assert set(MODE_DEFAULTS) == {"head", "finetune", "full"}
    cfg = TrainConfig(mode="finetune", epochs=4, lr=3e-4, num_threads=1)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


def test_result_round_trip():
    r = TrainResult(val_accuracy=0.5, test_accuracy=0.25, epochs_run=4, best_epoch=2, train_seconds=1.5,
                    n_train=10, n_val=2, n_test=4)
    assert TrainResult.from_dict(r.to_dict()) == r


def test_train_trn_input_errors():
    data = toy_data()
    with pytest.raises(NetcutError, match="labels of toy lie in 0..2, outside 0..1"):
        train_trn(tiny_blocks(), 2, data, RES, progress=False)
    with pytest.raises(NetcutError, match="at least one block"):
        train_trn([], 3, data, RES, progress=False)
    with pytest.raises(NetcutError, match="CUDA is not available") if not torch.cuda.is_available() else _noop():
        if not torch.cuda.is_available():
            train_trn(tiny_blocks(), 3, data, RES, TrainConfig(device="cuda"), progress=False)


class _noop:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_evaluate_accuracy_empty_is_nan():
    trn = TRN(tiny_blocks(), Head(8, 3))
    x = toy_data().test_x
    assert math.isnan(evaluate_accuracy(trn, x[:0], torch.zeros(0, dtype=torch.int64), RES))


def test_fold_batch_norms_is_the_same_function_and_leaves_the_block_alone():
    from trimmer.pooled import fold_batch_norms

    torch.manual_seed(0)
    block = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU()).eval()
    block[1].running_mean.uniform_(-1, 1)
    block[1].running_var.uniform_(0.5, 2.0)
    folded = fold_batch_norms(block)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in block.modules())  # the caller's block is unchanged
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(folded(x), block(x), atol=1e-5)
    assert fold_batch_norms(block.train()) is block  # training batch norms are not folded
    plain = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval()
    assert fold_batch_norms(plain) is plain


class _PaddedConv(nn.Conv2d):
    """A convolution subclass that pads in its forward (as EfficientNet-Lite's ``Conv2dStaticSamePadding``)."""

    def forward(self, x):
        return super().forward(nn.functional.pad(x, (1, 1, 1, 1)))


def test_fold_batch_norms_folds_conv_subclasses_and_pairs_inside_leaf_modules():
    import torch.fx as fx
    from torchvision.ops.misc import Conv2dNormActivation

    from trimmer.pooled import fold_batch_norms

    class Tracer(fx.Tracer):  # keeps the two kinds whole, as the block splitter does
        def is_leaf_module(self, m, name):
            return isinstance(m, (_PaddedConv, Conv2dNormActivation)) or super().is_leaf_module(m, name)

    torch.manual_seed(0)
    net = nn.Sequential(_PaddedConv(3, 4, 3), nn.BatchNorm2d(4), Conv2dNormActivation(4, 5, 3)).eval()
    for bn in (net[1], net[2][1]):
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2.0)
    block = fx.GraphModule(net, Tracer().trace(net)).eval()
    folded = fold_batch_norms(block)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in folded.modules()) == 0
    assert sum(isinstance(m, nn.BatchNorm2d) for m in block.modules()) == 2  # the caller's block is unchanged
    assert any(type(m) is _PaddedConv for m in folded.modules())  # the subclass (and its padding) stays
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(folded(x), block(x), atol=1e-5)


class _StaticSamePadConv(nn.Conv2d):
    """EfficientNet-Lite's ``Conv2dStaticSamePadding``: a ``static_padding`` module, then the convolution."""

    def __init__(self, cin, cout, k, stride, pad):
        super().__init__(cin, cout, k, stride)
        self.static_padding = nn.ZeroPad2d(pad)

    def forward(self, x):
        return nn.functional.conv2d(self.static_padding(x), self.weight, self.bias, self.stride, self.padding)


def test_fold_inlines_a_symmetric_static_padding_and_keeps_an_asymmetric_one():
    import torch.fx as fx

    from trimmer.pooled import fold_batch_norms

    class Tracer(fx.Tracer):
        def is_leaf_module(self, m, name):
            return isinstance(m, _StaticSamePadConv) or super().is_leaf_module(m, name)

    torch.manual_seed(0)
    net = nn.Sequential(_StaticSamePadConv(3, 4, 3, 1, (1, 1, 1, 1)), nn.BatchNorm2d(4),
                        _StaticSamePadConv(4, 4, 3, 2, (0, 1, 0, 1)), nn.BatchNorm2d(4)).eval()
    block = fx.GraphModule(net, Tracer().trace(net)).eval()
    folded = fold_batch_norms(block)
    convs = [m for m in folded.modules() if isinstance(m, _StaticSamePadConv)]
    assert [(tuple(c.padding), type(c.static_padding).__name__) for c in convs] == [
        ((1, 1), "Identity"), ((0, 0), "ZeroPad2d")]
    assert [type(m.static_padding).__name__ for m in block.modules() if isinstance(m, _StaticSamePadConv)] == [
        "ZeroPad2d", "ZeroPad2d"]  # the caller's block is unchanged
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(folded(x), block(x), atol=1e-5)
