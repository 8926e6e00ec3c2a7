"""scripts/ort_node_costs.py: a deployed node's multiply-adds from its profiled shapes."""
from __future__ import annotations

from scripts import ort_node_costs as script  # the repository root is on sys.path (conftest.py)


def test_conv_multiply_adds_from_weight_and_output_shapes():
    stem = script.node_macs("Conv", [[1, 3, 96, 96], [32, 3, 3, 3], [32]], [[1, 32, 48, 48]])
    assert stem == 1 * 32 * 48 * 48 * 3 * 3 * 3 == 1_990_656
    depthwise = script.node_macs("FusedConv", [[1, 32, 48, 48], [32, 1, 3, 3], [32]], [[1, 32, 48, 48]])
    assert depthwise == 663_552


def test_matrix_product_multiply_adds_use_the_inner_dimension():
    assert script.node_macs("MatMul", [[1, 49, 96], [96, 384]], [[1, 49, 384]]) == 49 * 384 * 96
    assert script.node_macs("Gemm", [[1, 768], [1000, 768], [1000]], [[1, 1000]]) == 768_000


def test_nodes_without_a_product_count_none():
    assert script.node_macs("Relu", [[1, 32, 48, 48]], [[1, 32, 48, 48]]) == 0.0
    assert script.node_macs("Conv", [[1, 3, 8, 8]], []) == 0.0
    assert script.node_macs("ReorderInput", [[1, 32, 48, 48]], [[1, 32, 48, 48]]) == 0.0
