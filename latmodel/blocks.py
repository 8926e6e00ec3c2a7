"""Cut points: a network as an ordered chain of blocks.

A *cut point* is a place in the network's dataflow where exactly one tensor is
live: everything before it is a prefix whose single output feeds the rest.  We
find cut points generically from a ``torch.fx`` graph, then group the nodes
between them into *blocks* at the granularity of the module hierarchy:

1. Trace with torchvision's :class:`NodePathTracer` (so every node knows the
   module it came from; torchvision.ops layers stay leaves, as in
   ``create_feature_extractor``).
2. A node's *block key* is the shortest module path that is not a plain
   container (``nn.Sequential`` or a subclass that keeps its ``forward``,
   ``nn.ModuleList``, ``nn.ModuleDict``).  A boundary between two nodes is a
   block boundary when it is a cut point and the block keys differ.
3. Blocks with no compute of their own (batch norm, activations, dropout, adds)
   are merged into the block before them, so the ResNet stem is one block, not
   ``conv1``, ``bn1``, ``relu``.
4. The classification head starts at the first block that pools globally,
   flattens, or runs a linear layer (or at the model's registered ``head_start``).

We do not use ``create_feature_extractor`` to build the blocks themselves: it
returns prefixes that start at the network input, while the features, the
profiler and the predictor need each block as a module that takes the previous
block's output.  It is what :meth:`BlockChain.prefix` is equivalent to.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any, Sequence

from .errors import NetcutError, UntraceableModelError
from .fileio import first_line

__all__ = ["BlockInfo", "BlockChain", "split_model", "load_chain"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class BlockInfo:
    """One block of a chain: position, name (module path) and tensor shapes."""

    index: int
    name: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    n_nodes: int

    def to_dict(self) -> dict:
        return {
            "index": self.index,
            "name": self.name,
            "in_shape": list(self.in_shape),
            "out_shape": list(self.out_shape),
            "n_nodes": self.n_nodes,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "BlockInfo":
        return cls(
            index=int(d["index"]),
            name=str(d["name"]),
            in_shape=tuple(int(v) for v in d["in_shape"]),
            out_shape=tuple(int(v) for v in d["out_shape"]),
            n_nodes=int(d["n_nodes"]),
        )


@dataclasses.dataclass
class BlockChain:
    """A network split into feature blocks (run in order) and a head.

    ``blocks[k]`` takes ``blocks[k-1]``'s output; running all of them reproduces
    the network's feature map exactly, and ``head`` (if any) turns it into the
    network's output.
    """

    model_name: str
    resolution: int
    batch_size: int
    blocks: list  # list[torch.fx.GraphModule]
    infos: list[BlockInfo]
    head: Any = None  # torch.fx.GraphModule | None

    def __len__(self) -> int:
        return len(self.blocks)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.infos[0].in_shape

    def forward_features(self, x):
        for block in self.blocks:
            x = block(x)
        return x

    def forward(self, x):
        x = self.forward_features(x)
        return self.head(x) if self.head is not None else x

    def prefix(self, k: int):
        """Blocks ``0..k`` as one ``nn.Sequential`` (what a TRN cut after block k runs)."""
        import torch.nn as nn

        if not 0 <= k < len(self.blocks):
            raise NetcutError(f"cut index {k} is out of range; {self.model_name} has blocks 0..{len(self.blocks) - 1}")
        return nn.Sequential(*self.blocks[: k + 1])

    def summary(self) -> list[dict]:
        return [info.to_dict() for info in self.infos]


# --------------------------------------------------------------------------- tracing

_CONTAINER_TYPES: tuple = ()


def _is_container(module) -> bool:
    import torch.nn as nn

    if isinstance(module, (nn.ModuleList, nn.ModuleDict)):
        return type(module).forward is nn.Module.forward or isinstance(module, nn.ModuleList)
    return isinstance(module, nn.Sequential) and type(module).forward is nn.Sequential.forward


def _LEAF_BASES() -> tuple:
    import torch.nn as nn

    return (nn.modules.conv._ConvNd, nn.Linear, nn.modules.batchnorm._BatchNorm,
            nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd)


def _make_tracer():
    import inspect

    import torchvision
    from torchvision.models.feature_extraction import NodePathTracer

    class _BlockTracer(NodePathTracer):
        """NodePathTracer that also stores each node's module path in ``node.meta``."""

        def create_proxy(self, kind, target, args, kwargs, name=None, type_expr=None, *rest):
            proxy = super().create_proxy(kind, target, args, kwargs, name, type_expr, *rest)
            proxy.node.meta["module_path"] = target if kind == "call_module" else self.current_module_qualname
            return proxy

        def is_leaf_module(self, m, module_qualname: str) -> bool:
            # Subclasses of standard layers (e.g. EfficientNet-Lite's 'same'-padding
            # Conv2d) stay single module calls, so hooks and features see a convolution.
            return super().is_leaf_module(m, module_qualname) or isinstance(m, _LEAF_BASES())

    leaf = [
        obj
        for _, obj in inspect.getmembers(torchvision.ops)
        if inspect.isclass(obj) and issubclass(obj, __import__("torch").nn.Module)
    ]
    import math

    return _BlockTracer(leaf_modules=leaf, autowrap_modules=(math, torchvision.ops))


