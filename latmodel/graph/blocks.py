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
   ``nn.ModuleList``, ``nn.ModuleDict``) or a transformer encoder (a module
   holding a list of attention layers; ``nn.TransformerEncoder`` is traced
   through without masks).  A boundary between two nodes is a block boundary
   when it is a cut point and the block keys differ: between stages, between
   encoder layers (the token tensor is then the one live value).
3. Blocks with no compute of their own (batch norm, activations, dropout, adds)
   are merged into the block before them, so the ResNet stem is one block, not
   ``conv1``, ``bn1``, ``relu``.
4. The classification head is found from the output backwards: the trailing
   blocks that hold only norm, dropout, linear, activation, pooling and reshape
   nodes, from the first of them that pools globally, flattens or pools a token
   (or from the model's registered ``head_start``).  Linear layers inside
   feature blocks (transformer MLPs, channels-last ConvNeXt blocks) stay features.
5. Every split is checked: the fvcore flops of the blocks plus the head must
   equal the whole network's within :data:`FLOP_TOLERANCE`, or the network is
   refused (:class:`UncoveredModelError`, one line) -- never a partial chain.

We do not use ``create_feature_extractor`` to build the blocks themselves: it
returns prefixes that start at the network input, while the features, the
profiler and the predictor need each block as a module that takes the previous
block's output.  It is what :meth:`BlockChain.prefix` is equivalent to.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any, Sequence

from ..errors import NetcutError
from ..fileio import first_line
from .tracing import trace_model

__all__ = ["BlockInfo", "BlockChain", "UncoveredModelError", "split_model", "load_chain", "FLOP_TOLERANCE"]

logger = logging.getLogger(__name__)

#: The blocks' fvcore flops plus the head's must equal the whole network's within this fraction.
FLOP_TOLERANCE = 0.005


class UncoveredModelError(NetcutError):
    """A network whose blocks and head do not account for all of its computation."""


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

def _is_container(module) -> bool:
    import torch.nn as nn

    if isinstance(module, (nn.ModuleList, nn.ModuleDict)):
        return type(module).forward is nn.Module.forward or isinstance(module, nn.ModuleList)
    return isinstance(module, nn.Sequential) and type(module).forward is nn.Sequential.forward


def _holds_attention_layers(module) -> bool:
    """A transformer encoder: a module with a list of two or more layers that each run attention.

    Its layers become blocks of their own (the token tensor is the one live value
    between them), like the layers of a plain ``nn.Sequential``.
    """
    import torch.nn as nn

    for child in module.children():
        if isinstance(child, (nn.Sequential, nn.ModuleList)) and len(child) >= 2 and all(
            any(isinstance(m, nn.MultiheadAttention) for m in layer.modules()) for layer in child
        ):
            return True
    return False


_HEAVY_FUNCTIONS = {
    "conv1d", "conv2d", "conv3d", "linear", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d",
    "adaptive_max_pool2d", "cat", "matmul", "bmm", "addmm", "mean", "flatten", "interpolate",
}
#: Functions and methods a classifier head may run after its pooling (besides the modules in _head_modules).
_HEAD_FUNCTIONS = {
    "flatten", "linear", "addmm", "dropout", "relu", "relu_", "gelu", "silu", "hardswish", "sigmoid", "tanh",
    "layer_norm", "batch_norm", "mean", "adaptive_avg_pool2d", "adaptive_max_pool2d", "getitem", "getattr",
    "size", "permute", "reshape", "view", "squeeze", "contiguous", "transpose",
}
#: Global / token pooling: where a head starts (adaptive pools count only when they pool to 1 x 1).
_POOL_FUNCTIONS = {"flatten", "mean", "adaptive_avg_pool2d", "adaptive_max_pool2d"}


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


def _head_modules() -> tuple:
    import torch.nn as nn
    import torchvision

    return (nn.Linear, nn.Flatten, nn.Identity, nn.modules.dropout._DropoutNd, nn.modules.batchnorm._BatchNorm,
            nn.LayerNorm, nn.GroupNorm, nn.modules.instancenorm._InstanceNorm, nn.ReLU, nn.ReLU6, nn.Hardswish,
            nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Hardsigmoid, nn.LeakyReLU, nn.ELU, nn.Hardtanh, nn.Mish,
            nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd,
            torchvision.ops.misc.Permute)


def _head_allowed(node, modules: dict) -> bool:
    """A node a classifier head may hold: norm, dropout, linear, activation, pooling, flatten, reshapes."""
    if node.op == "call_module":
        return isinstance(modules[node.target], _head_modules())
    if node.op in ("call_function", "call_method"):
        return _target_name(node) in _HEAD_FUNCTIONS
    return True


def _pools(node, modules: dict) -> bool:
    """Global pooling, flattening or token pooling (``x[:, 0]``): the node a head starts at."""
    import torch.nn as nn

    out = _tensor_shape(node)
    ins = [a for a in node.all_input_nodes if _tensor_shape(a) is not None]
    fewer_dims = out is not None and bool(ins) and len(out) < len(_tensor_shape(ins[0]))
    to_1x1 = out is not None and (len(out) != 4 or out[2] * out[3] == 1)
    if node.op == "call_module":
        m = modules[node.target]
        if isinstance(m, nn.Flatten):
            return True
        return to_1x1 and isinstance(m, (nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd))
    if node.op in ("call_function", "call_method"):
        name = _target_name(node)
        if name in ("adaptive_avg_pool2d", "adaptive_max_pool2d"):
            return to_1x1
        return name in _POOL_FUNCTIONS or _pools_token(node) or (name in ("view", "reshape", "squeeze") and fewer_dims)
    return False


def _pools_token(node) -> bool:
    """Indexing that drops a dimension of a token tensor: ``x[:, 0]`` (a class token) and the like."""
    if node.op != "call_function" or _target_name(node) != "getitem":
        return False
    out = _tensor_shape(node)
    src = _tensor_shape(node.args[0]) if node.args and hasattr(node.args[0], "meta") else None
    return out is not None and src is not None and len(out) < len(src)


def _head_start(merged: list, modules: dict, head_start: str | None) -> int:
    """Index of the first head block: found from the output backwards.

    The head is the longest run of trailing blocks that hold only head nodes
    (norm, dropout, linear, activations, pooling, reshapes), starting at the first
    of them that pools globally, flattens or pools a token.  Linear layers inside
    feature blocks (transformer MLPs, channels-last ConvNeXt blocks) therefore stay
    features.  A registered ``head_start`` module overrides the rule.
    """
    if head_start is not None:
        for b, seg in enumerate(merged):
            key = _block_key(seg[0], modules)
            if key == head_start or key.startswith(head_start + "."):
                return b
    tail = len(merged)
    while tail > 0 and all(_head_allowed(n, modules) for n in merged[tail - 1]):
        tail -= 1
    for b in range(tail, len(merged)):
        if any(_pools(n, modules) for n in merged[b]):
            return b
    return len(merged)


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
        if m is None or not (_is_container(m) or _holds_attention_layers(m)):
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
    check_coverage: bool = True,
) -> BlockChain:
    """Split ``model`` into a :class:`BlockChain` of feature blocks and a head.

    ``resolution`` is the square input size in pixels; shapes are recorded for a
    ``batch_size x in_channels x resolution x resolution`` input.  ``check_coverage`` False skips the FLOP
    coverage check (two more fvcore traces), for a structure whose split passed it before with this code
    (:func:`latmodel.graph.feature_cache.has_rows`).
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
    gm = trace_model(model, name)
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
    # Token pooling (``x[:, 0]``) computes nothing but is where a head starts, so it stays apart.
    merged: list[list] = []
    for seg in raw:
        if merged and not any(_is_heavy(n, modules) or _pools_token(n) for n in seg):
            merged[-1].extend(seg)
        else:
            merged.append(list(seg))
    if len(merged) > 1 and not any(_is_heavy(n, modules) for n in merged[0]):
        merged[1] = merged[0] + merged[1]
        merged.pop(0)

    head_at = _head_start(merged, modules, head_start)
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
    if check_coverage:
        _check_coverage(name, model, example, blocks, head)
    logger.debug("split %s at %dpx into %d blocks", name, resolution, len(blocks))
    return BlockChain(model_name=name, resolution=resolution, batch_size=batch_size,
                      blocks=blocks, infos=infos, head=head)


def _check_coverage(name: str, model, example, blocks: list, head) -> None:
    """Refuse a split whose blocks plus head do not count the whole network's fvcore flops.

    A block boundary in the wrong place can silently drop or duplicate computation
    (or a cut can leave most of a network in its head); a partial chain would
    give a deadline search a wrong answer, so we raise instead.
    """
    import torch
    import torch.nn as nn

    from .features import flops_by_module

    try:
        with torch.no_grad():
            whole = flops_by_module(model, example)
            # One trace of the whole chain; its module paths are "<part>.<original path>".
            chain = flops_by_module(nn.Sequential(*blocks, *([head] if head is not None else [])), example)
    except NetcutError:
        raise
    except Exception as exc:  # fvcore's tracer and handles raise many types
        raise UncoveredModelError(
            f"model {name!r}: fvcore cannot count its flops, so its split cannot be checked: {first_line(exc)}"
        ) from None
    parts: dict[str, int] = {"": chain.get("", 0)}
    for path, count in chain.items():
        _, _, inner = path.partition(".")
        if inner:
            parts[inner] = parts.get(inner, 0) + count
    total, counted = whole.get("", 0), parts[""]
    if total == 0 or abs(counted - total) <= FLOP_TOLERANCE * total:
        return
    slack = FLOP_TOLERANCE * total
    # The shallowest modules whose flops the blocks and head miss (or count twice).
    missing = [p for p in whole if p and abs(whole[p] - parts.get(p, 0)) > slack]
    shallowest = [p for p in missing if not any(p.startswith(q + ".") for q in missing if q != p)]
    where = ", ".join(f"{p} ({whole[p] - parts.get(p, 0):+,})" for p in shallowest[:4]) or "operators outside modules"
    raise UncoveredModelError(
        f"model {name!r} cannot be split into blocks that cover it: its {len(blocks)} blocks and head count "
        f"{counted:,} of its {total:,} fvcore flops ({100.0 * counted / total:.1f}%); not covered: {where}. "
        "Give a network whose single-tensor cut points separate all of its computation"
    )


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


def load_chain(name: str, resolution: int = 224, *, width: float = 1.0, batch_size: int = 1, model=None,
               check_coverage: bool = True) -> BlockChain:
    """Build network ``name`` (see :func:`latmodel.graph.zoo.build_model`) and split it.

    Pass ``model`` to split an already built (e.g. pretrained) instance of ``name``; ``check_coverage``: see
    :func:`split_model`.
    """
    from .zoo import build_model, resolve_spec

    spec = resolve_spec(name)
    if model is None:
        model = build_model(name, width=width, resolution=resolution)
    return split_model(model, resolution, name=name, batch_size=batch_size, head_start=spec.head_start,
                       check_coverage=check_coverage)
