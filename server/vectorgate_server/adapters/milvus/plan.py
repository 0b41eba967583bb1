"""Milvus search plans: the native search parameters of a request (and the store's
``native_defaults``) checked against a collection's layout and turned into ``search`` arguments."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from pymilvus import MilvusException

from ...domain import (
    Metric,
    OutputFields,
    SearchQuery,
)
from ...errors import (
    InvalidArgument,
    Unsupported,
    VectorgateError,
)
from ...filters.milvus import (
    METADATA_FIELDS,
    and_expressions,
    check_native_expression,
    compile_filter,
)
from ..params import MILVUS_NATIVE_PARAMS, not_a_search_parameter, unaccepted
from .client import (
    BACKEND,
    _message,
)
from .layout import _Defaults, _Layout
from .schema import (
    _GROUPABLE_TYPES,
    _METRIC_NAMES,
    _METRICS_BY_NAME,
    MilvusSchema,
    _as_int,
)

#: ``searchParams.params`` keys: name -> (min, max, integral).
_SEARCH_PARAMS: Final[Mapping[str, tuple[float, float, bool]]] = {
    "nprobe": (1, 65536, True),
    "ef": (1, 32768, True),
    "level": (1, 10, True),
    "radius": (-math.inf, math.inf, False),
    "range_filter": (-math.inf, math.inf, False),
}

_CONSISTENCY_LEVELS: Final[Mapping[str, str]] = {
    name.lower(): name for name in ("Strong", "Bounded", "Session", "Eventually")
}

#: Native search parameters, named as LiteLLM's Milvus vector store names them.
NATIVE_PARAMS: Final = frozenset(MILVUS_NATIVE_PARAMS)

#: Milvus' bound on offset + limit.
_MAX_WINDOW: Final = 16384

_PARSE_ERROR_RE: Final = re.compile(
    r"cannot parse expression|parse|unknown escape|syntax|token|"
    r"field .* not (exist|found)|not found in schema|cannot be used|invalid expression",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class _Plan:
    """Everything a search sends to Milvus."""

    anns_field: str
    limit: int
    offset: int
    filter: str
    output_fields: list[str]
    search_params: dict[str, Any]
    consistency_level: str
    text_field: str | None
    partition_names: list[str] | None = None
    group_by_field: str | None = None

    def kwargs(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "anns_field": self.anns_field,
            "limit": self.limit,
            "filter": self.filter,
            "output_fields": self.output_fields,
            "search_params": self.search_params,
            "consistency_level": self.consistency_level,
        }
        if self.offset:
            out["offset"] = self.offset
        if self.partition_names:
            out["partition_names"] = self.partition_names
        if self.group_by_field:
            out["group_by_field"] = self.group_by_field
        return out


class MilvusPlanner(MilvusSchema):
    """Search plans and output fields of a store's collections."""

    # ------------------------------------------------------------------ search plans

    def _search_error(
        self, exc: MilvusException, query: SearchQuery
    ) -> VectorgateError | MilvusException:
        # Unavailability and missing collections were translated already: what is left is
        # Milvus refusing the request, and the caller's native filter / searchParams are
        # the only parts of it Milvus evaluates unchecked (a bare literal, a non-boolean
        # expression, a bad parameter): their error, never an internal one.
        message = _message(exc)
        native = query.native_params
        filter_given = "filter" in native
        about_filter = bool(_PARSE_ERROR_RE.search(message)) or any(
            word in message.lower() for word in ("expr", "filter")
        )
        if filter_given and ("searchParams" not in native or about_filter):
            return InvalidArgument(
                f"native_params.filter: milvus cannot evaluate the expression: {message}",
                field="native_params.filter",
            )
        if "searchParams" in native:
            return InvalidArgument(
                f"native_params.searchParams: milvus rejected the search: {message}",
                field="native_params.searchParams",
            )
        return exc

    async def _plan(self, layout: _Layout, query: SearchQuery) -> _Plan:
        """Check the request's native parameters against ``layout``; the ``search`` arguments."""
        native = dict(query.native_params)
        defaults = self._defaults.values
        _check_native_keys(native)
        offset = _offset(native, query.top_k)
        self._check_db_name(native)
        anns_field = _anns_field(layout, native, query)
        metric = (
            layout.metric
            if anns_field == layout.anns_field
            else await self._metric_of(layout, anns_field)
        )
        text_field = _text_field(layout, native)
        requested = _requested_outputs(layout, native, defaults)
        return _Plan(
            anns_field=anns_field,
            limit=query.top_k,
            offset=offset,
            filter=_filter_expression(layout, native, defaults, query),
            output_fields=self._output_fields(
                layout, query.output, anns_field, text_field, requested
            ),
            search_params=_search_params_of(native, defaults, metric, query.top_k),
            consistency_level=_consistency_of(native, defaults),
            text_field=text_field,
            partition_names=await self._partitions(layout, native),
            group_by_field=self._group_by(layout, native),
        )

    def _check_db_name(self, native: Mapping[str, Any]) -> None:
        """``dbName``, if given, must be the store's database."""
        if "dbName" not in native:
            return
        db = _str_param(native, "dbName")
        if db != self.db_name:
            raise InvalidArgument(
                f"native_params.dbName: store {self.store!r} serves database "
                f"{self.db_name!r}, not {db!r} (databases come from the configuration)",
                field="native_params.dbName",
            )

    async def _partitions(self, layout: _Layout, native: Mapping[str, Any]) -> list[str] | None:
        """``partitionNames``, each an existing partition of the collection."""
        if "partitionNames" not in native:
            return None
        partitions = _str_list_param(native, "partitionNames")
        existing = set(
            await self._call(
                "list_partitions",
                self._require_client().list_partitions,
                layout.stored,
                collection=layout.name,
            )
        )
        missing = [p for p in partitions if p not in existing]
        if missing:
            raise InvalidArgument(
                f"native_params.partitionNames: collection {layout.name!r} has no "
                f"partition {missing[0]!r}",
                field="native_params.partitionNames",
            )
        return partitions

    def _group_by(self, layout: _Layout, native: Mapping[str, Any]) -> str | None:
        """``groupingField``: a groupable scalar field, on an engine that groups."""
        if "groupingField" not in native:
            return None
        group_by = _str_param(native, "groupingField")
        if group_by not in layout.scalars or layout.scalars[group_by] not in _GROUPABLE_TYPES:
            raise InvalidArgument(
                f"native_params.groupingField: {group_by!r} is not an integer, string or "
                f"bool field of collection {layout.name!r}",
                field="native_params.groupingField",
            )
        if not self._supports_grouping():
            raise Unsupported(
                backend=BACKEND,
                operation="native param groupingField",
                detail=f"Milvus {self._server_version} ignores it (grouping search needs "
                "Milvus 2.4 or later)",
            )
        return group_by

    def _supports_grouping(self) -> bool:
        if self.is_lite or not self._server_version:
            return True
        match = re.search(r"(\d+)\.(\d+)", self._server_version)
        if match is None:
            return True
        return (int(match.group(1)), int(match.group(2))) >= (2, 4)

    async def _metric_of(self, layout: _Layout, vector_field: str) -> Metric:
        metric, _ = await self._index_of(layout.stored, vector_field, layout.name)
        return metric

    def _output_fields(
        self,
        layout: _Layout,
        output: OutputFields,
        anns_field: str,
        text_field: str | None,
        requested: tuple[str, ...] | None,
    ) -> list[str]:
        fields: list[str] = [layout.pk]
        if output.text and text_field:
            fields.append(text_field)
        if output.vector:
            fields.append(anns_field)
        if output.metadata:
            if requested is not None:
                fields.extend(n for n in requested if n != "id")
            elif layout.vectorgate:
                fields.extend(METADATA_FIELDS.values())
            else:
                fields.extend(n for n in layout.scalars if n not in (layout.pk, text_field))
                if layout.dynamic:
                    fields.append("$meta")
        return list(dict.fromkeys(fields))

    def _default_output(
        self, layout: _Layout, *, text: bool, metadata: bool, vector: bool
    ) -> list[str]:
        return self._output_fields(
            layout,
            OutputFields(text=text, metadata=metadata, vector=vector),
            layout.anns_field,
            layout.text_field,
            None,
        )

    # ------------------------------------------------------------------ defaults

    def _validate_defaults(self, raw: Mapping[str, Any]) -> _Defaults:
        """Pick and check the native search parameters among ``native_defaults``."""
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in NATIVE_PARAMS or key == "limit":
                continue  # LiteLLM-only settings, and top_k governs the result count
            where = f"store {self.store!r}: native_defaults.{key}"
            if key == "dbName":
                if value != self.db_name:
                    raise ValueError(f"{where}: {value!r} differs from db_name {self.db_name!r}")
                continue
            if key in {"annsField", "milvus_text_field", "filter"}:
                if not isinstance(value, str) or not value:
                    raise ValueError(f"{where}: expected a non-empty string")
                if key == "filter":
                    problem = check_native_expression(value)
                    if problem:
                        raise ValueError(f"{where}: {problem}")
                values[key] = value
            elif key == "outputFields":
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise ValueError(f"{where}: expected a list of field names")
                values[key] = list(value)
            elif key == "consistencyLevel":
                try:
                    values[key] = _consistency(value, key)
                except InvalidArgument as exc:
                    raise ValueError(f"{where}: {exc.message}") from exc
            elif key == "searchParams":
                if not isinstance(value, Mapping):
                    raise ValueError(f"{where}: expected a mapping")
                try:
                    params = _search_params(value, None, 1, key)
                except InvalidArgument as exc:
                    raise ValueError(f"{where}: {exc.message}") from exc
                values[key] = {"params": params}
            # offset, groupingField, partitionNames: per-request only
        return _Defaults(values)


