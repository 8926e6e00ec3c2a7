"""User-facing errors shared by ``latmodel`` and ``trimmer``.

A :class:`NetcutError` is a problem with what the user gave us (a name, a path, a
number, a file).  Its message says what was received, what is allowed and how to
fix it; the CLIs print it on one line and exit with status 2.  Anything else that
escapes is a bug and keeps its traceback.
"""
from __future__ import annotations

__all__ = ["NetcutError", "UnknownModelError", "UntraceableModelError", "TableError", "ArtifactError"]


class NetcutError(Exception):
    """An error caused by user input; printed as one line, exit status 2."""


class UnknownModelError(NetcutError):
    """A model name that is neither registered nor a ``pkg.module:factory`` path."""


class UntraceableModelError(NetcutError):
    """A model that torch.fx cannot trace into a chain of blocks."""


class TableError(NetcutError):
    """A measurement table that is missing, malformed or inconsistent."""


class ArtifactError(NetcutError):
    """A predictor folder, report or exported network that cannot be loaded safely."""
