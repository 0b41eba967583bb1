"""Qdrant adapters: a Qdrant server (``url``) and embedded Qdrant (``path``).

:class:`QdrantAdapter` (:mod:`.adapter`, ``qdrant_client.AsyncQdrantClient``)
talks to a server. A ``path:`` store runs Qdrant's own engine in-process
(:class:`.edge.QdrantEdgeAdapter`, qdrant-edge; imported from :mod:`.edge`
so that a server store needs no engine). Both write and read the same layout
through the same code: :mod:`.layout` (names, capabilities, what a collection
is), :mod:`.points` (documents as points and back), :mod:`.query` (search
params, ``explain``); :mod:`.errors` maps qdrant-client's exceptions,
:mod:`.local` is qdrant-client's local mode, :mod:`.edge_store` the embedded
store directory. qdrant-client's local mode (``path=`` / ``":memory:"``
given to :class:`QdrantAdapter` directly) is kept only as the stand-in server that runs
this adapter's code in the tests, since no Qdrant server can be started there;
it is a pure-Python reimplementation, not Qdrant, and no configuration reaches it.

Storage layout
--------------
* A vectorgate collection is a Qdrant collection with one unnamed dense vector
  of the collection's dimension and distance ``Cosine``, ``Euclid`` or ``Dot``,
  and (store option ``keyword_search``, on by default) a named sparse vector
  ``vg_text_bm25`` with ``Modifier.IDF`` holding the BM25 term weights of the
  document text (:mod:`~vectorgate_server.adapters.sparse_text`). The dense
  vector stays unnamed either way, so collections created without the sparse
  vector (before the option existed, or with it off) keep working unchanged.
* Qdrant point ids are unsigned integers or UUIDs only, so each document id is
  mapped to ``uuid5(POINT_ID_NAMESPACE, id)`` (:func:`~vectorgate_server.filters.qdrant.point_id`).
  The payload keeps the original id, the text and the metadata apart::

      {"id": "<document id>", "<text_field>": "<text>", "metadata": {...},
       "_vectorgate": {"lists": [<list-valued metadata keys>], "norm": <|v|>}}

  Metadata is nested, so no metadata key can collide with a reserved key; the
  bookkeeping object lets the filter compiler tell list-valued fields apart
  (see :mod:`vectorgate_server.filters.qdrant`). Qdrant stores cosine vectors
  unit-normalised; ``norm`` (cosine collections only) restores the vector as
  it was given when vectors are returned.
* The collection spec (dimension, metric, text field, embedding model, index
  spec, create time) is stored in Qdrant's collection ``metadata`` (Qdrant
  1.16+; qdrant-client 1.20 supports it on servers and in local mode, where it
  is saved in the storage's ``meta.json``) under the key ``vectorgate``. A
  collection without it is described from its vector configuration. A server
  that drops the metadata (before 1.16) makes ``create_collection`` fail with
  ``Unsupported`` rather than lose the spec. The spec's ``keyword`` entry names
  the sparse vector and the text encoder (model, version, ``k1``, ``b``,
  ``avg_len``) its documents are written with; only a collection with that
  entry and the sparse vector it names has keyword search.
* Each metadata key keeps the type it was first written with (string, number,
  bool, list of strings); the types are recorded as collection metadata entries
  ``vectorgate:field:<key>`` and a batch with a conflicting value is rejected
  whole with ``InvalidArgument`` naming ``documents[i].metadata.<key>`` (a
  columnar batch: ``columns.metadata[c]`` or ``columns.metadata[c].values[i]``).

Behaviour
---------
* Every write passes ``wait=True``: it returns once applied, so ``get``,
  ``count`` and ``search`` see it (read-your-writes).
* ``upsert_columns`` writes a columnar batch natively: its points (the same as
  ``upsert`` writes for the same rows) are built from the columns, a vector per
  row of the float32 block, with no per-row ``Document``.
* Filters are compiled to ``models.Filter`` and applied by Qdrant during the
  search (never after it). ``count`` is exact.
* Index types: ``HNSW`` (params ``m``, ``ef_construct``) or ``FLAT``, which
  creates no graph (``m=0``) and searches with ``SearchParams(exact=True)``.
* Native search params: ``hnsw_ef`` (int > 0), ``exact`` and ``indexed_only`` (bools).
* Keyword search (:meth:`.adapter.QdrantAdapter.keyword_search`): ``query_points`` on
  the sparse vector with the query's distinct terms (weight 1); Qdrant
  multiplies by each term's IDF over the collection, so the score is the BM25
  score (positive, higher is better; ``raw_score`` is the same value). The
  filter is applied by Qdrant during the search. Upserts write the sparse
  vector of each document's text whenever the collection has one, whatever
  the store option says; a collection without it (or a foreign one) answers
  keyword search with ``Unsupported``. With ``keyword_search: false`` the store
  declares no keyword capability (KEYWORD / HYBRID requests naming it are
  ``UNIMPLEMENTED`` up front) and new collections get no sparse vector.
* Connection failures and timeouts (30 s per call unless ``timeout_s``) raise
  ``Unavailable`` naming the store and its URL without credentials.
* Scores: Qdrant returns the canonical value of every supported distance
  (cosine similarity, Euclidean distance, dot product), so ``score`` is
  ``normalise_score(metric, raw_score)``.
* Local mode (``path`` or ``":memory:"``) runs qdrant-client's in-process
  engine, whose "async" API computes synchronously; its calls therefore run on
  one private thread with its own event loop, never on the caller's loop.
  qdrant-client locks a storage directory to one client, so adapters of this
  process on the same directory share one client (reference-counted); another
  process holding it makes ``start`` raise ``Unavailable``. Local mode commits
  every point to SQLite on its own: large batches are slow (about 3 ms a point).
  Local mode always searches exhaustively, so search params are not sent to it
  (the client would warn that they have no effect); ``explain`` still reports them.
"""

from .adapter import QdrantAdapter
from .layout import CAPABILITIES, FIELD_METADATA_PREFIX, SPARSE_VECTOR_NAME, SPEC_METADATA_KEY

__all__ = [
    "CAPABILITIES",
    "FIELD_METADATA_PREFIX",
    "SPARSE_VECTOR_NAME",
    "SPEC_METADATA_KEY",
    "QdrantAdapter",
]
