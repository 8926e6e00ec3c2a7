"""How each exported-graph runtime compiles ONNX bytes into a callable (the loaders of the runtime registry),
and how a torch-graph runtime converts the modules it runs (``torch-bf16``).

One place for the session settings every measurement of a runtime shares (fixed threads, sequential
execution, every graph optimisation on as deployed): the timed sessions
(:data:`latmodel.measure.runtimes.RUNTIMES`) and the node profiler
(:mod:`latmodel.measure.graph_profile`) both build their sessions from here.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

__all__ = ["ort_session_options", "ort_load", "openvino_load", "torch_bfloat16"]


def ort_session_options(threads: int):
    """ONNX Runtime session options of every measurement: ``threads`` intra-op threads, one inter-op,
    sequential, ``ORT_ENABLE_ALL``."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3  # warnings about unused initializers of cut-out graphs are noise
    return opts


def ort_load(model: bytes, threads: int) -> Callable:
    """An ONNX Runtime CPU session of ``model``: ``run(x) -> first output``."""
    import onnxruntime as ort

    session = ort.InferenceSession(model, ort_session_options(threads), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def run(x):
        return session.run(None, {name: x})[0]

    return run


def openvino_load(model: bytes, threads: int) -> Callable:
    """An OpenVINO CPU compiled model of ``model`` (latency hint, one stream): ``run(x) -> first output``."""
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(core.read_model(model), "CPU", {
        "INFERENCE_NUM_THREADS": int(threads), "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"})
    request = compiled.create_infer_request()

    def run(x):
        request.infer({0: x})
        return request.get_output_tensor(0).data

    return run


def torch_bfloat16(modules: Sequence, x) -> tuple[list, Any]:
    """Copies of ``modules`` with bfloat16 weights and ``x`` in bfloat16: eager torch as a bfloat16 deployment
    runs it (oneDNN's AMX / AVX-512 BF16 kernels where the CPU has them; converted in software where it does not)."""
    import copy

    import torch

    return [copy.deepcopy(m).to(torch.bfloat16) for m in modules], x.to(torch.bfloat16)
