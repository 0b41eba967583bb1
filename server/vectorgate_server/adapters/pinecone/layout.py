"""How vectorgate lays collections and documents out in Pinecone: names, ids, tags, records."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote, unquote

import orjson
from pinecone import AsyncIndex
from pinecone.models.indexes.index import IndexModel

from ...domain import (
    NAME_RE,
    Document,
    Metadata,
    Metric,
    as_float32,
)
from ...errors import InvalidArgument
from ...filters.common import FieldType
from ...filters.pinecone import decode_metadata, encode_metadata
from ..batches import WriteRow
from ..spec import StoredSpec, decode_spec, spec_json

BACKEND = "pinecone"
#: The dense field of a vector (non-document) index.
DENSE_FIELD = "_values"
# Vendor documentation these limits follow (the test server cites the same pages):
# - index names: https://docs.pinecone.io/troubleshooting/restrictions-on-index-names
#   ("lowercase alphanumeric Latin characters and dashes"; identifier limits: 45 characters)
MAX_INDEX_NAME = 45
# - record ids: https://docs.pinecone.io/reference/api/database-limits/identifier-limits
#   (record id: 512 characters, ASCII except \0)
MAX_ID_CHARS = 512
# - https://www.pinecone.io/docs/metadata-filtering/ ("Pinecone supports 40kb of metadata
#   per vector")
MAX_METADATA_BYTES = 40 * 1024
# - https://docs.pinecone.io/reference/api/database-limits/operation-limits ("Max batch size
#   for records with vectors: 1,000 records, up to 2 MB total")
MAX_UPSERT_VECTORS = 1000
#: Pinecone's 2 MB request limit, with room for the envelope.
MAX_UPSERT_BYTES = 2 * 1024 * 1024 - 16 * 1024
# - https://www.pinecone.io/docs/limits/ ("Max vectors per fetch or delete request is 1,000")
MAX_DELETE_IDS = 1000
#: Fewer than the documented 1,000: fetch ids travel in the URL (see MAX_FETCH_URL_CHARS).
MAX_FETCH_IDS = 100
#: Ids per ``list`` call (the API's maximum: https://docs.pinecone.io/guides/manage-data/list-record-ids).
LIST_PAGE_SIZE = 100
#: Keep fetch URLs (ids travel in the query string) comfortably short.
MAX_FETCH_URL_CHARS = 6000
FETCH_PAGE = 1000
DEFAULT_NAMESPACE = "__default__"

METRIC_TO_PINECONE = {Metric.COSINE: "cosine", Metric.L2: "euclidean", Metric.IP: "dotproduct"}
METRIC_FROM_PINECONE = {v: k for k, v in METRIC_TO_PINECONE.items()}

#: Tag marking the layout of indexes created by vectorgate.
LAYOUT_TAG = "vectorgate"
LAYOUT_VERSION = "1"
SPEC_TAG_PREFIX = "vg_spec"
#: https://docs.pinecone.io/guides/manage-data/manage-indexes: tag values are at most 120
#: characters (keys 80, alphanumeric, ``_`` or ``-``).
MAX_TAG_VALUE = 120
#: vectorgate's own bound on the tags it writes (keeps the spec small).
MAX_TAGS = 20
#: Index types accepted in ``CollectionSpec.index.type`` ("" means serverless).
INDEX_TYPES = frozenset({"SERVERLESS"})
#: Index parameters accepted in ``CollectionSpec.index.params``.
INDEX_PARAMS = frozenset({"cloud", "region", "deletion_protection"})

_PLAIN_NAME_RE = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
#: Characters kept as is in Pinecone ids: printable ASCII except ``%``.
_ID_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")

T = TypeVar("T")


def index_name_for(collection: str) -> str:
    """The Pinecone index name of a collection (see the package docstring)."""
    if len(collection) <= MAX_INDEX_NAME and _PLAIN_NAME_RE.fullmatch(collection):
        return collection
    readable = re.sub(r"[^a-z0-9]+", "-", collection.lower()).strip("-")[:20].strip("-")
    digest = hashlib.sha256(collection.encode()).hexdigest()[:20]
    return f"{readable or 'vg'}--{digest}"


def encode_id(doc_id: str) -> str:
    """The Pinecone id of a document id: ``%`` and non-printable-ASCII percent-encoded."""
    return quote(doc_id, safe=_ID_SAFE, encoding="utf-8", errors="strict")


def decode_id(pinecone_id: str) -> str:
    """Inverse of :func:`encode_id`."""
    return unquote(pinecone_id, encoding="utf-8", errors="strict")


def canonical_score(metric: Metric, raw: float) -> float:
    """The canonical value of a Pinecone score: L2 scores are squared distances."""
    if metric is Metric.L2:
        return math.sqrt(max(raw, 0.0))
    return raw


def spec_tags(spec: StoredSpec, field: str) -> dict[str, str]:
    """The index tags holding ``spec`` (``InvalidArgument`` naming ``field`` when too long)."""
    # Tag values are printable ASCII: JSON with every non-ASCII character escaped.
    text = spec_json(spec)
    chunks = [text[i : i + MAX_TAG_VALUE] for i in range(0, len(text), MAX_TAG_VALUE)]
    if len(chunks) > MAX_TAGS - 1:
        raise InvalidArgument(
            f"{field}: the collection spec is {len(text)} characters as JSON; Pinecone index "
            f"tags hold at most {(MAX_TAGS - 1) * MAX_TAG_VALUE}",
            field=field,
        )
    tags = {LAYOUT_TAG: LAYOUT_VERSION}
    tags.update({f"{SPEC_TAG_PREFIX}{i}": chunk for i, chunk in enumerate(chunks)})
    return tags


def spec_from_tags(
    tags: Mapping[str, str] | None, collection: str | None = None
) -> StoredSpec | None:
    """The spec in an index's tags (None: not a vectorgate index, or not ``collection``'s)."""
    if not tags or tags.get(LAYOUT_TAG) != LAYOUT_VERSION:
        return None
    parts: list[str] = []
    i = 0
    while f"{SPEC_TAG_PREFIX}{i}" in tags:
        parts.append(tags[f"{SPEC_TAG_PREFIX}{i}"])
        i += 1
    spec = decode_spec("".join(parts))
    if spec is None or (collection is not None and spec.name != collection):
        return None
    return spec


def collection_of(model: IndexModel) -> str | None:
    """The collection an index is: the one named in its vectorgate tags, or for an index
    vectorgate did not create, its own name when that is a collection name and the
    index has the dense field (None: no collection)."""
    spec = spec_from_tags(model.tags)
    if spec is not None:
        return spec.name if spec.name and index_name_for(spec.name) == model.name else None
    if "--" not in model.name and NAME_RE.fullmatch(model.name):
        return model.name if DENSE_FIELD in model.schema.fields else None
    return None


@dataclass(slots=True)
class _Handle:
    """A collection's index: its data-plane client and what is needed to use it."""

    collection: str
    index_name: str
    client: AsyncIndex
    dimension: int
    metric: Metric
    typed: bool
    text_field: str
    #: Established type of each metadata key (a key keeps one type per collection).
    key_types: dict[str, FieldType] = field(default_factory=dict)

    def pid(self, doc_id: str) -> str | None:
        """The Pinecone id of ``doc_id`` (None: no record of the index can have it)."""
        pid = encode_id(doc_id) if self.typed else doc_id
        if not pid or len(pid) > MAX_ID_CHARS or not pid.isascii() or "\x00" in pid:
            return None
        return pid

    def document(
        self, pid: str, metadata: Mapping[str, Any] | None, values: Sequence[float] | None
    ) -> Document:
        """The document a stored record holds (its vector when ``values`` is given)."""
        stored = dict(metadata or {})
        vector = as_float32(values) if values is not None else None
        if self.typed:
            doc_id, text, md = decode_metadata(stored)
            doc_id = doc_id if doc_id is not None else decode_id(pid)
            return Document(id=doc_id, text=text, vector=vector, metadata=md)
        raw_text = stored.pop(self.text_field, "")
        plain: Metadata = {k: _plain_value(v) for k, v in stored.items()}
        text = raw_text if isinstance(raw_text, str) else ""
        return Document(id=pid, text=text, vector=vector, metadata=plain)


