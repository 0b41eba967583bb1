"""Reading documents by id: one rule for every adapter's ``get``.

``get`` returns the documents with the ids asked for, in request order, each id
once, missing ids omitted. :func:`in_request_order` applies that rule; the
adapter only supplies the backend read of one batch of distinct ids (read
batching is the backend's own limit, e.g. ids per request).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence

from ..domain import Document


async def in_request_order(
    ids: Sequence[str],
    batch_size: int,
    fetch: Callable[[Sequence[str]], Awaitable[Iterable[Document]]],
) -> list[Document]:
    """The documents ``fetch`` finds for ``ids``, in the order of ``ids``, each id once.

    ``fetch`` is called with at most ``batch_size`` distinct ids at a time and
    returns the documents it found, in any order.
    """
    wanted = list(dict.fromkeys(ids))
    found: dict[str, Document] = {}
    for start in range(0, len(wanted), batch_size):
        for doc in await fetch(wanted[start : start + batch_size]):
            found[doc.id] = doc
    return [found[i] for i in wanted if i in found]
