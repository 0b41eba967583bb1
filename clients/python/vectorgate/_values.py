"""The one codec between Python values and the contract's value messages.

Shared by the client (:mod:`vectorgate._convert`, :mod:`vectorgate._filters`)
and the server (``vectorgate_server.convert`` and its REST mapping), so both
sides read and write numbers the same way:

* ``google.protobuf.Struct`` holds every number as a double. Reading one, an
  integral number whose magnitude is *below* 2**53 becomes an ``int``; every
  other number stays a ``float``. (At 2**53 and beyond a double no longer
  tells ``2**53`` from ``2**53 + 1``, so turning it into an ``int`` would
  invent a precise value; it stays a float.)
* ``vectorgate.v1.FilterValue`` is the typed value of metadata and filters:
  ``int_value`` (int64, exact), ``float_value`` (double: ``3.0`` stays a
  float), ``string_value``, ``bool_value`` and ``list_value``. It is what
  ``Document.typed_metadata`` and ``Hit.typed_metadata`` carry.

Errors are :class:`ValueCodecError` (a ``TypeError`` and a ``ValueError``)
carrying the dotted ``path`` of the offending value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, MutableMapping
from typing import Any

import grpc
import numpy as np
from google.protobuf import struct_pb2

from vectorgate.errors import InvalidArgumentError
from vectorgate.v1 import types_pb2

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "MAX_EXACT_DOUBLE_INT",
    "ValueCodecError",
    "dict_to_struct",
    "fill_struct",
    "fill_typed_map",
    "number_from_double",
    "set_struct_value",
    "set_typed_value",
    "struct_to_dict",
    "struct_value_to_python",
    "typed_map_to_dict",
    "typed_value_to_python",
]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
#: A double holds every integer of magnitude up to 2**53 exactly; from it on, not all.
MAX_EXACT_DOUBLE_INT = 2**53


class ValueCodecError(InvalidArgumentError, TypeError, ValueError):
    """A value that the contract cannot carry; ``path`` names it.

    The client refuses it before sending, as the server would: an
    :class:`~vectorgate.errors.InvalidArgumentError` (INVALID_ARGUMENT naming the
    field), so callers catching :class:`~vectorgate.errors.VectorgateError` see
    it like any other refused request; it is also a ``TypeError``/``ValueError``.
    """

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"{path}: {problem}",
            reason="INVALID_FIELD",
            field=path,
        )
        self.path = path
        self.problem = problem


def _type_name(value: Any) -> str:
    return "None" if value is None else type(value).__name__


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def number_from_double(number: float) -> int | float:
    """The Python number a Struct double stands for (see the module docstring)."""
    if number.is_integer() and -MAX_EXACT_DOUBLE_INT < number < MAX_EXACT_DOUBLE_INT:
        return int(number)
    return number


# -- google.protobuf.Struct --------------------------------------------------------------


def struct_value_to_python(pb: struct_pb2.Value) -> Any:
    """A plain Python value from a Struct ``Value`` (numbers as :func:`number_from_double`)."""
    kind = pb.WhichOneof("kind")
    if kind == "number_value":
        return number_from_double(pb.number_value)
    if kind == "string_value":
        return pb.string_value
    if kind == "bool_value":
        return pb.bool_value
    if kind == "struct_value":
        return struct_to_dict(pb.struct_value)
    if kind == "list_value":
        return [struct_value_to_python(v) for v in pb.list_value.values]
    return None


def struct_to_dict(pb: struct_pb2.Struct) -> dict[str, Any]:
    """A plain dict from a Struct."""
    fields = pb.fields
    if not len(fields):  # iterating even an empty protobuf map costs microseconds
        return {}
    return {key: struct_value_to_python(value) for key, value in fields.items()}


def set_struct_value(pb: struct_pb2.Value, value: Any, path: str) -> None:
    """Writes a JSON-like Python value (numpy scalars allowed) into a Struct ``Value``."""
    value = _plain(value)
    # bool is an int subclass: test it first.
    if value is None:
        pb.null_value = struct_pb2.NULL_VALUE
    elif isinstance(value, bool):
        pb.bool_value = value
    elif isinstance(value, int | float):
        pb.number_value = value
    elif isinstance(value, str):
        pb.string_value = value
    elif isinstance(value, Mapping):
        fill_struct(pb.struct_value, value, path)
    elif isinstance(value, list | tuple | np.ndarray):
        items = pb.list_value
        items.Clear()
        for i, item in enumerate(value):
            set_struct_value(items.values.add(), item, f"{path}[{i}]")
    else:
        raise ValueCodecError(
            path, f"expected a str, number, bool, None, list or dict, got {_type_name(value)}"
        )


def fill_struct(pb: struct_pb2.Struct, values: Mapping[str, Any], path: str) -> None:
    """Writes the entries of a dict of JSON-like values into ``pb``."""
    if not isinstance(values, Mapping):
        raise ValueCodecError(path, f"expected a dict, got {_type_name(values)}")
    for key, value in values.items():
        if not isinstance(key, str):
            raise ValueCodecError(path, f"keys must be str, got {key!r}")
        set_struct_value(pb.fields[key], value, f"{path}.{key}")


def dict_to_struct(values: Mapping[str, Any], path: str = "metadata") -> struct_pb2.Struct:
    """A Struct from a dict of JSON-like values."""
    pb = struct_pb2.Struct()
    fill_struct(pb, values, path)
    return pb


# -- vectorgate.v1.FilterValue -----------------------------------------------------------


def _set_scalar(pb: types_pb2.FilterValue, value: Any, path: str) -> None:
    value = _plain(value)
    # bool is an int subclass: test it first, or True would become int_value 1.
    if isinstance(value, bool):
        pb.bool_value = value
    elif isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise ValueCodecError(path, f"{value} does not fit in a 64-bit integer")
        pb.int_value = value
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueCodecError(path, f"numbers must be finite, got {value}")
        pb.float_value = value
    elif isinstance(value, str):
        pb.string_value = value
    else:
        raise ValueCodecError(
            path, f"expected a str, int, float or bool (or a list of them), got {_type_name(value)}"
        )


def set_typed_value(pb: types_pb2.FilterValue, value: Any, path: str) -> None:
    """Writes a scalar (str, int, float, bool) or a list of scalars into a FilterValue.

    ``int`` goes to ``int_value`` (int64, exact), ``float`` to ``float_value``
    (so ``3.0`` stays a float). An empty list sets an empty ``list_value``.
    """
    value = _plain(value)
    if isinstance(value, list | tuple | np.ndarray):
        items = pb.list_value
        items.Clear()
        items.SetInParent()  # an empty list is a value too
        for i, item in enumerate(value):
            item = _plain(item)
            if isinstance(item, list | tuple | np.ndarray | Mapping):
                raise ValueCodecError(f"{path}[{i}]", "lists hold scalars only")
            _set_scalar(items.values.add(), item, f"{path}[{i}]")
        return
    _set_scalar(pb, value, path)


def typed_value_to_python(pb: types_pb2.FilterValue) -> Any:
    """The Python value of a FilterValue (``int``, ``float``, ``str``, ``bool``, ``list``)."""
    kind = pb.WhichOneof("kind")
    if kind == "string_value":
        return pb.string_value
    if kind == "int_value":
        return pb.int_value
    if kind == "float_value":
        return pb.float_value
    if kind == "bool_value":
        return pb.bool_value
    if kind == "list_value":
        return [typed_value_to_python(v) for v in pb.list_value.values]
    return None


def fill_typed_map(
    pb: MutableMapping[str, types_pb2.FilterValue], values: Mapping[str, Any], path: str
) -> None:
    """Writes a dict of metadata values into a ``map<string, FilterValue>``.

    ``None`` values are left out (metadata drops nulls); nested dicts are refused.
    """
    if not isinstance(values, Mapping):
        raise ValueCodecError(path, f"expected a dict, got {_type_name(values)}")
    for key, value in values.items():
        if not isinstance(key, str):
            raise ValueCodecError(path, f"keys must be str, got {key!r}")
        if value is None:
            continue
        if isinstance(value, Mapping):
            raise ValueCodecError(
                f"{path}.{key}",
                "nested objects are not supported in metadata; use a string, number, "
                "bool or list of strings",
            )
        set_typed_value(pb[key], value, f"{path}.{key}")


def typed_map_to_dict(pb: Mapping[str, types_pb2.FilterValue]) -> dict[str, Any]:
    """A plain dict from a ``map<string, FilterValue>``."""
    if not len(pb):
        return {}
    return {key: typed_value_to_python(value) for key, value in pb.items()}
