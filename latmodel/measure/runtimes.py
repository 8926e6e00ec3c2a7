"""Inference runtimes a latency can be measured (and a predictor fitted) for: one registry, one engine.

Each entry of :data:`RUNTIMES` says how to run a network in that runtime: eager
PyTorch (``torch``, today's default) runs the blocks as they are; the ONNX runtimes
(``onnxruntime``: CPUExecutionProvider, fixed intra-/inter-op threads, every graph
optimisation on as deployed; ``openvino`` on CPU) run ONNX graphs exported from the
blocks; ``torch-bf16`` runs bfloat16 copies of the blocks in eager PyTorch.  Adding a runtime is adding one :class:`Runtime` entry with its loader.

For a chain (:func:`prepare_chain`) the ONNX runtimes export the whole chain once
with every block's output as a graph output and cut each block and each prefix out
of that graph (``onnx.utils.Extractor``), so a configuration costs one trace; the
export is cached on disk (:func:`onnx_cache_dir`) under a key of the blocks' code,
the input shape and the exporter's versions, so repeat passes and resumed runs do
not export again.  Each prefix is then compiled on its own, as a deployed TRN would be:
the runtime optimises (fuses) each prefix as one graph.  Each block is compiled on its own too
(in-context and alone quantities) unless the runtime has a node profiler
(:attr:`Runtime.block_profiler`, ONNX Runtime's): then a block's cost is its share of the
deployed whole graph's profile (:mod:`latmodel.measure.graph_profile`).

Public pieces for deployment checks (trimmer): :func:`export_onnx`,
:func:`check_outputs` (tolerance :data:`CHECK_RTOL`) and :func:`time_module`.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import importlib.util
import logging
import os
import re
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import ArtifactError, NetcutError
from .graph_profile import profile_graph_blocks
from .loaders import openvino_load, ort_load, torch_bfloat16
from .timing import setting, torch_threads

__all__ = [
    "DEFAULT_RUNTIME",
    "ONNX_OPSET",
    "CHECK_RTOL",
    "Runtime",
    "PreparedChain",
    "RUNTIMES",
    "one_graph_rows",
    "RuntimeMissingError",
    "OnnxExportError",
    "get_runtime",
    "require_runtime",
    "runtime_version",
    "onnx_cache_dir",
    "onnx_cache_key",
    "export_onnx",
    "export_chain_onnx",
    "prepare_chain",
    "compile_module",
    "check_outputs",
    "time_module",
]

logger = logging.getLogger(__name__)

DEFAULT_RUNTIME = "torch"
#: ONNX opset of every export (supported by the TorchScript exporter, ONNX Runtime and OpenVINO alike).
ONNX_OPSET = 17
#: Largest allowed ``max|runtime - torch| / max|torch|`` of an exported network's outputs: float32
#: kernels that fuse or reorder operations differ from eager PyTorch by ~1e-6 of the output's
#: scale; 1e-4 leaves room for deep networks while still catching a wrong graph.
CHECK_RTOL = 1e-4
_INPUT = "input"


class RuntimeMissingError(NetcutError):
    """A runtime that is registered but whose Python package is not installed here."""


class OnnxExportError(NetcutError):
    """A network that the ONNX exporter cannot convert (names the operator where it can)."""


@dataclasses.dataclass(frozen=True)
class PreparedChain:
    """A chain ready to time in one runtime: ``blocks[k]`` runs block k on its input, ``prefixes[k]``
    runs blocks ``0..k`` as one network, ``x`` is the chain's input in the runtime's own format."""

    blocks: tuple
    prefixes: tuple
    x: Any
    graph: bytes | None = None  # the whole chain's ONNX graph (exported-graph runtimes)


@dataclasses.dataclass(frozen=True)
class Runtime:
    """One inference runtime.

    ``packages``: import names that must be importable; ``pip``: what installs them;
    ``version()``: the installed version; ``graph``: ``"torch"`` (runs nn.Modules) or ``"onnx"`` (runs exported ONNX bytes through
    ``load(onnx_bytes, threads) -> callable(numpy array) -> numpy array``); ``devices``: device
    kinds it runs on; ``backend(threads)``: how it is configured, for the device record;
    ``block_profiler(onnx_bytes, x, n_blocks, threads=...)``: the runtime's own node profiler attributed to
    blocks (:mod:`latmodel.measure.graph_profile`), or None: with one, the window method times only the
    prefixes and takes each block's in-context cost from the deployed graph's profile.
    ``convert(modules, x) -> (modules, x)`` (``"torch"`` graphs only): copies of the modules and the input as
    this runtime runs them (another dtype), or None to run them as they are; the caller's modules are left as
    they were (their features describe the float32 network).
    """

    name: str
    description: str
    packages: tuple[str, ...]
    pip: str
    graph: str
    devices: tuple[str, ...]
    version: Callable[[], str]
    backend: Callable[[int], str]
    load: Callable[[bytes, int], Callable] | None = None
    block_profiler: Callable[..., Any] | None = None
    convert: Callable[[Sequence, Any], tuple[list, Any]] | None = None

    def installed(self) -> bool:
        return all(importlib.util.find_spec(p) is not None for p in self.packages)


def _package_version(dist: str) -> Callable[[], str]:
    def version() -> str:
        from importlib import metadata

        return metadata.version(dist)

    return version


def _torch_version() -> str:
    import torch

    return torch.__version__  # with its local suffix (+cu130), as the torch_version column has it


def _torch_backend(threads: int) -> str:
    import torch

    capability = torch.backends.cpu.get_cpu_capability()
    onednn = "onednn" if torch.backends.mkldnn.is_available() else "native"
    return f"{onednn}/{capability}"


def _onnx_runtime(name: str, description: str, *, backend: Callable[[int], str],
                  load: Callable[[bytes, int], Callable], block_profiler=None) -> Runtime:
    """A CPU runtime of the exported ONNX graph, installed as the Python package ``name`` beside ``onnx``."""
    return Runtime(name=name, description=description, packages=("onnx", name),
                   pip=f"pip install 'netcut[runtimes]' (or: pip install onnx {name})", graph="onnx",
                   devices=("cpu",), version=_package_version(name), backend=backend, load=load,
                   block_profiler=block_profiler)


RUNTIMES: dict[str, Runtime] = {
    "torch": Runtime(
        name="torch", description="eager PyTorch", packages=("torch",), pip="pip install torch==2.14.1",
        graph="torch", devices=("cpu", "cuda"), version=_torch_version, backend=_torch_backend),
    "onnxruntime": _onnx_runtime(
        "onnxruntime", "ONNX Runtime, CPUExecutionProvider, all graph optimisations", load=ort_load,
        block_profiler=profile_graph_blocks,
        backend=lambda threads: f"CPUExecutionProvider/ORT_ENABLE_ALL/intra{threads}-inter1/opset{ONNX_OPSET}"),
    "openvino": _onnx_runtime(
        "openvino", "OpenVINO on CPU, latency hint, one stream", load=openvino_load,
        backend=lambda threads: f"CPU/LATENCY/threads{threads}-streams1/opset{ONNX_OPSET}"),
    "torch-bf16": Runtime(
        name="torch-bf16", description="eager PyTorch with bfloat16 weights and activations",
        packages=("torch",), pip="pip install torch==2.14.1", graph="torch", devices=("cpu", "cuda"),
        version=_torch_version, backend=lambda threads: f"{_torch_backend(threads)}/bfloat16", convert=torch_bfloat16),
}


def one_graph_rows(df):
    """Per table row: measured in an exported-graph runtime (deployed as one graph, the last prefix)."""
    import numpy as np

    graphs = {name for name, r in RUNTIMES.items() if r.graph == "onnx"}
    return df["runtime"].astype(str).isin(graphs).to_numpy() if "runtime" in df.columns else np.zeros(len(df), bool)


def get_runtime(name: str) -> Runtime:
    """The registered runtime ``name`` (:class:`NetcutError` for an unknown one)."""
    if name not in RUNTIMES:
        raise NetcutError(f"unknown runtime {name!r}; choose one of: {', '.join(RUNTIMES)}")
    return RUNTIMES[name]


def require_runtime(name: str, device: str = "cpu") -> Runtime:
    """The runtime ``name``, checked to be installed here and to run on ``device``."""
    rt = get_runtime(name)
    if device not in rt.devices:
        raise NetcutError(f"runtime {name!r} runs on {', '.join(rt.devices)}, not {device!r}; "
                          f"use --device {rt.devices[0]} or --runtime torch")
    if not rt.installed():
        missing = [p for p in rt.packages if importlib.util.find_spec(p) is None]
        raise RuntimeMissingError(f"runtime {name!r} needs {', '.join(missing)}, which is not installed here; "
                                  f"install it with: {rt.pip}")
    return rt


def runtime_version(name: str) -> str:
    """Installed version of runtime ``name``'s main package."""
    from importlib import metadata

    rt = get_runtime(name)
    try:
        return rt.version()
    except (metadata.PackageNotFoundError, ImportError):
        raise RuntimeMissingError(f"runtime {name!r} is not installed here; install it with: {rt.pip}") from None


