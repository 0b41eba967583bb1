"""Python client for vectorgate, one gRPC contract in front of many vector databases.

::

    from vectorgate import Client, F

    with Client("127.0.0.1:50051", api_key="vg-...") as client:
        client.create_collection("films", dimension=384, metric="cosine")
        client.upsert("films", [{"id": "1", "text": "Alien", "metadata": {"year": 1979}}])
        for hit in client.search("films", text="space horror", filter=F("year") < 1990):
            print(hit.id, hit.score, hit.metadata)

:class:`AsyncClient` has the same methods as coroutines. Failed calls raise
:mod:`vectorgate.errors` exceptions; the generated protobuf stubs are in
:mod:`vectorgate.v1`.
"""

from vectorgate import errors
from vectorgate._filters import AllOf, AnyOf, Condition, F, FilterExpr, Not
from vectorgate._types import (
    CollectionInfo,
    Document,
    Explanation,
    Hit,
    HitSource,
    IndexStatus,
    Passage,
    RetrieveResult,
    SearchResults,
    SearchTarget,
    TargetFailure,
    VirtualIndex,
)
from vectorgate.client import AsyncClient, Client, SearchOptions
from vectorgate.errors import (
    AlreadyExistsError,
    DeadlineExceededError,
    FailedPreconditionError,
    FieldViolation,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    UnauthenticatedError,
    UnavailableError,
    UnimplementedError,
    VectorgateError,
)

__version__ = "0.1.0"

__all__ = [
    "AllOf",
    "AlreadyExistsError",
    "AnyOf",
    "AsyncClient",
    "Client",
    "CollectionInfo",
    "Condition",
    "DeadlineExceededError",
    "Document",
    "Explanation",
    "F",
    "FailedPreconditionError",
    "FieldViolation",
    "FilterExpr",
    "Hit",
    "HitSource",
    "IndexStatus",
    "InternalError",
    "InvalidArgumentError",
    "Not",
    "NotFoundError",
    "Passage",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "RetrieveResult",
    "SearchOptions",
    "SearchResults",
    "SearchTarget",
    "TargetFailure",
    "UnauthenticatedError",
    "UnavailableError",
    "UnimplementedError",
    "VectorgateError",
    "VirtualIndex",
    "__version__",
    "errors",
]
