"""Milvus adapter (``pymilvus.MilvusClient``): a Milvus server, Zilliz Cloud or Milvus Lite.

Client
------
pymilvus 3.0's ``AsyncMilvusClient`` cannot create an indexed collection on
Milvus Lite (its ``create_index`` waits through ``AllocTimestamp``, which Milvus
Lite does not implement), so the adapter uses the synchronous ``MilvusClient``
for both engines and runs every call in one of the store's own bounded worker
threads (:class:`~vectorgate_server.workers.StoreWorkers`, ``max_concurrency``),
never on the event loop nor the shared default pool. Every call carries a
timeout (``timeout_s``, default 60 s), which also bounds pymilvus' own retries
while a server is unreachable.

A ``uri`` ending in ``.db`` (without ``://``) is a Milvus Lite database file:
pymilvus starts Milvus Lite's in-process gRPC server for it; ``close`` stops
it once no adapter of this process uses the file any more.

Storage layout of collections vectorgate creates
------------------------------------------------
* ``id``: ``VARCHAR(512)`` primary key (the document id);
* ``vector``: ``FLOAT_VECTOR(dimension)``, indexed as the spec asks;
* ``<text_field>`` (default ``text``): ``VARCHAR(65535)``, the document text;
* ``metadata_str`` / ``metadata_num`` / ``metadata_bool`` / ``metadata_list``:
  ``JSON`` objects holding the metadata, split by value type
  (strings, numbers, bools, lists of strings);
* where the engine has full-text search (see *Keyword search*): the text
  field is analysed (``enable_analyzer``, the standard analyzer) and a BM25
  function fills ``text_bm25``, a ``SPARSE_FLOAT_VECTOR`` indexed
  ``SPARSE_INVERTED_INDEX`` with metric ``BM25``.

Why typed JSON fields rather than the dynamic field: Milvus Lite 3.x
evaluates filters in Python with three-valued logic, where ``true == 1`` and
``1 > 0`` hold for a bool and an ordering comparison against a string is
*unknown*; keeping each type in its own field makes every portable condition
look only at values of its own type, on the server and on Lite alike (see
:mod:`vectorgate_server.filters.milvus`). Lite's upsert also merges, rather
than replaces, dynamic keys of an existing row, while JSON fields are
replaced. The dynamic field stays disabled. As with typed columns, a
metadata key keeps one type per collection: an upsert giving a key a value of
another type than the stored documents (or an earlier document of the batch)
is rejected before anything is written (one ``exists`` query per batch).

Index: ``FLAT`` (exact search) unless the spec, or else the store's
``index_type`` / ``index_params``, names ``IVF_FLAT``, ``IVF_SQ8``,
``IVF_PQ`` (servers only), ``HNSW`` or ``AUTOINDEX``; parameters are checked
(name, integer, range) and those Milvus 2.3 requires are filled in
(``nlist`` 128, ``M`` 16, ``efConstruction`` 200).

The collection spec (dimension, metric, text field, embedding model, index
spec, create time) is stored as JSON in the collection property
``vectorgate.spec`` (Milvus Lite drops schema descriptions; both engines keep
properties) and, for people browsing the server, in the schema description.
Collections are created with consistency level ``Strong``, and every read
(search, query, count, get) asks for ``Strong`` unless the caller passes
``consistencyLevel``: an ``upsert`` is visible to the next read
(read-your-writes). ``count`` is a ``count(*)`` query, which needs no flush.

Collection names may contain ``-``, which Milvus forbids: such a name (or
one that starts with the escape prefix) is stored as ``_vg_`` + the name with
``_`` written ``_u`` and ``-`` written ``_d``; every other name is used as is,
so existing collections keep their names.

Collections vectorgate did not create
-------------------------------------
Described and searched from their schema: the primary key (``VARCHAR`` or
``INT64``; ids are ``str(pk)``), the vector field (``annsField``, else the
only or first ``FLOAT_VECTOR`` field), its index (type, params, metric) and
the text field (``milvus_text_field``, else the configured ``text_field``,
else a ``VARCHAR`` field named ``text``). A hit's metadata is every other
output field (and dynamic key): strings, numbers, bools and lists of strings
as they are, other values (JSON objects, numeric arrays) as JSON strings.
Filters compile against the schema fields and, with the dynamic field
enabled, ``$meta`` keys.

Scores
------
Milvus returns cosine similarity for ``COSINE``, the *squared* Euclidean
distance for ``L2`` and the inner product for ``IP``. The canonical value is
the raw value, except for ``L2`` where it is ``sqrt(max(raw, 0))``;
``score = normalise_score(metric, canonical)`` and ``raw_score`` is Milvus'
number unchanged.

Keyword search
--------------
:meth:`MilvusAdapter.keyword_search` ranks documents by BM25 through Milvus's
own full-text search: a BM25 function turns the analysed text field into a
sparse vector on write, and a search of that field with the query *text*
(``metric_type`` ``BM25``) ranks by relevance, the compiled filter applied
before ranking. It needs Milvus 2.5 or later, or Milvus Lite (in process or as
``milvus-lite server``); ``start`` reads the engine's version and sets
``capabilities.keyword_search`` accordingly (``False`` until then, and on
older servers such as 2.3). On such engines ``create_collection`` adds the
analyzer, the sparse field and the function, and records it in the
``vectorgate.spec`` property (``"keyword": {"function": "BM25", ...}``). A
collection without the function (created before, or on an older server) and
a foreign collection without a BM25 function fed by its text field cannot be
searched by keyword: ``Unsupported`` naming the collection and the reason
(copy it into a new collection to add the function).

Scores: BM25 relevance is strictly positive for a matching document (Milvus's
IDF is ``log(1 + (N - df + 0.5) / (df + 0.5))``). A Milvus server returns it
as the hit's ``distance``; Milvus Lite 3.x returns it negated (its sparse
search ranks by ascending distance, ``-score``). ``score`` is therefore
``abs(distance)`` on either engine, hits are ordered by it, and ``raw_score``
is the distance as returned. Non-matching documents are never returned.

Analyzer: the standard analyzer of each engine, which differ on text without
spaces: a server splits CJK text into single ideographs, Milvus Lite keeps a
run of word characters (regex ``\\w+``, so a whole CJK phrase) as one term. Emoji
and punctuation are not terms; a query without any word character matches
nothing (answered without a call).

Native search parameters
------------------------
Named as in LiteLLM's Milvus vector store: ``limit`` (must equal ``top_k``;
``top_k`` is the one way to size results), ``offset``, ``dbName`` (must
equal the configured database), ``annsField``, ``outputFields``
(Milvus field names to return, ``id`` meaning the primary key; they replace
the metadata part of the projection, so on a vectorgate collection name the
``metadata_*`` fields to keep metadata), ``filter``
(a Milvus boolean expression, ANDed with the compiled filter as
``(native) and (compiled)``; its brackets and quotes must balance),
``groupingField`` (Milvus Lite and servers >= 2.4; older servers ignore it
silently, so it is refused there), ``searchParams`` (``metric_type`` must be
the collection's; ``params``: ``nprobe``, ``ef``, ``level``, ``radius``,
``range_filter``), ``partitionNames`` (must exist), ``consistencyLevel``
(``Strong``, ``Bounded``, ``Session``, ``Eventually``) and
``milvus_text_field``. The store's ``native_defaults`` (e.g. a LiteLLM
registry entry's ``annsField``, ``milvus_text_field``, ``limit``) supply
defaults: ``annsField``, ``milvus_text_field``, ``outputFields`` and
``filter`` describe a collection vectorgate did not create and apply to such
collections only (and only where the named fields exist);
``consistencyLevel`` and ``searchParams.params`` apply to every collection; a
default ``limit`` is ignored (``top_k`` governs). Keys that are not Milvus
search parameters (LiteLLM-only settings) are ignored.
"""

from .adapter import MilvusAdapter
from .client import KEEPALIVE_TIME_MS, KEEPALIVE_TIMEOUT_MS, grpc_options
from .plan import NATIVE_PARAMS
from .schema import SPARSE_FIELD, SPEC_PROPERTY, collection_name, milvus_name

__all__ = [
    "KEEPALIVE_TIMEOUT_MS",
    "KEEPALIVE_TIME_MS",
    "NATIVE_PARAMS",
    "SPARSE_FIELD",
    "SPEC_PROPERTY",
    "MilvusAdapter",
    "collection_name",
    "grpc_options",
    "milvus_name",
]
