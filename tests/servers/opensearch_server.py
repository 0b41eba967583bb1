"""A protocol-faithful, in-process OpenSearch (with the k-NN plugin) for tests.

No OpenSearch can run on the test machines, so this server speaks the subset
of the REST API that vectorgate's OpenSearch adapter uses, over real HTTP (the
official ``opensearch-py`` client talks to it unmodified), with OpenSearch's
semantics:

* cluster info ``GET /``;
* indices: create (``PUT /{index}``, settings and mappings validated: field
  types, ``knn_vector`` dimension / method / engine / space type, dynamic
  templates, ``_meta``), delete, exists (``HEAD``), get (``GET /{index}``,
  ``flat_settings``) and get mapping (``GET /_mapping``, ``GET /{index}/_mapping``),
  ``_refresh``;
* documents: ``_bulk`` (NDJSON; ``index``/``create``/``delete``; per-item
  results and errors with ``errors: true``; dynamic mapping, ``strict``
  objects, coercion and mapping conflicts; auto-creation of a missing index
  by ``index``/``create`` like ``action.auto_create_index``), ``_doc`` get /
  index / delete, ``_mget`` (per-document ``index_not_found_exception``);
* queries: ``bool`` (``must``/``filter``/``should``/``must_not``,
  ``minimum_should_match``), ``term``, ``terms``, ``range``, ``exists``,
  ``ids``, ``match_all``, ``match_none``, evaluated per field type the way
  OpenSearch does (keyword terms coerce numbers to strings, numeric fields parse
  the query value, unmapped fields match nothing, ...);
* full text: ``text`` fields are analysed by the ``standard`` analyzer (the
  only one mappings may name; see :func:`standard_analyze`) and ``match``
  (``query`` as a string or ``{query, operator: or|and, boost}``, at the top
  level or in any ``bool`` clause) is scored with Lucene's BM25 (k1 1.2, b
  0.75, one-byte length norms, per-field statistics of the single shard; see
  :func:`bm25_term_score`); ``bool`` sums its scoring clauses (``filter`` and
  ``must_not`` score nothing), boosts multiply; hits come best first with
  ``_score`` and ``max_score``;
* search: ``track_total_hits`` (``hits.total`` exact up to 10,000, absent when
  false); the approximate ``knn`` query (computed exactly with numpy, the
  ``filter`` applied *before* the top ``k``, ``method_parameters.ef_search``)
  and exact k-NN through ``script_score`` with the ``knn_score`` script, with
  OpenSearch's score translations for the emulated version (see
  :func:`knn_score`); ``_count``; ``_delete_by_query``;
* refresh semantics: writes are visible to ``GET``/``_mget`` at once
  (real-time get) but to ``_search``/``_count``/``_delete_by_query`` only
  after a refresh (``refresh=true|wait_for`` or ``_refresh``). The periodic
  ``refresh_interval`` is not emulated (as if it were ``-1``), so a client that
  forgets to refresh fails deterministically;
* errors shaped as OpenSearch returns them (``index_not_found_exception`` 404,
  ``resource_already_exists_exception`` 400, ``mapper_parsing_exception``,
  ``search_phase_execution_exception`` ...), optional HTTP basic auth (401).

Honesty: it enforces only what OpenSearch documents. Every refusal goes
through :func:`api_error` (or the helpers built on it) with its source
(:mod:`tests.servers.citations`): a :class:`Cite` of the OpenSearch
documentation page and its statement (the constants below), or
:class:`NotEmulated` for what this server does not implement (an endpoint,
query parameter, query type, body key or mapping parameter it does not know is
refused with a 400 whose reason says "this test server does not emulate ...",
so an adapter bug cannot pass silently, and is never presented as OpenSearch's
rule); ``tests/unit/test_double_citations.py`` checks every refusal. Rules
OpenSearch enforces without documenting them are left out (index names of more
than 255 bytes, nmslib refused for new indexes from 3.0, Lucene's ``m`` <= 512);
the one exception is Lucene's 32,766-byte term limit, cited from Lucene's own
documentation (OpenSearch's engine). Known simplifications: one shard; deleted documents leave
the BM25 statistics at once (as if merged away); leaf queries other than
``match`` score a constant (their boost, 1.0), where OpenSearch scores a ``term``
query with BM25 too; the standard tokenizer's Unicode word-break classes are
derived from general categories and block ranges.
"""

from __future__ import annotations

import base64
import copy
import fnmatch
import functools
import itertools
import json
import math
import re
import threading
import time
import unicodedata
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import numpy as np
import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from tests.servers.citations import Cite, NotEmulated, Source, check_source

__all__ = [
    "ApiError",
    "OpenSearchTestServer",
    "bm25_idf",
    "bm25_term_score",
    "decode_norm",
    "encode_norm",
    "knn_score",
    "standard_analyze",
]

DEFAULT_VERSION = "2.19.1"
MAX_DIMENSION = 16_000
MAX_TERMS = 65_536
MAX_RESULT_WINDOW = 10_000
MAX_K = 10_000
MAX_TERM_BYTES = 32_766
#: Lucene's ``maxClauseCount`` (``indices.query.bool.max_clause_count``).
MAX_CLAUSES = 1024