# --------------------------------------------------------------------------- ONNX export


def onnx_cache_dir() -> Path:
    """Where exported chains are cached: ``onnx`` in :func:`latmodel.fileio.cache_root`."""
    from ..fileio import cache_root

    return cache_root() / "onnx"


def onnx_cache_key(blocks: Sequence, input_shape: Sequence[int]) -> str:
    """Key of a chain's export: the blocks' structure and generated code, the input shape, the exporter."""
    import torch

    from .. import __version__

    h = hashlib.sha256()
    for part in (__version__, torch.__version__, str(ONNX_OPSET), "x".join(str(int(d)) for d in input_shape)):
        h.update(part.encode("utf-8") + b"\0")
    for b in blocks:
        h.update((repr(b) + getattr(b, "code", "")).encode("utf-8") + b"\0")
    return h.hexdigest()[:24]


_OPERATOR = re.compile(r"operator '([^']+)'")


@contextlib.contextmanager
def _eval_restored(module):
    """Export in eval mode and put every submodule's training flag back: the TorchScript exporter
    leaves the whole tree in the top module's mode, which would switch BatchNorm to training."""
    flags = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, flag in flags:
            m.training = flag


@contextlib.contextmanager
def _stdio_silenced():
    """File descriptors 1 and 2 to /dev/null: on failure the exporter's C++ side dumps the whole
    TorchScript graph to stderr, which would bury the one-line error."""
    import sys

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved + [null]:
            os.close(fd)