def _int_param(native: Mapping[str, Any], key: str, *, minimum: int) -> int:
    value = native[key]
    number = _as_int(value)
    if number is None or number < minimum:
        raise InvalidArgument(
            f"native_params.{key}: must be an integer >= {minimum}, got {value!r}",
            field=f"native_params.{key}",
        )
    return number


def _str_param(native: Mapping[str, Any], key: str) -> str:
    value = native[key]
    if not isinstance(value, str) or not value:
        raise InvalidArgument(
            f"native_params.{key}: must be a non-empty string", field=f"native_params.{key}"
        )
    return value


def _str_list_param(native: Mapping[str, Any], key: str, *, allow_empty: bool = False) -> list[str]:
    value = native[key]
    if (
        not isinstance(value, list | tuple)
        or not all(isinstance(v, str) and v for v in value)
        or (not value and not allow_empty)
    ):
        raise InvalidArgument(
            f"native_params.{key}: must be a list of non-empty strings",
            field=f"native_params.{key}",
        )
    return list(value)


def _consistency(value: object, path: str) -> str:
    level = _CONSISTENCY_LEVELS.get(value.lower()) if isinstance(value, str) else None
    if level is None:
        raise InvalidArgument(
            f"{path}: must be one of {', '.join(_CONSISTENCY_LEVELS.values())}, got {value!r}",
            field=path,
        )
    return level


