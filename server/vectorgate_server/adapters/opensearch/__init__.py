"""OpenSearch (k-NN plugin) through ``opensearch-py``'s ``AsyncOpenSearch``.

Index layout (one index per collection)
---------------------------------------

The index name is the collection name, reversibly mapped to OpenSearch's rules
(lower case, no leading ``_``): an upper-case letter ``X`` becomes ``~x`` and a
leading ``_`` becomes ``~_`` (``~`` never occurs in a collection name), after
an optional ``index_prefix``. Settings ``index.knn: true`` (``false`` for a
``FLAT`` collection, which builds no graph) and the mapping::

    dynamic: strict
    _meta: {vectorgate: {<the collection spec>}}
    properties:
      id:       keyword
      text:     text                 (the collection's text_field)
      vector:   knn_vector {dimension, method: {name: hnsw, engine, space_type,
                parameters: {m, ef_construction, ...}}}   (no method for FLAT)
      metadata: object with typed sub-objects str / num / bool / strs
    dynamic_templates: metadata.str.* and metadata.strs.* -> keyword,
                       metadata.num.* -> double, metadata.bool.* -> boolean

The typed metadata layout (see :mod:`vectorgate_server.filters.opensearch`)
keeps filters exact despite OpenSearch's query-value coercion. Metadata keys
are mapped dynamically (``dynamic: true`` below ``metadata`` only), so a new
key needs no mapping update; ``.`` in a key is written ``~``. The spec in
``_meta`` (dimension, metric, text field, embedding model, index spec, create
time) is what ``describe_collection`` returns after a
restart; an index vectorgate did not create is described from its mapping
(its first ``knn_vector`` field, preferring one named ``vector``).

Operations
----------

* Writes use ``_bulk`` with ``refresh=wait_for`` (returns once the documents
  are searchable: read-your-writes); per-item errors become domain errors
  naming the document (``documents[i]``, or ``columns.ids[i]`` for a row of a
  columnar batch, which ``upsert_columns`` writes from its columns without
  per-row documents). Deletes by id use ``_bulk`` too, by filter
  ``_delete_by_query`` with ``refresh=true``. ``upsert`` reads the mapping
  first: OpenSearch would auto-create a missing index on ``index`` actions, and
  the mapping holds the metadata key types (one type per key and collection,
  as on every backend; a whole batch is checked before anything is written).
* ``get`` uses ``_mget``; ``count`` uses ``_count``.
* Search: HNSW collections use the approximate ``knn`` query with the filter
  inside it (efficient filtering: applied during the graph search, never
  after); engines that cannot filter inside the graph (nmslib, faiss before
  2.9) and ``FLAT`` collections use exact k-NN: ``script_score`` with the
  ``knn_score`` script over a ``bool`` filter, which scores only matching
  documents. ``native_params.exact: true`` forces the exact path.
* Keyword search (``keyword_search``): a ``match`` query on the collection's
  text field (analysed by the field's analyzer, ``standard`` for collections
  vectorgate creates; any query word may match) as the ``bool``'s ``must``
  clause, the compiled filter as its ``filter`` clauses (they restrict, they do
  not score), ``size`` = top_k, ``track_total_hits: false``. Scores are
  OpenSearch's ``_score`` (Lucene BM25: positive, higher is better), returned
  as both ``score`` and ``raw_score``. A foreign index needs its text field
  (``text``) mapped as ``text``; otherwise keyword search is ``FailedPrecondition``.

Scores
------

OpenSearch returns a transformed score per space type; :func:`canonical_score`
inverts it exactly (``raw_score`` is the number OpenSearch returned):

* ``l2``: ``s = 1 / (1 + d²)`` -> ``d = sqrt(1/s - 1)``;
* ``innerproduct``: ``s = dot + 1`` if ``dot > 0`` else ``1 / (1 - dot)`` ->
  ``dot = s - 1`` if ``s > 1`` else ``1 - 1/s``;
* ``cosinesimil``: from OpenSearch 2.19 every path returns ``(1 + cos) / 2``
  -> ``cos = 2s - 1``. Before 2.19 the ``knn_score`` script returned
  ``1 + cos`` (-> ``cos = s - 1``) and approximate nmslib / faiss searches
  ``1 / (2 - cos)`` (-> ``cos = 2 - 1/s``); Lucene always ``(1 + cos) / 2``.

The cluster version is read once (``GET /``) to pick the right inversion.
Scores are float32, so the canonical values carry float32 precision (an L2
distance near 0 is known to about ``sqrt(6e-8)``).

Vendor documentation
--------------------

The OpenSearch behaviour this adapter relies on (and the project's OpenSearch
test server emulates), with the page it follows:

* index names lower case, not starting with ``_``:
  https://docs.opensearch.org/latest/api-reference/index-apis/create-index/ (index naming
  restrictions: "must be lowercase", "can't begin with underscores or hyphens");
* ``dynamic: strict`` refuses unmapped fields, ``dynamic`` below an object overrides it:
  https://docs.opensearch.org/latest/mappings/mapping-parameters/dynamic/ ;
  ``_meta`` keeps application data in the mapping:
  https://docs.opensearch.org/latest/mappings/metadata-fields/meta/ ;
* an ``index`` action on a missing index creates it (``action.auto_create_index``):
  https://docs.opensearch.org/latest/api-reference/document-apis/index-document/ ;
* ``_bulk``: per-item results, ``errors: true`` when an item failed, ``refresh=wait_for``
  returns once the writes are visible to search:
  https://docs.opensearch.org/latest/api-reference/document-apis/bulk/ ;
* search sees writes only after a refresh (near real time), while get/mget are real time:
  https://docs.opensearch.org/latest/api-reference/index-apis/refresh/ and
  https://docs.opensearch.org/latest/api-reference/document-apis/get-documents/ (``realtime``);
* ``_delete_by_query`` with ``refresh``:
  https://docs.opensearch.org/latest/api-reference/document-apis/delete-by-query/ ;
* the ``knn`` query with ``filter`` (efficient filtering, applied during the search) and
  ``method_parameters.ef_search``:
  https://docs.opensearch.org/latest/vector-search/filter-search-knn/efficient-knn-filtering/
  and https://docs.opensearch.org/latest/query-dsl/specialized/k-nn/ ;
* exact k-NN with the ``knn_score`` script over a filter:
  https://docs.opensearch.org/latest/vector-search/vector-search-techniques/knn-score-script/ ;
* the score of each space type (the inversions above):
  https://docs.opensearch.org/latest/mappings/supported-field-types/knn-spaces
  ("l2: score = 1 / (1 + d)" with d the squared distance, ...);
* ``match`` scored with BM25 (the default similarity), ``track_total_hits``:
  https://docs.opensearch.org/latest/query-dsl/full-text/match/ and
  https://docs.opensearch.org/latest/api-reference/search-apis/search/ ;
* the cosine scores before 2.19 (the second set of inversions above): approximate
  search "NMSLIB and Faiss: score = 1 / (1 + d); Lucene: score = (2 - d) / 2" and the
  ``knn_score`` script "score = 2 - d", with d = 1 - cos:
  https://docs.opensearch.org/2.18/search-plugins/knn/approximate-knn/ and
  https://docs.opensearch.org/2.18/search-plugins/knn/knn-score-script/ ;
* a zero vector is refused with ``cosinesimil`` ("Requests containing the zero vector will
  be rejected"): https://docs.opensearch.org/latest/mappings/supported-field-types/knn-spaces/ ;
* the version gates: efficient filtering with faiss HNSW "OpenSearch version 2.9 and
  later" (https://docs.opensearch.org/latest/vector-search/filter-search-knn/index/),
  "Starting with version 2.16, you can provide method_parameters in a search request"
  (https://docs.opensearch.org/latest/query-dsl/specialized/k-nn/index/), Lucene
  ``innerproduct`` "supported in OpenSearch 2.13 and later" and faiss ``cosinesimil``
  "supported in OpenSearch 2.19 and later"
  (https://docs.opensearch.org/latest/mappings/supported-field-types/knn-methods-engines/);
* ``index.knn: false`` (``FLAT``) builds no graph, "approximate k-NN search functionality
  will be disabled" and the exact script still works:
  https://docs.opensearch.org/latest/vector-search/settings/ ;
* at most ``index.max_result_window`` (default 10000) hits per search, "The maximum value
  of from + size":
  https://docs.opensearch.org/latest/install-and-configure/configuring-opensearch/index-settings/ ;
* ``scan`` pages with ``sort`` and ``search_after`` ("You can use search_after only when
  sorting is applied"):
  https://docs.opensearch.org/latest/search-plugins/searching-data/paginate/ ;
* ``_mget`` (per-document ``found``) and ``_count``:
  https://docs.opensearch.org/latest/api-reference/document-apis/multi-get/ and
  https://docs.opensearch.org/latest/api-reference/search-apis/count/ ;
* a keyword value longer than Lucene's term limit (32,766 UTF-8 bytes) fails its item:
  https://lucene.apache.org/core/9_12_0/core/org/apache/lucene/index/IndexWriter.html
  (``MAX_TERM_LENGTH``), the engine OpenSearch indexes with.

Requirements: OpenSearch 2.x / 3.x with the k-NN plugin; ``method_parameters``
(``native_params.ef_search``) needs 2.16, Lucene ``innerproduct`` 2.13, faiss
``cosinesimil`` 2.19. AWS SigV4 needs ``botocore``.

Modules
-------

:mod:`.layout` (names, constants, the ``Layout`` of an index), :mod:`.schema`
(index spec, create body, mapping -> layout), :mod:`.plan` (request bodies),
:mod:`.results` (scores, documents, hits), :mod:`.errors` (failures as domain
errors), :mod:`.client` (authentication, cluster version) and :mod:`.adapter`
(:class:`OpenSearchAdapter`).
"""

from .adapter import OpenSearchAdapter
from .layout import (
    BACKEND,
    ENGINES,
    INDEX_TYPES,
    SPEC_META_KEY,
    decode_index_name,
    encode_index_name,
)
from .plan import NATIVE_PARAMS
from .results import canonical_score

__all__ = [
    "BACKEND",
    "ENGINES",
    "INDEX_TYPES",
    "NATIVE_PARAMS",
    "SPEC_META_KEY",
    "OpenSearchAdapter",
    "canonical_score",
    "decode_index_name",
    "encode_index_name",
]