def _mha_fastpath_off():
    """Eval-mode ``nn.TransformerEncoderLayer`` / ``nn.MultiheadAttention`` take a fused fast path
    (``aten::_transformer_encoder_layer_fwd``) that has no ONNX conversion; with it off they trace
    to the same computation in standard operators."""
    import torch

    mha = getattr(torch.backends, "mha", None)
    if mha is None or not hasattr(mha, "set_fastpath_enabled"):
        return contextlib.nullcontext()
    return setting(mha.get_fastpath_enabled, mha.set_fastpath_enabled, False)


def _export_bytes(module, example, output_names: Sequence[str], what: str) -> bytes:
    import io

    import torch

    buf = io.BytesIO()
    try:
        # The TorchScript exporter (dynamo=False): traces the fx blocks exactly and needs no onnxscript;
        # torch 2.14 flags it deprecated, so the notice is silenced here only.
        with _eval_restored(module), torch.no_grad(), _mha_fastpath_off(), warnings.catch_warnings(), \
                _stdio_silenced():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (example,), buf, dynamo=False, opset_version=ONNX_OPSET,
                              input_names=[_INPUT], output_names=list(output_names), do_constant_folding=True)
    except Exception as exc:  # the exporter raises many types; each becomes one line naming the operator
        from ..fileio import first_line

        m = _OPERATOR.search(str(exc))
        op = f"operator {m.group(1)!r} has no ONNX opset {ONNX_OPSET} conversion" if m else first_line(exc)
        raise OnnxExportError(f"cannot export {what} to ONNX: {op}; replace that layer or measure with "
                              "--runtime torch") from None
    return buf.getvalue()


