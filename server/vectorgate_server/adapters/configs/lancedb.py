"""The configuration model of a LanceDB store (:mod:`vectorgate_server.adapters.lancedb`)."""

from __future__ import annotations

from typing import ClassVar, Final, Literal

from pydantic import Field, SecretStr, field_validator

from .base import (
    BaseStoreConfig,
)

#: Index types a LanceDB store's automatic index may be (the adapter's INDEX_TYPES, or FLAT).
_AUTO_INDEX_TYPES: Final = frozenset(
    {
        "FLAT",
        "IVF_FLAT",
        "IVF_SQ",
        "IVF_PQ",
        "IVF_RQ",
        "IVF_HNSW_FLAT",
        "IVF_HNSW_SQ",
        "IVF_HNSW_PQ",
    }
)


#: Rows at which a table gets its index (the store's ``index_min_rows``). Against
#: IVF_SQ alone the crossover was ~20k rows (p50 ~17-25 ms either way, 384-d), so
#: this was 50k; with the fast-scan index next to it (built within ~1 s at this
#: size), the gateway answered in 3.9 ms at 10k rows where its exhaustive search
#: took 10.9 ms, and 3.7 against 17.7 ms at 20k (bench_scale, 2026-12-08, 2 cores).
DEFAULT_INDEX_MIN_ROWS: Final = 10_000


class LanceDBConfig(BaseStoreConfig):
    """Embedded LanceDB (local directory, ``s3://...`` or LanceDB Cloud ``db://...``)."""

    collection_field: ClassVar[str] = "table_name"

    type: Literal["lancedb"] = "lancedb"
    #: Database location; default ``<server.data_dir>/lancedb`` (or ``LANCEDB_URI``).
    uri: str
    table_name: str | None = None
    #: LanceDB Cloud API key.
    api_key: SecretStr | None = None
    dimensions: int | None = Field(default=None, ge=1)
    #: A collection gets its ANN index, built in the background, once it holds
    #: this many rows; below, and until the build is done, search is exact.
    index_min_rows: int = Field(default=DEFAULT_INDEX_MIN_ROWS, ge=1)
    #: The index of collections created without an index type (``IVF_SQ``), or
    #: ``FLAT`` for none: those collections then stay exact at any size.
    auto_index_type: str = "IVF_SQ"
    #: The automatic index also gets a fast-scan index (faiss, 4-bit PQ with an
    #: float16 re-scoring copy, ~0.9 KB a row in memory) serving unfiltered searches.
    fast_scan: bool = True

    @field_validator("auto_index_type", mode="after")
    @classmethod
    def _auto_index_type(cls, value: str) -> str:
        kind = value.strip().upper() or "FLAT"
        if kind not in _AUTO_INDEX_TYPES:
            accepted = ", ".join(sorted(_AUTO_INDEX_TYPES))
            raise ValueError(f"unknown LanceDB index type {value!r} (accepted: {accepted})")
        return kind
