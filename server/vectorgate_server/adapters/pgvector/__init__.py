"""PostgreSQL + pgvector adapter: psycopg 3 (async) with a connection pool.

Storage layout
--------------
* A catalog table ``<prefix>catalog`` (``name`` ``COLLATE "C"`` primary key,
  ``table_name``, ``spec`` jsonb, ``created_at``) holds every collection's
  spec: dimension, metric, text field, embedding model, index spec and text
  search configuration. ``<prefix>fields`` records the type each metadata key
  was first written with (string, number, bool, list of strings).
* A collection is a table ``<prefix>c_<name>`` (names too long for
  PostgreSQL's 63-byte identifiers are shortened and suffixed with a hash)::

      id       text COLLATE "C" PRIMARY KEY,   -- code-point order: the scan order
      embedding vector(<dimension>) NOT NULL,
      text     text NOT NULL,
      metadata jsonb NOT NULL,                 -- {"<key>": <value>, ...}
      tsv      tsvector GENERATED ALWAYS AS (to_tsvector('<config>', text)) STORED

  with a ``jsonb_path_ops`` GIN index on ``metadata`` (serves the containment
  predicates of :mod:`vectorgate_server.filters.pgvector`: ``EQ``, ``IN``,
  ``CONTAINS``) and a GIN index on ``tsv`` (keyword search).
* The ANN index (``<table>_ann``: ``hnsw`` or ``ivfflat`` with
  ``vector_cosine_ops`` / ``vector_l2_ops`` / ``vector_ip_ops``) is built in
  the background with ``CREATE INDEX CONCURRENTLY`` (writes go on meanwhile)
  once a collection holds ``index_min_rows`` rows. Until then PostgreSQL scans
  the table, so results are exact; pgvector's documentation also advises
  building IVFFlat after the data is loaded (it clusters the rows it finds).
  ``FLAT`` collections never get one. One process builds (advisory lock).

Behaviour
---------
* Upsert validates the whole batch first (nothing of a rejected batch is
  written), keeps the last of repeated ids, records new metadata keys' types
  and writes the rows with ``INSERT ... ON CONFLICT (id) DO UPDATE`` from a
  binary ``COPY`` into a temporary staging table, all in one transaction:
  it returns once committed (read-your-writes). A key typed concurrently by
  another writer with another type is caught in the same transaction.
* Search orders by the pgvector distance operator (``<=>`` cosine distance,
  ``<->`` Euclidean distance, ``<#>`` negative inner product) with the filter
  in the ``WHERE`` clause, so PostgreSQL applies it before ``LIMIT``. HNSW
  scans run with ``hnsw.iterative_scan = strict_order`` (pgvector 0.8+), so a
  selective filter does not starve the result; IVFFlat with
  ``ivfflat.probes`` = sqrt(lists) by default. ``raw_score`` is the operator's
  value; ``score`` is ``normalise_score`` of the canonical value (cosine
  similarity ``1 - d``, distance ``d``, inner product ``-d``).
* Native search params: ``hnsw_ef_search`` (1-1000), ``ivfflat_probes``
  (>= 1) and ``exact`` (bool: no ANN index scan).
* Keyword search: PostgreSQL full text. The query text goes through the
  collection's text search configuration (``to_tsvector``) and its lexemes
  are OR-ed into a ``tsquery`` (any term matches, as in BM25 retrieval; a
  ``plainto_tsquery`` would demand every term), ranked by ``ts_rank_cd``
  (cover density: documents holding more of the terms, closer together,
  rank higher). ``score`` and ``raw_score`` are that rank.
* Connection failures, pool exhaustion and statement timeouts (30 s unless
  ``timeout_s``) raise ``Unavailable`` naming the store and its host, never
  the password.
"""

from .adapter import PgvectorAdapter
from .layout import BACKEND, table_name

__all__ = ["BACKEND", "PgvectorAdapter", "table_name"]
