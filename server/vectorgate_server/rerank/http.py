"""Rerankers behind the Cohere-style ``/v1/rerank`` HTTP API.

Request ``POST {api_base}/rerank`` with ``Authorization: Bearer <api_key>``
and ``{"model", "query", "documents": [str, ...], "top_n"}``; answer
``{"results": [{"index", "relevance_score"}, ...]}``, best first. Cohere,
Jina and most self-hosted rerank servers speak it; Voyage's variant (request
``top_k``, answer ``data``) and answers that are a bare list of
``{"index", "score"}`` (text-embeddings-inference's ``/rerank``) are
understood too. Retries, timeouts and error messages as
:mod:`vectorgate_server.remote_http` describes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from ..errors import Unavailable
from ..remote_http import AsyncClients, JsonPost, ProviderError, RetryPolicy, posted, run
from .base import Reranker, RerankResult

__all__ = ["PROVIDER_DEFAULTS", "HttpReranker", "HttpRerankerSpec", "rerank_url"]

#: Known providers: (default api_base, environment variable holding the key).
PROVIDER_DEFAULTS: Final[Mapping[str, tuple[str, str]]] = {
    "cohere": ("https://api.cohere.com/v1", "COHERE_API_KEY"),
    "jina_ai": ("https://api.jina.ai/v1", "JINA_AI_API_KEY"),
    "voyage": ("https://api.voyageai.com/v1", "VOYAGE_API_KEY"),
}


def rerank_url(api_base: str) -> str:
    """The rerank endpoint of ``api_base`` (a base URL, a ``/v1`` URL or the endpoint itself)."""
    base = api_base.rstrip("/")
    if base.endswith("/rerank"):
        return base
    tail = base.rsplit("/", 1)[-1]
    if len(tail) >= 2 and tail[0] == "v" and tail[1:].isdigit():
        return f"{base}/rerank"
    return f"{base}/v1/rerank"


@dataclass(frozen=True, slots=True)
class HttpRerankerSpec:
    """One configured rerank model."""

    #: Name requests use (``rerank.model``, ``rerank_model``).
    name: str
    #: The model sent in the body.
    model: str
    api_base: str
    api_key: str | None = None
    #: ``voyage`` sends ``top_k`` instead of ``top_n``.
    dialect: Literal["cohere", "voyage"] = "cohere"
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(timeout_s=15.0))

    @property
    def url(self) -> str:
        return rerank_url(self.api_base)

    @property
    def description(self) -> str:
        host = urlsplit(self.api_base).netloc or self.api_base
        return f"rerank model {self.name!r} (at {host})"


class HttpReranker(Reranker):
    """A Cohere-style rerank API."""

    def __init__(self, spec: HttpRerankerSpec) -> None:
        self.spec = spec
        self._clients = AsyncClients()
        self._secrets = tuple(s for s in (spec.api_key,) if s)

    def __repr__(self) -> str:
        return f"HttpReranker({self.spec.description})"

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def description(self) -> str:
        return self.spec.description

    async def _rank(
        self, query: str, documents: Sequence[str], top_n: int, mmr_lambda: float | None
    ) -> list[RerankResult]:
        """The provider's ``top_n`` best documents, best first."""
        body: dict[str, Any] = {
            "model": self.spec.model,
            "query": query,
            "documents": list(documents),
        }
        body["top_k" if self.spec.dialect == "voyage" else "top_n"] = top_n
        headers = {"Authorization": f"Bearer {self.spec.api_key}"} if self.spec.api_key else {}
        try:
            answer = await run(
                posted(
                    JsonPost(
                        self.spec.url,
                        body=body,
                        headers=headers,
                        policy=self.spec.retry,
                        what=self.spec.description,
                        secrets=self._secrets,
                    )
                ),
                self._clients.get,
            )
        except ProviderError as exc:
            raise exc.to_domain() from None
        return self._results(answer, len(documents), top_n)

    async def aclose(self) -> None:
        """Close the running loop's connections."""
        await self._clients.aclose()

    def _results(self, answer: Any, count: int, top_n: int) -> list[RerankResult]:
        what = self.spec.description
        items: Any = answer
        if isinstance(answer, Mapping):
            items = answer.get("results", answer.get("data"))
        if not isinstance(items, list):
            raise Unavailable(f"{what}: malformed answer: no 'results' list")
        out: list[RerankResult] = []
        seen: set[int] = set()
        for position, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise Unavailable(f"{what}: malformed answer: results[{position}] is not an object")
            index = item.get("index")
            score = item.get("relevance_score", item.get("score"))
            if (
                not isinstance(index, int)
                or isinstance(index, bool)
                or not 0 <= index < count
                or index in seen
            ):
                raise Unavailable(f"{what}: malformed answer: bad index in results[{position}]")
            if not isinstance(score, int | float) or not math.isfinite(score):
                raise Unavailable(f"{what}: malformed answer: bad score in results[{position}]")
            seen.add(index)
            out.append(RerankResult(index=index, score=float(score)))
        out.sort(key=lambda r: (-r.score, r.index))
        return out[:top_n]