def _search_params(value: object, metric: Metric | None, top_k: int, path: str) -> dict[str, Any]:
    """Validate ``searchParams`` (``{"metric_type": ..., "params": {...}}``); return ``params``."""
    if not isinstance(value, Mapping):
        raise InvalidArgument(
            f"{path}: must be an object with 'metric_type' and/or 'params'", field=path
        )
    unknown = sorted(set(value) - {"metric_type", "params"})
    if unknown:
        where = f"{path}.{unknown[0]}"
        message = unaccepted(where, "unknown key", ("metric_type", "params"))
        raise InvalidArgument(message, field=where)
    if "metric_type" in value:
        given = value["metric_type"]
        if not isinstance(given, str) or given.upper() not in _METRICS_BY_NAME:
            raise InvalidArgument(
                f"{path}.metric_type: must be one of COSINE, L2, IP", field=f"{path}.metric_type"
            )
        if metric is not None and _METRICS_BY_NAME[given.upper()] is not metric:
            raise InvalidArgument(
                f"{path}.metric_type: {given!r} differs from the collection's metric "
                f"{_METRIC_NAMES[metric]!r}",
                field=f"{path}.metric_type",
            )
    raw = value.get("params", {})
    if not isinstance(raw, Mapping):
        raise InvalidArgument(f"{path}.params: must be an object", field=f"{path}.params")
    params: dict[str, Any] = {}
    for key, item in raw.items():
        kpath = f"{path}.params.{key}"
        bounds = _SEARCH_PARAMS.get(key)
        if bounds is None:
            raise InvalidArgument(
                unaccepted(kpath, "unknown search parameter", _SEARCH_PARAMS), field=kpath
            )
        low, high, integral = bounds
        if integral:
            number: float | None = _as_int(item)
        elif isinstance(item, int | float) and not isinstance(item, bool) and math.isfinite(item):
            number = float(item)
        else:
            number = None
        if number is None or not low <= number <= high:
            kind = "an integer" if integral else "a finite number"
            raise InvalidArgument(f"{kpath}: must be {kind} in range", field=kpath)
        if key == "ef" and number < top_k:
            raise InvalidArgument(f"{kpath}: must be at least top_k ({top_k})", field=kpath)
        params[key] = number
    return params


# --------------------------------------------------------------------------- plan parts


def _check_native_keys(native: Mapping[str, Any]) -> None:
    unknown = sorted(set(native) - NATIVE_PARAMS)
    if unknown:
        where = f"native_params.{unknown[0]}"
        raise InvalidArgument(not_a_search_parameter(where, BACKEND, NATIVE_PARAMS), field=where)