@dataclass(slots=True)
class _ScanPosition:
    """Where a ``scan`` listing stands: ids listed but not returned, and the next token."""

    buffer: list[str]
    token: str | None
    exhausted: bool
    #: Ids up to this Pinecone id are skipped (listing restarted for a cursor).
    skip_to: str | None


def record(handle: _Handle, row: WriteRow) -> dict[str, Any]:
    """The Pinecone record of a row (:mod:`..batches`); Pinecone's own limits on ids
    (ASCII, 512 characters once escaped) and metadata (40 KB, text included), which
    the application cannot know, refused naming the field."""
    path = row.path
    if handle.typed:
        pid = encode_id(row.id)
    else:
        pid = row.id
        if not pid.isascii() or "\x00" in pid:
            raise InvalidArgument(
                f"{path('id')}: this index was not created by vectorgate; its Pinecone ids "
                "must be ASCII without NUL",
                field=path("id"),
            )
    if len(pid) > MAX_ID_CHARS:
        raise InvalidArgument(
            f"{path('id')}: Pinecone ids are at most {MAX_ID_CHARS} ASCII characters; this id "
            f"takes {len(pid)} once non-ASCII characters and '%' are escaped",
            field=path("id"),
        )
    if handle.typed:
        stored = encode_metadata(row.id, row.text, dict(row.metadata))
    else:
        stored = dict(row.metadata)
        if row.text:
            stored[handle.text_field] = row.text
    user_size = len(orjson.dumps(row.metadata))
    size = len(orjson.dumps(stored))
    if size > MAX_METADATA_BYTES:
        where = path("metadata") if user_size > MAX_METADATA_BYTES // 2 else path("text")
        raise InvalidArgument(
            f"{where}: Pinecone stores at most {MAX_METADATA_BYTES} bytes of metadata per "
            f"vector (text included); this document needs {size}",
            field=where,
        )
    out: dict[str, Any] = {"id": pid, "values": row.values}
    if stored:
        out["metadata"] = stored
    return out


