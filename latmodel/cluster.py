"""Connecting to a Dask cluster, shared by ``latmodel fit`` and ``trimmer search``."""
from __future__ import annotations

from .errors import NetcutError
from .fileio import first_line

__all__ = ["SCHEDULER_TIMEOUT_S", "connect_scheduler", "check_scheduler_reachable"]

#: How long to wait for the scheduler to answer and for its first worker.
SCHEDULER_TIMEOUT_S = 10.0


def connect_scheduler(scheduler: str, *, need_xgboost: bool = False, timeout_s: float | None = None):
    """A ``distributed.Client`` for ``scheduler`` with at least one worker; NetcutError (one line) if not.

    ``need_xgboost`` also checks that ``xgboost.dask`` imports (it needs dask.dataframe);
    ``timeout_s`` defaults to :data:`SCHEDULER_TIMEOUT_S`.
    """
    timeout_s = SCHEDULER_TIMEOUT_S if timeout_s is None else float(timeout_s)
    try:
        from distributed import Client

        if need_xgboost:
            from xgboost import dask as _xgb_dask  # noqa: F401  (fails without dask.dataframe / pyarrow)
    except ImportError as exc:
        raise NetcutError(f"--scheduler needs dask.distributed{' and xgboost.dask' if need_xgboost else ''} ({exc}); "
                          "install them with: pip install 'dask[distributed,dataframe]'") from None
    try:
        client = Client(scheduler, timeout=f"{timeout_s:g}s")  # xgboost.dask needs it as default
    except (OSError, ValueError, TypeError) as exc:
        raise NetcutError(f"cannot reach the Dask scheduler at {scheduler!r} ({first_line(exc)}); start one with "
                          "'dask scheduler' and give its tcp://HOST:PORT, or drop --scheduler to run locally") from None
    try:
        client.wait_for_workers(1, timeout=timeout_s)
    except (TimeoutError, OSError):
        client.close()
        raise NetcutError(f"the Dask scheduler at {scheduler!r} has no workers after {timeout_s:g} s; "
                          f"start some with 'dask worker {scheduler} --nthreads 1'") from None
    return client


def check_scheduler_reachable(scheduler: str, timeout_s: float = 1.0) -> None:
    """NetcutError (one line) unless something listens at ``scheduler`` (``tcp://HOST:PORT``): a check that
    takes at most ``timeout_s``, made before any work (connecting, with workers, comes later)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(scheduler if "://" in scheduler else f"tcp://{scheduler}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or not port:
        raise NetcutError(f"--scheduler must be tcp://HOST:PORT, got {scheduler!r}")
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        raise NetcutError(f"cannot reach the Dask scheduler at {scheduler!r} ({first_line(exc)}); start one with "
                          "'dask scheduler' and give its tcp://HOST:PORT, or drop --scheduler to run locally") from None