def _offset(native: Mapping[str, Any], top_k: int) -> int:
    """``offset`` (0 by default); ``limit``, if given, must equal ``top_k``."""
    if "limit" in native:
        limit = _int_param(native, "limit", minimum=1)
        if limit != top_k:
            raise InvalidArgument(
                f"native_params.limit: {limit} differs from top_k ({top_k}); "
                "top_k sets the number of results (omit limit or make them equal)",
                field="native_params.limit",
            )
    offset = _int_param(native, "offset", minimum=0) if "offset" in native else 0
    if offset + top_k > _MAX_WINDOW:
        raise InvalidArgument(
            f"native_params.offset: offset + top_k must not exceed {_MAX_WINDOW}",
            field="native_params.offset",
        )
    return offset


def _anns_field(layout: _Layout, native: Mapping[str, Any], query: SearchQuery) -> str:
    """The float vector field searched (``annsField``), of the query vector's dimension."""
    anns_field = layout.anns_field
    if "annsField" in native:
        anns_field = _str_param(native, "annsField")
        if anns_field not in layout.vectors:
            raise InvalidArgument(
                f"native_params.annsField: {anns_field!r} is not a float vector field of "
                f"collection {layout.name!r} (vector fields: {', '.join(layout.vectors)})",
                field="native_params.annsField",
            )
    if layout.vectors[anns_field] != query.vector.shape[0]:
        raise InvalidArgument(
            f"native_params.annsField: {anns_field!r} has dimension "
            f"{layout.vectors[anns_field]}, the query vector {query.vector.shape[0]}",
            field="native_params.annsField",
        )
    return anns_field


def _text_field(layout: _Layout, native: Mapping[str, Any]) -> str | None:
    """The field read as the hit's text (``milvus_text_field``)."""
    if "milvus_text_field" not in native:
        return layout.text_field
    text_field = _str_param(native, "milvus_text_field")
    if text_field not in layout.varchar_fields or text_field == layout.pk:
        raise InvalidArgument(
            f"native_params.milvus_text_field: {text_field!r} is not a VARCHAR field of "
            f"collection {layout.name!r}",
            field="native_params.milvus_text_field",
        )
    return text_field


def _requested_outputs(
    layout: _Layout, native: Mapping[str, Any], defaults: Mapping[str, Any]
) -> tuple[str, ...] | None:
    """The metadata fields asked for (``outputFields``, else the store's default)."""
    if "outputFields" in native:
        requested = tuple(_str_list_param(native, "outputFields", allow_empty=True))
        for name in requested:
            known = name == "id" or name in layout.scalars or name in layout.vectors
            if not known and not layout.dynamic:
                raise InvalidArgument(
                    f"native_params.outputFields: collection {layout.name!r} has no field {name!r}",
                    field="native_params.outputFields",
                )
        return requested
    if "outputFields" in defaults and not layout.vectorgate:
        return tuple(
            n
            for n in defaults["outputFields"]
            if n in layout.scalars or n in layout.vectors or layout.dynamic
        )
    return None


def _filter_expression(
    layout: _Layout, native: Mapping[str, Any], defaults: Mapping[str, Any], query: SearchQuery
) -> str:
    """The native ``filter`` (or the store's default) and the compiled filter, ANDed."""
    native_filter = ""
    if "filter" in native:
        native_filter = _str_param(native, "filter")
        problem = check_native_expression(native_filter)
        if problem:
            raise InvalidArgument(f"native_params.filter: {problem}", field="native_params.filter")
    elif "filter" in defaults and not layout.vectorgate:
        native_filter = defaults["filter"]
    compiled = compile_filter(query.filter, schema=layout.filter_schema()) if query.filter else ""
    return and_expressions(native_filter, compiled)


def _search_params_of(
    native: Mapping[str, Any], defaults: Mapping[str, Any], metric: Metric, top_k: int
) -> dict[str, Any]:
    search_params: dict[str, Any] = {"metric_type": _METRIC_NAMES[metric], "params": {}}
    if "searchParams" in native:
        search_params["params"] = _search_params(
            native["searchParams"], metric, top_k, "native_params.searchParams"
        )
    elif "searchParams" in defaults:
        search_params["params"] = dict(defaults["searchParams"].get("params", {}))
    return search_params


def _consistency_of(native: Mapping[str, Any], defaults: Mapping[str, Any]) -> str:
    if "consistencyLevel" in native:
        return _consistency(native["consistencyLevel"], "native_params.consistencyLevel")
    return str(defaults.get("consistencyLevel", "Strong"))
