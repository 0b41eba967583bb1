"""What the pgvector adapter knows of a collection: its table, its index kind and
parameters (checked against pgvector's documented ranges) and the layout it caches."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final, LiteralString

from psycopg import sql

from ...domain import CollectionInfo, IndexSpec, Metric
from ...errors import InvalidArgument, Unsupported
from ...filters.common import FieldType
from ..spec import StoredSpec

BACKEND: Final = "pgvector"
#: Entry of the stored spec naming the collection's text-search configuration.
TS_CONFIG_KEY: Final = "text_search_config"
HNSW, IVFFLAT, FLAT = "HNSW", "IVFFLAT", "FLAT"
INDEX_ALIASES: Final[Mapping[str, str]] = {
    HNSW: HNSW,
    IVFFLAT: IVFFLAT,
    "IVF_FLAT": IVFFLAT,
    FLAT: FLAT,
}
#: Accepted build parameters per index type: (minimum, maximum) as pgvector documents them.
_INDEX_PARAMS: Final[Mapping[str, Mapping[str, tuple[int, int]]]] = {
    HNSW: {"m": (2, 100), "ef_construction": (4, 1000)},
    IVFFLAT: {"lists": (1, 32768)},
    FLAT: {},
}
#: pgvector's HNSW and IVFFlat indexes take vectors of at most this many dimensions.
_MAX_INDEXED_DIMENSION: Final = 2000
#: The ``vector`` type holds at most this many dimensions.
MAX_DIMENSION: Final = 16000
#: Per metric: the operator class of its ANN index and its distance operator.
METRIC_SQL: Final[Mapping[Metric, tuple[LiteralString, LiteralString]]] = {
    Metric.COSINE: ("vector_cosine_ops", "<=>"),
    Metric.L2: ("vector_l2_ops", "<->"),
    Metric.IP: ("vector_ip_ops", "<#>"),
}
#: Longest table name: leaves room for index suffixes within the 63-byte identifier limit.
_MAX_TABLE_NAME: Final = 50
#: The advisory lock key space of this adapter (first argument of the two-key form).
LOCK_SPACE: Final = 0x76_67_70_67  # "vgpg"


def table_name(prefix: str, collection: str) -> str:
    """The table of a collection: ``<prefix>c_<name>``, shortened with a hash when too long."""
    full = f"{prefix}c_{collection}"
    if len(full.encode()) <= _MAX_TABLE_NAME:
        return full
    digest = hashlib.sha1(collection.encode()).hexdigest()[:12]
    keep = _MAX_TABLE_NAME - len(prefix) - 2 - 1 - len(digest)
    return f"{prefix}c_{collection[:keep]}_{digest}"


def lock_key(text: str) -> int:
    """A stable signed 32-bit advisory lock key for ``text``."""
    return int.from_bytes(hashlib.sha1(text.encode()).digest()[:4], "big", signed=True)


@dataclass(frozen=True, slots=True)
class Ann:
    """The ANN index a collection has (valid), if any."""

    kind: str
    lists: int = 0

    @classmethod
    def of(cls, method: object, options: object) -> Ann | None:
        """The index of a catalog row: its access method and ``reloptions`` (``k=v,...``)."""
        if method not in ("hnsw", "ivfflat"):
            return None
        lists = 0
        for option in str(options or "").split(","):
            key, _, value = option.partition("=")
            if key == "lists" and value.isdigit():
                lists = int(value)
        return cls(kind=HNSW if method == "hnsw" else IVFFLAT, lists=lists)


@dataclass(slots=True)
class Layout:
    """What the adapter needs to know about a collection to read and write it."""

    ident: sql.Identifier
    table: str
    spec: StoredSpec
    dimension: int
    metric: Metric
    ts_config: str
    create_time: datetime | None
    fields: dict[str, FieldType]
    ann: Ann | None
    loaded_at: float
    #: Rows written since the last exact count (an upper bound of the growth).
    rows_estimate: int = 0
    #: The count at which the next index build is attempted.
    next_index_rows: int = 0

    @classmethod
    def of(
        cls,
        schema: str,
        table: str,
        spec: StoredSpec,
        *,
        create_time: datetime | None,
        fields: dict[str, FieldType],
        ann: Ann | None,
        loaded_at: float,
    ) -> Layout:
        """The layout of a collection stored as ``spec`` (dimension and metric given) in
        table ``schema.table``."""
        assert spec.dimension is not None and spec.metric is not None, "an incomplete spec"
        return cls(
            ident=sql.Identifier(schema, table),
            table=table,
            spec=spec,
            dimension=spec.dimension,
            metric=spec.metric,
            ts_config=str(spec.extra.get(TS_CONFIG_KEY) or "english"),
            create_time=create_time,
            fields=fields,
            ann=ann,
            loaded_at=loaded_at,
        )

    @property
    def index(self) -> IndexSpec:
        return self.spec.index

    def info(self, name: str, count: int | None) -> CollectionInfo:
        return self.spec.info(name, document_count=count, create_time=self.create_time)


def default_lists(rows: int) -> int:
    """pgvector's advice: rows / 1000 up to 1M rows, sqrt(rows) beyond."""
    if rows <= 1_000_000:
        return max(1, rows // 1000)
    return min(32768, int(math.sqrt(rows)))


def check_index(index: IndexSpec, dimension: int | None, path: str) -> IndexSpec:
    """The index spec in canonical form (upper-case type, integer params), or InvalidArgument."""
    type_field = f"{path}.type" if path.startswith("collection") else path
    kind = INDEX_ALIASES.get(index.type.strip().upper())
    if kind is None:
        raise InvalidArgument(
            f"{type_field}: unknown pgvector index type {index.type!r} "
            f"(accepted: {HNSW}, {IVFFLAT}, {FLAT})",
            field=type_field,
        )
    allowed = _INDEX_PARAMS[kind]
    params: dict[str, int] = {}
    for key, value in index.params.items():
        field_name = (
            f"{path}.params.{key}" if path.startswith("collection") else f"index_params.{key}"
        )
        if key not in allowed:
            accepted = ", ".join(allowed) or "none"
            raise InvalidArgument(
                f"{field_name}: not a pgvector {kind} parameter (accepted: {accepted})",
                field=field_name,
            )
        low, high = allowed[key]
        params[key] = bounded_int(value, low, high, field_name)
    if kind == HNSW and "m" in params and params.get("ef_construction", 64) < 2 * params["m"]:
        field_name = (
            f"{path}.params.ef_construction" if path.startswith("collection") else "index_params"
        )
        raise InvalidArgument(
            f"{field_name}: ef_construction must be at least twice m", field=field_name
        )
    if kind != FLAT and dimension is not None and dimension > _MAX_INDEXED_DIMENSION:
        raise Unsupported(
            backend=BACKEND,
            operation=f"{kind} indexes over more than {_MAX_INDEXED_DIMENSION} dimensions",
            detail=f"the collection has {dimension}; use index type {FLAT} (exact search)",
        )
    return IndexSpec(type=kind, params=params)


def bounded_int(value: object, low: int, high: int, field_name: str) -> int:
    """``value`` as an int between ``low`` and ``high`` (an integral float counts), else
    InvalidArgument naming ``field_name``: pgvector's ranges for index and search settings."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (isinstance(value, float) and not value.is_integer())
    ):
        raise InvalidArgument(f"{field_name}: must be an integer", field=field_name)
    if not low <= int(value) <= high:
        raise InvalidArgument(f"{field_name}: must be between {low} and {high}", field=field_name)
    return int(value)