def export_onnx(module, example, path, *, name: str | None = None) -> Path:
    """Export ``module`` (one input ``example`` tensor, one output) to the ONNX file ``path`` atomically.

    :class:`OnnxExportError` (one line naming the operator) when the exporter cannot convert it;
    nothing is written then.
    """
    from ..fileio import atomic_write_bytes

    path = Path(path)
    if not path.parent.exists():
        raise NetcutError(f"output folder {str(path.parent)!r} does not exist; create it first")
    data = _export_bytes(module, example, ["output"], name or type(module).__name__)
    atomic_write_bytes(path, data)
    return path


def _chain_outputs_module(blocks):
    """A module running ``blocks`` in turn and returning every block's output."""
    import torch.nn as nn

    class ChainOutputs(nn.Module):
        def __init__(self, blocks):
            super().__init__()
            self.blocks = nn.ModuleList(blocks)

        def forward(self, x):
            outs = []
            for b in self.blocks:
                x = b(x)
                outs.append(x)
            return tuple(outs)

    return ChainOutputs(blocks)


def _block_output(k: int) -> str:
    return f"block{k}"


def export_chain_onnx(blocks: Sequence, x, *, name: str = "network", cache_dir: Path | None = None) -> Path:
    """The cached ONNX file of the chain ``blocks`` on input ``x`` (every block's output is a graph output).

    Exported on the first call, atomically; later calls (other processes too) read the cache.
    """
    from ..fileio import atomic_write_bytes

    cache = Path(cache_dir) if cache_dir is not None else onnx_cache_dir()
    path = cache / f"{onnx_cache_key(blocks, tuple(x.shape))}.onnx"
    if path.is_file():
        return path
    data = _export_bytes(_chain_outputs_module(list(blocks)), x, [_block_output(k) for k in range(len(blocks))], name)
    cache.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data)
    logger.info("exported %s to %s", name, path)
    return path


def _cut(extractor, inputs: list[str], outputs: list[str]) -> bytes:
    return extractor.extract_model(inputs, outputs).SerializeToString()


def _dangling_inputs(model) -> set[str]:
    """Tensor names the nodes of ``model`` read that nothing in it produces (a cut that leaks upstream)."""
    g = model.graph
    produced = {i.name for i in g.input} | {t.name for t in g.initializer} | {o for nd in g.node for o in nd.output}
    return {i for nd in g.node for i in nd.input if i and i not in produced}


def _block_graph(extractor, blocks: Sequence, x, k: int, start: str, end: str, name: str) -> bytes:
    """Block ``k`` as an ONNX graph: cut from the chain's graph between its input and output tensors.

    The exporter's peephole passes may fuse ops across a block boundary (a Transpose at the end of one
    block and its inverse inside ``nn.MultiheadAttention`` of the next become nothing), so block ``k`` can
    read a tensor of block ``k-1``; its cut then leaks upstream and the block is exported alone instead,
    on its real input.
    """
    sub = extractor.extract_model([start], [end])
    if not _dangling_inputs(sub):
        return sub.SerializeToString()
    import torch

    with torch.no_grad():
        h = x
        for b in blocks[:k]:
            h = b(h)
    logger.debug("%s: block %d crosses its cut in the chain's graph; exported alone", name, k)
    return _export_bytes(blocks[k], h, [end], f"{name} block {k}")