_NUMERIC_TYPES = frozenset({"long", "integer", "short", "byte", "double", "float", "half_float"})
_INTEGER_RANGES = {
    "long": (-(2**63), 2**63 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "short": (-(2**15), 2**15 - 1),
    "byte": (-(2**7), 2**7 - 1),
}
_COMMON_LEAF_PARAMS = frozenset({"type", "index", "store", "doc_values", "fields", "meta"})
_FIELD_PARAMS: dict[str, frozenset[str]] = {
    "keyword": _COMMON_LEAF_PARAMS | {"ignore_above", "null_value"},
    "text": _COMMON_LEAF_PARAMS | {"analyzer"},
    "boolean": _COMMON_LEAF_PARAMS | {"null_value"},
    "date": _COMMON_LEAF_PARAMS | {"format"},
    "knn_vector": frozenset(
        {"type", "dimension", "method", "data_type", "space_type", "mode", "compression_level"}
    ),
    "object": frozenset({"type", "properties", "dynamic", "enabled"}),
}
for _numeric in _NUMERIC_TYPES:
    _FIELD_PARAMS[_numeric] = _COMMON_LEAF_PARAMS | {"null_value", "coerce", "ignore_malformed"}

#: Space types each engine supports (OpenSearch 2.19 k-NN plugin; faiss has cosinesimil
#: from 2.19, lucene innerproduct from 2.13).
ENGINE_SPACES: dict[str, frozenset[str]] = {
    "lucene": frozenset({"l2", "cosinesimil", "innerproduct"}),
    "faiss": frozenset({"l2", "cosinesimil", "innerproduct"}),
    "nmslib": frozenset({"l2", "cosinesimil", "innerproduct", "l1", "linf"}),
}
#: HNSW method parameters each engine accepts in a mapping.
ENGINE_PARAMS: dict[str, frozenset[str]] = {
    "lucene": frozenset({"m", "ef_construction"}),
    "faiss": frozenset({"m", "ef_construction", "ef_search"}),
    "nmslib": frozenset({"m", "ef_construction"}),
}
_SCRIPT_SPACES = frozenset({"l2", "cosinesimil", "innerproduct", "l1", "linf"})
_INVALID_INDEX_CHARS = (" ", ",", ":", '"', "*", "+", "/", "\\", "|", "?", "#", ">", "<")
_DATE_RE = re.compile(r"^\d{4}[-/]\d{2}[-/]\d{2}([T ][0-9:.+\-Z]*)?$")

#: The mapping parameters OpenSearch documents (mappings/mapping-parameters/).
_DOCUMENTED_MAPPING_PARAMS = frozenset(
    {
        "analyzer",
        "boost",
        "coerce",
        "copy_to",
        "doc_values",
        "dynamic",
        "eager_global_ordinals",
        "enabled",
        "fielddata",
        "fields",
        "format",
        "ignore_above",
        "ignore_malformed",
        "index_options",
        "index",
        "index_phrases",
        "index_prefixes",
        "meta",
        "normalizer",
        "norms",
        "null_value",
        "position_increment_gap",
        "properties",
        "search_analyzer",
        "similarity",
        "store",
        "term_vector",
    }
)
_GLOBAL_PARAMS = frozenset({"pretty", "human", "error_trace"})
_INDEX_OPTS = frozenset({"ignore_unavailable", "allow_no_indices", "expand_wildcards"})
_SOURCE_PARAMS = frozenset({"_source", "_source_includes", "_source_excludes"})


# --------------------------------------------------------------------------- sources
# The OpenSearch documentation each rule below follows: the page and its statement
# (quoted, or closely paraphrased where marked "(paraphrase)"; "(table)" marks a row
# of a parameter table). Checked against the documentation-website sources.

_DOCS = "https://docs.opensearch.org/latest/"

INDEX_NAMING = Cite(
    _DOCS + "api-reference/index-apis/create-index/",
    "All letters must be lowercase. Index names can't begin with underscores (_) or hyphens "
    "(-). Index names can't contain spaces, commas, or the following characters: :, \", *, "
    "+, /, \\, |, ?, #, >, or <",
)
CREATE_INDEX = Cite(
    _DOCS + "api-reference/index-apis/create-index/",
    "(paraphrase) PUT /{index} creates a new index; the body takes settings, mappings and aliases.",
)
INDEX_NOT_FOUND = Cite(
    _DOCS + "api-reference/document-apis/delete-document/",
    "attempting to delete a document from a non-existent index returns an "
    "index_not_found_exception error.",
)
INDEX_SETTINGS = Cite(
    _DOCS + "install-and-configure/configuring-opensearch/index-settings/",
    "index.max_result_window (Integer): The maximum value of from + size for searches of the "
    "index. Default is 10000. index.max_terms_count (Integer): The maximum number of terms a "
    "terms query can accept. Default is 65536. index.number_of_shards (Integer): The number "
    "of primary shards in the index. index.number_of_replicas (Integer): The number of "
    "replica shards each primary shard should have. index.refresh_interval (Time unit): ... "
    "Can be set to -1 to disable refreshing.",
)
MAX_CLAUSE_COUNT = Cite(
    _DOCS + "install-and-configure/configuring-opensearch/index-settings/",
    "indices.query.bool.max_clause_count (Integer): Defines the maximum product of fields and "
    "terms that can be searched simultaneously. (paraphrase) Exceeding it raises TooManyClauses.",
)
KNN_SETTINGS = Cite(
    _DOCS + "vector-search/settings/",
    "(table) index.knn: Whether the index should build native library indexes for the "
    "knn_vector fields. If set to false, the knn_vector fields will be stored in doc values, "
    "but approximate k-NN search functionality will be disabled. (paraphrase) index.knn is a "
    "Boolean, index.knn.algo_param.ef_search an integer.",
)
MAPPINGS = Cite(
    _DOCS + "mappings/",
    "(paraphrase) A mapping defines fields with properties (field types and their "
    "parameters), dynamic, dynamic_templates, date_detection and _meta.",
)
MAPPING_PARAMS = Cite(
    _DOCS + "mappings/mapping-parameters/index/",
    "(paraphrase) Each field type accepts the mapping parameters listed for it.",
)
DYNAMIC = Cite(
    _DOCS + "mappings/mapping-parameters/dynamic/",
    "strict: Throws an exception. The indexing operation fails when new fields are detected.",
)
DYNAMIC_TEMPLATES = Cite(
    _DOCS + "mappings/",
    "(paraphrase) A dynamic template is a named object with match conditions "
    "(match_mapping_type, match, unmatch, path_match, path_unmatch) and a mapping.",
)
FIELD_TYPES = Cite(
    _DOCS + "mappings/supported-field-types/index/",
    "(paraphrase) A field's type is one of the supported field types.",
)
NUMERIC = Cite(
    _DOCS + "mappings/supported-field-types/numeric/",
    "byte: A signed 8-bit integer. Minimum is -128. Maximum is 127. (likewise short, integer, "
    "long) float: A single-precision 32-bit IEEE 754 floating-point value.",
)
BOOLEAN = Cite(
    _DOCS + "mappings/supported-field-types/boolean/",
    'A Boolean field type takes true or false values, or "true" or "false" strings. You can '
    'also pass an empty string ("") in place of a false value.',
)
KEYWORD = Cite(
    _DOCS + "mappings/supported-field-types/keyword/",
    "(table) ignore_above: Any string longer than this integer value should not be indexed.",
)
KNN_VECTOR = Cite(
    _DOCS + "mappings/supported-field-types/knn-vector/",
    "(table) dimension: The size of the vectors used. Valid values are in the [1, 16,000] "
    "range. Required.",
)
KNN_METHODS = Cite(
    _DOCS + "mappings/supported-field-types/knn-methods-engines/",
    "(table) name: Valid values are hnsw, ivf, and flat; engine: Valid values are faiss, "
    "lucene, and nmslib (deprecated); Not every method/engine combination supports each of "
    "the spaces; each engine's section lists its method parameters.",
)
KNN_ENGINE_SPACES = Cite(
    _DOCS + "mappings/supported-field-types/knn-methods-engines/",
    "(tables) Lucene hnsw: l2, cosinesimil, innerproduct (supported in OpenSearch 2.13 and "
    "later); Faiss hnsw: l2, innerproduct (not available when PQ is used), hamming, and "
    "cosinesimil (supported in OpenSearch "
    "2.19 and later); NMSLIB hnsw: l2, innerproduct, cosinesimil, l1, linf.",
)
KNN_SPACES = Cite(
    _DOCS + "mappings/supported-field-types/knn-spaces/",
    "With cosine similarity, it is not valid to pass a zero vector ([0, 0, ...]) as input. "
    "Requests containing the zero vector will be rejected, and a corresponding exception "
    "will be thrown.",
)
KNN_QUERY = Cite(
    _DOCS + "query-dsl/specialized/k-nn/index/",
    "(table) vector: Required. The data type of the vector elements must match the data type "
    "of vectors indexed in the knn_vector field searched. k: The number of nearest neighbors "
    "to return. Valid values are in the [1, 10,000] range.",
)
KNN_FILTER = Cite(
    _DOCS + "vector-search/filter-search-knn/index/",
    "Efficient k-nearest neighbors (k-NN) filtering ... is supported by the following "
    "engines: Lucene engine with a Hierarchical Navigable Small World (HNSW) algorithm "
    "(OpenSearch version 2.4 and later); Faiss engine with an HNSW algorithm (OpenSearch "
    "version 2.9 and later)",
)
SCORE_SCRIPT = Cite(
    _DOCS + "vector-search/vector-search-techniques/knn-score-script/",
    "(paraphrase) The script has lang knn, source knn_score and params field, query_value and "
    "space_type; the field must be a knn_vector field.",
)
BULK = Cite(
    _DOCS + "api-reference/document-apis/bulk/",
    "The Bulk API uses a newline-delimited JSON (NDJSON) structure for the request body. Each "
    "action is specified on one line, and if the action requires source data (such as for "
    "index, create, or update operations), the source data is provided on the following line.",
)
BULK_ID = Cite(
    _DOCS + "api-reference/document-apis/bulk/",
    "Beginning in OpenSearch 2.9, when indexing documents using the bulk operation, the "
    "document _id must be 512 bytes or less in size.",
)
INDEX_DOCUMENT = Cite(
    _DOCS + "api-reference/document-apis/index-document/",
    "(table) op_type: Valid values are create (indexes a document only if it does not already "
    "exist) and index (creates a new document or updates an existing document).",
)
MGET = Cite(
    _DOCS + "api-reference/document-apis/multi-get/",
    "(paraphrase) The body takes docs (each with _id and optionally _index and _source) or "
    "ids; an index is required in the path or in each doc.",
)
SEARCH = Cite(
    _DOCS + "api-reference/search-apis/search/",
    "(paraphrase) The request body takes query, from, size, _source, sort, search_after, "
    "timeout and track_total_hits (Boolean or Integer).",
)
COUNT = Cite(
    _DOCS + "api-reference/search-apis/count/",
    "(paraphrase) The count API takes a query in the request body.",
)
DELETE_BY_QUERY = Cite(
    _DOCS + "api-reference/document-apis/delete-by-query/",
    "(table) conflicts: What to do if delete by query hits version conflicts: abort or "
    "proceed. (paraphrase) The request body takes a query.",
)
REFRESH = Cite(
    _DOCS + "api-reference/document-apis/bulk/",
    "(table) refresh: Whether to refresh the affected shards after performing the indexing "
    "operations. Default is false. ... wait_for waits for a refresh.",
)
QUERY_DSL = Cite(
    _DOCS + "query-dsl/index/",
    "(paraphrase) A query is a JSON object naming one query type, whose body is an object.",
)
MINIMUM_SHOULD_MATCH = Cite(
    _DOCS + "query-dsl/minimum-should-match/",
    "(paraphrase) minimum_should_match takes an integer, a negative integer, a percentage or a "
    "negative percentage.",
)
TERM_QUERY = Cite(
    _DOCS + "query-dsl/term/term/",
    "The <field> accepts the following parameters. All parameters except value are optional.",
)
TERMS_QUERY = Cite(
    _DOCS + "query-dsl/term/terms/",
    "By default, the maximum number of terms allowed in a terms query is 65,536. To change the "
    "maximum number of terms, update the index.max_terms_count setting.",
)
RANGE_QUERY = Cite(
    _DOCS + "query-dsl/term/range/",
    "(paraphrase) A range query takes one field with the operators gte, gt, lte and lt.",
)
EXISTS_QUERY = Cite(
    _DOCS + "query-dsl/term/exists/",
    "Use the exists query to search for documents that contain a specific field.",
)
IDS_QUERY = Cite(
    _DOCS + "query-dsl/term/ids/",
    "Use the ids query to search for documents with one or more specific document ID values "
    "in the _id field.",
)
MATCH_QUERY = Cite(
    _DOCS + "query-dsl/full-text/match/",
    "(paraphrase) The query is analyzed and the resulting tokens are combined with the "
    "operator (or, the default, or and); a match query requires a query value.",
)
BOOST = Cite(
    _DOCS + "mappings/mapping-parameters/boost/",
    "(paraphrase) boost is a floating-point multiplier of relevance scores.",
)
SOURCE = Cite(
    _DOCS + "api-reference/search-apis/search/",
    "(paraphrase) _source: whether to include the _source field in the response, or the "
    "fields (and includes / excludes patterns) to return.",
)
TIME_UNITS = Cite(
    _DOCS + "api-reference/units/",
    "The supported units for time are d for days, h for hours, m for minutes, s for seconds, "
    "ms for milliseconds, micros for microseconds, and nanos for nanoseconds.",
)
PARAMETERS = Cite(
    _DOCS + "api-reference/common-parameters/",
    "(paraphrase) Boolean query parameters take true or false; each API lists the query "
    "parameters it accepts.",
)
JSON_BODY = Cite(
    _DOCS + "api-reference/index/",
    "(paraphrase) REST request bodies are JSON (the bulk API takes NDJSON).",
)
AUTH = Cite(
    _DOCS + "security/authentication-backends/basic-authc/",
    "When challenge is set to true, the Security plugin sends a response with the status "
    "UNAUTHORIZED (401) back to the client.",
)
INDEX_ALREADY_EXISTS = Cite(
    _DOCS + "api-reference/index-apis/create-index/",
    "(paraphrase) Create index creates a new index; OpenSearch refuses an existing name with "
    "resource_already_exists_exception (the page does not show the error; the replication "
    "plugin's bulk API page shows it).",
)
KNN_METHOD_PARAMETERS = Cite(
    _DOCS + "query-dsl/specialized/k-nn/index/",
    "(table) method_parameters: Additional parameters for fine-tuning the search: ef_search "
    "(Integer): The number of vectors to examine (for the hnsw method); nprobes (Integer) "
    "(for the ivf method).",
)
SEARCH_AFTER = Cite(
    _DOCS + "search-plugins/searching-data/paginate/",
    "The search_after parameter provides a live cursor that uses the previous page's results "
    "to obtain the next page's results. ... You can use search_after only when sorting is "
    "applied.",
)
FINITE_FLOATS = Cite(
    _DOCS + "mappings/",
    "(dynamic mapping table) float: A single-precision, 32-bit IEEE 754 floating-point "
    "number, restricted to finite values.",
)
INDEX_PARAM = Cite(
    _DOCS + "mappings/mapping-parameters/index-parameter/",
    "When set to false, the field is stored in the document but not indexed, making it "
    "non-searchable.",
)
LUCENE_TERM_LENGTH = Cite(
    "https://lucene.apache.org/core/9_12_0/core/org/apache/lucene/index/IndexWriter.html"
    "#MAX_TERM_LENGTH",
    "MAX_TERM_LENGTH (32766): Absolute hard maximum length for a term, in bytes once encoded "
    "as UTF8. If a term arrives from the analyzer longer than this length, an "
    "IllegalArgumentException is thrown.",
)
# What this server does not implement (refused, and said so; not OpenSearch's rules).
_ENDPOINTS = NotEmulated("endpoints and HTTP methods other than those listed in this module")
_PARAMS = NotEmulated("query parameters other than those it lists for each endpoint")
_ALIASES = NotEmulated("aliases")
#: A key or parameter outside what this server implements. OpenSearch refuses unknown
#: ones too, but this server cannot tell them from documented ones it lacks.
_UNKNOWN_KEY = NotEmulated("this key here (it implements only the keys the adapter sends)")
_MAPPING_PARAM = NotEmulated(
    "this documented mapping parameter on this field type (model_id, copy_to, norms, ...)"
)
_SETTINGS = NotEmulated(
    "index settings other than index.knn, index.knn.algo_param.ef_search, "
    "index.max_result_window, number_of_shards / number_of_replicas and refresh_interval"
)


def parse_version(version: str) -> tuple[int, ...]:
    """``"2.19.1"`` -> ``(2, 19, 1)``."""
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


# --------------------------------------------------------------------------- errors


class ApiError(Exception):
    """An OpenSearch error response."""

    def __init__(
        self,
        status: int,
        type_: str,
        reason: str,
        *,
        caused_by: Mapping[str, Any] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(f"{type_}: {reason}")
        self.status = status
        self.type = type_
        self.reason = reason
        self.caused_by = dict(caused_by) if caused_by else None
        self.extra = extra

    def cause(self) -> dict[str, Any]:
        """The error object (``root_cause`` entries and bulk item errors have this shape)."""
        out: dict[str, Any] = {"type": self.type, "reason": self.reason, **self.extra}
        if self.caused_by:
            out["caused_by"] = self.caused_by
        return out

    def body(self) -> dict[str, Any]:
        """The full response body."""
        root = {"type": self.type, "reason": self.reason, **self.extra}
        return {"error": {"root_cause": [root], **self.cause()}, "status": self.status}


def _reason(reason: str, source: Source) -> str:
    source = check_source(source)
    return source.message(reason) if isinstance(source, NotEmulated) else reason


def api_error(
    status: int,
    type_: str,
    reason: str,
    *,
    source: Source,
    caused_by: Mapping[str, Any] | None = None,
    **extra: Any,
) -> ApiError:
    """An OpenSearch error response; ``source`` says where the refusal comes from.

    A :class:`NotEmulated` source appends to the reason that this server does not
    emulate the thing refused (see :mod:`tests.servers.citations`).
    """
    return ApiError(status, type_, _reason(reason, source), caused_by=caused_by, **extra)


def index_not_found(name: str, *, source: Source) -> ApiError:
    """OpenSearch's 404 for a missing index."""
    return api_error(
        404,
        "index_not_found_exception",
        f"no such index [{name}]",
        source=source,
        **_resource(name, "index_or_alias"),
    )


def _resource(name: str, kind: str) -> dict[str, Any]:
    return {"index": name, "resource.id": name, "resource.type": kind, "index_uuid": "_na_"}


def _bad_request(
    reason: str, type_: str = "illegal_argument_exception", *, source: Source
) -> ApiError:
    return api_error(400, type_, reason, source=source)


def _parsing(reason: str, *, source: Source) -> ApiError:
    return api_error(400, "parsing_exception", reason, source=source, line=1, col=1)


def _mapper_parsing(
    reason: str, caused_by: Mapping[str, Any] | None = None, *, source: Source
) -> ApiError:
    return api_error(400, "mapper_parsing_exception", reason, source=source, caused_by=caused_by)


class _ShardError(Exception):
    """A query that fails on the shard (wrapped in ``search_phase_execution_exception``)."""

    def __init__(
        self, reason: str, type_: str = "query_shard_exception", *, source: Source
    ) -> None:
        reason = _reason(reason, source)
        super().__init__(reason)
        self.reason = reason
        self.type = type_


# --------------------------------------------------------------------------- scores


def _as_f32(value: float) -> float:
    """A float32 score as OpenSearch prints it (Java's shortest float repr)."""
    return float(str(np.float32(value)))


def knn_score(
    space_type: str,
    query: np.ndarray,
    vectors: np.ndarray,
    *,
    engine: str | None,
    exact_script: bool,
    version: tuple[int, ...],
) -> np.ndarray:
    """OpenSearch scores (float32) of ``vectors`` (rows) against ``query``.

    Approximate ``knn`` query (``exact_script`` False) and the ``knn_score``
    script (True), per the k-NN plugin's ``SpaceType.scoreTranslation`` and
    ``KNNScoringSpace``:

    ==============  ==========================================  ===========================
    space type      approximate (``knn``)                       ``knn_score`` script
    ==============  ==========================================  ===========================
    l2              1 / (1 + sum((x - y)^2))                    same
    cosinesimil     (1 + cos) / 2; before 2.19, nmslib and      (1 + cos) / 2 from 2.19,
                    faiss: 1 / (1 + (1 - cos))                  1 + cos before
    innerproduct    dot > 0: dot + 1, else 1 / (1 - dot)        same
    l1, linf        1 / (1 + d)                                 same
    ==============  ==========================================  ===========================
    """
    q = query.astype(np.float32)
    v = vectors.astype(np.float32)
    if space_type == "l2":
        diff = v - q
        return np.asarray(1.0 / (1.0 + np.sum(diff * diff, axis=1, dtype=np.float32)), np.float32)
    if space_type == "l1":
        return np.asarray(1.0 / (1.0 + np.sum(np.abs(v - q), axis=1, dtype=np.float32)), np.float32)
    if space_type == "linf":
        return np.asarray(1.0 / (1.0 + np.max(np.abs(v - q), axis=1)), np.float32)
    if space_type == "innerproduct":
        dot = (v @ q).astype(np.float32)
        return np.where(dot > 0, dot + 1.0, 1.0 / (1.0 - np.minimum(dot, 0.0))).astype(np.float32)
    if space_type == "cosinesimil":
        norms = np.linalg.norm(v, axis=1) * np.linalg.norm(q)
        cos = ((v @ q) / np.where(norms == 0, 1.0, norms)).astype(np.float32)
        modern = version >= (2, 19)
        if exact_script:
            out = (1.0 + cos) / 2.0 if modern else 1.0 + cos
        elif modern or engine == "lucene":
            out = np.maximum((1.0 + cos) / 2.0, 0.0)
        else:
            out = 1.0 / (1.0 + (1.0 - cos))
        return np.asarray(out, dtype=np.float32)
    raise _bad_request(
        "Invalid space type. Please refer to the available space types.", source=KNN_SPACES
    )


# --------------------------------------------------------------------------- analysis

#: The standard tokenizer's default ``max_token_length`` (UTF-16 code units).
MAX_TOKEN_LENGTH = 255
#: Lucene ``BM25Similarity`` defaults (OpenSearch's default similarity).
BM25_K1 = 1.2
BM25_B = 0.75

_MID_LETTER = frozenset("\u003a\u00b7\u0387\u055f\u05f4\u2027\ufe13\ufe55\uff1a")
_MID_NUM_LET = frozenset("\u002e\u2018\u2019\u2024\ufe52\uff07\uff0e")
_MID_NUM = frozenset(
    "\u002c\u003b\u037e\u0589\u060c\u060d\u066c\u07f8\u2044\ufe10\ufe14\ufe50\ufe54\uff0c\uff1b"
)
#: Southeast Asian scripts (Line_Break=SA): Lucene keeps a run of them as one token.
_SA_RANGES = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x1950, 0x19DF),  # Tai Le, New Tai Lue
    (0x19E0, 0x19FF),  # Khmer symbols
    (0x1A20, 0x1AAF),  # Tai Tham
    (0xA9E0, 0xA9FF),  # Myanmar extended-B
    (0xAA60, 0xAADF),  # Myanmar extended-A, Tai Viet
)
_IDEOGRAPHIC_RANGES = (
    (0x3005, 0x3007),
    (0x3021, 0x3029),
    (0x3038, 0x303B),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0x20000, 0x3FFFF),
)
_KATAKANA_EXTRA = frozenset("\u3031\u3032\u3033\u3034\u3035\u309b\u309c\u30a0\u30fc\uff70")
_WORD_CLASSES = frozenset({"ALetter", "Hebrew", "Numeric", "Katakana"})


