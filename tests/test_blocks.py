from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from latmodel.graph.blocks import BlockInfo, load_chain, split_model
from latmodel.errors import NetcutError, UnknownModelError, UntraceableModelError
from latmodel.graph.zoo import MODELS, build_model, family_of, resolve_spec


def test_tiny_chain_shapes_and_names(tiny):
    chain = split_model(tiny, 8, name="tiny")
    assert [i.name for i in chain.infos] == ["0..2", "3..4", "5", "6"]
    assert [i.out_shape for i in chain.infos] == [(1, 4, 8, 8), (1, 4, 8, 8), (1, 8, 8, 8), (1, 8, 4, 4)]
    assert chain.infos[0].in_shape == (1, 3, 8, 8)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(chain.forward(x), tiny(x))
        assert torch.equal(chain.prefix(1)(x), tiny[:5](x))


def test_blockinfo_round_trip():
    info = BlockInfo(index=2, name="features.2", in_shape=(1, 16, 112, 112), out_shape=(1, 24, 56, 56), n_nodes=9)
    assert BlockInfo.from_dict(info.to_dict()) == info


@pytest.mark.parametrize(
    "name,n_blocks",
    [("mobilenet_v2", 19), ("resnet18", 10), ("efficientnet_b0", 18), ("mobilenet_v3_small", 13),
     ("googlenet", 16), ("efficientnet_lite0", 18), ("shufflenet_v2_x1_0", 19), ("squeezenet1_1", 12)],
)
def test_blocks_reproduce_network_exactly(name, n_blocks):
    torch.manual_seed(0)
    model = build_model(name, resolution=96)
    chain = load_chain(name, 96, model=model)
    assert len(chain) == n_blocks
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        assert torch.equal(chain.forward(x), model(x))
        feats = chain.forward_features(x)
    assert feats.dim() == 4


def test_every_registered_model_splits():
    for name in MODELS:
        res = 224 if name == "maxvit_t" else 64  # MaxViT's 7 x 7 partitions need a multiple of 224
        chain = load_chain(name, res)
        assert len(chain) >= 4, name
        shapes = [i.out_shape for i in chain.infos]
        # CNN and ConvNeXt / Swin / MaxViT stages are N x C x H x W (Swin channels-last), ViT blocks N x tokens x C
        assert all(len(s) == (3 if name.startswith("vit") else 4) for s in shapes[1:]), name
        for a, b in zip(chain.infos, chain.infos[1:]):
            assert a.out_shape == b.in_shape


def test_random_chain_is_deterministic():
    a = load_chain("random:5", 64)
    b = load_chain("random:5", 64)
    assert [i.to_dict() for i in a.infos] == [i.to_dict() for i in b.infos]
    assert family_of("random:5") == "random"


def test_random_chain_samplers():
    from latmodel.graph.random_nets import random_chain_layers

    # sampler 1 is frozen: the shipped calibration table holds its networks
    assert [layer[:5] for layer in random_chain_layers(1)] == [
        ("stem", 3, 24, 7, 2), ("mbconv", 24, 48, 3, 2), ("mbconv", 48, 48, 7, 1), ("mbconv", 48, 48, 5, 1),
        ("pool", 48, 48, 3, 2), ("basic", 48, 96, 3, 2), ("basic", 96, 96, 3, 1)]
    assert random_chain_layers(1)[1][5] == {"expand": 1, "se": False, "act": "silu"}
    # sampler 2: same layers, plus padding / activation draws; explicit pads keep the shapes
    for seed in (65, 66, 67):
        v1, v2 = random_chain_layers(seed), random_chain_layers(seed, sampler=2)
        assert [a[:5] for a in v1] == [b[:5] for b in v2]
        a, b = load_chain(f"random:{seed}", 64), load_chain(f"random2:{seed}", 64)
        assert [i.out_shape for i in a.infos] == [i.out_shape for i in b.infos]
    pads = sum(isinstance(m, torch.nn.ZeroPad2d) for m in build_model("random2:66").modules())
    assert pads > 0 and family_of("random2:66") == "random"
    with pytest.raises(NetcutError, match="unknown random-chain sampler"):
        random_chain_layers(1, sampler=3)