def prepare_chain(runtime: str, blocks: Sequence, x, *, threads: int = 1, name: str = "network",
                  cache_dir: Path | None = None, compile_blocks: bool = True) -> PreparedChain:
    """``blocks`` (and their prefixes) compiled for ``runtime``, with ``x`` in the runtime's format.

    ``compile_blocks=False`` (exported-graph runtimes): the prefixes only (``blocks`` empty), and ``graph``
    holds the whole chain's graph for the runtime's node profiler."""
    import torch.nn as nn

    rt = get_runtime(runtime)
    blocks = list(blocks)
    if rt.graph == "torch":
        if rt.convert is not None:
            blocks, x = rt.convert(blocks, x)
        return PreparedChain(tuple(blocks), tuple(nn.Sequential(*blocks[: k + 1]) for k in range(len(blocks))), x)
    import onnx
    import onnx.utils

    require_runtime(runtime)
    path = export_chain_onnx(blocks, x, name=name, cache_dir=cache_dir)
    extractor = onnx.utils.Extractor(onnx.load(str(path)))
    n = len(blocks)
    outs = [_block_output(k) for k in range(n)]
    ins = [_INPUT] + outs[:-1]
    compiled_blocks = tuple(rt.load(_block_graph(extractor, blocks, x, k, ins[k], outs[k], name), threads)
                            for k in range(n)) if compile_blocks else ()
    compiled_prefixes = tuple(rt.load(_cut(extractor, [_INPUT], [outs[k]]), threads) for k in range(n))
    graph = None if compile_blocks else _cut(extractor, [_INPUT], [outs[-1]])
    return PreparedChain(compiled_blocks, compiled_prefixes, _as_numpy(x), graph=graph)


def _as_numpy(x):
    import numpy as np

    return np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)


def compile_module(runtime: str, module, example, *, threads: int = 1, onnx_path=None) -> tuple[Callable, Any]:
    """``(run, x)``: ``module`` compiled for ``runtime`` and ``example`` in that runtime's format.

    ONNX runtimes load ``onnx_path`` when given (e.g. the exported ``trn.onnx``), else export ``module``.
    """
    rt = require_runtime(runtime)
    if rt.graph == "torch":
        if rt.convert is not None:
            (module,), example = rt.convert([module], example)
        return module, example
    data = (Path(onnx_path).read_bytes() if onnx_path is not None
            else _export_bytes(module, example, ["output"], type(module).__name__))
    return rt.load(data, threads), _as_numpy(example)


def check_outputs(module, onnx_path, example, *, runtime: str = "onnxruntime", threads: int = 1,
                  rtol: float = CHECK_RTOL) -> float:
    """``max|runtime - torch| / max|torch|`` of ``module`` on ``example`` vs the ONNX file run in ``runtime``.

    :class:`~latmodel.errors.ArtifactError` when it exceeds ``rtol`` (default :data:`CHECK_RTOL`).
    """
    import numpy as np
    import torch

    with _eval_restored(module), torch.no_grad():
        ref = module(example).detach().cpu().numpy()
    run, x = compile_module(runtime, module, example, threads=threads, onnx_path=onnx_path)
    got = np.asarray(run(x))
    if got.shape != ref.shape:
        raise ArtifactError(f"{str(onnx_path)!r} gives outputs of shape {got.shape} in {runtime}, PyTorch "
                            f"{ref.shape}; re-export it")
    scale = float(np.abs(ref).max())
    err = float(np.abs(got - ref).max()) / scale if scale > 0 else float(np.abs(got).max())
    if not err <= rtol:
        raise ArtifactError(f"{str(onnx_path)!r} run in {runtime} differs from PyTorch by {err:.2e} of the output's "
                            f"scale (allowed {rtol:.0e}); the export is wrong, do not deploy it")
    return err


def time_module(module, example, *, runtime: str = DEFAULT_RUNTIME, threads: int = 1, bursts: int = 15,
                onnx_path=None) -> float:
    """Latency (ms) of ``module`` on ``example`` in ``runtime``, with a calibration table's statistic: the
    fastest of its warm bursts (:func:`latmodel.measure.bursts.time_bursts`), comparable with a prediction."""
    import torch

    from .bursts import BurstPolicy, time_bursts, warm_quantile_ms

    run, x = compile_module(runtime, module, example, threads=threads, onnx_path=onnx_path)
    policy = BurstPolicy()
    with torch_threads(threads):
        with torch.inference_mode():
            samples = time_bursts(lambda: run(x), bursts=bursts, policy=policy)
    return float(warm_quantile_ms(samples, policy.quantile_pct))