def _in_ranges(cp: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(low <= cp <= high for low, high in ranges)


@functools.lru_cache(maxsize=4096)
def _word_break(ch: str) -> str:
    """The UAX #29 Word_Break class of a character (approximated from its general category)."""
    cp = ord(ch)
    if ch == "\u200d":
        return "ZWJ"
    if 0x1F1E6 <= cp <= 0x1F1FF:
        return "RI"
    if 0x1F3FB <= cp <= 0x1F3FF or 0xFE00 <= cp <= 0xFE0F:
        return "Extend"
    category = unicodedata.category(ch)
    if ch in "\r\n\x0b\x0c\x85\u2028\u2029":
        return "Newline"
    if ch == "'":
        return "SingleQuote"
    if ch == '"':
        return "DoubleQuote"
    if ch in _MID_LETTER:
        return "MidLetter"
    if ch in _MID_NUM_LET:
        return "MidNumLet"
    if ch in _MID_NUM:
        return "MidNum"
    if category == "Pc" or ch == "\u202f":
        return "ExtendNumLet"
    if _in_ranges(cp, _SA_RANGES) and category[0] in "LM":
        return "SA"
    if category in ("Mn", "Me", "Mc"):
        return "Extend"
    if category == "Cf":
        return "Format"
    if ch in _KATAKANA_EXTRA or 0x30A1 <= cp <= 0x30FF or 0x31F0 <= cp <= 0x31FF:
        return "Katakana"
    if 0x32D0 <= cp <= 0x32FE or 0x3300 <= cp <= 0x3357 or 0xFF66 <= cp <= 0xFF9D:
        return "Katakana"
    if 0x3041 <= cp <= 0x309F:
        return "Hiragana"
    if _in_ranges(cp, _IDEOGRAPHIC_RANGES):
        return "Ideographic"
    if category == "Lo" and (0x05D0 <= cp <= 0x05F2 or 0xFB1D <= cp <= 0xFB4F):
        return "Hebrew"
    if category == "Nd":
        return "Numeric"
    if category[0] == "L" or category == "Nl":
        return "ALetter"
    if 0x1F000 <= cp <= 0x1FAFF:
        return "Emoji"
    if category == "So" and (0x2600 <= cp <= 0x27BF or 0x2B00 <= cp <= 0x2BFF):
        return "TextEmoji"
    return "Other"


def standard_analyze(text: str) -> list[str]:
    """OpenSearch's ``standard`` analyzer: the standard tokenizer, then lower case.

    The standard tokenizer splits on Unicode word boundaries (UAX #29):
    letters and digits joined by ``_`` or across ``.`` ``'`` (and ``:`` between
    letters, ``,`` ``;`` between digits) stay one token, so ``"ZX-4471-Q"``
    gives ``zx``, ``4471``, ``q`` and ``"e.g."`` gives ``e.g``; each CJK
    ideograph and hiragana character is a token; a run of Thai / Lao / Khmer /
    Myanmar letters is one token; emoji are tokens; punctuation and spaces are
    dropped; tokens longer than 255 UTF-16 units are split. Lower-casing maps
    each code point like Java's ``Character.toLowerCase``. The Word_Break
    classes come from general categories and block ranges (Python has no
    Word_Break property), which matches the standard tokenizer on real text.
    """
    # WB4: extenders (combining marks, format characters, ZWJ) belong to the
    # character before them. A unit is [text, class, ends with ZWJ].
    units: list[tuple[str, str, bool]] = []
    for ch in text:
        kind = _word_break(ch)
        if kind in ("Extend", "Format", "ZWJ") and units and units[-1][1] != "Newline":
            previous, previous_kind, _ = units[-1]
            units[-1] = (previous + ch, previous_kind, kind == "ZWJ")
            continue
        units.append((ch, kind, False))
    tokens: list[str] = []
    i, n = 0, len(units)

    def base(j: int) -> str:
        return units[j][1] if 0 <= j < n else ""

    while i < n:
        kind = base(i)
        if kind in _WORD_CLASSES or kind == "ExtendNumLet":
            start = i
            while i + 1 < n:
                left, right = base(i), base(i + 1)
                after = base(i + 2)
                ahl = ("ALetter", "Hebrew")
                if (
                    (left in ahl and right in ahl)  # WB5
                    or (left in ahl and right == "Numeric")  # WB9
                    or (left == "Numeric" and right in (*ahl, "Numeric"))  # WB8, WB10
                    or (left == "Katakana" and right == "Katakana")  # WB13
                    or (right == "ExtendNumLet" and left in _WORD_CLASSES | {"ExtendNumLet"})
                    or (left == "ExtendNumLet" and right in (*ahl, "Numeric", "Katakana"))
                    or (left == "Hebrew" and right == "SingleQuote")  # WB7a
                ):
                    i += 1
                    continue
                mid_letter = ("MidLetter", "MidNumLet", "SingleQuote")
                mid_num = ("MidNum", "MidNumLet", "SingleQuote")
                if (
                    (left in ahl and right in mid_letter and after in ahl)  # WB6, WB7
                    or (left == "Numeric" and right in mid_num and after == "Numeric")  # WB11/12
                    or (left == "Hebrew" and right == "DoubleQuote" and after == "Hebrew")  # WB7b/c
                ):
                    i += 2
                    continue
                break
            if any(base(j) in _WORD_CLASSES for j in range(start, i + 1)):
                tokens.append("".join(units[j][0] for j in range(start, i + 1)))
            i += 1
        elif kind in ("Ideographic", "Hiragana"):
            tokens.append(units[i][0])
            i += 1
        elif kind == "SA":
            start = i
            while i + 1 < n and base(i + 1) == "SA":
                i += 1
            tokens.append("".join(units[j][0] for j in range(start, i + 1)))
            i += 1
        elif kind == "RI":
            pair = i + 1 < n and base(i + 1) == "RI"
            tokens.append(units[i][0] + (units[i + 1][0] if pair else ""))
            i += 2 if pair else 1
        elif kind == "Emoji" or (kind == "TextEmoji" and "\ufe0f" in units[i][0]):
            start = i
            # WB3c: ZWJ x Extended_Pictographic keeps an emoji ZWJ sequence together.
            while i + 1 < n and units[i][2] and base(i + 1) in ("Emoji", "TextEmoji"):
                i += 1
            tokens.append("".join(units[j][0] for j in range(start, i + 1)))
            i += 1
        else:
            i += 1
    return [piece for token in tokens for piece in _split_long(_lower(token))]


def _lower(token: str) -> str:
    """Java ``Character.toLowerCase`` per code point (simple case mapping)."""
    lowered = token.lower()
    if len(lowered) == len(token):
        return lowered
    return "".join(ch.lower()[0] for ch in token)


def _split_long(token: str) -> list[str]:
    """A token cut into pieces of at most ``MAX_TOKEN_LENGTH`` UTF-16 code units."""
    if len(token) * 2 <= MAX_TOKEN_LENGTH:
        return [token]
    pieces: list[str] = []
    current: list[str] = []
    width = 0
    for ch in token:
        size = 2 if ord(ch) > 0xFFFF else 1
        if width + size > MAX_TOKEN_LENGTH:
            pieces.append("".join(current))
            current, width = [], 0
        current.append(ch)
        width += size
    if current:
        pieces.append("".join(current))
    return pieces


# --------------------------------------------------------------------------- BM25


def _f32(value: float) -> np.float32:
    return np.float32(value)


def _long_to_int4(i: int) -> int:
    """Lucene ``SmallFloat.longToInt4``."""
    bits = i.bit_length()
    if bits < 4:
        return i
    shift = bits - 4
    return ((i >> shift) & 0x07) | ((shift + 1) << 3)


def _int4_to_long(i: int) -> int:
    """Lucene ``SmallFloat.int4ToLong``."""
    bits = i & 0x07
    shift = (i >> 3) - 1
    return bits if shift == -1 else (bits | 0x08) << shift


_NUM_FREE_VALUES = 255 - _long_to_int4(2**31 - 1)


def encode_norm(length: int) -> int:
    """The one-byte norm Lucene stores for a field of ``length`` tokens (``intToByte4``)."""
    if length < _NUM_FREE_VALUES:
        return length
    return _NUM_FREE_VALUES + _long_to_int4(length - _NUM_FREE_VALUES)


def decode_norm(norm: int) -> int:
    """The field length BM25 sees for a stored norm (``byte4ToInt``): exact below 24 tokens."""
    if norm < _NUM_FREE_VALUES:
        return norm
    return _NUM_FREE_VALUES + _int4_to_long(norm - _NUM_FREE_VALUES)


def bm25_idf(doc_freq: int, doc_count: int) -> np.float32:
    """Lucene's BM25 idf: ``ln(1 + (N - n + 0.5) / (n + 0.5))``, computed in double, as float."""
    return _f32(math.log(1 + (doc_count - doc_freq + 0.5) / (doc_freq + 0.5)))


def bm25_term_score(
    freq: int,
    length: int,
    *,
    doc_freq: int,
    doc_count: int,
    sum_total_term_freq: int,
    boost: float = 1.0,
) -> np.float32:
    """One term's score in one document, as Lucene 9's ``BM25Similarity`` computes it.

    ``weight * freq / (freq + k1 * (1 - b + b * dl / avgdl))`` with ``weight =
    boost * idf``, ``dl`` the document's field length after the lossy norm
    encoding and ``avgdl`` the field's mean length over the documents that
    have it, in Lucene's float arithmetic (``weight - weight / (1 + freq / norm)``).
    """
    k1, b = _f32(BM25_K1), _f32(BM25_B)
    weight = _f32(boost) * bm25_idf(doc_freq, doc_count)
    avgdl = _f32(sum_total_term_freq / doc_count)
    dl = _f32(decode_norm(encode_norm(length)))
    norm_inverse = _f32(1) / (k1 * ((_f32(1) - b) + b * dl / avgdl))
    return np.float32(weight - weight / (_f32(1) + _f32(freq) * norm_inverse))


# --------------------------------------------------------------------------- storage


@dataclass
class Doc:
    """One stored document."""

    id: str
    source: dict[str, Any]
    version: int
    seq_no: int
    #: Indexed leaf values per full field path (keyword/text tokens/numbers/bools).
    values: dict[str, list[Any]] = field(default_factory=dict)
    #: ``knn_vector`` values per full field path.
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    #: Term frequencies per ``text`` field path, computed on first use.
    _term_freqs: dict[str, Counter[str]] = field(default_factory=dict, repr=False)

    def term_freqs(self, path: str) -> Counter[str]:
        """How often each token occurs in the text field ``path`` (all its values)."""
        freqs = self._term_freqs.get(path)
        if freqs is None:
            freqs = self._term_freqs[path] = Counter(self.values.get(path, ()))
        return freqs


@dataclass
class Index:
    """One index (one shard)."""

    name: str
    uuid: str
    creation_date: int
    settings: dict[str, str]
    mapping: dict[str, Any]
    live: dict[str, Doc] = field(default_factory=dict)
    searchable: dict[str, Doc] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    seq_no: int = -1

    def refresh(self) -> None:
        """Make every write so far visible to search."""
        self.searchable = dict(self.live)

    def setting(self, key: str, default: str | None = None) -> str | None:
        """A flat setting value."""
        return self.settings.get(key, default)

    @property
    def knn_enabled(self) -> bool:
        """``index.knn``."""
        return self.settings.get("index.knn", "false") == "true"

    def field_mapping(self, path: str) -> dict[str, Any] | None:
        """The mapping of a field by full path (multi-fields included), or None."""
        node: dict[str, Any] = self.mapping
        parts = path.split(".")
        i = 0
        while i < len(parts):
            props = node.get("properties", {})
            if parts[i] in props:
                node = props[parts[i]]
                i += 1
                continue
            subfields = node.get("fields", {})
            if parts[i] in subfields and i == len(parts) - 1:
                return dict(subfields[parts[i]])
            return None
        return node


def _field_type(mapping: Mapping[str, Any]) -> str:
    return str(mapping.get("type", "object"))


# --------------------------------------------------------------------------- the server


class OpenSearchTestServer:
    """The HTTP server; run it with :meth:`start` (background thread) or as a context manager."""

    def __init__(
        self,
        *,
        version: str = DEFAULT_VERSION,
        username: str | None = None,
        password: str | None = None,
        default_engine: str | None = None,
    ) -> None:
        self.version = version
        self.version_tuple = parse_version(version)
        self.username = username
        self.password = password
        #: The engine of a method without ``engine`` (faiss from 2.18; nmslib before).
        self.default_engine = default_engine or (
            "faiss" if self.version_tuple >= (2, 18) else "nmslib"
        )
        self.indices: dict[str, Index] = {}
        #: Every request served: (method, path, params, parsed body or raw text).
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self._lock = threading.RLock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """Base URL (``http://127.0.0.1:<port>``)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> OpenSearchTestServer:
        """Serve on 127.0.0.1, an OS-chosen port, in a daemon thread."""
        config = uvicorn.Config(
            self.asgi,
            host="127.0.0.1",
            port=0,
            log_level="error",
            access_log=False,
            lifespan="off",
            interface="asgi3",
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="opensearch-test-server", daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the OpenSearch test server did not start")
            time.sleep(0.01)
        self.port = server.servers[0].sockets[0].getsockname()[1]
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=30)
        self._server = self._thread = None

    def __enter__(self) -> OpenSearchTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget every index and request."""
        with self._lock:
            self.indices.clear()
            self.requests.clear()

    # ------------------------------------------------------------------ HTTP

    async def asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI application."""
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        raw = await request.body()
        with self._lock:
            response = self._handle(request, raw)
        await response(scope, receive, send)

    def _handle(self, request: Request, raw: bytes) -> Response:
        method = request.method
        path = request.url.path
        params = dict(request.query_params)
        if len(request.query_params.multi_items()) != len(params):
            return _json(
                _bad_request(
                    "repeated query parameter", source=NotEmulated("repeated query parameters")
                ).body(),
                400,
            )
        if self.username is not None and not self._authorised(request):
            check_source(AUTH)  # HTTP basic authentication's challenge (401)
            return Response(
                "Unauthorized",
                status_code=401,
                headers={"WWW-Authenticate": 'Basic realm="OpenSearch Security"'},
                media_type="text/plain",
            )
        try:
            body = self._decode_body(path, raw)
            self.requests.append((method, path, params, body))
            status, payload = self._route(method, path, params, body)
        except ApiError as err:
            status, payload = err.status, err.body()
        if method == "HEAD":
            return Response(status_code=status)
        return _json(payload, status)

    def _authorised(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == self.username and password == self.password

    @staticmethod
    def _decode_body(path: str, raw: bytes) -> Any:
        if not raw.strip():
            return None
        text = raw.decode("utf-8")
        if path.rstrip("/").endswith("/_bulk") or path == "/_bulk":
            return text
        try:
            return json.loads(text)
        except ValueError as exc:
            raise api_error(
                400,
                "json_parse_exception",
                f"Unexpected character in request body: {exc}",
                source=JSON_BODY,
            ) from exc

    def _route(self, method: str, path: str, params: dict[str, str], body: Any) -> tuple[int, Any]:
        parts = [unquote(p) for p in path.strip("/").split("/") if p]
        head = parts[0] if parts else ""
        if not parts:
            if method in ("GET", "HEAD"):
                self._params(params, set())
                return 200, self._info()
        elif len(parts) == 1 and head == "_bulk" and method in ("POST", "PUT"):
            return self._bulk(None, params, body)
        elif len(parts) == 1 and head == "_mapping" and method == "GET":
            self._params(
                params, _INDEX_OPTS | {"local", "master_timeout", "cluster_manager_timeout"}
            )
            return 200, {
                name: {"mappings": ix.mapping} for name, ix in sorted(self.indices.items())
            }
        elif len(parts) == 1 and head == "_mget" and method in ("GET", "POST"):
            return self._mget(None, params, body)
        elif len(parts) == 1 and (not head.startswith("_") or method == "PUT"):
            return self._index_endpoint(method, head, params, body)
        elif len(parts) == 2 and not head.startswith("_"):
            action = parts[1]
            handler = {
                ("GET", "_mapping"): self._get_mapping,
                ("POST", "_bulk"): self._bulk,
                ("PUT", "_bulk"): self._bulk,
                ("GET", "_mget"): self._mget,
                ("POST", "_mget"): self._mget,
                ("GET", "_search"): self._search,
                ("POST", "_search"): self._search,
                ("GET", "_count"): self._count,
                ("POST", "_count"): self._count,
                ("POST", "_delete_by_query"): self._delete_by_query,
                ("GET", "_refresh"): self._refresh,
                ("POST", "_refresh"): self._refresh,
            }.get((method, action))
            if handler is not None:
                return handler(head, params, body)
        elif len(parts) == 3 and not head.startswith("_") and parts[1] == "_doc":
            return self._doc(method, head, parts[2], params, body)
        raise api_error(
            400,
            "illegal_argument_exception",
            f"no handler found for uri [{path}] and method [{method}]",
            source=_ENDPOINTS,
        )

    @staticmethod
    def _params(params: Mapping[str, str], allowed: Iterable[str]) -> None:
        allowed_set = set(allowed) | _GLOBAL_PARAMS
        unknown = sorted(k for k in params if k not in allowed_set)
        if unknown:
            raise _bad_request(
                f"request contains unrecognized parameter{'s' if len(unknown) > 1 else ''}: "
                + ", ".join(f"[{k}]" for k in unknown),
                source=_PARAMS,
            )

    def _index(self, name: str) -> Index:
        if any(ch in name for ch in "*,"):
            raise _bad_request(
                f"index expression [{name}]",
                source=NotEmulated("index expressions (wildcards, lists, aliases)"),
            )
        index = self.indices.get(name)
        if index is None:
            raise index_not_found(name, source=INDEX_NOT_FOUND)
        return index

    # ------------------------------------------------------------------ cluster

    def _info(self) -> dict[str, Any]:
        return {
            "name": "vectorgate-test-node",
            "cluster_name": "vectorgate-test",
            "cluster_uuid": "vectorgate-test-cluster-uuid",
            "version": {
                "distribution": "opensearch",
                "number": self.version,
                "build_type": "tar",
                "build_hash": "0000000000000000000000000000000000000000",
                "build_date": "2025-01-01T00:00:00.000000Z",
                "build_snapshot": False,
                "lucene_version": "9.12.1",
                "minimum_wire_compatibility_version": "7.10.0",
                "minimum_index_compatibility_version": "7.0.0",
            },
            "tagline": "The OpenSearch Project: https://opensearch.org/",
        }

    # ------------------------------------------------------------------ indices

    def _index_endpoint(
        self, method: str, name: str, params: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        if method == "PUT":
            self._params(
                params,
                {"wait_for_active_shards", "timeout", "master_timeout", "cluster_manager_timeout"},
            )
            return 200, self._create_index(name, body)
        if method == "DELETE":
            self._params(
                params, _INDEX_OPTS | {"timeout", "master_timeout", "cluster_manager_timeout"}
            )
            self._index(name)
            del self.indices[name]
            return 200, {"acknowledged": True}
        if method == "HEAD":
            self._params(params, _INDEX_OPTS | {"local", "flat_settings", "include_defaults"})
            return (200 if name in self.indices else 404), None
        if method == "GET":
            self._params(
                params,
                _INDEX_OPTS
                | {"local", "flat_settings", "include_defaults", "master_timeout"}
                | {"cluster_manager_timeout"},
            )
            index = self._index(name)
            flat = _bool_param(params, "flat_settings", False)
            settings = dict(index.settings)
            settings.update(
                {
                    "index.uuid": index.uuid,
                    "index.creation_date": str(index.creation_date),
                    "index.provided_name": index.name,
                    "index.version.created": "136387927",
                }
            )
            rendered = settings if flat else _nest_settings(settings)
            return 200, {name: {"aliases": {}, "mappings": index.mapping, "settings": rendered}}
        raise api_error(
            405 if method in ("POST",) else 400,
            "illegal_argument_exception",
            f"Incorrect HTTP method for uri [/{name}] and method [{method}], allowed: "
            "[HEAD, DELETE, GET, PUT]",
            source=_ENDPOINTS,
        )

    def _get_mapping(self, name: str, params: dict[str, str], body: Any) -> tuple[int, Any]:
        self._params(params, _INDEX_OPTS | {"local", "master_timeout", "cluster_manager_timeout"})
        index = self._index(name)
        return 200, {name: {"mappings": index.mapping}}

    def _refresh(self, name: str, params: dict[str, str], body: Any) -> tuple[int, Any]:
        self._params(params, _INDEX_OPTS)
        self._index(name).refresh()
        return 200, {"_shards": {"total": 1, "successful": 1, "failed": 0}}

    @staticmethod
    def _validate_index_name(name: str) -> None:
        # Only the documented restrictions (INDEX_NAMING): OpenSearch also refuses names
        # of more than 255 bytes and "." / "..", which its documentation does not state.
        def invalid(why: str, *, source: Source) -> ApiError:
            return api_error(
                400,
                "invalid_index_name_exception",
                f"Invalid index name [{name}], {why}",
                source=source,
                index=name,
                index_uuid="_na_",
            )

        if name != name.lower():
            raise invalid("must be lowercase", source=INDEX_NAMING)
        if name[:1] in ("_", "-"):
            raise invalid("must not start with '_' or '-'", source=INDEX_NAMING)
        if any(ch in name for ch in _INVALID_INDEX_CHARS):
            raise invalid(
                'must not contain the following characters [ , :, ", *, +, /, \\, |, ?, #, >, <]',
                source=INDEX_NAMING,
            )

    def _create_index(self, name: str, body: Any, *, auto: bool = False) -> dict[str, Any]:
        self._validate_index_name(name)
        if name in self.indices:
            existing = self.indices[name]
            raise api_error(
                400,
                "resource_already_exists_exception",
                f"index [{name}/{existing.uuid}] already exists",
                index=name,
                index_uuid=existing.uuid,
                source=INDEX_ALREADY_EXISTS,
            )
        body = body or {}
        if not isinstance(body, dict):
            raise _parsing("request body must be an object", source=CREATE_INDEX)
        unknown = sorted(set(body) - {"settings", "mappings", "aliases"})
        if unknown:
            raise _parsing(f"unknown key [{unknown[0]}] for create index", source=CREATE_INDEX)
        if body.get("aliases"):
            raise _bad_request("aliases", source=_ALIASES)
        settings = self._parse_settings(body.get("settings") or {})
        mapping = self._parse_mappings(body.get("mappings") or {}, settings)
        index = Index(
            name=name,
            uuid=uuid.uuid4().hex[:22],
            creation_date=int(time.time() * 1000),
            settings=settings,
            mapping=mapping,
        )
        self.indices[name] = index
        return {"acknowledged": True, "shards_acknowledged": True, "index": name}

    def _parse_settings(self, raw: Any) -> dict[str, str]:
        if not isinstance(raw, dict):
            raise _bad_request(
                "settings must be an object", "settings_exception", source=CREATE_INDEX
            )
        flat: dict[str, str] = {}

        def walk(prefix: str, node: Any) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    walk(f"{prefix}.{key}" if prefix else str(key), value)
                return
            key = prefix if prefix.startswith("index.") else f"index.{prefix}"
            if isinstance(node, bool):
                flat[key] = "true" if node else "false"
            elif isinstance(node, list):
                raise _bad_request(
                    f"list setting [{key}]", source=NotEmulated("list-valued index settings")
                )
            else:
                flat[key] = str(node)

        walk("", raw)
        out = {"index.number_of_shards": "1", "index.number_of_replicas": "1"}
        for key, value in flat.items():
            if key in ("index.number_of_shards", "index.number_of_replicas"):
                _int_setting(key, value, minimum=1 if key.endswith("shards") else 0)
            elif key == "index.knn":
                if value not in ("true", "false"):
                    raise _bad_request(
                        f"Failed to parse value [{value}] as only [true] or [false] are allowed.",
                        source=KNN_SETTINGS,
                    )
            elif key in ("index.knn.algo_param.ef_search", "index.max_result_window"):
                _int_setting(key, value, minimum=1)
            elif key == "index.refresh_interval":
                if not re.fullmatch(r"-1|\d+(d|h|m|s|ms|micros|nanos)?", value):
                    raise _bad_request(
                        f"failed to parse setting [{key}] with value [{value}]",
                        source=TIME_UNITS,
                    )
            else:
                raise _bad_request(
                    f"unknown setting [{key}] please check that any required plugins are "
                    "installed, or check the breaking changes documentation for removed settings",
                    source=_SETTINGS,
                )
            out[key] = value
        return out

    def _parse_mappings(self, raw: Any, settings: Mapping[str, str]) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise _mapper_parsing(
                "Failed to parse mapping: mappings must be an object", source=MAPPINGS
            )
        allowed = {
            "properties",
            "dynamic",
            "dynamic_templates",
            "_meta",
            "_source",
            "date_detection",
        }
        unknown = [k for k in raw if k not in allowed]
        if unknown:
            details = ", ".join(f"{k} : {json.dumps(raw[k])}" for k in unknown)
            raise _mapper_parsing(
                f"Root mapping definition has unsupported parameters:  [{details}]",
                source=_UNKNOWN_KEY,
            )
        mapping = copy.deepcopy(raw)
        if "dynamic" in mapping:
            mapping["dynamic"] = _dynamic_value(mapping["dynamic"], "_doc")
        if "_meta" in mapping and not isinstance(mapping["_meta"], dict):
            raise _mapper_parsing(
                "Failed to parse mapping: [_meta] must be an object", source=MAPPINGS
            )
        if "_source" in mapping and mapping["_source"] != {"enabled": True}:
            raise _bad_request(
                "[_source] mapping", source=NotEmulated("_source mappings other than enabled: true")
            )
        if "date_detection" in mapping and not isinstance(mapping["date_detection"], bool):
            raise _mapper_parsing(
                "Failed to parse mapping: [date_detection] must be a boolean", source=MAPPINGS
            )
        templates = mapping.get("dynamic_templates", [])
        if not isinstance(templates, list):
            raise _mapper_parsing(
                "Failed to parse mapping: Dynamic template syntax error", source=DYNAMIC_TEMPLATES
            )
        for template in templates:
            self._check_template(template, settings)
        self._check_properties(mapping.get("properties", {}), "", settings)
        return mapping

    def _check_template(self, template: Any, settings: Mapping[str, str]) -> None:
        if not isinstance(template, dict) or len(template) != 1:
            raise _mapper_parsing(
                "Failed to parse mapping: A dynamic template must be defined with a name",
                source=DYNAMIC_TEMPLATES,
            )
        ((name, spec),) = template.items()
        if not isinstance(spec, dict) or "mapping" not in spec:
            raise _mapper_parsing(
                f"Failed to parse mapping: template [{name}] must have a mapping",
                source=DYNAMIC_TEMPLATES,
            )
        allowed = {
            "mapping",
            "match_mapping_type",
            "match",
            "unmatch",
            "path_match",
            "path_unmatch",
        }
        unknown = sorted(set(spec) - allowed)
        if unknown:
            raise _mapper_parsing(
                f"Failed to parse mapping: Illegal dynamic template parameter: [{unknown[0]}]",
                source=_UNKNOWN_KEY,
            )
        mmt = spec.get("match_mapping_type")
        if mmt is not None and mmt not in (
            "*",
            "string",
            "long",
            "double",
            "boolean",
            "object",
            "date",
        ):
            raise _mapper_parsing(
                f"Failed to parse mapping: No field type matched on [{mmt}]",
                source=DYNAMIC_TEMPLATES,
            )
        if not isinstance(spec["mapping"], dict):
            raise _mapper_parsing(
                f"Failed to parse mapping: template [{name}] mapping", source=DYNAMIC_TEMPLATES
            )
        probe = dict(spec["mapping"])
        if "type" in probe and probe["type"] not in ("{dynamic_type}", "{dynamic_types}"):
            self._check_field("template_probe", probe, "", settings)

    def _check_properties(self, props: Any, prefix: str, settings: Mapping[str, str]) -> None:
        if not isinstance(props, dict):
            raise _mapper_parsing(
                "Failed to parse mapping: properties must be an object", source=MAPPINGS
            )
        for name, definition in props.items():
            if not name or not str(name).strip():
                raise _mapper_parsing(
                    "Failed to parse mapping: field name cannot be empty", source=MAPPINGS
                )
            if "." in name:
                raise _bad_request(
                    f"dotted field name in mappings [{name}]",
                    source=NotEmulated("dotted field names in mappings"),
                )
            if not isinstance(definition, dict):
                raise _mapper_parsing(
                    "Failed to parse mapping: Expected map for property [fields] on field "
                    f"[{name}]",
                    source=MAPPINGS,
                )
            self._check_field(name, definition, prefix, settings)

    def _check_field(
        self, name: str, definition: dict[str, Any], prefix: str, settings: Mapping[str, str]
    ) -> None:
        full = prefix + name
        ftype = definition.get("type", "object")
        if ftype == "nested":
            raise _bad_request("[nested] field", source=NotEmulated("nested fields"))
        if ftype not in _FIELD_PARAMS:
            raise _mapper_parsing(
                f"Failed to parse mapping: No handler for type [{ftype}] declared on field "
                f"[{name}]",
                source=FIELD_TYPES,
            )
        for param in definition:
            if param not in _FIELD_PARAMS[ftype]:
                # A documented mapping parameter this server does not implement is not
                # OpenSearch's refusal; only an undocumented one is.
                reason = (
                    f"Failed to parse mapping: unknown parameter [{param}] on mapper "
                    f"[{name}] of type [{ftype}]"
                )
                if param in _DOCUMENTED_MAPPING_PARAMS or param == "model_id":
                    raise _mapper_parsing(reason, source=_MAPPING_PARAM)
                raise _mapper_parsing(reason, source=MAPPING_PARAMS)
        if ftype == "object":
            if "dynamic" in definition:
                definition["dynamic"] = _dynamic_value(definition["dynamic"], full)
            if "enabled" in definition and not isinstance(definition["enabled"], bool):
                raise _mapper_parsing(
                    f"Failed to parse mapping: [enabled] on [{full}]", source=MAPPINGS
                )
            self._check_properties(definition.get("properties", {}), full + ".", settings)
        elif ftype == "knn_vector":
            self._check_knn(full, definition, settings)
        elif ftype == "text" and definition.get("analyzer", "standard") != "standard":
            raise _bad_request(
                f"analyzer [{definition['analyzer']}]",
                source=NotEmulated("analyzers other than standard"),
            )
        if "fields" in definition:
            if ftype == "object" or not isinstance(definition["fields"], dict):
                raise _mapper_parsing(
                    f"Failed to parse mapping: [fields] on [{full}]", source=MAPPING_PARAMS
                )
            for sub, sub_def in definition["fields"].items():
                if not isinstance(sub_def, dict) or sub_def.get("type") in (None, "object"):
                    raise _mapper_parsing(
                        f"Failed to parse mapping: multi-field [{full}.{sub}]",
                        source=MAPPING_PARAMS,
                    )
                self._check_field(sub, sub_def, full + ".", settings)
        if "ignore_above" in definition and not (
            isinstance(definition["ignore_above"], int) and definition["ignore_above"] >= 0
        ):
            raise _mapper_parsing(
                f"Failed to parse mapping: [ignore_above] on [{full}]", source=KEYWORD
            )

    def _check_knn(
        self, full: str, definition: dict[str, Any], settings: Mapping[str, str]
    ) -> None:
        dimension = definition.get("dimension")
        if dimension is None:
            raise _mapper_parsing(
                f"Failed to parse mapping: Dimension value missing for vector: {full}",
                source=KNN_VECTOR,
            )
        if not isinstance(dimension, int) or isinstance(dimension, bool) or dimension < 1:
            raise _mapper_parsing(
                f"Failed to parse mapping: Unable to parse [dimension] from provided value "
                f"[{dimension}] for vector [{full}]",
                source=KNN_VECTOR,
            )
        if dimension > MAX_DIMENSION:
            raise _mapper_parsing(
                f"Failed to parse mapping: Dimension value cannot be greater than "
                f"{MAX_DIMENSION} for vector: {full}",
                source=KNN_VECTOR,
            )
        if definition.get("data_type", "float") != "float":
            raise _bad_request(
                f"data_type [{definition['data_type']}]",
                source=NotEmulated("data_type other than float"),
            )
        if "mode" in definition or "compression_level" in definition:
            raise _bad_request(
                "[mode] / [compression_level]", source=NotEmulated("mode / compression_level")
            )
        top_space = definition.get("space_type")
        method = definition.get("method")
        if method is None:
            if top_space is not None and top_space not in ENGINE_SPACES["nmslib"]:
                raise _mapper_parsing(
                    f"Failed to parse mapping: Unable to find the space_type {top_space}",
                    source=KNN_VECTOR,
                )
            return
        if not isinstance(method, dict):
            raise _mapper_parsing(
                f"Failed to parse mapping: [method] on [{full}] must be an object",
                source=KNN_METHODS,
            )
        unknown = sorted(set(method) - {"name", "engine", "space_type", "parameters"})
        if unknown:
            raise _mapper_parsing(
                f"Failed to parse mapping: Unable to parse MethodComponent [{unknown[0]}]",
                source=KNN_METHODS,
            )
        if method.get("name") not in ("hnsw", "ivf", "flat"):
            raise _mapper_parsing(
                f"Failed to parse mapping: Invalid method name: {method.get('name')}",
                source=KNN_METHODS,
            )
        if method["name"] != "hnsw":
            raise _mapper_parsing(
                f"Failed to parse mapping: method [{method['name']}]",
                source=NotEmulated("k-NN methods other than hnsw"),
            )
        engine = method.get("engine", self.default_engine)
        if engine not in ENGINE_SPACES:
            raise _mapper_parsing(
                f"Failed to parse mapping: Invalid engine type: {engine}", source=KNN_METHODS
            )
        # OpenSearch 3.x refuses new nmslib indexes, but its documentation says only that
        # the engine is deprecated ("While still supported"), so the server accepts it.
        space = method.get("space_type", top_space or "l2")
        if top_space is not None and top_space != space:
            raise _mapper_parsing(
                'Failed to parse mapping: Space type in "method" and top level space type '
                "should be same or one of them should be defined",
                source=KNN_METHODS,
            )
        if space not in ENGINE_SPACES[engine]:
            raise _mapper_parsing(
                f'Failed to parse mapping: Validation Failed: 1: "{engine}" configuration does '
                f'not support space type: "{space}".;',
                source=KNN_ENGINE_SPACES,
            )
        if engine == "faiss" and space == "cosinesimil" and self.version_tuple < (2, 19):
            raise _mapper_parsing(
                'Failed to parse mapping: Validation Failed: 1: "faiss" configuration does not '
                'support space type: "cosinesimil".;',
                source=KNN_ENGINE_SPACES,
            )
        if engine == "lucene" and space == "innerproduct" and self.version_tuple < (2, 13):
            raise _mapper_parsing(
                "Failed to parse mapping: lucene does not support innerproduct",
                source=KNN_ENGINE_SPACES,
            )
        parameters = method.get("parameters", {})
        if not isinstance(parameters, dict):
            raise _mapper_parsing(
                "Failed to parse mapping: [parameters] must be an object", source=KNN_METHODS
            )
        for key, value in parameters.items():
            if key not in ENGINE_PARAMS[engine]:
                reason = (
                    f"Failed to parse mapping: Validation Failed: 1: Invalid parameter for "
                    f'method "hnsw": {key};'
                )
                if engine == "faiss" and key == "encoder":  # documented, not implemented
                    raise _mapper_parsing(reason, source=_UNKNOWN_KEY)
                raise _mapper_parsing(reason, source=KNN_METHODS)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise _mapper_parsing(
                    f"Failed to parse mapping: Validation Failed: 1: Value for parameter "
                    f'"{key}" must be a positive integer;',
                    source=KNN_METHODS,
                )
        # OpenSearch stores the resolved method (engine and space type filled in).
        method["engine"] = engine
        method["space_type"] = space
        method.setdefault("parameters", {})

    # ------------------------------------------------------------------ documents

    def _parse_document(
        self, index: Index, doc_id: str, source: Any
    ) -> tuple[dict[str, list[Any]], dict[str, np.ndarray], dict[str, Any]]:
        """Indexed values, vectors and the (possibly extended) mapping for a document."""
        if not isinstance(source, dict):
            raise _mapper_parsing("failed to parse, document is empty", source=BULK)
        mapping = copy.deepcopy(index.mapping)
        values: dict[str, list[Any]] = {}
        vectors: dict[str, np.ndarray] = {}
        parser = _DocumentParser(self, index, mapping, doc_id, values, vectors)
        parser.parse_object(source, mapping, "", _dynamic_of(mapping, "true"))
        return values, vectors, mapping

    def _write(self, index: Index, doc_id: str, source: Any, *, create: bool) -> dict[str, Any]:
        existing = index.live.get(doc_id)
        if create and existing is not None:
            raise api_error(
                409,
                "version_conflict_engine_exception",
                f"[{doc_id}]: version conflict, document already exists (current version "
                f"[{existing.version}])",
                index=index.name,
                shard="0",
                index_uuid=index.uuid,
                source=INDEX_DOCUMENT,
            )
        values, vectors, mapping = self._parse_document(index, doc_id, source)
        index.mapping = mapping
        index.seq_no += 1
        version = index.versions.get(doc_id, 0) + 1
        index.versions[doc_id] = version
        index.live[doc_id] = Doc(
            id=doc_id,
            source=source,
            version=version,
            seq_no=index.seq_no,
            values=values,
            vectors=vectors,
        )
        return {
            "_index": index.name,
            "_id": doc_id,
            "_version": version,
            "result": "created" if existing is None else "updated",
            "_shards": {"total": 2, "successful": 1, "failed": 0},
            "_seq_no": index.seq_no,
            "_primary_term": 1,
            "status": 201 if existing is None else 200,
        }

    def _remove(self, index: Index, doc_id: str) -> dict[str, Any]:
        existing = index.live.pop(doc_id, None)
        index.seq_no += 1
        version = index.versions.get(doc_id, 0) + 1
        index.versions[doc_id] = version
        return {
            "_index": index.name,
            "_id": doc_id,
            "_version": version,
            "result": "deleted" if existing is not None else "not_found",
            "_shards": {"total": 2, "successful": 1, "failed": 0},
            "_seq_no": index.seq_no,
            "_primary_term": 1,
            "status": 200 if existing is not None else 404,
        }

    def _bulk(
        self, default_index: str | None, params: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        self._params(params, {"refresh", "timeout", "wait_for_active_shards", "require_alias"})
        refresh = _refresh_param(params, allow_wait_for=True)
        if _bool_param(params, "require_alias", False):
            raise _bad_request("aliases", source=_ALIASES)
        if not isinstance(body, str) or not body.strip():
            raise api_error(
                400,
                "action_request_validation_exception",
                "Validation Failed: 1: no requests added;",
                source=BULK,
            )
        if not body.endswith("\n"):
            raise _bad_request(
                "The bulk request must be terminated by a newline [\\n]", source=BULK
            )
        started = time.monotonic()
        lines = body.split("\n")[:-1]
        actions: list[tuple[str, dict[str, Any], Any]] = []
        i = 0
        while i < len(lines):
            if not lines[i].strip():
                i += 1
                continue
            try:
                action_line = json.loads(lines[i])
            except ValueError as exc:
                raise _bad_request(
                    f"Malformed action/metadata line [{i + 1}]",
                    "x_content_parse_exception",
                    source=BULK,
                ) from exc
            if not isinstance(action_line, dict) or len(action_line) != 1:
                raise _bad_request(
                    f"Malformed action/metadata line [{i + 1}], expected a simple value for "
                    "field [_index] but found [START_OBJECT]",
                    source=BULK,
                )
            ((op, meta),) = action_line.items()
            if op not in ("index", "create", "delete", "update"):
                raise _bad_request(
                    f"Malformed action/metadata line [{i + 1}], expected field [create], "
                    f"[delete], [index] or [update] but found [{op}]",
                    source=BULK,
                )
            if op == "update":
                raise _bad_request(
                    "bulk [update] action", source=NotEmulated("bulk update actions")
                )
            if not isinstance(meta, dict):
                raise _bad_request(f"Malformed action/metadata line [{i + 1}]", source=BULK)
            unknown = sorted(set(meta) - {"_index", "_id"})
            if unknown:
                raise _bad_request(
                    f"Action/metadata line [{i + 1}] contains an unknown parameter [{unknown[0]}]",
                    source=_UNKNOWN_KEY,
                )
            source: Any = None
            if op in ("index", "create"):
                if i + 1 >= len(lines):
                    raise _bad_request(
                        "The bulk request must be terminated by a newline [\\n]", source=BULK
                    )
                try:
                    source = json.loads(lines[i + 1])
                except ValueError as exc:
                    raise _bad_request(
                        f"Failed to parse document source at line [{i + 2}]",
                        "x_content_parse_exception",
                        source=BULK,
                    ) from exc
                i += 2
            else:
                i += 1
            actions.append((op, meta, source))
        items: list[dict[str, Any]] = []
        touched: set[str] = set()
        for op, meta, source in actions:
            name = meta.get("_index", default_index)
            doc_id = meta.get("_id")
            if name is None:
                raise api_error(
                    400,
                    "action_request_validation_exception",
                    "Validation Failed: 1: index is missing;",
                    source=BULK,
                )
            if doc_id is not None and not isinstance(doc_id, str):
                doc_id = str(doc_id)
            if op == "delete" and doc_id is None:
                raise api_error(
                    400,
                    "action_request_validation_exception",
                    "Validation Failed: 1: id is missing;",
                    source=BULK,
                )
            try:
                if doc_id is not None and len(doc_id.encode()) > 512:
                    raise api_error(
                        400,
                        "illegal_argument_exception",
                        f"id [{doc_id}] is too long, must be no longer than 512 bytes but was: "
                        f"{len(doc_id.encode())}",
                        source=BULK_ID,
                    )
                index = self.indices.get(name)
                if index is None:
                    if op == "delete":
                        raise api_error(
                            404,
                            "index_not_found_exception",
                            f"no such index [{name}]",
                            **_resource(name, "index_expression"),
                            source=INDEX_NOT_FOUND,
                        )
                    self._create_index(name, None, auto=True)
                    index = self.indices[name]
                if op == "delete":
                    assert doc_id is not None
                    result = self._remove(index, doc_id)
                else:
                    doc_id = doc_id if doc_id is not None else uuid.uuid4().hex[:20]
                    result = self._write(index, doc_id, source, create=op == "create")
                touched.add(name)
                if refresh == "true":
                    result["forced_refresh"] = True
                items.append({op: result})
            except ApiError as err:
                item: dict[str, Any] = {"_index": name, "_id": doc_id, "status": err.status}
                if name in self.indices:
                    item["_index"] = name
                item["error"] = err.cause()
                items.append({op: item})
        if refresh in ("true", "wait_for"):
            for name in touched:
                self.indices[name].refresh()
        took = int((time.monotonic() - started) * 1000)
        return 200, {
            "took": took,
            "errors": any("error" in next(iter(item.values())) for item in items),
            "items": items,
        }

    def _doc(
        self, method: str, name: str, doc_id: str, params: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        if method == "GET":
            self._params(params, _SOURCE_PARAMS | {"realtime", "refresh", "preference"})
            index = self._index(name)
            doc = index.live.get(doc_id)
            if doc is None:
                return 404, {"_index": name, "_id": doc_id, "found": False}
            return 200, self._found(index, doc, _source_filter(params, None))
        if method in ("PUT", "POST"):
            self._params(params, {"refresh", "op_type", "timeout", "wait_for_active_shards"})
            refresh = _refresh_param(params, allow_wait_for=True)
            op_type = params.get("op_type", "index")
            if op_type not in ("index", "create"):
                raise _bad_request(
                    f"opType must be 'create' or 'index', found: [{op_type}]", source=INDEX_DOCUMENT
                )
            if name not in self.indices:
                self._create_index(name, None, auto=True)
            index = self.indices[name]
            result = self._write(index, doc_id, body, create=op_type == "create")
            if refresh in ("true", "wait_for"):
                index.refresh()
            status = result.pop("status")
            return status, result
        if method == "DELETE":
            self._params(params, {"refresh", "timeout", "wait_for_active_shards"})
            refresh = _refresh_param(params, allow_wait_for=True)
            index = self._index(name)
            result = self._remove(index, doc_id)
            if refresh in ("true", "wait_for"):
                index.refresh()
            status = result.pop("status")
            return status, result
        raise api_error(
            405,
            "illegal_argument_exception",
            f"Incorrect HTTP method [{method}] for _doc",
            source=_ENDPOINTS,
        )

    def _found(
        self, index: Index, doc: Doc, source_filter: Callable[[dict[str, Any]], Any] | None
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "_index": index.name,
            "_id": doc.id,
            "_version": doc.version,
            "_seq_no": doc.seq_no,
            "_primary_term": 1,
            "found": True,
        }
        if source_filter is not None:
            out["_source"] = source_filter(doc.source)
        return out

    def _mget(
        self, default_index: str | None, params: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        self._params(params, _SOURCE_PARAMS | {"realtime", "refresh", "preference"})
        if not isinstance(body, dict):
            raise api_error(
                400,
                "action_request_validation_exception",
                "Validation Failed: 1: no documents to get;",
                source=MGET,
            )
        unknown = sorted(set(body) - {"ids", "docs"})
        if unknown:
            raise _parsing(f"unknown parameter [{unknown[0]}] in request body", source=_UNKNOWN_KEY)
        requests: list[tuple[str | None, str, Any]] = []
        if "ids" in body:
            if not isinstance(body["ids"], list):
                raise _parsing("ids must be an array", source=MGET)
            requests += [(default_index, str(i), None) for i in body["ids"]]
        if "docs" in body:
            if not isinstance(body["docs"], list):
                raise _parsing("docs must be an array", source=MGET)
            for item in body["docs"]:
                if not isinstance(item, dict) or "_id" not in item:
                    raise api_error(
                        400,
                        "action_request_validation_exception",
                        "Validation Failed: 1: id is missing;",
                        source=MGET,
                    )
                bad = sorted(set(item) - {"_index", "_id", "_source"})
                if bad:
                    raise _parsing(f"unknown parameter [{bad[0]}] in doc", source=_UNKNOWN_KEY)
                requests.append(
                    (item.get("_index", default_index), str(item["_id"]), item.get("_source"))
                )
        if not requests:
            raise api_error(
                400,
                "action_request_validation_exception",
                "Validation Failed: 1: no documents to get;",
                source=MGET,
            )
        docs: list[dict[str, Any]] = []
        for position, (name, doc_id, per_doc_source) in enumerate(requests):
            if name is None:
                raise api_error(
                    400,
                    "action_request_validation_exception",
                    f"Validation Failed: 1: index is missing for doc {position};",
                    source=MGET,
                )
            index = self.indices.get(name)
            if index is None:
                err = index_not_found(name, source=INDEX_NOT_FOUND)
                docs.append({"_index": name, "_id": doc_id, "error": err.body()["error"]})
                continue
            doc = index.live.get(doc_id)
            if doc is None:
                docs.append({"_index": name, "_id": doc_id, "found": False})
                continue
            docs.append(self._found(index, doc, _source_filter(params, per_doc_source)))
        return 200, {"docs": docs}

    # ------------------------------------------------------------------ search

    def _search(self, name: str, params: dict[str, str], body: Any) -> tuple[int, Any]:
        self._params(
            params,
            _SOURCE_PARAMS
            | _INDEX_OPTS
            | {"size", "from", "track_total_hits", "timeout", "typed_keys", "preference"}
            | {"request_cache", "search_type"},
        )
        if params.get("search_type", "query_then_fetch") != "query_then_fetch":
            raise _bad_request(
                f"search_type [{params['search_type']}]",
                source=NotEmulated("search types other than query_then_fetch"),
            )
        index = self._index(name)
        body = body or {}
        if not isinstance(body, dict):
            raise _parsing("request body must be an object", source=SEARCH)
        allowed = {"query", "size", "from", "_source", "track_total_hits", "timeout"}
        allowed |= {"sort", "search_after"}
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise _parsing(
                f"Unknown key for a START_OBJECT in [{unknown[0]}].", source=_UNKNOWN_KEY
            )
        sort = self._sort_spec(index, body.get("sort"))
        search_after = body.get("search_after")
        if search_after is not None and (
            sort is None or not isinstance(search_after, list) or len(search_after) != 1
        ):
            raise _bad_request(
                "Sort must contain at least one field and match [search_after]", source=SEARCH_AFTER
            )
        size = _int_value(body.get("size", params.get("size", 10)), "size")
        start = _int_value(body.get("from", params.get("from", 0)), "from")
        if size < 0 or start < 0:
            raise _bad_request("[size] and [from] must be non-negative", source=SEARCH)
        window = int(index.setting("index.max_result_window", str(MAX_RESULT_WINDOW)) or 0)
        if start + size > window:
            raise _bad_request(
                f"Result window is too large, from + size must be less than or equal to: "
                f"[{window}] but was [{start + size}]. See the scroll api for a more efficient "
                "way to request large data sets. This limit can be set by changing the "
                "[index.max_result_window] index level setting.",
                "search_phase_execution_exception",
                source=INDEX_SETTINGS,
            )
        source_spec = body.get("_source")
        source_filter = _source_filter(params, source_spec)
        query = body.get("query", {"match_all": {}})
        started = time.monotonic()
        scored = self._run_query(index, query)
        scored.sort(key=lambda item: (-item[0], item[1].seq_no))
        if sort is not None:
            # One keyword field, ascending or descending; documents without it last.
            sort_field, descending = sort
            keyed = [
                (_sort_value(doc, sort_field, descending), score, doc) for score, doc in scored
            ]
            present = [k for k in keyed if k[0] is not None]
            present.sort(key=lambda k: str(k[0]), reverse=descending)
            if search_after is not None:
                cursor = str(search_after[0])
                present = [
                    k for k in present if (str(k[0]) < cursor if descending else str(k[0]) > cursor)
                ]
                keyed = present
            else:
                keyed = present + [k for k in keyed if k[0] is None]
            scored = [(score, doc) for _, score, doc in keyed]
        page = scored[start : start + size]
        hits = []
        for score, doc in page:
            hit: dict[str, Any] = {"_index": index.name, "_id": doc.id, "_score": score}
            if sort is not None:
                hit["sort"] = [_sort_value(doc, sort[0], sort[1])]
            if source_filter is not None:
                hit["_source"] = source_filter(doc.source)
            hits.append(hit)
        return 200, {
            "took": int((time.monotonic() - started) * 1000),
            "timed_out": False,
            "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
            "hits": {
                **_total_hits(len(scored), body.get("track_total_hits")),
                "max_score": max((s for s, _ in scored), default=None),
                "hits": hits,
            },
        }

    @staticmethod
    def _sort_spec(index: Index, raw: Any) -> tuple[str, bool] | None:
        """(field, descending) of a ``sort`` on one keyword field, or None without a sort."""
        if raw is None:
            return None
        items = raw if isinstance(raw, list) else [raw]
        if len(items) != 1:
            raise _bad_request(
                "[sort] on several fields", source=NotEmulated("sorting on several fields")
            )
        item = items[0]
        if isinstance(item, str):
            field_name, order = item, "asc"
        else:
            field_name, spec = _single(item, "sort")
            order = spec.get("order", "asc") if isinstance(spec, dict) else spec
        if order not in ("asc", "desc"):
            raise _parsing(f"[sort] unknown order [{order}]", source=SEARCH)
        mapping = index.field_mapping(field_name)
        if mapping is None or _field_type(mapping) != "keyword":
            raise _bad_request(
                f"[sort] on field [{field_name}]",
                "query_shard_exception",
                source=NotEmulated("sorting on fields other than keyword fields"),
            )
        return field_name, order == "desc"

    def _run_query(self, index: Index, query: Any) -> list[tuple[float, Doc]]:
        kind, spec = _single(query, "query")
        try:
            if kind == "knn":
                return self._knn(index, spec)
            if kind == "script_score":
                return self._script_score(index, spec)
            scorer = _QueryCompiler(self, index).compile_scoring(query)
            scored: list[tuple[float, Doc]] = []
            for doc in index.searchable.values():
                score = scorer(doc)
                if score is not None:
                    scored.append((_as_f32(score), doc))
            return scored
        except _ShardError as err:
            raise _shard_failure(index, err) from None

    def _knn(self, index: Index, spec: Any) -> list[tuple[float, Doc]]:
        field_name, params = _single(spec, "knn")
        if not isinstance(params, dict):
            raise _parsing(f"[knn] query malformed for field [{field_name}]", source=KNN_QUERY)
        unknown = sorted(set(params) - {"vector", "k", "filter", "method_parameters", "boost"})
        if unknown:
            raise _parsing(
                f"[knn] unknown token [{unknown[0]}] after [{field_name}]", source=_UNKNOWN_KEY
            )
        fm = index.field_mapping(field_name)
        if fm is None or _field_type(fm) != "knn_vector":
            raise _ShardError(f"Field '{field_name}' is not knn_vector type.", source=KNN_QUERY)
        if not index.knn_enabled or "method" not in fm:
            raise _ShardError(
                f"Field '{field_name}' is not built for ANN search (index.knn is false or the "
                "field has no method).",
                source=KNN_SETTINGS,
            )
        vector = _query_vector(params.get("vector"), fm, "knn")
        k = params.get("k")
        if not isinstance(k, int) or isinstance(k, bool) or not 0 < k <= MAX_K:
            raise _bad_request(
                f"[knn] requires k to be in the range (0, {MAX_K}]", source=KNN_QUERY
            )
        method = fm["method"]
        engine, space = method["engine"], method["space_type"]
        if space == "cosinesimil" and not np.any(vector):
            raise _bad_request(
                f"zero vector is not supported when space type is [{space}]", source=KNN_SPACES
            )
        method_params = params.get("method_parameters")
        if method_params is not None:
            if self.version_tuple < (2, 16):
                raise _parsing(
                    "[knn] unknown token [method_parameters]", source=KNN_METHOD_PARAMETERS
                )
            if not isinstance(method_params, dict):
                raise _parsing(
                    "[knn] method_parameters must be an object", source=KNN_METHOD_PARAMETERS
                )
            for key, value in method_params.items():
                if key != "ef_search":
                    raise _bad_request(
                        f"Invalid parameter for method: {key}", source=KNN_METHOD_PARAMETERS
                    )
                if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    raise _bad_request(
                        "[ef_search] must be a positive integer", source=KNN_METHOD_PARAMETERS
                    )
        candidates = [doc for doc in index.searchable.values() if field_name in doc.vectors]
        if "filter" in params:
            if engine == "nmslib":
                raise _bad_request(
                    f"Engine [{engine.upper()}] does not support filters", source=KNN_FILTER
                )
            if engine == "faiss" and self.version_tuple < (2, 9):
                raise _bad_request("Engine [FAISS] does not support filters", source=KNN_FILTER)
            matcher = _QueryCompiler(self, index).compile(params["filter"])
            candidates = [doc for doc in candidates if matcher(doc)]
        if not candidates:
            return []
        matrix = np.stack([doc.vectors[field_name] for doc in candidates])
        scores = knn_score(
            space, vector, matrix, engine=engine, exact_script=False, version=self.version_tuple
        )
        order = sorted(
            range(len(candidates)), key=lambda i: (-float(scores[i]), candidates[i].seq_no)
        )
        boost = float(params.get("boost", 1.0))
        return [(_as_f32(float(scores[i]) * boost), candidates[i]) for i in order[:k]]

    def _script_score(self, index: Index, spec: Any) -> list[tuple[float, Doc]]:
        if not isinstance(spec, dict):
            raise _parsing("[script_score] malformed query", source=SCORE_SCRIPT)
        unknown = sorted(set(spec) - {"query", "script", "min_score", "boost"})
        if unknown:
            raise _parsing(
                f"[script_score] query does not support [{unknown[0]}]", source=_UNKNOWN_KEY
            )
        if "query" not in spec:
            raise _parsing("[script_score] requires 'query' field", source=SCORE_SCRIPT)
        script = spec.get("script")
        if not isinstance(script, dict):
            raise _parsing("[script_score] requires 'script' field", source=SCORE_SCRIPT)
        if script.get("lang") != "knn" or script.get("source") != "knn_score":
            raise _bad_request(
                "[script] other than knn_score", source=NotEmulated("scripts other than knn_score")
            )
        unknown = sorted(set(script) - {"lang", "source", "params"})
        if unknown:
            raise _parsing(f"[script] unknown field [{unknown[0]}]", source=_UNKNOWN_KEY)
        params = script.get("params")
        if not isinstance(params, dict):
            raise _ShardError(
                "Missing parameter [field]", "illegal_argument_exception", source=SCORE_SCRIPT
            )
        for key in ("field", "query_value", "space_type"):
            if key not in params:
                raise _ShardError(
                    f"Missing parameter [{key}]", "illegal_argument_exception", source=SCORE_SCRIPT
                )
        bad = sorted(set(params) - {"field", "query_value", "space_type"})
        if bad:
            raise _ShardError(
                f"Unknown parameter [{bad[0]}]", "illegal_argument_exception", source=SCORE_SCRIPT
            )
        field_name, space = params["field"], params["space_type"]
        if space not in _SCRIPT_SPACES:
            raise _ShardError(
                "Invalid space type. Please refer to the available space types.",
                "illegal_argument_exception",
                source=SCORE_SCRIPT,
            )
        fm = index.field_mapping(str(field_name))
        if fm is None or _field_type(fm) != "knn_vector":
            raise _ShardError(
                f"Incompatible field_type for {space} space. The field type must be knn_vector.",
                "illegal_argument_exception",
                source=SCORE_SCRIPT,
            )
        vector = _query_vector(params["query_value"], fm, "script_score")
        if space == "cosinesimil" and not np.any(vector):
            raise _ShardError(
                "zero vector is not supported", "illegal_argument_exception", source=KNN_SPACES
            )
        matcher = _QueryCompiler(self, index).compile(spec["query"])
        candidates = [doc for doc in index.searchable.values() if matcher(doc)]
        with_vector = [doc for doc in candidates if field_name in doc.vectors]
        out: list[tuple[float, Doc]] = [
            (0.0, doc) for doc in candidates if field_name not in doc.vectors
        ]
        if with_vector:
            matrix = np.stack([doc.vectors[field_name] for doc in with_vector])
            scores = knn_score(
                space, vector, matrix, engine=None, exact_script=True, version=self.version_tuple
            )
            boost = float(spec.get("boost", 1.0))
            out += [
                (_as_f32(float(s) * boost), doc) for s, doc in zip(scores, with_vector, strict=True)
            ]
        if "min_score" in spec:
            out = [(s, d) for s, d in out if s >= float(spec["min_score"])]
        return out

    def _count(self, name: str, params: dict[str, str], body: Any) -> tuple[int, Any]:
        self._params(params, _INDEX_OPTS | {"preference"})
        index = self._index(name)
        body = body or {}
        if not isinstance(body, dict):
            raise _parsing("request body must be an object", source=COUNT)
        unknown = sorted(set(body) - {"query"})
        if unknown:
            raise _parsing(f"request does not support [{unknown[0]}]", source=_UNKNOWN_KEY)
        query = body.get("query", {"match_all": {}})
        kind, _ = _single(query, "query")
        if kind in ("knn", "script_score"):
            raise _bad_request(
                f"[_count] with a [{kind}] query",
                source=NotEmulated("counting by knn or script_score queries"),
            )
        try:
            matcher = _QueryCompiler(self, index).compile(query)
        except _ShardError as err:
            raise _shard_failure(index, err) from None
        count = sum(1 for doc in index.searchable.values() if matcher(doc))
        return 200, {
            "count": count,
            "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        }

    def _delete_by_query(self, name: str, params: dict[str, str], body: Any) -> tuple[int, Any]:
        self._params(
            params,
            _INDEX_OPTS
            | {"refresh", "conflicts", "wait_for_completion", "slices", "scroll_size", "timeout"}
            | {"requests_per_second"},
        )
        refresh = _refresh_param(params, allow_wait_for=False)
        conflicts = params.get("conflicts", "abort")
        if conflicts not in ("abort", "proceed"):
            raise _bad_request(
                f'conflicts may only be "proceed" or "abort" but was [{conflicts}]',
                source=DELETE_BY_QUERY,
            )
        if not _bool_param(params, "wait_for_completion", True):
            raise _bad_request(
                "[wait_for_completion] false",
                source=NotEmulated("asynchronous delete by query (wait_for_completion=false)"),
            )
        index = self._index(name)
        if not isinstance(body, dict) or "query" not in body:
            raise api_error(
                400,
                "action_request_validation_exception",
                "Validation Failed: 1: query is missing;",
                source=DELETE_BY_QUERY,
            )
        unknown = sorted(set(body) - {"query"})
        if unknown:
            raise _parsing(
                f"Unknown key for a START_OBJECT in [{unknown[0]}].", source=_UNKNOWN_KEY
            )
        kind, _ = _single(body["query"], "query")
        if kind in ("knn", "script_score"):
            raise _bad_request(
                f"[_delete_by_query] with a [{kind}] query",
                source=NotEmulated("delete by knn or script_score queries"),
            )
        started = time.monotonic()
        try:
            matcher = _QueryCompiler(self, index).compile(body["query"])
        except _ShardError as err:
            raise _shard_failure(index, err) from None
        snapshot = [doc for doc in index.searchable.values() if matcher(doc)]
        deleted = conflicts_count = 0
        for doc in snapshot:
            current = index.live.get(doc.id)
            if current is None or current.seq_no != doc.seq_no:
                conflicts_count += 1
                continue
            self._remove(index, doc.id)
            deleted += 1
        if refresh == "true":
            index.refresh()
        failures: list[dict[str, Any]] = []
        if conflicts_count and conflicts == "abort":
            failures.append(
                {
                    "index": name,
                    "status": 409,
                    "cause": {"type": "version_conflict_engine_exception"},
                }
            )
        return (409 if failures else 200), {
            "took": int((time.monotonic() - started) * 1000),
            "timed_out": False,
            "total": len(snapshot),
            "deleted": deleted,
            "batches": 1 if snapshot else 0,
            "version_conflicts": conflicts_count,
            "noops": 0,
            "retries": {"bulk": 0, "search": 0},
            "throttled_millis": 0,
            "requests_per_second": -1.0,
            "throttled_until_millis": 0,
            "failures": failures,
        }


# --------------------------------------------------------------------------- document parsing


class _DocumentParser:
    """Walks a document against the mapping, extending it dynamically like OpenSearch."""

    def __init__(
        self,
        server: OpenSearchTestServer,
        index: Index,
        root: dict[str, Any],
        doc_id: str,
        values: dict[str, list[Any]],
        vectors: dict[str, np.ndarray],
    ) -> None:
        self.server = server
        self.index = index
        self.root = root
        self.doc_id = doc_id
        self.values = values
        self.vectors = vectors

    def parse_object(
        self, obj: dict[str, Any], node: dict[str, Any], prefix: str, dynamic: str
    ) -> None:
        for key, value in obj.items():
            if not key or not key.strip():
                raise _mapper_parsing(
                    "failed to parse",
                    {
                        "type": "illegal_argument_exception",
                        "reason": "field name cannot be an empty string",
                    },
                    source=MAPPINGS,
                )
            if "." in key:
                head, _, rest = key.partition(".")
                if not head or not rest:
                    raise _mapper_parsing(
                        f"failed to parse: field name [{key}] cannot contain only dots or "
                        "start or end with a dot",
                        source=MAPPINGS,
                    )
                self.parse_object({head: {rest: value}}, node, prefix, dynamic)
                continue
            full = prefix + key
            props = node.setdefault("properties", {})
            fm = props.get(key)
            if fm is None:
                sample = _first_non_null(value)
                if sample is None:
                    continue
                if dynamic == "strict":
                    parent = prefix[:-1] if prefix else "_doc"
                    raise api_error(
                        400,
                        "strict_dynamic_mapping_exception",
                        f"mapping set to strict, dynamic introduction of [{key}] within "
                        f"[{parent}] is not allowed",
                        source=DYNAMIC,
                    )
                if dynamic == "false":
                    continue
                fm = self._dynamic_mapping(full, key, sample)
                props[key] = fm
            self._parse_field(fm, value, full, key, dynamic)

    def _dynamic_mapping(self, full: str, key: str, sample: Any) -> dict[str, Any]:
        if isinstance(sample, dict):
            detected = "object"
        elif isinstance(sample, bool):
            detected = "boolean"
        elif isinstance(sample, int):
            detected = "long"
        elif isinstance(sample, float):
            detected = "double"
        elif self.root.get("date_detection", True) and _DATE_RE.match(str(sample)):
            detected = "date"
        else:
            detected = "string"
        for template in self.root.get("dynamic_templates", []):
            ((_name, spec),) = template.items()
            mmt = spec.get("match_mapping_type")
            if mmt not in (None, "*", detected):
                continue
            if not _glob_any(spec.get("path_match"), full, default=True):
                continue
            if _glob_any(spec.get("path_unmatch"), full, default=False):
                continue
            if not _glob_any(spec.get("match"), key, default=True):
                continue
            if _glob_any(spec.get("unmatch"), key, default=False):
                continue
            dynamic_type = {"string": "text", "object": "object"}.get(detected, detected)
            mapping: dict[str, Any] = _substitute(copy.deepcopy(spec["mapping"]), key, dynamic_type)
            if detected == "object":
                mapping.setdefault("properties", {})
                if mapping.get("type") == "object":
                    del mapping["type"]
                if "type" in mapping:
                    raise _mapper_parsing(
                        f"failed to parse field [{full}]: a dynamic template maps an object to "
                        f"[{mapping['type']}]",
                        source=DYNAMIC_TEMPLATES,
                    )
            elif "type" not in mapping:
                mapping["type"] = _DEFAULT_DYNAMIC[detected]["type"]
            return mapping
        return copy.deepcopy(_DEFAULT_DYNAMIC[detected])

    def _parse_field(
        self, fm: dict[str, Any], value: Any, full: str, key: str, dynamic: str
    ) -> None:
        ftype = _field_type(fm)
        if ftype == "object":
            child_dynamic = _dynamic_of(fm, dynamic)
            for item in _flatten(value):
                if item is None:
                    continue
                if not isinstance(item, dict):
                    raise _mapper_parsing(
                        f"object mapping for [{full}] tried to parse field [{key}] as object, "
                        "but found a concrete value",
                        source=MAPPINGS,
                    )
                if fm.get("enabled", True) is False:
                    continue
                self.parse_object(item, fm, full + ".", child_dynamic)
            return
        if ftype == "knn_vector":
            self.vectors[full] = self._vector(fm, value, full)
            return
        for item in _flatten(value):
            if item is None:
                continue
            if isinstance(item, dict):
                raise _mapper_parsing(
                    f"failed to parse field [{full}] of type [{ftype}] in document with id "
                    f"'{self.doc_id}'. Preview of field's value: '{_preview(item)}'",
                    {
                        "type": "illegal_state_exception",
                        "reason": f"Can't get text on a START_OBJECT at 1:{len(full)}",
                    },
                    source=MAPPINGS,
                )
            self._index_leaf(fm, ftype, item, full)
            for sub, sub_fm in fm.get("fields", {}).items():
                self._index_leaf(sub_fm, _field_type(sub_fm), item, f"{full}.{sub}")

    def _index_leaf(self, fm: Mapping[str, Any], ftype: str, item: Any, full: str) -> None:
        def fail(
            cause: str, cause_type: str = "illegal_argument_exception", *, source: Source
        ) -> ApiError:
            return _mapper_parsing(
                f"failed to parse field [{full}] of type [{ftype}] in document with id "
                f"'{self.doc_id}'. Preview of field's value: '{_preview(item)}'",
                {"type": cause_type, "reason": cause},
                source=source,
            )

        bucket = self.values.setdefault(full, [])
        if ftype == "keyword":
            text = _keyword_string(item)
            if len(text) > fm.get("ignore_above", 2**31):
                return
            if len(text.encode()) > MAX_TERM_BYTES:
                raise api_error(
                    400,
                    "illegal_argument_exception",
                    f'Document contains at least one immense term in field="{full}" (whose '
                    f"UTF8 encoding is longer than the max length {MAX_TERM_BYTES}), all of "
                    "which were skipped.  Please correct the analyzer to not produce such terms.",
                    caused_by={
                        "type": "max_bytes_length_exceeded_exception",
                        "reason": f"bytes can be at most {MAX_TERM_BYTES} in length; got "
                        f"{len(text.encode())}",
                    },
                    source=LUCENE_TERM_LENGTH,
                )
            bucket.append(text)
        elif ftype == "text":
            bucket.extend(standard_analyze(_keyword_string(item)))
        elif ftype in _NUMERIC_TYPES:
            if isinstance(item, bool):
                raise fail(
                    f"Current token (VALUE_{'TRUE' if item else 'FALSE'}) not numeric, can not "
                    "use numeric value accessors",
                    source=NUMERIC,
                )
            number: float | int
            if isinstance(item, int | float):
                number = item
            else:
                try:
                    number = float(str(item).strip())
                except ValueError:
                    raise fail(
                        f'For input string: "{item}"', "number_format_exception", source=NUMERIC
                    ) from None
            if ftype in _INTEGER_RANGES:
                low, high = _INTEGER_RANGES[ftype]
                if isinstance(number, float) and not math.isfinite(number):
                    raise fail(f"Value [{item}] is out of range for a {ftype}", source=NUMERIC)
                integral = int(number)
                if not low <= integral <= high:
                    raise fail(f"Value [{item}] is out of range for a {ftype}", source=NUMERIC)
                bucket.append(integral)
            else:
                as_float = float(number)
                if not math.isfinite(as_float):
                    raise fail(
                        f"[{ftype}] supports only finite values, but got [{item}]",
                        source=FINITE_FLOATS,
                    )
                if ftype in ("float", "half_float"):
                    as_float = float(np.float32(as_float))
                bucket.append(as_float)
        elif ftype == "boolean":
            if isinstance(item, bool):
                bucket.append(item)
            elif item in ("true", "false", ""):
                bucket.append(item == "true")
            else:
                raise fail(
                    f"Failed to parse value [{item}] as only [true] or [false] are allowed.",
                    source=BOOLEAN,
                )
        elif ftype == "date":
            bucket.append(str(item))
        else:
            raise fail(
                f"indexing a [{ftype}] field", source=NotEmulated("indexing this field type")
            )

    def _vector(self, fm: Mapping[str, Any], value: Any, full: str) -> np.ndarray:
        dimension = int(fm["dimension"])

        def fail(reason: str, *, source: Source) -> ApiError:
            return _mapper_parsing(
                f"failed to parse field [{full}] of type [knn_vector] in document with id "
                f"'{self.doc_id}'. Preview of field's value: '{_preview(value)}'",
                {"type": "illegal_argument_exception", "reason": reason},
                source=source,
            )

        if not isinstance(value, list) or not all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in value
        ):
            raise fail("Vector values must be an array of numbers", source=KNN_VECTOR)
        if len(value) != dimension:
            raise fail(
                f"Vector dimension mismatch. Expected: {dimension}, Given: {len(value)}",
                source=KNN_VECTOR,
            )
        vector = np.asarray(value, dtype=np.float32)
        if not np.all(np.isfinite(vector)):
            raise fail("KNN vector values cannot be NaN or Infinity", source=FINITE_FLOATS)
        space = (fm.get("method") or {}).get("space_type", fm.get("space_type"))
        if space == "cosinesimil" and not np.any(vector):
            raise fail(
                f"zero vector is not supported when space type is [{space}]", source=KNN_SPACES
            )
        return vector


_DEFAULT_DYNAMIC: dict[str, dict[str, Any]] = {
    "object": {"properties": {}},
    "boolean": {"type": "boolean"},
    "long": {"type": "long"},
    "double": {"type": "float"},
    "date": {"type": "date"},
    "string": {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}},
}


# --------------------------------------------------------------------------- queries


Matcher = Callable[[Doc], bool]
#: A query in query context: a document's score, or None when it does not match.
Scorer = Callable[[Doc], "float | None"]


def _never(doc: Doc) -> bool:
    return False


def _always(doc: Doc) -> bool:
    return True


def _no_score(doc: Doc) -> float | None:
    return None


class _BM25Field:
    """Lucene ``BM25Similarity`` over one ``text`` field of the searchable documents.

    The collection statistics are those of a single-shard index: ``docCount``
    is the number of documents with at least one token in the field and
    ``avgdl`` their mean token count (deleted documents are treated as merged
    away).
    """

    def __init__(self, docs: Iterable[Doc], path: str) -> None:
        self.path = path
        self.with_field = [doc for doc in docs if doc.values.get(path)]
        self.doc_count = len(self.with_field)
        self.sum_total_term_freq = sum(len(doc.values[path]) for doc in self.with_field)

    def doc_freq(self, term: str) -> int:
        """Documents whose field contains ``term``."""
        return sum(1 for doc in self.with_field if doc.term_freqs(self.path)[term])

    def term_score(self, doc: Doc, term: str, doc_freq: int, boost: float) -> float | None:
        """``term``'s BM25 score in ``doc``, or None when the document does not contain it."""
        freq = doc.term_freqs(self.path)[term]
        if not freq:
            return None
        return float(
            bm25_term_score(
                freq,
                len(doc.values[self.path]),
                doc_freq=doc_freq,
                doc_count=self.doc_count,
                sum_total_term_freq=self.sum_total_term_freq,
                boost=boost,
            )
        )


class _QueryCompiler:
    """Query DSL -> a scorer over stored documents, or a predicate (filter context).

    Scores follow Lucene: ``match`` is BM25 (see :func:`bm25_term_score`),
    ``bool`` sums the scores of its matching ``must`` and ``should`` clauses
    (``filter`` and ``must_not`` do not score), boosts multiply down the tree,
    and the other leaf queries score their boost (1.0), as constant-score
    queries do. Known simplification: ``term`` also scores a constant, where
    OpenSearch would compute BM25 for the single term.
    """

    def __init__(self, server: OpenSearchTestServer, index: Index) -> None:
        self.server = server
        self.index = index
        self._depth = 0
        self._clauses = 0

    def compile(self, query: Any) -> Matcher:
        """The predicate (filter context)."""
        scorer = self.compile_scoring(query)
        return lambda doc: scorer(doc) is not None

    def compile_scoring(self, query: Any, boost: float = 1.0) -> Scorer:
        """The scorer; Lucene's limit of 1024 boolean clauses in a query applies."""
        self._depth += 1
        try:
            scorer = self._compile(query, boost)
        finally:
            self._depth -= 1
        if self._depth == 0 and self._clauses > MAX_CLAUSES:
            raise _ShardError(
                f"Query contains too many nested clauses; maxClauseCount is set to {MAX_CLAUSES}",
                "too_many_nested_clauses",
                source=MAX_CLAUSE_COUNT,
            )
        return scorer

    def _compile(self, query: Any, boost: float) -> Scorer:
        kind, spec = _single(query, "query")
        if kind == "bool":
            return self._bool(spec, boost)
        if kind == "match":
            return self._match(spec, boost)
        handler = {
            "term": self._term,
            "terms": self._terms,
            "range": self._range,
            "exists": self._exists,
            "ids": self._ids,
            "match_all": self._match_all,
            "match_none": self._match_none,
        }.get(kind)
        if handler is None:
            if kind in ("knn", "script_score"):
                raise _bad_request(
                    f"[{kind}] query inside another query",
                    source=NotEmulated("this query type below the top level of a search"),
                )
            raise _parsing(f"unknown query [{kind}]", source=QUERY_DSL)
        matcher = handler(spec)
        if matcher is _never:
            return _no_score
        score = float(_f32(boost * _leaf_boost(spec)))
        return lambda doc: score if matcher(doc) else None

    def _match_all(self, spec: Any) -> Matcher:
        _check_keys(spec, {"boost", "_name"}, "match_all")
        return _always

    def _match_none(self, spec: Any) -> Matcher:
        _check_keys(spec, {"boost", "_name"}, "match_none")
        return _never

    def _bool(self, spec: Any, boost: float) -> Scorer:
        _check_keys(
            spec,
            {"must", "filter", "should", "must_not", "minimum_should_match", "boost"}
            | {"adjust_pure_negative", "_name"},
            "bool",
        )
        own = float(_f32(boost * _boost_value(spec.get("boost"))))

        def clauses(key: str) -> list[Scorer]:
            raw = spec.get(key, [])
            items = raw if isinstance(raw, list) else [raw]
            return [self.compile_scoring(item, own) for item in items]

        must = clauses("must")
        filters = clauses("filter")
        self._clauses += sum(
            len(v) if isinstance(v, list) else 1
            for k, v in spec.items()
            if k in ("must", "filter", "should", "must_not")
        )
        should = clauses("should")
        must_not = clauses("must_not")
        if not (must or filters or should or must_not):
            # An empty bool is OpenSearch's match_all.
            return lambda doc: own
        msm_raw = spec.get("minimum_should_match")
        if msm_raw is None:
            msm = 1 if should and not (must or filters) else 0
        else:
            msm = _minimum_should_match(msm_raw, len(should))
        if should and msm > len(should):
            return _no_score

        def score(doc: Doc) -> float | None:
            # Lucene sums clause scores in double and returns a float.
            total = 0.0
            for clause in must:
                value = clause(doc)
                if value is None:
                    return None
                total += value
            if any(clause(doc) is None for clause in filters):
                return None
            if any(clause(doc) is not None for clause in must_not):
                return None
            matched = 0
            for clause in should:
                value = clause(doc)
                if value is not None:
                    matched += 1
                    total += value
            if matched < msm:
                return None
            return float(_f32(total))

        return score

    def _match(self, spec: Any, boost: float) -> Scorer:
        """``match`` on a ``text`` field (mappings only have the standard analyzer): BM25."""
        name, raw, _ = self._field_spec(spec, "match", set())
        operator = "or"
        own = 1.0
        if isinstance(raw, dict):
            _check_keys(raw, {"query", "operator", "boost", "_name"}, "match")
            if "query" not in raw:
                raise _parsing(
                    f"[match] requires query value for field [{name}]", source=MATCH_QUERY
                )
            value = raw["query"]
            operator = str(raw.get("operator", "or")).lower()
            if operator not in ("or", "and"):
                raise _bad_request(
                    f"operator needs to be either [and] or [or], got [{operator}]",
                    source=MATCH_QUERY,
                )
            own = _boost_value(raw.get("boost"))
        else:
            value = raw
        if value is None or isinstance(value, list | dict):
            raise _parsing(
                f"[match] unknown token [{type(value).__name__}] after [query]", source=MATCH_QUERY
            )
        fm = self.index.field_mapping(name)
        if fm is None:
            return _no_score  # an unmapped field matches nothing
        ftype = _field_type(fm)
        if ftype != "text":
            raise _bad_request(
                f"[match] query on [{ftype}] field [{name}]",
                source=NotEmulated("match queries on fields other than text fields"),
            )
        if fm.get("index") is False:
            raise _ShardError(
                f"Cannot search on field [{name}] since it is not indexed.", source=INDEX_PARAM
            )
        tokens = standard_analyze(_keyword_string(value))
        if len(tokens) > 1:
            self._clauses += len(tokens)
        if not tokens:
            return _no_score  # zero_terms_query: none
        weight = float(_f32(boost * own))
        stats = _BM25Field(self.index.searchable.values(), name)
        counts = Counter(tokens)
        doc_freqs = {term: stats.doc_freq(term) for term in counts}
        required = operator == "and"

        def score(doc: Doc) -> float | None:
            total = 0.0
            matched = False
            for term, times in counts.items():
                value = stats.term_score(doc, term, doc_freqs[term], weight)
                if value is None:
                    if required:
                        return None
                    continue
                # A repeated query term is a repeated clause (Lucene merges them by boost).
                total += times * value
                matched = True
            return float(_f32(total)) if matched else None

        return score

    def _field_spec(self, spec: Any, kind: str, extra: set[str]) -> tuple[str, Any, dict[str, Any]]:
        if not isinstance(spec, dict):
            raise _parsing(
                f"[{kind}] query malformed, no start_object after query name", source=QUERY_DSL
            )
        fields = [k for k in spec if k not in extra]
        if len(fields) != 1:
            if not fields:
                raise _parsing(f"[{kind}] query doesn't have a field", source=QUERY_DSL)
            raise _parsing(
                f"[{kind}] query doesn't support multiple fields, found [{fields[0]}] and "
                f"[{fields[1]}]",
                source=QUERY_DSL,
            )
        name = fields[0]
        return name, spec[name], {k: v for k, v in spec.items() if k in extra}

    def _term(self, spec: Any) -> Matcher:
        name, raw, _ = self._field_spec(spec, "term", set())
        if isinstance(raw, dict):
            _check_keys(raw, {"value", "boost", "case_insensitive", "_name"}, "term")
            if "value" not in raw:
                raise _parsing("[term] query requires a value", source=TERM_QUERY)
            if raw.get("case_insensitive", False):
                raise _bad_request(
                    "[case_insensitive]", source=NotEmulated("case_insensitive term queries")
                )
            value = raw["value"]
        else:
            value = raw
        if isinstance(value, list | dict) or value is None:
            raise _parsing(
                f"[term] query does not support array or object values for [{name}]",
                source=TERM_QUERY,
            )
        probe = self._value_probe(name, "term")
        if probe is None:
            return _never
        target = probe(value)
        return self._any_value(name, lambda v: v == target)

    def _terms(self, spec: Any) -> Matcher:
        name, raw, _ = self._field_spec(spec, "terms", {"boost", "_name"})
        if not isinstance(raw, list):
            raise _parsing("[terms] lookup", source=NotEmulated("terms lookup"))
        if len(raw) > MAX_TERMS:
            raise _ShardError(
                f"The number of terms [{len(raw)}] used in the Terms Query request has exceeded "
                f"the allowed maximum of [{MAX_TERMS}].",
                "illegal_argument_exception",
                source=TERMS_QUERY,
            )
        for value in raw:
            if isinstance(value, list | dict) or value is None:
                raise _parsing("[terms] query does not support nested values", source=TERMS_QUERY)
        probe = self._value_probe(name, "terms")
        if probe is None:
            return _never
        targets = [probe(value) for value in raw]
        return self._any_value(name, lambda v: v in targets)

    def _range(self, spec: Any) -> Matcher:
        name, raw, _ = self._field_spec(spec, "range", set())
        if not isinstance(raw, dict):
            raise _parsing(
                f"[range] query malformed, no start_object after field [{name}]", source=RANGE_QUERY
            )
        _check_keys(raw, {"gt", "gte", "lt", "lte", "boost", "_name"}, "range")
        fm = self.index.field_mapping(name)
        if fm is None:
            return _never
        ftype = _field_type(fm)
        convert: Callable[[Any], Any]
        if ftype in _NUMERIC_TYPES:
            convert = lambda v: _numeric_query_value(v, name)  # noqa: E731
        elif ftype == "keyword":
            convert = _keyword_string
        else:
            raise _ShardError(
                f"[range] query on [{ftype}] field [{name}]",
                source=NotEmulated("range queries on this field type"),
            )
        bounds = {
            op: convert(raw[op]) for op in ("gt", "gte", "lt", "lte") if raw.get(op) is not None
        }

        def within(v: Any) -> bool:
            return (
                ("gt" not in bounds or v > bounds["gt"])
                and ("gte" not in bounds or v >= bounds["gte"])
                and ("lt" not in bounds or v < bounds["lt"])
                and ("lte" not in bounds or v <= bounds["lte"])
            )

        return self._any_value(name, within)

    def _exists(self, spec: Any) -> Matcher:
        _check_keys(spec, {"field", "boost", "_name"}, "exists")
        if not isinstance(spec.get("field"), str):
            raise _parsing("[exists] must be provided with a [field]", source=EXISTS_QUERY)
        pattern = spec["field"]

        def match(doc: Doc) -> bool:
            if pattern == "_id":
                return True
            for path, values in doc.values.items():
                if values and (
                    fnmatch.fnmatchcase(path, pattern) or path.startswith(pattern + ".")
                ):
                    return True
            return any(
                fnmatch.fnmatchcase(path, pattern) or path.startswith(pattern + ".")
                for path in doc.vectors
            )

        return match

    def _ids(self, spec: Any) -> Matcher:
        _check_keys(spec, {"values", "boost", "_name"}, "ids")
        values = spec.get("values")
        if not isinstance(values, list):
            raise _parsing("[ids] query malformed, values must be an array", source=IDS_QUERY)
        if any(isinstance(v, list | dict | bool) or v is None for v in values):
            raise _parsing("[ids] query values must be strings", source=IDS_QUERY)
        wanted = {str(v) for v in values}
        return lambda doc: doc.id in wanted

    def _value_probe(self, name: str, kind: str) -> Callable[[Any], Any] | None:
        """How a query value is converted for comparison with ``name``'s indexed values."""
        if name == "_id":
            return _keyword_string
        fm = self.index.field_mapping(name)
        if fm is None:
            return None
        ftype = _field_type(fm)
        if ftype in ("keyword", "text"):
            return _keyword_string
        if ftype in _NUMERIC_TYPES:

            def numeric(v: Any) -> Any:
                number = _numeric_query_value(v, name)
                if ftype in _INTEGER_RANGES:
                    return int(number) if float(number).is_integer() else _NO_MATCH
                if ftype in ("float", "half_float"):
                    return float(np.float32(number))
                return float(number)

            return numeric
        if ftype == "boolean":
            return lambda v: _boolean_query_value(v, name)
        if ftype == "object":
            return None
        raise _ShardError(
            f"[{kind}] query on field [{name}] of type [{ftype}]",
            source=NotEmulated("this query type on this field type"),
        )

    def _any_value(self, name: str, test: Callable[[Any], bool]) -> Matcher:
        if name == "_id":
            return lambda doc: test(doc.id)
        return lambda doc: any(test(v) for v in doc.values.get(name, ()))


class _NoMatch:
    def __eq__(self, other: object) -> bool:
        return False

    def __hash__(self) -> int:
        return 0


_NO_MATCH = _NoMatch()


# --------------------------------------------------------------------------- helpers


def _json(payload: Any, status: int) -> Response:
    return JSONResponse(payload, status_code=status)


def _shard_failure(index: Index, err: _ShardError) -> ApiError:
    reason = {
        "type": err.type,
        "reason": f"failed to create query: {err.reason}"
        if err.type == "query_shard_exception"
        else err.reason,
        "index": index.name,
        "index_uuid": index.uuid,
    }
    error = ApiError(
        400,
        "search_phase_execution_exception",
        "all shards failed",
        phase="query",
        grouped=True,
        failed_shards=[
            {"shard": 0, "index": index.name, "node": "vectorgate-test-node", "reason": reason}
        ],
    )
    return _RootCauseError(error, reason)


class _RootCauseError(ApiError):
    """An error whose root cause differs from the top-level error (search failures)."""

    def __init__(self, error: ApiError, root: dict[str, Any]) -> None:
        super().__init__(error.status, error.type, error.reason, **error.extra)
        self.root = root

    def body(self) -> dict[str, Any]:
        return {"error": {"root_cause": [self.root], **self.cause()}, "status": self.status}


def _single(value: Any, what: str) -> tuple[str, Any]:
    if not isinstance(value, dict) or len(value) != 1:
        if isinstance(value, dict) and len(value) > 1:
            raise _parsing(
                f"[{next(iter(value))}] malformed query, expected [END_OBJECT] but found "
                "[FIELD_NAME]",
                source=QUERY_DSL,
            )
        raise _parsing(f"[{what}] malformed, expected an object with one key", source=QUERY_DSL)
    ((key, spec),) = value.items()
    return str(key), spec


def _check_keys(spec: Any, allowed: set[str], kind: str) -> None:
    if not isinstance(spec, dict):
        raise _parsing(
            f"[{kind}] query malformed, no start_object after query name", source=QUERY_DSL
        )
    for key in spec:
        if key not in allowed:
            raise _parsing(f"[{kind}] query does not support [{key}]", source=_UNKNOWN_KEY)


def _total_hits(count: int, track: Any) -> dict[str, Any]:
    """``hits.total`` per ``track_total_hits``: exact up to 10,000 by default, absent if false."""
    if track is False:
        return {}
    if track is None:
        track = MAX_RESULT_WINDOW
    if track is True:
        return {"total": {"value": count, "relation": "eq"}}
    if not isinstance(track, int) or track < 0:
        raise _bad_request(
            "[track_total_hits] must be a boolean or a non-negative integer", source=SEARCH
        )
    if count > track:
        return {"total": {"value": track, "relation": "gte"}}
    return {"total": {"value": count, "relation": "eq"}}


def _boost_value(raw: Any) -> float:
    """A query's ``boost`` (1.0 when absent); negative boosts are rejected like OpenSearch."""
    if raw is None:
        return 1.0
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise _parsing("[boost] must be a number", source=BOOST)
    try:
        value = float(raw)
    except ValueError:
        raise _parsing(f"[boost] must be a number, got [{raw}]", source=BOOST) from None
    if value < 0 or not math.isfinite(value):
        raise _bad_request(f"negative [boost] are not allowed, got [{raw}]", source=BOOST)
    return value


def _leaf_boost(spec: Any) -> float:
    """The ``boost`` of a leaf query: at its top level, or in its single field's object."""
    if not isinstance(spec, dict):
        return 1.0
    raw = spec.get("boost")
    if raw is None and len(spec) == 1:
        inner = next(iter(spec.values()))
        if isinstance(inner, dict):
            raw = inner.get("boost")
    return _boost_value(raw)


def _minimum_should_match(raw: Any, clauses: int) -> int:
    if isinstance(raw, bool):
        raise _parsing(
            "[bool] minimum_should_match must be a number or a string", source=MINIMUM_SHOULD_MATCH
        )
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and re.fullmatch(r"-?\d+", raw.strip()):
        value = int(raw)
    elif isinstance(raw, str) and re.fullmatch(r"-?\d+%", raw.strip()):
        percent = int(raw.strip()[:-1])
        value = clauses * percent // 100 if percent >= 0 else clauses - clauses * -percent // 100
        return max(value, 0)
    else:
        raise _bad_request(
            f"minimum_should_match [{raw}]", source=NotEmulated("this minimum_should_match form")
        )
    if value < 0:
        value = clauses + value
    return max(value, 0)


def _keyword_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _numeric_query_value(value: Any, name: str) -> float | int:
    if isinstance(value, bool):
        raise _ShardError(
            f'For input string: "{str(value).lower()}"', "query_shard_exception", source=NUMERIC
        )
    if isinstance(value, int | float):
        return value
    try:
        return float(str(value).strip())
    except ValueError:
        raise _ShardError(f'For input string: "{value}"', source=NUMERIC) from None


def _boolean_query_value(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return bool(value == "true")
    raise _ShardError(
        f"Can't parse boolean value [{value}], expected [true] or [false]", source=BOOLEAN
    )


def _query_vector(raw: Any, fm: Mapping[str, Any], kind: str) -> np.ndarray:
    if not isinstance(raw, list) or not all(
        isinstance(x, int | float) and not isinstance(x, bool) for x in raw
    ):
        raise _parsing(f"[{kind}] query vector must be an array of numbers", source=KNN_QUERY)
    if len(raw) != int(fm["dimension"]):
        raise _bad_request(
            f"Query vector has invalid dimension: {len(raw)}. "
            f"Dimension should be: {fm['dimension']}",
            source=KNN_VECTOR,
        )
    vector = np.asarray(raw, dtype=np.float32)
    if not np.all(np.isfinite(vector)):
        raise _bad_request(
            "KNN query vector values cannot be NaN or Infinity", source=FINITE_FLOATS
        )
    return vector


def _dynamic_value(value: Any, where: str) -> str:
    if value in (True, "true"):
        return "true"
    if value in (False, "false"):
        return "false"
    if value == "strict":
        return "strict"
    raise _mapper_parsing(
        f"Failed to parse mapping: Could not convert [{where}.dynamic] to boolean",
        source=DYNAMIC,
    )


def _dynamic_of(node: Mapping[str, Any], inherited: str) -> str:
    value = node.get("dynamic")
    if value is None:
        return inherited
    return _dynamic_value(value, "dynamic")


def _first_non_null(value: Any) -> Any:
    for item in _flatten(value):
        if item is not None:
            return item
    return None


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, list):
        return list(itertools.chain.from_iterable(_flatten(v) for v in value))
    return [value]


def _glob_any(patterns: Any, text: str, *, default: bool) -> bool:
    if patterns is None:
        return default
    items = patterns if isinstance(patterns, list) else [patterns]
    return any(fnmatch.fnmatchcase(text, str(p)) for p in items)


def _substitute(mapping: Any, name: str, dynamic_type: str) -> Any:
    if isinstance(mapping, dict):
        return {k: _substitute(v, name, dynamic_type) for k, v in mapping.items()}
    if isinstance(mapping, list):
        return [_substitute(v, name, dynamic_type) for v in mapping]
    if isinstance(mapping, str):
        return mapping.replace("{name}", name).replace("{dynamic_type}", dynamic_type)
    return mapping


def _preview(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."


def _bool_param(params: Mapping[str, str], key: str, default: bool) -> bool:
    if key not in params:
        return default
    value = params[key]
    if value in ("", "true"):
        return True
    if value == "false":
        return False
    raise _bad_request(
        f"Failed to parse value [{value}] as only [true] or [false] are allowed.", source=PARAMETERS
    )


def _refresh_param(params: Mapping[str, str], *, allow_wait_for: bool) -> str:
    if "refresh" not in params:
        return "false"
    value = params["refresh"]
    if value in ("", "true"):
        return "true"
    if value == "false":
        return "false"
    if value == "wait_for" and allow_wait_for:
        return "wait_for"
    raise _bad_request(
        f"Failed to parse value [{value}] as only [true] or [false] are allowed.", source=REFRESH
    )


def _sort_value(doc: Doc, field_name: str, descending: bool) -> str | None:
    """The value a document sorts by (the smallest / largest of a multi-valued field)."""
    values = [str(v) for v in doc.values.get(field_name, ())]
    if not values:
        return None
    return max(values) if descending else min(values)


def _int_value(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise _parsing(f"[{name}] must be an integer", source=SEARCH)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _parsing(f"[{name}] must be an integer", source=SEARCH) from None


def _int_setting(key: str, value: str, *, minimum: int) -> None:
    try:
        parsed = int(value)
    except ValueError:
        raise _bad_request(
            f"Failed to parse value [{value}] for setting [{key}]", source=INDEX_SETTINGS
        ) from None
    if parsed < minimum:
        raise _bad_request(
            f"Failed to parse value [{value}] for setting [{key}] must be >= {minimum}",
            source=INDEX_SETTINGS,
        )


def _nest_settings(flat: Mapping[str, str]) -> dict[str, Any]:
    """Settings as OpenSearch renders them without ``flat_settings``.

    A key that is both a value and a prefix (``index.knn`` and
    ``index.knn.algo_param.ef_search``) keeps the longer keys dotted under the
    first free prefix, as OpenSearch does (``"knn.algo_param": {...}``).
    """
    tree: dict[str, Any] = {}
    for key in sorted(flat):
        parts = key.split(".")
        node = tree
        i = 0
        while i < len(parts) - 1:
            part = parts[i]
            child = node.get(part)
            if isinstance(child, str):
                merged = ".".join(parts[i : i + 2])
                parts = [*parts[:i], merged, *parts[i + 2 :]]
                continue
            node = node.setdefault(part, {})
            i += 1
        node[parts[-1]] = flat[key]
    return tree


def _source_filter(
    params: Mapping[str, str], body_spec: Any
) -> Callable[[dict[str, Any]], Any] | None:
    """The ``_source`` projection of a request (None: no ``_source`` in the response)."""
    includes: list[str] = []
    excludes: list[str] = []
    spec = body_spec
    if spec is None and "_source" in params:
        raw = params["_source"]
        if raw in ("false",):
            spec = False
        elif raw in ("true", ""):
            spec = True
        else:
            spec = raw.split(",")
    if spec is False:
        return None
    if isinstance(spec, str):
        includes = [spec]
    elif isinstance(spec, list):
        includes = [str(s) for s in spec]
    elif isinstance(spec, dict):
        bad = sorted(set(spec) - {"includes", "excludes"})
        if bad:
            raise _parsing(f"Unknown key for a START_ARRAY in [{bad[0]}].", source=SOURCE)
        includes = list(spec.get("includes", []))
        excludes = list(spec.get("excludes", []))
    elif spec not in (None, True):
        raise _parsing("[_source] must be a boolean, string, array or object", source=SOURCE)
    if "_source_includes" in params:
        includes = params["_source_includes"].split(",")
    if "_source_excludes" in params:
        excludes = params["_source_excludes"].split(",")
    if not includes and not excludes:
        return lambda source: source

    def keep(path: str) -> str:
        """'all' (keep the subtree), 'descend' or 'drop'."""
        if any(fnmatch.fnmatchcase(path, p) for p in excludes):
            return "drop"
        if not includes or any(fnmatch.fnmatchcase(path, p) for p in includes):
            return "all"
        if any(
            p.startswith(path + ".") or fnmatch.fnmatchcase(path, p.split(".")[0]) for p in includes
        ):
            return "descend"
        return "drop"

    def project(obj: dict[str, Any], prefix: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in obj.items():
            path = prefix + key
            verdict = keep(path)
            if verdict == "drop":
                continue
            if isinstance(value, dict):
                if verdict == "all" and not excludes:
                    out[key] = value
                else:
                    inner = (
                        project(value, path + ".") if verdict == "descend" or excludes else value
                    )
                    if verdict == "all" and excludes:
                        inner = _exclude_only(value, path + ".", excludes)
                    if inner or verdict == "all":
                        out[key] = inner
            elif verdict == "all":
                out[key] = value
        return out

    return lambda source: project(source, "")


def _exclude_only(obj: dict[str, Any], prefix: str, excludes: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        path = prefix + key
        if any(fnmatch.fnmatchcase(path, p) for p in excludes):
            continue
        out[key] = _exclude_only(value, path + ".", excludes) if isinstance(value, dict) else value
    return out
