"""Milvus collection schemas: names, the storage layout of vectorgate collections, index
build parameters and the layout read back from a described collection."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Final

from pymilvus import DataType, Function, FunctionType, MilvusClient, MilvusException

from ...domain import (
    CollectionInfo,
    CollectionSpec,
    IndexSpec,
    Metric,
)
from ...errors import (
    AlreadyExists,
    InvalidArgument,
    LimitExceeded,
    NotFound,
    Unsupported,
)
from ...filters.milvus import (
    METADATA_FIELDS,
)
from ..params import unaccepted
from ..spec import StoredSpec, decode_spec, spec_json
from .client import (
    BACKEND,
    MilvusConnection,
    _message,
)
from .layout import _INT_TYPES, _Layout

#: Collection property holding the vectorgate spec (JSON).
SPEC_PROPERTY: Final = "vectorgate.spec"

_DESCRIPTION_PREFIX: Final = "vectorgate collection; spec: "

ID_FIELD: Final = "id"

VECTOR_FIELD: Final = "vector"

#: The sparse field a BM25 function fills from the text field (full-text collections).
SPARSE_FIELD: Final = "text_bm25"

_BM25_FUNCTION: Final = "text_bm25"

ID_MAX_LENGTH: Final = 512

TEXT_MAX_LENGTH: Final = 65535

_RESERVED_FIELDS: Final = frozenset(
    {ID_FIELD, VECTOR_FIELD, SPARSE_FIELD, *METADATA_FIELDS.values()}
)

_FIELD_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")

#: Prefix of escaped collection names (see :func:`milvus_name`).
_NAME_PREFIX: Final = "_vg_"

_MAX_COLLECTION_NAME: Final = 255

_METRIC_NAMES: Final[Mapping[Metric, str]] = {
    Metric.COSINE: "COSINE",
    Metric.L2: "L2",
    Metric.IP: "IP",
}

_METRICS_BY_NAME: Final[Mapping[str, Metric]] = {v: k for k, v in _METRIC_NAMES.items()}

#: Index types and their build parameters: name -> (min, max).
_INT32_MAX: Final = 2**31 - 1

_INDEX_PARAMS: Final[Mapping[str, Mapping[str, tuple[int, int]]]] = {
    "FLAT": {},
    "AUTOINDEX": {},
    "IVF_FLAT": {"nlist": (1, 65536)},
    "IVF_SQ8": {"nlist": (1, 65536)},
    "IVF_PQ": {"nlist": (1, 65536), "m": (1, 65536), "nbits": (1, 16)},
    "HNSW": {"M": (2, 2048), "efConstruction": (1, _INT32_MAX)},
}

#: Build parameters Milvus 2.3 requires, filled in when not given (newer servers and
#: Milvus Lite have defaults of their own; these make the index the same everywhere).
_INDEX_DEFAULTS: Final[Mapping[str, Mapping[str, int]]] = {
    "IVF_FLAT": {"nlist": 128},
    "IVF_SQ8": {"nlist": 128},
    "IVF_PQ": {"nlist": 128, "nbits": 8},
    "HNSW": {"M": 16, "efConstruction": 200},
}

#: Build parameters without a default.
_INDEX_REQUIRED: Final[Mapping[str, frozenset[str]]] = {"IVF_PQ": frozenset({"m"})}

#: Milvus Lite 3.x has no IVF_PQ.
_LITE_INDEX_TYPES: Final = frozenset(_INDEX_PARAMS) - {"IVF_PQ"}

_DEFAULT_INDEX: Final = "FLAT"


_GROUPABLE_TYPES: Final = _INT_TYPES | {DataType.VARCHAR, DataType.BOOL}

_VECTOR_TYPES: Final = frozenset(
    t
    for t in DataType
    if t.name.endswith("VECTOR") or t.name in {"FLOAT16_VECTOR", "BFLOAT16_VECTOR"}
)


def milvus_name(name: str) -> str:
    """The Milvus collection name for a vectorgate collection name (reversible).

    Names without ``-`` (and not starting with the escape prefix) are used as
    they are; others become ``_vg_`` + the name with ``_`` -> ``_u`` and
    ``-`` -> ``_d``.
    """
    if "-" not in name and not name.startswith(_NAME_PREFIX):
        return name
    return _NAME_PREFIX + name.replace("_", "_u").replace("-", "_d")


def collection_name(stored: str) -> str:
    """The vectorgate name of a Milvus collection (inverse of :func:`milvus_name`)."""
    if not stored.startswith(_NAME_PREFIX):
        return stored
    out: list[str] = []
    rest = stored[len(_NAME_PREFIX) :]
    i = 0
    while i < len(rest):
        ch = rest[i]
        if ch != "_":
            out.append(ch)
            i += 1
            continue
        code = rest[i + 1 : i + 2]
        if code == "u":
            out.append("_")
        elif code == "d":
            out.append("-")
        else:
            return stored  # not an escaped name: a native collection with this prefix
        i += 2
    return "".join(out)


class MilvusSchema(MilvusConnection):
    """Creating, listing and dropping collections, and reading their layouts."""

    # ------------------------------------------------------------------ collections

    async def create_collection(self, spec: CollectionSpec) -> CollectionInfo:
        client = self._require_client()
        stored = self._stored_name(spec.name, "collection.name")
        text_field = spec.text_field or "text"
        if not _FIELD_NAME_RE.fullmatch(text_field) or text_field in _RESERVED_FIELDS:
            raise InvalidArgument(
                f"collection.text_field: {text_field!r} cannot be a Milvus field of a "
                f"vectorgate collection (use letters, digits and '_', not "
                f"{', '.join(sorted(_RESERVED_FIELDS))})",
                field="collection.text_field",
            )
        index = self._index_for(spec)
        metric_name = _METRIC_NAMES[spec.metric]
        created = datetime.now(UTC)
        full_text = self._full_text
        keyword = (
            {"keyword": {"function": "BM25", "sparse_field": SPARSE_FIELD, "analyzer": "standard"}}
            if full_text
            else {}
        )
        encoded = spec_json(
            StoredSpec.of(
                replace(spec, text_field=text_field),
                index=index,
                create_time=created,
                name=spec.name,
                extra=keyword,
            )
        )
        schema = MilvusClient.create_schema(
            auto_id=False,
            enable_dynamic_field=False,
            description=_DESCRIPTION_PREFIX + encoded,
        )
        schema.add_field(ID_FIELD, DataType.VARCHAR, is_primary=True, max_length=ID_MAX_LENGTH)
        schema.add_field(VECTOR_FIELD, DataType.FLOAT_VECTOR, dim=spec.dimension)
        if full_text:
            # The standard analyzer (each engine's default); see "Keyword search".
            schema.add_field(
                text_field, DataType.VARCHAR, max_length=TEXT_MAX_LENGTH, enable_analyzer=True
            )
        else:
            schema.add_field(text_field, DataType.VARCHAR, max_length=TEXT_MAX_LENGTH)
        for json_field in METADATA_FIELDS.values():
            schema.add_field(json_field, DataType.JSON)
        if full_text:
            schema.add_field(SPARSE_FIELD, DataType.SPARSE_FLOAT_VECTOR)
            schema.add_function(
                Function(
                    name=_BM25_FUNCTION,
                    function_type=FunctionType.BM25,
                    input_field_names=[text_field],
                    output_field_names=[SPARSE_FIELD],
                )
            )
        index_params = MilvusClient.prepare_index_params()
        index_params.add_index(
            VECTOR_FIELD,
            index_type=index.type,
            metric_type=metric_name,
            params=dict(index.params),
        )
        if full_text:
            index_params.add_index(
                SPARSE_FIELD, index_type="SPARSE_INVERTED_INDEX", metric_type="BM25"
            )
        if await self._call("has_collection", client.has_collection, stored):
            raise AlreadyExists(
                f"collection {spec.name!r} already exists in store {self.store!r}",
                field="collection.name",
            )
        self._forget(spec.name)
        try:
            await self._call(
                "create_collection",
                client.create_collection,
                stored,
                schema=schema,
                index_params=index_params,
                consistency_level="Strong",
                properties={SPEC_PROPERTY: encoded},
            )
        except MilvusException as exc:
            message = _message(exc)
            if "already exist" in message.lower():
                raise AlreadyExists(
                    f"collection {spec.name!r} already exists in store {self.store!r}",
                    field="collection.name",
                ) from exc
            if re.search(r"exceed|limit|quota", message, re.IGNORECASE):
                raise LimitExceeded(
                    f"collection: milvus refused to create {spec.name!r}: {message}",
                    field="collection",
                ) from exc
            raise InvalidArgument(
                f"collection: milvus refused to create {spec.name!r}: {message}",
                field="collection",
            ) from exc
        return CollectionInfo(
            name=spec.name,
            dimension=spec.dimension,
            metric=spec.metric,
            text_field=text_field,
            embedding_model=spec.embedding_model,
            index=index,
            document_count=0,
            create_time=created,
        )

    def _index_for(self, spec: CollectionSpec) -> IndexSpec:
        if spec.index.type:
            kind = spec.index.type.upper()
            params = dict(spec.index.params)
            path = "collection.index"
        elif spec.index.params:
            raise InvalidArgument(
                "collection.index.type: required when index params are given",
                field="collection.index.type",
            )
        elif self._index_type is not None:
            kind, params, path = self._index_type, dict(self._index_params), "index_type"
        else:
            kind, params, path = _DEFAULT_INDEX, {}, "collection.index"
        self._check_index(kind, params, spec.dimension, path)
        return IndexSpec(type=kind, params={**_INDEX_DEFAULTS.get(kind, {}), **params})

    def _check_index(self, kind: str, params: Mapping[str, Any], dimension: int, path: str) -> None:
        type_field = f"{path}.type" if path.startswith("collection") else path
        allowed = _INDEX_PARAMS.get(kind)
        if allowed is None or (self.is_lite and kind not in _LITE_INDEX_TYPES):
            accepted = _LITE_INDEX_TYPES if self.is_lite else _INDEX_PARAMS
            problem = f"index type {kind!r} is not supported by this Milvus store"
            raise InvalidArgument(unaccepted(type_field, problem, accepted), field=type_field)
        for key, value in params.items():
            pfield = f"{path}.params.{key}" if path.startswith("collection") else path
            bounds = allowed.get(key)
            if bounds is None:
                problem = f"{kind} takes no parameter {key!r}"
                raise InvalidArgument(unaccepted(pfield, problem, allowed), field=pfield)
            number = _as_int(value)
            if number is None or not bounds[0] <= number <= bounds[1]:
                raise InvalidArgument(
                    f"{pfield}: must be an integer between {bounds[0]} and {bounds[1]}",
                    field=pfield,
                )
            if kind == "IVF_PQ" and key == "m" and dimension % number:
                raise InvalidArgument(
                    f"{pfield}: must divide the dimension ({dimension})", field=pfield
                )
        for key in sorted(_INDEX_REQUIRED.get(kind, frozenset()) - set(params)):
            pfield = f"{path}.params.{key}" if path.startswith("collection") else path
            raise InvalidArgument(f"{pfield}: {kind} requires {key!r}", field=pfield)

    async def list_collections(self) -> list[str]:
        client = self._require_client()
        names: list[str] = await self._call("list_collections", client.list_collections)
        return sorted(collection_name(n) for n in names)

    async def drop_collection(self, name: str) -> None:
        client = self._require_client()
        stored = self._stored_name(name, "name")
        self._forget(name)
        if not await self._call("has_collection", client.has_collection, stored):
            raise NotFound(
                f"collection {name!r} does not exist in store {self.store!r}",
                metadata={"store": self.store, "collection": name},
            )
        await self._call("drop_collection", client.drop_collection, stored, collection=name)

    # ------------------------------------------------------------------ layouts

    def _stored_name(self, name: str, field_name: str) -> str:
        stored = milvus_name(name)
        if len(stored) > _MAX_COLLECTION_NAME:
            raise InvalidArgument(
                f"{field_name}: {name!r} is too long for a Milvus collection name once "
                "'-' and '_' are escaped",
                field=field_name,
            )
        return stored

    async def _layout(self, name: str) -> _Layout:
        cached = self._layouts.get(name)
        if cached is not None:
            return cached
        client = self._require_client()
        stored = self._stored_name(name, "collection")
        # Asking first keeps pymilvus from logging a traceback for every unknown name.
        if not await self._call("has_collection", client.has_collection, stored):
            raise NotFound(
                f"collection {name!r} does not exist in store {self.store!r}",
                metadata={"store": self.store, "collection": name},
            )
        described: dict[str, Any] = await self._call(
            "describe_collection", client.describe_collection, stored, collection=name
        )
        layout = await self._parse_layout(name, stored, described)
        self._layouts[name] = layout
        return layout

    async def _parse_layout(self, name: str, stored: str, described: Mapping[str, Any]) -> _Layout:
        pk = ""
        pk_is_int = False
        vectors: dict[str, int] = {}
        scalars: dict[str, DataType] = {}
        string_arrays: set[str] = set()
        nullable: set[str] = set()
        sparse: set[str] = set()
        for fdesc in described.get("fields", []):
            fname = str(fdesc["name"])
            dtype = fdesc["type"]
            if dtype == DataType.ARRAY and fdesc.get("element_type") == DataType.VARCHAR:
                string_arrays.add(fname)
            if fdesc.get("nullable"):
                nullable.add(fname)
            if fdesc.get("is_primary"):
                pk = fname
                pk_is_int = dtype == DataType.INT64
                if not pk_is_int and dtype != DataType.VARCHAR:
                    raise Unsupported(
                        backend=BACKEND, operation=f"primary key of type {dtype.name}"
                    )
            if dtype == DataType.FLOAT_VECTOR:
                vectors[fname] = int(fdesc.get("params", {}).get("dim", 0))
            elif dtype == DataType.SPARSE_FLOAT_VECTOR:
                sparse.add(fname)
            elif dtype in _VECTOR_TYPES:
                continue  # binary / sparse / half-precision vectors are not searchable here
            else:
                scalars[fname] = dtype
        if not vectors:
            raise Unsupported(
                backend=BACKEND,
                operation="collections without a FLOAT_VECTOR field",
                detail=f"collection {name!r}",
            )
        properties = described.get("properties") or {}
        spec = _decoded(properties.get(SPEC_PROPERTY))
        if spec is None:
            spec = _decoded(_spec_from_description(str(described.get("description", ""))))
        dynamic = bool(described.get("enable_dynamic_field"))
        bm25 = _bm25_outputs(described.get("functions"), sparse)
        # What the stored schema says, for a collection of ours and a foreign one alike.
        layout = functools.partial(
            _Layout,
            name=name,
            stored=stored,
            pk=pk,
            pk_is_int=pk_is_int,
            vectors=vectors,
            scalars=scalars,
            dynamic=dynamic,
            sparse_fields=frozenset(sparse),
        )
        if spec is not None and VECTOR_FIELD in vectors and pk == ID_FIELD:
            assert spec.metric is not None  # _decoded keeps only specs with a metric
            spec_text = spec.text_field
            keyword = spec.extra.get("keyword")
            sparse_field = keyword.get("sparse_field") if isinstance(keyword, Mapping) else None
            return layout(
                anns_field=VECTOR_FIELD,
                text_field=spec_text if spec_text in scalars else None,
                metric=spec.metric,
                index=spec.index,
                vectorgate=True,
                embedding_model=spec.embedding_model,
                create_time=spec.create_time,
                keyword_field=(
                    sparse_field
                    if isinstance(sparse_field, str) and bm25.get(sparse_field) == spec_text
                    else None
                ),
            )
        anns_field = next(iter(vectors))
        default_anns = self._defaults.values.get("annsField")
        if isinstance(default_anns, str) and default_anns in vectors:
            anns_field = default_anns
        text_field: str | None = None
        for candidate in (self._defaults.values.get("milvus_text_field"), self._text_field, "text"):
            if (
                isinstance(candidate, str)
                and scalars.get(candidate) == DataType.VARCHAR
                and candidate != pk
            ):
                text_field = candidate
                break
        metric, index_spec = await self._index_of(stored, anns_field, name)
        created = described.get("created_timestamp")
        return layout(
            anns_field=anns_field,
            text_field=text_field,
            metric=metric,
            index=index_spec,
            vectorgate=False,
            embedding_model="",
            create_time=_hybrid_time(created),
            string_arrays=frozenset(string_arrays),
            nullable=frozenset(nullable),
            keyword_field=next(
                (out for out, source in bm25.items() if text_field and source == text_field),
                None,
            ),
        )

    async def _index_of(
        self, stored: str, vector_field: str, name: str
    ) -> tuple[Metric, IndexSpec]:
        client = self._require_client()
        fallback = self._metric_default or Metric.COSINE
        names: list[str] = await self._call(
            "list_indexes", client.list_indexes, stored, field_name=vector_field, collection=name
        )
        if not names:
            return fallback, IndexSpec()
        described: dict[str, Any] = await self._call(
            "describe_index", client.describe_index, stored, names[0], collection=name
        )
        metric_name = str(described.get("metric_type", "")).upper()
        metric = _METRICS_BY_NAME.get(metric_name)
        if metric is None:
            raise Unsupported(
                backend=BACKEND,
                operation=f"metric {metric_name or 'unknown'}",
                detail=f"collection {name!r}, vector field {vector_field!r}",
            )
        info_keys = {
            "metric_type",
            "index_type",
            "field_name",
            "index_name",
            "total_rows",
            "indexed_rows",
            "pending_index_rows",
            "state",
        }
        params = {str(k): _maybe_number(v) for k, v in described.items() if k not in info_keys}
        return metric, IndexSpec(type=str(described.get("index_type", "")), params=params)


def _bm25_outputs(functions: object, sparse_fields: Iterable[str]) -> dict[str, str]:
    """Sparse field -> its text field, for each BM25 function of a described collection."""
    out: dict[str, str] = {}
    if not isinstance(functions, list):
        return out
    sparse = set(sparse_fields)
    for function in functions:
        if not isinstance(function, Mapping):
            continue
        kind = function.get("type")
        name = getattr(kind, "name", kind)
        if name != "BM25" and kind != FunctionType.BM25.value:
            continue
        inputs = function.get("input_field_names") or []
        outputs = function.get("output_field_names") or []
        if len(inputs) == 1 and len(outputs) == 1 and outputs[0] in sparse:
            out[str(outputs[0])] = str(inputs[0])
    return out


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _maybe_number(value: Any) -> Any:
    if isinstance(value, str):
        if re.fullmatch(r"-?\d+", value):
            return int(value)
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _decoded(raw: object) -> StoredSpec | None:
    """A vectorgate spec (any format written so far) with its metric; None otherwise."""
    if not isinstance(raw, str) or not raw:
        return None
    spec = decode_spec(raw)
    return spec if spec is not None and spec.metric is not None else None


def _spec_from_description(description: str) -> str | None:
    if description.startswith(_DESCRIPTION_PREFIX):
        return description[len(_DESCRIPTION_PREFIX) :]
    return None


def _hybrid_time(value: object) -> datetime | None:
    """A Milvus hybrid timestamp (physical milliseconds << 18) as a datetime."""
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        return None
    return datetime.fromtimestamp((value >> 18) / 1000, UTC)