def _trace(model, name: str):
    import torch.fx as fx

    tracer = _make_tracer()
    try:
        graph = tracer.trace(model)
    except Exception as exc:  # fx raises many types; all mean "cannot trace"
        where = tracer.current_module_qualname or "<top level>"
        first = first_line(exc)
        raise UntraceableModelError(
            f"model {name!r} cannot be traced by torch.fx at module {where!r}: {first}. "
            "Data-dependent control flow is not supported; wrap that part in a leaf module "
            "or give a factory that returns a traceable network"
        ) from None
    return fx.GraphModule(tracer.root, graph, class_name=type(model).__name__)


_HEAVY_FUNCTIONS = {
    "conv1d", "conv2d", "conv3d", "linear", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d",
    "adaptive_max_pool2d", "cat", "matmul", "bmm", "addmm", "mean", "flatten", "interpolate",
}
_HEAD_FUNCTIONS = {"flatten", "linear", "addmm"}


def _target_name(node) -> str:
    t = node.target
    return t if isinstance(t, str) else getattr(t, "__name__", str(t))


def _is_heavy(node, modules: dict) -> bool:
    import torch.nn as nn

    if node.op == "call_module":
        m = modules[node.target]
        if isinstance(m, (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
                          nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd)):
            return True
        return any(p.dim() >= 2 for p in m.parameters())
    if node.op in ("call_function", "call_method"):
        return _target_name(node) in _HEAVY_FUNCTIONS
    return False


def _is_head_node(node, modules: dict) -> bool:
    """A node that only a classifier head runs: linear layers and flattening."""
    import torch.nn as nn

    if node.op == "call_module":
        return isinstance(modules[node.target], (nn.Linear, nn.Flatten))
    if node.op in ("call_function", "call_method"):
        return _target_name(node) in _HEAD_FUNCTIONS
    return False


def _pools_globally(in_shape, out_shape) -> bool:
    """True when a block turns an H x W map (H*W > 1) into 1 x 1 (or drops the spatial dims)."""
    if out_shape is None or len(out_shape) != 4:
        return True
    return out_shape[2] * out_shape[3] == 1 and in_shape is not None and len(in_shape) == 4 and in_shape[2] * in_shape[3] > 1


def _adaptive_to_1x1(seg, modules) -> bool:
    """The block ends in a global pool (adaptive pooling or a spatial mean) with a 1 x 1 output."""
    import torch.nn as nn

    shape = _tensor_shape(seg[-1])
    if shape is None or len(shape) != 4 or shape[2] * shape[3] != 1:
        return False
    for n in seg:
        if n.op == "call_module" and isinstance(modules[n.target], (nn.modules.pooling._AdaptiveAvgPoolNd,
                                                                     nn.modules.pooling._AdaptiveMaxPoolNd)):
            return True
        if n.op in ("call_function", "call_method") and _target_name(n) in ("adaptive_avg_pool2d", "adaptive_max_pool2d", "mean"):
            return True
    return False


