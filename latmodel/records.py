"""Reading flat frozen-dataclass records back from JSON dictionaries."""
from __future__ import annotations

import dataclasses
import typing
from typing import Any, Mapping, TypeVar

__all__ = ["ScalarRecord", "scalar_record_from_dict"]

T = TypeVar("T")
_SCALARS = {int: int, float: float, str: str, bool: bool}


def scalar_record_from_dict(cls: type[T], d: Mapping[str, Any]) -> T:
    """``cls(**d)`` for a dataclass of int / float / str / bool fields, each value converted to its field's type.

    A missing field raises KeyError (callers turn it into their own one-line error).
    """
    hints = typing.get_type_hints(cls)
    return cls(**{f.name: _SCALARS[hints[f.name]](d[f.name]) for f in dataclasses.fields(cls)})


class ScalarRecord:
    """Base of flat frozen-dataclass records (int / float / str / bool fields): ``to_dict`` and a typed
    ``from_dict``, written once for all of them."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]):
        return scalar_record_from_dict(cls, d)
