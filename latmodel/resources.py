"""Where netcut's shipped files are: the predictors, the corpus's feature table, the demo data.

They live in the repository's ``data/`` folder, which the wheel installs as the package ``netcut_data``
(``pyproject.toml``: ``package-dir``), so one lookup serves a checkout, an editable install and a wheel
installed anywhere: :func:`data_dir` is ``importlib.resources.files("netcut_data")`` when that package is
importable, else the ``data/`` folder beside this package (a checkout run without installing).
"""
from __future__ import annotations

import functools
from pathlib import Path

__all__ = ["DATA_PACKAGE", "data_dir", "data_path"]

#: The installed name of the repository's ``data/`` folder.
DATA_PACKAGE = "netcut_data"


@functools.lru_cache(maxsize=None)
def data_dir() -> Path:
    """The folder holding netcut's shipped data (see the module docstring)."""
    from importlib.resources import files

    try:
        root = files(DATA_PACKAGE)
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[1] / "data"
    return Path(str(root))


def data_path(*parts: str) -> Path:
    """A path under :func:`data_dir`, e.g. ``data_path("predictors", "cpu-1thread")``."""
    return data_dir().joinpath(*parts)