def _tensor_shape(node):
    from torch.fx.passes.shape_prop import TensorMetadata

    meta = node.meta.get("tensor_meta")
    return tuple(meta.shape) if isinstance(meta, TensorMetadata) else None


def _block_key(node, modules: dict) -> str:
    path = node.meta.get("module_path", "") or ""
    if not path:
        return f"<top>.{node.name}"
    parts = path.split(".")
    for i in range(1, len(parts) + 1):
        prefix = ".".join(parts[:i])
        m = modules.get(prefix)
        if m is None or not _is_container(m):
            return prefix
    return path


def split_model(
    model,
    resolution: int = 224,
    *,
    name: str | None = None,
    batch_size: int = 1,
    in_channels: int = 3,
    head_start: str | None = None,
) -> BlockChain:
    """Split ``model`` into a :class:`BlockChain` of feature blocks and a head.

    ``resolution`` is the square input size in pixels; shapes are recorded for a
    ``batch_size x in_channels x resolution x resolution`` input.
    """
    import torch
    import torch.fx as fx
    from torch.fx.passes.shape_prop import ShapeProp

    name = name or type(model).__name__
    if not isinstance(resolution, int) or isinstance(resolution, bool) or resolution <= 0:
        raise NetcutError(f"resolution must be a positive integer number of pixels, got {resolution!r}")
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise NetcutError(f"batch size must be a positive integer, got {batch_size!r}")
    model = model.eval()
    gm = _trace(model, name)
    example = torch.zeros(batch_size, in_channels, resolution, resolution)
    try:
        with torch.no_grad():
            ShapeProp(gm).propagate(example)
    except Exception as exc:
        first = first_line(exc)
        raise NetcutError(
            f"model {name!r} does not run on a {batch_size}x{in_channels}x{resolution}x{resolution} input: {first}. "
            "Use a larger --resolution or check the model's expected input"
        ) from None

    # Container checks need the original module types: GraphModule replaces the
    # intermediate levels of the hierarchy with plain nn.Module instances.
    modules = dict(model.named_modules())
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise NetcutError(f"model {name!r} takes {len(placeholders)} inputs; only single-input networks can be cut")
    nodes = [n for n in gm.graph.nodes if n.op not in ("placeholder", "output", "get_attr")]
    out_node = next(n for n in gm.graph.nodes if n.op == "output")
    index = {n: i for i, n in enumerate(nodes)}
    index[placeholders[0]] = -1

    # Liveness sweep: a value is live from its definition to its last use.
    last_use = {}
    for n in [placeholders[0], *nodes]:
        uses = [index[u] for u in n.users if u in index]
        if out_node in n.users:
            uses.append(len(nodes))
        last_use[n] = max(uses) if uses else index[n]
    ends_at: dict[int, int] = {}
    for n, last in last_use.items():
        if last > index[n]:
            ends_at[last] = ends_at.get(last, 0) + 1
    live = 1 if last_use[placeholders[0]] > -1 else 0
    cut_after: list[bool] = []
    for i, n in enumerate(nodes):
        live -= ends_at.get(i, 0)
        if last_use[n] > i:
            live += 1
        cut_after.append(live == 1 and last_use[n] > i and _tensor_shape(n) is not None)

    keys = [_block_key(n, modules) for n in nodes]
    raw: list[list] = [[]]
    for i, n in enumerate(nodes):
        raw[-1].append(n)
        if i + 1 < len(nodes) and cut_after[i] and keys[i] != keys[i + 1]:
            raw.append([])

    # Merge blocks without compute of their own into the one before (or after, for the first).
    merged: list[list] = []
    for seg in raw:
        if merged and not any(_is_heavy(n, modules) for n in seg):
            merged[-1].extend(seg)
        else:
            merged.append(list(seg))
    if len(merged) > 1 and not any(_is_heavy(n, modules) for n in merged[0]):
        merged[1] = merged[0] + merged[1]
        merged.pop(0)

    # The head starts at the first block that pools globally / flattens / is linear.
    head_at = len(merged)
    for b, seg in enumerate(merged):
        first_key = _block_key(seg[0], modules)
        if head_start is not None and (first_key == head_start or first_key.startswith(head_start + ".")):
            head_at = b
            break
        in_shape = _tensor_shape(merged[b - 1][-1]) if b else tuple(example.shape)
        has_weights = any(n.op == "call_module" and any(p.dim() >= 2 for p in modules[n.target].parameters())
                          for n in seg)
        if any(_is_head_node(n, modules) for n in seg) or (
            not has_weights and (_pools_globally(in_shape, _tensor_shape(seg[-1])) or _adaptive_to_1x1(seg, modules))
        ) or len(_tensor_shape(seg[-1]) or ()) != 4:
            head_at = b
            break
    if head_at == 0:
        raise NetcutError(
            f"model {name!r} has no feature blocks before its head; it must contain at least one "
            "convolutional block that produces an N x C x H x W feature map"
        )

    blocks, infos = [], []
    prev = placeholders[0]
    for b, seg in enumerate(merged[:head_at]):
        gmod = _segment_module(gm, prev, seg, seg[-1])
        keys_in = [_block_key(n, modules) for n in seg if not _block_key(n, modules).startswith("<top>")]
        label = _label(keys_in) or seg[-1].name
        infos.append(
            BlockInfo(
                index=b,
                name=label,
                in_shape=_tensor_shape(prev) or tuple(example.shape),
                out_shape=_tensor_shape(seg[-1]),
                n_nodes=len(seg),
            )
        )
        blocks.append(gmod)
        prev = seg[-1]
    head = None
    if head_at < len(merged):
        head_nodes = [n for seg in merged[head_at:] for n in seg]
        head = _segment_module(gm, prev, head_nodes, out_node.args[0])
    logger.debug("split %s at %dpx into %d blocks", name, resolution, len(blocks))
    return BlockChain(model_name=name, resolution=resolution, batch_size=batch_size,
                      blocks=blocks, infos=infos, head=head)


