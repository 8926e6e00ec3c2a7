"""Identical feature rows found once, so that the trees price each distinct block once.

A network repeats its blocks (ResNet's stages, MobileNet's inverted residuals at one shape): across the
registry's networks at their shipped resolutions, 3,599 block rows hold 1,868 distinct ones, and the stage-1
trees cost ~0.3 us + ~20 ns a tree for every row they see.  Pricing the distinct rows and scattering the answers
back gives bitwise the same prediction (a tree's answer for a row depends on that row alone) for about half the
tree time.

Why not ``numpy.unique(X, axis=0)``: it sorts the rows as byte strings and costs 2.1 us a row here, more than the
trees it saves (0.23 us with a void view).  Instead each row gets one float64 key (a dot product with fixed
weights, 0.02 us a row), rows are grouped by key (one argsort of a vector), and the grouping is checked exactly:
every row must equal its group's first row.  A key shared by different rows (a collision), or a NaN (which equals
nothing), fails the check and the caller prices every row: never a wrong answer, only no saving.
"""
from __future__ import annotations

import functools

__all__ = ["distinct_rows"]

#: Seed of the fixed key weights (any fixed values work: the check, not the weights, makes the grouping exact).
_KEY_SEED = 20261206


@functools.lru_cache(maxsize=8)
def _key_weights(n_columns: int):
    """The fixed key weights for ``n_columns`` columns, drawn once per process (every pricing call asks)."""
    import numpy as np

    return np.random.default_rng(_KEY_SEED).standard_normal(n_columns)


def distinct_rows(X, *, weights=None):
    """``(first, inverse)`` with ``X[first][inverse] == X`` row for row, ``first`` the index of each distinct row's
    first occurrence (in key order); ``None`` when every row is distinct or the grouping cannot be proven exact
    (then price ``X`` as it is).  ``weights``: the key weights, one per column (tests force collisions with it)."""
    import numpy as np

    X = np.asarray(X)
    n = X.shape[0]
    if n < 2:
        return None
    w = _key_weights(X.shape[1]) if weights is None else np.asarray(weights, dtype=np.float64)
    key = X.astype(np.float64, copy=False) @ w
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(sorted_key[1:], sorted_key[:-1], out=new[1:])
    first = order[new]
    if len(first) == n:
        return None
    inverse = np.empty(n, dtype=np.intp)
    inverse[order] = np.cumsum(new) - 1
    if not np.array_equal(X[first][inverse], X):  # a collision or a NaN: do not group
        return None
    return first, inverse
