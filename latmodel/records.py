"""Frozen-dataclass records to and from JSON dictionaries, written once for all of them.

The field annotations are the schema: ``int`` / ``float`` / ``str`` / ``bool``, ``X | None``,
``tuple[X, ...]`` (a JSON list), ``dict[str, X]`` and nested records. A field missing from the dictionary takes
its default; one with no default raises KeyError (callers turn it into their own one-line error).
"""
from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any, Mapping, TypeVar

__all__ = ["Record", "record_from_dict", "record_to_dict"]

T = TypeVar("T")
_SCALARS = {int: int, float: float, str: str, bool: bool}


@functools.lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _decode(tp: Any, value: Any) -> Any:
    """``value`` (as read from JSON) as the annotation ``tp`` says."""
    if tp in _SCALARS:
        return _SCALARS[tp](value)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union or origin is types.UnionType:
        if value is None and type(None) in args:
            return None
        others = [a for a in args if a is not type(None)]
        return _decode(others[0], value) if len(others) == 1 else value
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], v) for v in value)
        return tuple(_decode(a, v) for a, v in zip(args, value)) if args else tuple(value)
    if origin is frozenset:
        return frozenset(_decode(args[0], v) for v in value) if args else frozenset(value)
    if origin is dict and args:
        return {_decode(args[0], k): _decode(args[1], v) for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return tp.from_dict(value) if hasattr(tp, "from_dict") else record_from_dict(tp, value)
    return value  # Any, bare dict / list: as read


def record_from_dict(cls: type[T], d: Mapping[str, Any]) -> T:
    """``cls(**d)`` with every value converted to its field's annotated type (see the module docstring)."""
    hints = _hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in d:
            values[f.name] = _decode(hints[f.name], d[f.name])
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise KeyError(f.name)
    return cls(**values)


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return value.to_dict() if hasattr(value, "to_dict") else record_to_dict(value)
    if isinstance(value, (tuple, list)):
        return [_encode(v) for v in value]
    if isinstance(value, frozenset):
        return sorted(_encode(v) for v in value)
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    return value


def record_to_dict(record: Any) -> dict[str, Any]:
    """The record's fields in order, JSON-ready: tuples as lists, nested records as their ``to_dict``."""
    return {f.name: _encode(getattr(record, f.name)) for f in dataclasses.fields(record)}


class Record:
    """Base of frozen-dataclass records: ``to_dict`` and a typed ``from_dict`` from the field annotations."""

    def to_dict(self) -> dict[str, Any]:
        return record_to_dict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]):
        return record_from_dict(cls, d)
