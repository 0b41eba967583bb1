"""Index creation and mapping reading: the index spec, the create body, the layout.

Collections vectorgate creates get the mapping described in the package
docstring; any index with a ``knn_vector`` field is read back into a
:class:`~.layout.Layout` (an index vectorgate did not create from its mapping
alone).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from ...domain import CollectionSpec, IndexSpec
from ...errors import FailedPrecondition, InvalidArgument, Unsupported
from ...filters.common import FieldType
from ...filters.opensearch import GROUPS, INT_GROUP, METADATA_FIELD, metadata_key
from ..index_params import positive_int_params
from ..spec import StoredSpec, decode_spec, encode_spec
from .layout import (
    BACKEND,
    DEFAULT_TEXT_FIELD,
    ENGINES,
    ID_FIELD,
    INDEX_TYPES,
    METRIC_OF_SPACE,
    SPACE_TYPES,
    SPEC_META_KEY,
    VECTOR_FIELD,
    Layout,
    encode_index_name,
)

#: HNSW index parameters (all positive integers but ``engine``).
_HNSW_PARAMS: Final = ("engine", "m", "ef_construction", "ef_search")
_RESERVED_TEXT_FIELDS: Final = frozenset({ID_FIELD, VECTOR_FIELD, METADATA_FIELD})
_MAX_INDEX_NAME_BYTES: Final = 255


def index_name(name: str, prefix: str) -> str:
    """The index of collection ``name``; ``InvalidArgument`` when OpenSearch cannot name it."""
    index = encode_index_name(name, prefix)
    if len(index.encode()) > _MAX_INDEX_NAME_BYTES:
        raise InvalidArgument(
            f"collection.name: {name!r} maps to an OpenSearch index name longer than "
            f"{_MAX_INDEX_NAME_BYTES} bytes",
            field="collection.name",
        )
    return index


def text_field_of(spec: CollectionSpec) -> str:
    """The collection's text field; ``InvalidArgument`` for a name the layout reserves."""
    text_field = spec.text_field or DEFAULT_TEXT_FIELD
    if text_field in _RESERVED_TEXT_FIELDS or text_field.startswith("_"):
        raise InvalidArgument(
            f"collection.text_field: {text_field!r} is reserved in OpenSearch collections",
            field="collection.text_field",
        )
    return text_field


def validate_index_spec(index: IndexSpec, default_engine: str) -> IndexSpec:
    """The index spec normalised (upper-case type, engine resolved), or ``InvalidArgument``."""
    index_type = index.type.strip().upper() or "HNSW"
    if index_type not in INDEX_TYPES:
        raise InvalidArgument(
            f"collection.index.type: unknown OpenSearch index type {index.type!r} "
            "(accepted: HNSW, FLAT, or empty for HNSW)",
            field="collection.index.type",
        )
    if index_type == "FLAT":
        for key in index.params:
            raise InvalidArgument(
                f"collection.index.params.{key}: index type 'FLAT' (exact k-NN) takes no "
                "parameters",
                field=f"collection.index.params.{key}",
            )
        return IndexSpec(type="FLAT", params={})
    engine = index.params.get("engine", default_engine)
    if not isinstance(engine, str) or engine.lower() not in ENGINES:
        raise InvalidArgument(
            f"collection.index.params.engine: must be one of {', '.join(ENGINES)}, got {engine!r}",
            field="collection.index.params.engine",
        )
    numbers = {key: value for key, value in index.params.items() if key != "engine"}
    params: dict[str, Any] = positive_int_params(numbers, _HNSW_PARAMS, "HNSW")
    params["engine"] = engine = engine.lower()
    if "ef_search" in params and engine == "lucene":
        raise InvalidArgument(
            "collection.index.params.ef_search: the lucene engine has no index-time ef_search "
            "(use native_params.ef_search at search time, or engine faiss / nmslib)",
            field="collection.index.params.ef_search",
        )
    return IndexSpec(type="HNSW", params=dict(sorted(params.items())))


