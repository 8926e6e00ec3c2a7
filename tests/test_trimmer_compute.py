"""trimmer.compute: one torch-thread helper with one meaning, device resolution."""
from __future__ import annotations

import pytest
import torch

from latmodel.errors import NetcutError
from trimmer.compute import resolve_device, torch_threads


def test_torch_threads_none_leaves_and_n_sets_then_restores():
    before = torch.get_num_threads()
    with torch_threads(None):
        assert torch.get_num_threads() == before
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(NetcutError, match="thread count must be an integer >= 1"):
        with torch_threads(0):
            pass


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(NetcutError, match="device must be 'cpu', 'cuda' or 'cuda:N'"):
        resolve_device("tpu")


def test_keep_freed_memory_sets_glibc_thresholds_once_and_again():
    import platform

    from trimmer.compute import keep_freed_memory

    expected = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert keep_freed_memory() is expected
    assert keep_freed_memory() is expected  # idempotent


_FLAGS = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu avx2 avx512f {extra}\n\nprocessor\t: 1\n"


def test_native_bf16_reads_the_cpu_flags():
    from trimmer.compute import native_bf16

    assert native_bf16(_FLAGS.format(extra="amx_tile amx_bf16")) is True
    assert native_bf16(_FLAGS.format(extra="avx512_bf16")) is True
    assert native_bf16(_FLAGS.format(extra="avx512bw")) is False
    assert native_bf16("") is False


def test_feature_autocast_cpu_bfloat16_and_bad_precision():
    from trimmer.compute import feature_autocast

    cpu = torch.device("cpu")
    with feature_autocast(cpu, True, "bfloat16")():
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.bfloat16
    with feature_autocast(cpu, True, "float32")():
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.float32
    with pytest.raises(NetcutError, match="--probe-precision must be one of auto, float32, bfloat16, got 'half'"):
        feature_autocast(cpu, True, "half")


def test_auto_feature_precision_is_bfloat16_only_where_the_cpu_computes_it():
    from trimmer.compute import FEATURE_PRECISIONS, resolve_feature_precision

    assert FEATURE_PRECISIONS[0] == "auto"
    assert resolve_feature_precision("auto", "cpu", _FLAGS.format(extra="amx_tile amx_bf16")) == "bfloat16"
    assert resolve_feature_precision("auto", "cpu", _FLAGS.format(extra="avx512bw")) == "float32"
    assert resolve_feature_precision("auto", "cuda", _FLAGS.format(extra="amx_bf16")) == "float32"  # amp decides
    assert resolve_feature_precision("float32", "cpu", _FLAGS.format(extra="amx_bf16")) == "float32"
    with pytest.raises(NetcutError, match="--probe-precision must be one of auto, float32, bfloat16, got 'half'"):
        resolve_feature_precision("half")