def _label(keys: Sequence[str]) -> str:
    ordered = list(dict.fromkeys(keys))
    if not ordered:
        return ""
    return ordered[0] if len(ordered) == 1 else f"{ordered[0]}..{ordered[-1]}"


def _segment_module(gm, input_node, seg_nodes, output_arg):
    """Copy ``seg_nodes`` into a new GraphModule whose single input stands for ``input_node``."""
    import torch.fx as fx

    graph = fx.Graph()
    env: dict = {input_node: graph.placeholder("x")}

    def lookup(a):
        if a in env:
            return env[a]
        if a.op == "get_attr":
            env[a] = graph.node_copy(a)
            return env[a]
        raise RuntimeError(f"node {a.name} used by a block is defined outside it (not a cut point)")

    for n in seg_nodes:
        env[n] = graph.node_copy(n, lookup)
    graph.output(fx.node.map_arg(output_arg, lookup))
    module = fx.GraphModule(gm, graph, class_name="Block")
    return module.eval()


def load_chain(name: str, resolution: int = 224, *, width: float = 1.0, batch_size: int = 1, model=None) -> BlockChain:
    """Build network ``name`` (see :func:`latmodel.zoo.build_model`) and split it.

    Pass ``model`` to split an already built (e.g. pretrained) instance of ``name``.
    """
    from .zoo import build_model, resolve_spec

    spec = resolve_spec(name)
    if model is None:
        model = build_model(name, width=width, resolution=resolution)
    return split_model(model, resolution, name=name, batch_size=batch_size, head_start=spec.head_start)