def request_batches(records: Sequence[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
    """``records`` in upsert requests within Pinecone's limits: ``MAX_UPSERT_BYTES`` of JSON
    and ``MAX_UPSERT_VECTORS`` records.

    The application's writes come split to ``max_write_batch`` (``MAX_UPSERT_VECTORS``)
    already, but 1,000 records of large vectors or metadata exceed 2 MB; and the contract
    suite (``vectorgate.testing``) calls ``upsert`` directly with up to 10,000 documents.
    """
    return _sized_chunks(
        records, lambda rec: len(orjson.dumps(rec)) + 1, MAX_UPSERT_BYTES, MAX_UPSERT_VECTORS
    )


def fetch_chunks(ids: Sequence[str]) -> Iterable[list[str]]:
    """``ids`` in chunks that keep a fetch URL (ids in the query string) short."""
    return _sized_chunks(
        ids, lambda pid: len(quote(pid, safe="")) + 5, MAX_FETCH_URL_CHARS, MAX_FETCH_IDS
    )


def _sized_chunks(
    items: Iterable[T], cost: Callable[[T], int], max_cost: int, max_items: int | None = None
) -> Iterator[list[T]]:
    """``items`` in order, in chunks of at most ``max_cost`` (an item costing more is a
    chunk of its own) and at most ``max_items`` items."""
    chunk: list[T] = []
    total = 0
    for item in items:
        size = cost(item)
        full = max_items is not None and len(chunk) >= max_items
        if chunk and (full or total + size > max_cost):
            yield chunk
            chunk, total = [], 0
        chunk.append(item)
        total += size
    if chunk:
        yield chunk


def _plain_value(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