def test_random5_chains_have_no_normalization_and_branch():
    from latmodel.graph.random_nets import random_chain_layers

    # sampler 5: sampler 2's shapes, fire / Inception blocks; this one without batch norms, biased convolutions
    v2, v5 = random_chain_layers(125, sampler=2), random_chain_layers(125, sampler=5)
    assert [a[1:5] for a in v2] == [b[1:5] for b in v5]
    assert [b[0] for b in v5] == ["stem", "dwsep", "mbconv", "basic", "dense", "dwsep", "inception", "basic", "fire",
                                  "mbconv", "dense", "pool", "dense", "fire", "inception"]
    model = build_model("random5:125", resolution=96)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert all(c.bias is not None for c in convs) and len(convs) == 38
    # two Inception blocks' stride-1 max-pool branches and the pool block (stride 1 here)
    assert [p.stride for p in model.modules() if isinstance(p, torch.nn.MaxPool2d)] == [1, 1, 1]
    # a strided fire module starts with a 3x3 / 2 max-pool, as SqueezeNet downsamples
    assert [b[0] for b in random_chain_layers(134, sampler=5)][3:5] == ["fire", "inception"]
    fire = build_model("random5:134", resolution=96).features[3].body[0]
    assert isinstance(fire.head[0], torch.nn.MaxPool2d) and fire.head[0].stride == 2 and len(fire.branches) == 2
    # half the networks keep their batch norms (a stream of its own), so "no norm" does not stand for "branches"
    with_norm = [s for s in range(125, 141) if random_chain_layers(s, sampler=5)[0][5]["norm"]]
    assert with_norm == [127, 128, 129, 131, 133, 134, 136, 138, 140]
    normed = build_model("random5:134", resolution=96)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in normed.modules())
    assert normed.features[0][1].bias is None and isinstance(normed.features[0][2], torch.nn.BatchNorm2d)
    assert family_of("random5:125") == "random"
    a = load_chain("random5:125", 64)
    assert a.infos[-1].out_shape == load_chain("random2:125", 64).infos[-1].out_shape


def test_random6_wide_networks():
    from latmodel.graph.random_wide import random_wide_config

    # sampler 6: odd seeds grouped bottlenecks, even seeds wide ViT-like encoders (frozen: tables hold them)
    assert random_wide_config(141) == {"kind": "grouped", "stem": 32, "group": 16, "widths": [32, 64, 128],
                                       "depths": [2, 2, 2], "bottleneck": 1.0, "se": True}
    assert random_wide_config(146) == {"kind": "vit", "dim": 768, "heads": 12, "depth": 3, "mlp": 2, "patch": 16,
                                       "act": "gelu", "norm_first": True, "fused": False, "class_token": True}
    vits = [random_wide_config(s) for s in range(142, 165, 2)]
    # fused and written-out layers, with and without a class token: every combination three times
    assert sorted((c["fused"], c["class_token"]) for c in vits) == sorted([(f, t) for f in (0, 1) for t in (0, 1)] * 3)
    assert family_of("random6:141") == "random"
    grouped = build_model("random6:141", resolution=96)
    groups = sorted({m.groups for m in grouped.modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1})
    assert groups == [2, 4, 8]  # 16 channels a group at 32, 64 and 128 channels: neither dense nor depthwise
    chain = load_chain("random6:142", 128)
    assert [i.name for i in chain.infos] == ["stem", "add", "encoder.layers.0", "encoder.layers.1"]
    assert chain.infos[-1].out_shape == (1, 64, 384)
    layer = build_model("random6:142", resolution=128).encoder.layers[0]  # written out, as torchvision's ViT
    assert isinstance(layer.attention, torch.nn.MultiheadAttention) and isinstance(layer.fc1, torch.nn.Linear)
    tokens = load_chain("random6:154", 128)  # 4 x 4 patches and a class token
    assert tokens.infos[-1].out_shape == (1, 17, 768)


def test_random7_heavy_networks():
    from latmodel.graph.random_wide import random_heavy_config
    from latmodel.measure.corpus import RANDOM7_SEEDS

    # sampler 7: heavy ViT-like encoders (frozen: tables hold them)
    assert random_heavy_config(165) == {"kind": "vit", "dim": 640, "heads": 10, "depth": 6, "mlp": 4, "patch": 32,
                                        "act": "gelu", "norm_first": True, "fused": False, "class_token": True}
    configs = [random_heavy_config(s) for s in RANDOM7_SEEDS]
    weights_mb = [c["depth"] * (4 + 2 * c["mlp"]) * c["dim"] ** 2 * 4 / 1e6 for c in configs]  # the layers' matrices
    assert round(min(weights_mb)) == 118 and round(max(weights_mb)) == 604
    assert sorted((c["fused"], c["class_token"]) for c in configs) == sorted([(f, t) for f in (0, 1) for t in (0, 1)] * 3)
    assert family_of("random7:174") == "random"
    chain = load_chain("random7:174", 96, width=0.25)  # 896 channels at width 1; 2 x 2 patches of 48 px, no class token
    assert [i.name for i in chain.infos][:3] == ["stem", "add", "encoder.layers.0"] and len(chain.infos) == 2 + 6
    assert chain.infos[-1].out_shape == (1, 4, 192)


