"""The ONNX Runtime node profile attributed to blocks: naming rules on synthetic profiles, one real tiny graph."""
from __future__ import annotations

import importlib.util

import pytest

from latmodel.errors import NetcutError
from latmodel.measure.graph_profile import (GraphBlockProfile, attribute_nodes, block_of_node, node_events,
                                            profile_graph_blocks)

HAS_ORT = importlib.util.find_spec("onnx") is not None and importlib.util.find_spec("onnxruntime") is not None


def test_block_of_node_reads_module_paths_and_output_names():
    assert block_of_node("/blocks.12/conv.1/Conv") == 12
    assert block_of_node("/blocks.0/features.0.0/Conv_output_0_nchwc") == 0
    assert block_of_node("block3_nchwc") == 3 and block_of_node("block7") == 7
    assert block_of_node("Transpose_token_283") is None and block_of_node("ReorderOutput") is None
    assert block_of_node("myblock3") is None


def test_unnamed_nodes_go_to_the_block_run_before_them():
    nodes = [("ReorderInput", 4.0), ("/blocks.0/Conv", 10.0), ("Gelu", 6.0), ("block1_nchwc", 20.0),
             ("Transpose_token_1", 5.0), ("/blocks.2/Add", 3.0), ("ReorderOutput", 2.0)]
    p = attribute_nodes(nodes, 3, runs=2)
    assert p.block_us == (20.0, 25.0, 5.0) and p.unnamed_us == 17.0 and p.nodes == 7 and p.runs == 2
    assert p.shares == (0.4, 0.5, 0.1)
    assert p.block_ms(3.0) == pytest.approx((1.2, 1.5, 0.3))
    assert GraphBlockProfile.from_dict(p.to_dict()) == p


def test_a_node_naming_a_block_beyond_the_chain_is_refused():
    with pytest.raises(NetcutError, match=r"names block 5, but the graph has blocks 0..2"):
        attribute_nodes([("/blocks.5/Conv", 1.0)], 3)
    with pytest.raises(NetcutError, match="no node time"):
        attribute_nodes([], 2).shares


def test_node_events_keeps_kernel_times_in_order():
    events = [{"cat": "Session", "name": "model_run", "dur": 100},
              {"cat": "Node", "name": "/blocks.0/Conv_fence_before", "dur": 0},
              {"cat": "Node", "name": "/blocks.0/Conv_kernel_time", "dur": 7},
              {"cat": "Node", "name": "Gelu_kernel_time", "dur": 3}]
    assert node_events(events) == [("/blocks.0/Conv", 7.0), ("Gelu", 3.0)]


@pytest.mark.skipif(not HAS_ORT, reason="onnxruntime is not installed (pip install 'netcut[runtimes]')")
def test_a_tiny_chain_profiles_every_block(tmp_path, monkeypatch):
    import torch
    import torch.nn as nn

    monkeypatch.setenv("NETCUT_CACHE_DIR", str(tmp_path / "cache"))
    torch.manual_seed(0)
    blocks = [nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU()), nn.Sequential(nn.Conv2d(8, 16, 3, stride=2)),
              nn.Sequential(nn.Conv2d(16, 16, 1), nn.Sigmoid())]
    from latmodel.measure.runtimes import prepare_chain

    ready = prepare_chain("onnxruntime", blocks, torch.randn(1, 3, 32, 32), compile_blocks=False)
    assert ready.blocks == () and len(ready.prefixes) == 3
    p = profile_graph_blocks(ready.graph, ready.x, 3, runs=3)
    assert len(p.block_us) == 3 and all(b > 0 for b in p.block_us) and p.runs == 3
    assert sum(p.shares) == pytest.approx(1.0)
