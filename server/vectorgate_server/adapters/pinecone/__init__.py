"""Pinecone adapter: the ``pinecone`` 10.2 SDK's asyncio client over REST (API ``2026-07``).

Collection mapping
==================

One Pinecone index per collection: dimension and metric are properties of a
Pinecone index, exactly as they are of a vectorgate collection. Each index is
a serverless ("managed") index with the single dense field ``_values`` (what
the SDK's vector API, ``upsert``/``query``/``fetch``, addresses), created in
the configured ``cloud``/``region``. All data goes to the configured
``namespace`` of each index (the default namespace when unset).

Index names allow lower-case letters, digits and ``-`` (1-45 characters).
A collection name that is already such a name, starts with a letter and has
no ``--`` is used as is; any other name maps to
``<readable-part>--<sha256 prefix>`` and the exact name is recovered from the
index's tags. ``--`` never occurs in an identity-mapped name, so the two
forms cannot collide.

The collection spec (name, text field, embedding model, index spec, create
time) is persisted as JSON in the index's ``tags`` (Pinecone tag values are
at most 120 printable ASCII characters, so the JSON is split over
``vg_spec0``, ``vg_spec1``, ...; ``vectorgate: "1"`` marks the layout).
Dimension and metric come from the index schema. An index without those tags
(not created by vectorgate) is described from its schema and read and written
in the *raw* layout (metadata as is, text in the ``text`` key); metadata
filters on it raise ``Unsupported``, because the typed layout below is what
makes Pinecone's filters exact.

Documents
=========

Metadata is stored in the typed layout of :mod:`vectorgate_server.filters.pinecone`
(type-prefixed keys, a presence list, the exact id and the text under reserved
``_vg:`` keys). Pinecone ids are 1-512 ASCII characters without NUL: ids are
percent-encoded where needed (``%`` and anything outside printable ASCII), and
an id whose encoding is longer than 512 characters is rejected. Pinecone's
limits are checked before sending: 40 KB of metadata per vector (text and
reserved keys included). Upserts: 1,000 vectors a request is the declared
``max_write_batch`` (the application splits larger writes), and a call whose
records exceed Pinecone's 2 MB per request is sent as several requests.
Within one upsert call the last document with an id wins.

Modules: :mod:`.layout` (names, ids, tags, records), :mod:`.errors` (SDK
errors to domain errors), :mod:`.client` (clients, handles, SDK calls,
read-your-writes), :mod:`.query` (query arguments, hits), :mod:`.adapter`
(the adapter).

A metadata key keeps one type per collection, as a column does elsewhere:
before writing, the type each key already has is looked up with one
``fetch_by_metadata`` on the presence list (cached per adapter), and a
document giving a key another type is rejected with
``InvalidArgument(field="documents[i].metadata.<key>")``, nothing of the
batch written. (Two gateways racing to introduce a new key with different
types can both succeed; filters stay exact regardless, since each type has
its own stored name.)

Read-your-writes
================

Pinecone is eventually consistent. Every write response carries the log
sequence number it committed at (``x-pinecone-request-lsn``) and every query
response how far the index has caught up (``x-pinecone-max-indexed-lsn``)
(https://docs.pinecone.io/guides/index-data/check-data-freshness).
After a write, the adapter polls a one-result query until the index has
reached the write's LSN, so ``get``, ``count`` and ``search`` see it; when the
backend sends no LSN headers it polls ``fetch`` (or ``fetch_by_metadata``)
until the write is visible. Either wait is bounded by
``consistency_timeout_s``; past it the write raises ``Unavailable`` (it was
accepted, but is not visible yet).

Scores
======

Pinecone returns cosine *similarity* for ``cosine``, the *squared* Euclidean
distance for ``euclidean`` and the dot product for ``dotproduct``
(https://docs.pinecone.io/guides/index-data/indexing-overview#similarity-metrics:
euclidean "returns a similarity score equal to the squared Euclidean distance"); the
squared distance is square-rooted into the canonical Euclidean distance
before :func:`~vectorgate_server.domain.normalise_score`.

Counting with a filter pages through ``fetch_by_metadata`` (exact,
server-side), because ``describe_index_stats`` rejects filters on serverless
indexes (https://docs.pinecone.io/reference/api/2025-10/data-plane/describeindexstats:
"Serverless indexes do not support filtering"). Deleting by filter is Pinecone's
own delete-by-metadata. Filter semantics the typed layout relies on (a list
"takes on" each of its values; ``$ne``/``$nin`` need the field):
https://docs.pinecone.io/guides/search/filter-by-metadata.
"""

from .adapter import PineconeAdapter
from .layout import DENSE_FIELD, canonical_score, decode_id, encode_id, index_name_for

__all__ = [
    "DENSE_FIELD",
    "PineconeAdapter",
    "canonical_score",
    "decode_id",
    "encode_id",
    "index_name_for",
]
