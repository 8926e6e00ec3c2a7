"""Tracing a network with torch.fx for the block splitter (:mod:`latmodel.graph.blocks`): torchvision's
``NodePathTracer`` (every node knows its module; torchvision.ops layers stay leaves, as in
``create_feature_extractor``), subclasses of standard layers kept as single calls, and
``nn.TransformerEncoder`` traced through without masks so that its layers are cut points."""
from __future__ import annotations

from ..errors import UntraceableModelError
from ..fileio import first_line

__all__ = ["trace_model"]


def _LEAF_BASES() -> tuple:
    import torch.nn as nn

    return (nn.modules.conv._ConvNd, nn.Linear, nn.modules.batchnorm._BatchNorm,
            nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd)


def _encoder_forward(tracer, encoder):
    """``nn.TransformerEncoder.forward`` without masks, as fx can trace it: the layers in turn, then the norm.

    The real forward branches on its inputs (nested tensors, mask checks), which fx
    cannot trace; with no masks it computes exactly this.  With masks the encoder
    stays one module call (one block).
    """

    def traced(src, mask=None, src_key_padding_mask=None, is_causal=None):
        if mask is not None or src_key_padding_mask is not None:
            kwargs = {"mask": mask, "src_key_padding_mask": src_key_padding_mask, "is_causal": is_causal}
            return tracer.create_proxy("call_module", tracer.path_of_module(encoder), (src,), kwargs)
        out = src
        for layer in encoder.layers:
            out = layer(out)
        return encoder.norm(out) if encoder.norm is not None else out

    return traced


def _make_tracer():
    import inspect

    import torch
    import torchvision
    from torchvision.models.feature_extraction import NodePathTracer

    class _BlockTracer(NodePathTracer):
        """NodePathTracer that also stores each node's module path in ``node.meta``."""

        def create_proxy(self, kind, target, args, kwargs, name=None, type_expr=None, *rest):
            proxy = super().create_proxy(kind, target, args, kwargs, name, type_expr, *rest)
            proxy.node.meta["module_path"] = target if kind == "call_module" else self.current_module_qualname
            return proxy

        def is_leaf_module(self, m, module_qualname: str) -> bool:
            # An encoder is traced through (see call_module) so that there is a cut point
            # between its layers; the layers themselves stay leaves.
            if isinstance(m, torch.nn.TransformerEncoder):
                return False
            # Subclasses of standard layers (e.g. EfficientNet-Lite's 'same'-padding
            # Conv2d) stay single module calls, so hooks and features see a convolution.
            return super().is_leaf_module(m, module_qualname) or isinstance(m, _LEAF_BASES())

        def call_module(self, m, forward, args, kwargs):
            if isinstance(m, torch.nn.TransformerEncoder):
                forward = _encoder_forward(self, m)
            return super().call_module(m, forward, args, kwargs)

    leaf = [
        obj
        for _, obj in inspect.getmembers(torchvision.ops)
        if inspect.isclass(obj) and issubclass(obj, __import__("torch").nn.Module)
    ]
    import math

    return _BlockTracer(leaf_modules=leaf, autowrap_modules=(math, torchvision.ops))


def trace_model(model, name: str):
    """``model`` as an ``fx.GraphModule`` whose nodes know their module path (``node.meta["module_path"]``), or
    :class:`UntraceableModelError` naming where tracing failed."""
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
