"""PostgreSQL + pgvector adapter (see :mod:`.adapter` for the storage layout and behaviour)."""

from .adapter import BACKEND, PgvectorAdapter, from_config, table_name

__all__ = ["BACKEND", "PgvectorAdapter", "from_config", "table_name"]