def create_body(spec: CollectionSpec, stored: StoredSpec) -> dict[str, Any]:
    """The settings and mapping of a new collection's index."""
    vector: dict[str, Any] = {"type": "knn_vector", "dimension": spec.dimension}
    settings: dict[str, Any] = {"knn": stored.index.type == "HNSW"}
    if stored.index.type == "HNSW":
        params = dict(stored.index.params)
        engine = params.pop("engine")
        if engine == "nmslib" and "ef_search" in params:
            settings["knn.algo_param.ef_search"] = params.pop("ef_search")
        vector["method"] = {
            "name": "hnsw",
            "engine": engine,
            "space_type": SPACE_TYPES[spec.metric],
            "parameters": params,
        }
    groups: dict[str, Any] = {
        group: {"type": "object", "dynamic": True} for group in (*GROUPS.values(), INT_GROUP)
    }
    group_types = {
        FieldType.STRING: "keyword",
        FieldType.STRING_LIST: "keyword",
        FieldType.NUMBER: "double",
        FieldType.BOOL: "boolean",
    }
    templates = [
        {
            f"vectorgate_metadata_{group}": {
                "path_match": f"{METADATA_FIELD}.{group}.*",
                "mapping": {"type": group_types[kind]},
            }
        }
        for kind, group in GROUPS.items()
    ]
    templates.append(
        {
            f"vectorgate_metadata_{INT_GROUP}": {
                "path_match": f"{METADATA_FIELD}.{INT_GROUP}.*",
                "mapping": {"type": "long"},
            }
        }
    )
    return {
        "settings": {"index": settings},
        "mappings": {
            "dynamic": "strict",
            "_meta": {SPEC_META_KEY: encode_spec(stored)},
            "dynamic_templates": templates,
            "properties": {
                ID_FIELD: {"type": "keyword"},
                stored.text_field: {"type": "text"},
                VECTOR_FIELD: vector,
                METADATA_FIELD: {"type": "object", "dynamic": True, "properties": groups},
            },
        },
    }


def is_vector_index(entry: object) -> bool:
    """Whether an index (its ``GET _mapping`` entry) has a ``knn_vector`` field."""
    if not isinstance(entry, Mapping):
        return False
    props = (entry.get("mappings") or {}).get("properties") or {}
    return any(isinstance(v, Mapping) and v.get("type") == "knn_vector" for v in props.values())


def parse_layout(
    store: str, name: str, index: str, entry: Mapping[str, Any], default_space_type: str | None
) -> Layout:
    """The layout of ``index`` from its ``GET <index>`` entry (mapping and flat settings)."""
    mappings = entry.get("mappings") or {}
    settings = entry.get("settings") or {}
    props: Mapping[str, Any] = mappings.get("properties") or {}
    meta = mappings.get("_meta") or {}
    spec = decode_spec(meta.get(SPEC_META_KEY)) if isinstance(meta, Mapping) else None
    vector_field = VECTOR_FIELD
    vector_def = props.get(VECTOR_FIELD)
    if not isinstance(vector_def, Mapping) or vector_def.get("type") != "knn_vector":
        vector_field, vector_def = next(
            (
                (k, v)
                for k, v in props.items()
                if isinstance(v, Mapping) and v.get("type") == "knn_vector"
            ),
            ("", None),
        )
    if vector_def is None:
        raise FailedPrecondition(
            f"index {index!r} in store {store!r} has no knn_vector field: it is not a "
            "vector collection",
            metadata={"collection": name, "store": store},
        )
    method = vector_def.get("method") if isinstance(vector_def.get("method"), Mapping) else None
    knn_on = str(settings.get("index.knn", "false")).lower() == "true"
    created_raw = settings.get("index.creation_date")
    creation = (
        datetime.fromtimestamp(int(created_raw) / 1000, UTC).replace(microsecond=0)
        if created_raw is not None and str(created_raw).isdigit()
        else None
    )
    if spec is not None and spec.metric is not None:
        metric = spec.metric
        text_field = spec.text_field
    else:
        space = (
            (method or {}).get("space_type")
            or vector_def.get("space_type")
            or settings.get("index.knn.space_type")
            or default_space_type
            or "l2"
        )
        if space not in METRIC_OF_SPACE:
            raise Unsupported(
                backend=BACKEND,
                operation=f"space type {space!r}",
                detail=f"index {index!r} uses a space type vectorgate has no metric for",
            )
        metric = METRIC_OF_SPACE[space]
        text_field = DEFAULT_TEXT_FIELD
    types: dict[str, FieldType] = {}
    metadata_def = props.get(METADATA_FIELD)
    groups = metadata_def.get("properties") if isinstance(metadata_def, Mapping) else None
    for kind, group in GROUPS.items():
        group_def = groups.get(group) if isinstance(groups, Mapping) else None
        keys = group_def.get("properties") if isinstance(group_def, Mapping) else None
        for stored_name in keys if isinstance(keys, Mapping) else ():
            types.setdefault(metadata_key(str(stored_name)), kind)
    return Layout(
        index=index,
        spec=spec,
        types=types,
        vector_field=vector_field,
        dimension=int(vector_def.get("dimension", 0)),
        metric=metric,
        text_field=text_field,
        engine=str(method.get("engine")) if method and method.get("engine") else None,
        ann=knn_on and method is not None,
        creation_date=creation,
        text_type=_mapped_type(props, text_field),
    )


def _mapped_type(props: Mapping[str, Any], path: str) -> str | None:
    """The mapping type of the field at dotted ``path`` (``object`` for objects), or None."""
    node: Any = {"properties": props}
    for part in path.split("."):
        children = node.get("properties") if isinstance(node, Mapping) else None
        node = children.get(part) if isinstance(children, Mapping) else None
        if node is None:
            return None
    return str(node.get("type", "object")) if isinstance(node, Mapping) else None
