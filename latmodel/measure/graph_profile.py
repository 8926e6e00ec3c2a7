"""What each block costs inside one compiled graph: ONNX Runtime's node profiler, attributed to blocks.

An exported-graph runtime fuses and re-lays-out the whole network (Conv+ReLU, NCHWc reorders,
attention rewrites), so chaining each block's own session (the table's in-context quantity for
these runtimes) does not measure what a block costs in the deployed graph: on the AVX-512 EPYC
summing those chained blocks put only 19% of prefixes within 10% of their measured latency
(docs/RESULTS.md).  ONNX Runtime's own profiler (``SessionOptions.enable_profiling``) times every
node of the deployed graph; this module runs the whole chain's graph with it and attributes each
node to the block whose name it carries:

* the TorchScript exporter names a node after its module path: ``/blocks.K/...`` is block K
  (:func:`latmodel.measure.runtimes.export_chain_onnx` wraps the chain in ``blocks``);
* a node that writes block K's output tensor is named after it (``blockK``, ``blockK_nchwc``);
* nodes the optimiser creates without a name (``Gelu``, ``Transpose_token_12``, a reorder) belong
  to the block of the named node executed before them (the sequential executor runs nodes in
  topological order, and the chain's blocks run in order); any before the first named node, to
  block 0.

Only the shares are used: block k's in-graph cost is its share of the profiled node time times
the graph's latency measured without the profiler (profiling adds a timestamp per node and
would bias the absolute figure, not the shares within one pass).
Why not sub-graphs or timestamps: a cut-out block is compiled on its own and optimised
differently; the profiler is the only view of the deployed graph from inside.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import tempfile
from typing import Iterable, Sequence

from ..errors import NetcutError

__all__ = ["GraphBlockProfile", "attribute_nodes", "block_of_node", "kernel_events", "node_blocks",
           "node_events", "profile_graph_blocks"]

logger = logging.getLogger(__name__)

#: A node's block from its name: the exporter's module path, or the block's output tensor name.
_BLOCK_NAME = re.compile(r"/blocks\.(\d+)/|^block(\d+)(?:_|$)")
_KERNEL_SUFFIX = "_kernel_time"


def block_of_node(name: str) -> int | None:
    """The block a node's name places it in, or ``None`` (a node the optimiser named)."""
    m = _BLOCK_NAME.search(name)
    if m is None:
        return None
    return int(m.group(1) if m.group(1) is not None else m.group(2))


@dataclasses.dataclass(frozen=True)
class GraphBlockProfile:
    """Profiled node time of each block of one graph (µs summed over ``runs`` passes).

    ``unnamed_us``: the part attributed by execution order (no block in the node's name).
    """

    block_us: tuple[float, ...]
    unnamed_us: float
    runs: int
    nodes: int

    @property
    def shares(self) -> tuple[float, ...]:
        """Each block's share of the graph's profiled node time."""
        total = sum(self.block_us)
        if total <= 0:
            raise NetcutError("the graph profile holds no node time; run it for more passes")
        return tuple(b / total for b in self.block_us)

    def block_ms(self, graph_ms: float) -> tuple[float, ...]:
        """Each block's in-graph latency, ``graph_ms`` (measured without the profiler) split by its share."""
        return tuple(float(graph_ms) * s for s in self.shares)

    def to_dict(self) -> dict:
        return {"block_us": list(self.block_us), "unnamed_us": self.unnamed_us, "runs": self.runs,
                "nodes": self.nodes}

    @classmethod
    def from_dict(cls, d: dict) -> "GraphBlockProfile":
        return cls(block_us=tuple(float(v) for v in d["block_us"]), unnamed_us=float(d["unnamed_us"]),
                   runs=int(d["runs"]), nodes=int(d["nodes"]))


def kernel_events(events: Iterable[dict]) -> list[tuple[str, dict]]:
    """``(node name, event)`` of every node-kernel event of an ONNX Runtime profile, in execution order (the
    event's ``args`` hold the node's op type, shapes and bytes)."""
    return [(e["name"][: -len(_KERNEL_SUFFIX)], e) for e in events
            if e.get("cat") == "Node" and e.get("name", "").endswith(_KERNEL_SUFFIX)]


def node_events(events: Iterable[dict]) -> list[tuple[str, float]]:
    """``(node name, µs)`` of every node-kernel event of an ONNX Runtime profile, in execution order."""
    return [(name, float(e.get("dur", 0.0))) for name, e in kernel_events(events)]


def node_blocks(names: Iterable[str]) -> list[int]:
    """The block of every node, ``names`` in execution order (module docstring for the rules): the one its name
    carries, else the block of the named node run before it (0 before the first)."""
    out, current = [], 0
    for name in names:
        k = block_of_node(name)
        current = current if k is None else k
        out.append(current)
    return out


def attribute_nodes(nodes: Sequence[tuple[str, float]], n_blocks: int, *, runs: int = 1) -> GraphBlockProfile:
    """Sum node times by block (module docstring for the rules); ``nodes`` in execution order."""
    if n_blocks < 1:
        raise NetcutError(f"a graph profile needs at least one block; got n_blocks={n_blocks}")
    block_us = [0.0] * n_blocks
    unnamed = 0.0
    for (name, us), k in zip(nodes, node_blocks(name for name, _ in nodes)):
        if k >= n_blocks:
            raise NetcutError(f"profiled node {name!r} names block {k}, but the graph has blocks 0..{n_blocks - 1}; "
                              "profile the graph the blocks were exported from")
        if block_of_node(name) is None:
            unnamed += us
        block_us[k] += us
    return GraphBlockProfile(block_us=tuple(block_us), unnamed_us=unnamed, runs=int(runs), nodes=len(nodes))


def profile_graph_blocks(model: bytes, x, n_blocks: int, *, threads: int = 1, runs: int = 30,
                         warmup: int = 5) -> GraphBlockProfile:
    """Run the graph ``model`` (ONNX bytes, input ``x`` as numpy) under ONNX Runtime's profiler.

    The session has the measuring sessions' settings (:func:`latmodel.measure.loaders.ort_session_options`:
    fixed threads, sequential, every optimisation); the first ``warmup`` passes are profiled but not kept.
    """
    import onnxruntime as ort

    from .loaders import ort_session_options

    if runs < 1:
        raise NetcutError(f"a graph profile needs at least one run; got runs={runs}")
    with tempfile.TemporaryDirectory(prefix="netcut-ortprof-") as tmp:
        opts = ort_session_options(threads)
        opts.enable_profiling = True
        opts.profile_file_prefix = os.path.join(tmp, "profile")
        session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: x}
        # The profile holds the warm-up passes too: only the last ``runs`` passes' nodes are kept below.
        for _ in range(warmup + runs):
            session.run(None, feed)
        path = session.end_profiling()
        with open(path, encoding="utf-8") as f:
            events = json.load(f)
    nodes = node_events(events)
    per_pass = len(nodes) // (warmup + runs)
    if per_pass == 0 or per_pass * (warmup + runs) != len(nodes):
        raise NetcutError(f"the ONNX Runtime profile holds {len(nodes)} node events, not a multiple of the "
                          f"{warmup + runs} passes run; cannot attribute them to blocks")
    return attribute_nodes(nodes[warmup * per_pass:], n_blocks, runs=runs)