def test_random8_unit_networks():
    from latmodel.graph.random_units import random_unit_config
    from latmodel.measure.corpus import RANDOM8_SEEDS

    # sampler 8: seeds cycle through the three kinds (frozen: tables hold them)
    assert random_unit_config(189) == {"kind": "shuffle", "stem": 24, "widths": [244, 488, 976], "depths": [4, 2, 2],
                                       "last": 0}
    assert random_unit_config(196) == {"kind": "grouped", "stem": 32, "group": 8, "widths": [64, 136, 304, 680],
                                       "depths": [2, 2, 4, 4], "se": True}
    assert [random_unit_config(s)["kind"] for s in RANDOM8_SEEDS[:3]] == ["shuffle", "grouped", "se_small"]
    # 4, 8, 8 and 16 channels a group in turn: RegNetY's 8 in half the grouped networks
    groups = [random_unit_config(s)["group"] for s in RANDOM8_SEEDS if s % 3 == 1]
    assert sorted(groups) == [4, 4, 8, 8, 8, 8, 16, 16]
    assert family_of("random8:189") == "random"
    shuffle = load_chain("random8:195", 64)  # the stem's max-pool a block of its own, as in ShuffleNetV2; a unit a block
    assert [i.name for i in shuffle.infos] == ["stem.0..stem.2", "stem.3", *(f"trunk.{i}" for i in range(4))]
    assert shuffle.infos[-1].out_shape == (1, 192, 4, 4)  # /2 stem, /2 max-pool, /2 each stage
    net = build_model("random8:196", resolution=64)
    widths = sorted({m.in_channels // m.groups for m in net.modules() if isinstance(m, torch.nn.Conv2d) and 1 < m.groups})
    assert widths == [8]  # grouped 3x3s of 8 channels a group, neither dense nor depthwise
    small = build_model("random8:191", resolution=64)
    assert any(isinstance(m, torch.nn.Hardsigmoid) for m in small.modules())  # squeeze-excitation as modules


def test_unknown_model_lists_close_matches():
    with pytest.raises(UnknownModelError, match="did you mean mobilenet_v2"):
        resolve_spec("mobilenetv2")


def test_factory_models():
    chain = load_chain("tests.tinymodels:tiny", 8)
    assert len(chain) == 4
    with pytest.raises(NetcutError, match="returned str, not a torch.nn.Module"):
        build_model("tests.tinymodels:not_a_module")
    with pytest.raises(UntraceableModelError, match="cannot be traced"):
        load_chain("tests.tinymodels:untraceable", 8)
    with pytest.raises(UnknownModelError, match="cannot import module"):
        build_model("tests.no_such_module:f")


def test_bad_resolution_and_width():
    with pytest.raises(NetcutError, match="cannot be built for 64 px: Input size"):
        build_model("maxvit_t", resolution=64)
    with pytest.raises(NetcutError, match="cannot be built for 112 px: Input shape indivisible by patch size"):
        build_model("vit_b_32", resolution=112)  # torchvision asserts (AssertionError), netcut says what to do
    with pytest.raises(NetcutError, match="resolution must be a positive integer"):
        load_chain("resnet18", 0)
    with pytest.raises(NetcutError, match="allowed widths"):
        build_model("resnet18", width=0.5)
    with pytest.raises(NetcutError, match="'squeezenet1_1' takes inputs of at least 32 px .*got 2 px"):
        load_chain("squeezenet1_1", 2)  # refused before it is built


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "latmodel.cli", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "args,needle",
    [
        (["blocks", "--model", "mobilenetv2"], "did you mean mobilenet_v2"),
        (["blocks", "--model", "tests.tinymodels:not_a_module"], "not a torch.nn.Module"),
        (["blocks", "--model", "tests.tinymodels:untraceable"], "cannot be traced"),
        (["blocks", "--model", "resnet18", "--resolution", "0"], "positive integer"),
        (["blocks", "--model", "resnet18", "--resolution", "-3"], "positive integer"),
        (["profile", "--models", "resnet18", "--out", "/no/such/dir/t.csv"], "does not exist"),
        (["profile", "--models", "resnet18", "--out", "/tmp/netcut-not-written.csv", "--max-spread", "0.5"],
         "--max-spread must be a number >= 1"),
    ],
)
def test_cli_user_errors_are_one_line_exit_2(args, needle):
    proc = _cli(*args)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert needle in lines[0]
    assert "Traceback" not in proc.stderr


def test_cli_blocks_prints_chain():
    proc = _cli("blocks", "--model", "mobilenet_v2")
    assert proc.returncode == 0, proc.stderr
    assert "19 blocks" in proc.stdout
    assert "features.18" in proc.stdout and "1x1280x7x7" in proc.stdout


def test_random3_sampler_draws_both_kinds_and_splits_per_layer():
    from latmodel.graph.random_nets import random_transformer_config

    kinds = {random_transformer_config(seed)["kind"] for seed in range(97, 109)}
    assert kinds == {"vit", "convnext"}
    assert random_transformer_config(97) == random_transformer_config(97)
    for seed in (97, 98, 99, 100):
        chain = load_chain(f"random3:{seed}", 64)
        assert len(chain) >= 3 and family_of(f"random3:{seed}") == "random"
