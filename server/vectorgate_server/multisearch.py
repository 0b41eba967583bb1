"""Fused search: several targets, dense/keyword/hybrid retrieval, reranking, RAG groups.

Called by ``SearchService.Search`` when a request names ``targets`` or a
``rag_group``, asks for KEYWORD or HYBRID mode, or asks for reranking (plain
single-collection dense searches keep the original path), and by
``SearchService.Retrieve``.

Flow of one search
------------------
1. **Plan** (:meth:`MultiSearcher.plan`): resolve the targets (explicit
   ``targets``, a ``rag_group`` or the single collection), validate the whole
   request up front (names, weights, ``top_k``, filter operators and native
   parameters on every target's backend, keyword capability for KEYWORD and
   HYBRID). Anything wrong here fails the request as a whole.
2. **Fan out** (:meth:`MultiSearcher.run`): every target runs concurrently,
   each retriever (dense, keyword) as its own stage. The query text is
   embedded once per distinct pinned model (targets sharing a model share one
   embedding call) and each target checks the vector against its collection's
   dimension.
3. **Deadline sharing**: with a caller deadline (``CallContext.timeout``), the
   time left is split: a reserve for fusion and the response (5 %, between
   2 and 50 ms) is kept back; without reranking every target may use all the
   rest (they run in parallel, so each gets the whole share); with reranking
   the targets get 60 % of it and the reranker the remainder. A store's own
   ``timeout_s`` (default
   :data:`~vectorgate_server.retrieval.DEFAULT_TARGET_TIMEOUT_S`) caps its
   share, and is the only limit when the caller set no deadline. A stage still
   running at its limit is cancelled and reported as ``DEADLINE_EXCEEDED``.
4. **Partial results**: a stage that fails or times out becomes a
   :class:`Failure` (store, collection, stage, gRPC code name, reason,
   message) in the response; the other lists are fused as usual. Only when
   no target produced any list does the search fail: with the targets' own
   error when all of them failed alike for a reason retrying cannot fix
   (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, UNIMPLEMENTED,
   PERMISSION_DENIED), else ``UNAVAILABLE`` listing them.
5. **Fusion** (:mod:`vectorgate_server.fusion`): RRF (default, ``k`` from the
   request, the group or ``rag_settings.rrf_k``) or weighted score fusion of
   every (target, retriever) list, list weight = target weight x retriever
   weight; deduplicated by document id (the same document in two stores is
   one hit, with both in its ``sources``); cut to ``top_k``, or to the rerank
   candidate pool.
6. **Rerank** (optional): the pool's texts go to the reranker ("local" or a
   configured HTTP rerank model); the best ``top_n`` come back with the
   reranker's relevance as their score. If the reranker fails the hits stay
   in fused order and the failure is reported (stage "rerank").

RAG groups (configuration mapping)
----------------------------------
``rag_group: "default"`` is the top-level ``rag_settings``: its ``stores``
(each searched in the collection its store config names - ``table_name``,
``collection_name`` or ``index_name`` - or else the request's
``collection``; no stores = the default store), ``weights`` per store,
``rrf_k``, ``top_k`` (when the request's is 0), ``rerank`` and
``rerank_model`` (when the request does not say). ``merge_strategy`` may
only name ``reciprocal_rank_fusion`` (checked when the file is loaded). ``rag_group: "router"`` is
``router_settings.rag_settings``: its ``vector_store`` (default: the default
store), ``top_k``, ``rerank`` and ``rerank_model``; it exists only when
``router_settings.rag_enabled`` is true (else ``FAILED_PRECONDITION``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from .adapters.base import keyword_search, supports_keyword_search, unsupported_ops
from .app import NO_EMBEDDING, Gateway, Target, check_dimension, check_vector
from .domain import Filter, FloatArray, Hit, OutputFields, SearchQuery, and_filters
from .embeddings import Embedder, ModelNotAllowed, UnknownModelError
from .errors import (
    DeadlineExceeded,
    EmbeddingFailed,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    Unavailable,
    Unsupported,
    VectorgateError,
    classify,
)
from .fusion import (
    Contribution,
    FusedHit,
    FusionMethod,
    ListKey,
    RankedList,
    Retriever,
    fuse,
)
from .rerank import LOCAL_RERANKER, LocalReranker
from .rerank.base import Reranker
from .retrieval import ROUTER_GROUP, RagGroup, Retrieval

if TYPE_CHECKING:
    from .services.registry import CallContext

__all__ = [
    "MAX_TARGETS",
    "Failure",
    "FusedSearchRequest",
    "MultiSearcher",
    "Outcome",
    "Plan",
    "ResultHit",
    "TargetRequest",
]

log = logging.getLogger(__name__)

#: Targets one request may name.
MAX_TARGETS: Final = 16
#: Share of the time left that the targets get when the hits are reranked.
TARGET_SHARE_WITH_RERANK: Final = 0.6
#: Time kept back for fusion and the response: 5 % of what is left, within these bounds.
RESERVE_FRACTION: Final = 0.05
RESERVE_MIN_S: Final = 0.002
RESERVE_MAX_S: Final = 0.05
#: Default rerank pool: max(4 x top_n, 20), capped here.
RERANK_POOL_FACTOR: Final = 4
RERANK_POOL_MIN: Final = 20
RERANK_POOL_MAX: Final = 100
#: Codes a failure of every target is reported with as is (retrying cannot help).
_CALLER_CODES: Final = frozenset(
    {"INVALID_ARGUMENT", "NOT_FOUND", "FAILED_PRECONDITION", "UNIMPLEMENTED", "PERMISSION_DENIED"}
)


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True, slots=True)
class TargetRequest:
    """One requested target."""

    store: str
    collection: str
    weight: float | None = None


@dataclass(frozen=True, slots=True)
class FusedSearchRequest:
    """A fused search as the transports decode it (no protobuf here)."""

    collection: str = ""
    store: str = ""
    targets: tuple[TargetRequest, ...] = ()
    rag_group: str = ""
    text: str | None = None
    vector: FloatArray | None = None
    #: 0 means the group's ``top_k``.
    top_k: int = 0
    filter: Filter | None = None
    output: OutputFields = field(default_factory=OutputFields)
    native_params: Mapping[str, Any] = field(default_factory=dict)
    score_threshold: float | None = None
    retrievers: frozenset[Retriever] = frozenset({Retriever.DENSE})
    dense_weight: float | None = None
    keyword_weight: float | None = None
    method: FusionMethod = FusionMethod.RRF
    #: 0 means the group's (or the configured) ``rrf_k``.
    rrf_k: int = 0
    #: Hits fetched per list; 0 means ``top_k`` (or the rerank pool).
    candidates: int = 0
    #: None: the group decides (no group: no reranking).
    rerank: bool | None = None
    rerank_model: str = ""
    top_n: int = 0
    rerank_candidates: int = 0
    mmr_lambda: float | None = None
    #: The hits' text is needed whatever ``output`` says (context assembly).
    need_text: bool = False


@dataclass(frozen=True, slots=True)
class PlannedTarget:
    """A resolved target with its fusion weight."""

    target: Target
    #: The collection name as the caller used it (virtual index name or collection).
    name: str
    weight: float
    #: Request path naming it, for messages.
    field: str

    @property
    def store(self) -> str:
        return self.target.store


@dataclass(frozen=True, slots=True)
class RerankPlan:
    """Reranking of the fused pool."""

    model: str
    top_n: int
    pool: int
    mmr_lambda: float | None


@dataclass(frozen=True, slots=True)
class Plan:
    """A validated fused search."""

    targets: tuple[PlannedTarget, ...]
    text: str | None
    vector: FloatArray | None
    top_k: int
    filter: Filter | None
    output: OutputFields
    fetch_output: OutputFields
    native_params: Mapping[str, Any]
    score_threshold: float | None
    retrievers: frozenset[Retriever]
    retriever_weights: Mapping[Retriever, float]
    method: FusionMethod
    rrf_k: int
    #: Hits fetched from each list.
    candidates: int
    rerank: RerankPlan | None


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed stage of a fused search."""

    store: str
    collection: str
    #: "search", "keyword", "embed" or "rerank".
    stage: str
    error: VectorgateError

    @property
    def code(self) -> str:
        """The gRPC status code name."""
        return classify(self.error).code.name

    @property
    def reason(self) -> str:
        return self.error.reason

    @property
    def message(self) -> str:
        return self.error.message


@dataclass(frozen=True, slots=True)
class ResultHit:
    """A hit of a fused search with its provenance."""

    hit: Hit
    sources: tuple[Contribution, ...]


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of a fused search."""

    hits: tuple[ResultHit, ...]
    failures: tuple[Failure, ...]
    #: Name of the reranker applied, "" when none was.
    reranked_by: str = ""


@dataclass(slots=True)
class _TargetResult:
    lists: list[RankedList] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    answered: bool = False
    #: What the dense stage is doing: "embed" while the query is embedded, else "search".
    dense_stage: str = "search"


# --------------------------------------------------------------------------- helpers


def _positive_weight(value: float | None, default: float, path: str, *, zero_ok: bool) -> float:
    if value is None:
        return default
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero_ok):
        bound = ">= 0" if zero_ok else "> 0"
        raise InvalidArgument(f"{path}: must be a finite number {bound}, got {value}", field=path)
    return float(value)


def _wrap_unexpected(exc: Exception, what: str) -> VectorgateError:
    log.error("%s failed unexpectedly", what, exc_info=exc)
    return Internal(f"{what}: internal error (see the server log)")


class MultiSearcher:
    """Plans and runs fused searches on a gateway."""

    def __init__(self, gateway: Gateway, retrieval: Retrieval) -> None:
        self.gw = gateway
        self.retrieval = retrieval

    # ------------------------------------------------------------------ planning

    def _group(self, name: str) -> RagGroup:
        group = self.retrieval.groups.get(name)
        if group is None:
            known = ", ".join(sorted(self.retrieval.groups)) or "none"
            raise InvalidArgument(
                f"rag_group: unknown group {name!r} (configured: {known})", field="rag_group"
            )
        if not group.enabled:
            raise FailedPrecondition(
                f"rag_group: group {name!r} is disabled: set router_settings.rag_enabled to true",
                field="rag_group",
            )
        return group

    def _targets(self, request: FusedSearchRequest, group: RagGroup | None) -> list[PlannedTarget]:
        gw = self.gw
        planned: list[PlannedTarget] = []
        if request.targets:
            if request.collection or request.store:
                raise InvalidArgument(
                    "collection: leave collection and store empty when targets are given",
                    field="collection",
                )
            if len(request.targets) > MAX_TARGETS:
                raise InvalidArgument(
                    f"targets: at most {MAX_TARGETS} targets per request "
                    f"(got {len(request.targets)})",
                    field="targets",
                )
            for i, item in enumerate(request.targets):
                path = f"targets[{i}]"
                target = gw.resolve(
                    item.store,
                    item.collection,
                    field=f"{path}.collection",
                    store_field=f"{path}.store",
                )
                weight = _positive_weight(item.weight, 1.0, f"{path}.weight", zero_ok=False)
                planned.append(
                    PlannedTarget(target, target.virtual_name or target.collection, weight, path)
                )
        elif group is not None:
            stores = group.stores or (gw.default_store,)
            for i, store in enumerate(stores):
                if group.name == ROUTER_GROUP:
                    path = "router_settings.rag_settings.vector_store"
                else:
                    path = f"rag_settings.stores[{i}]" if group.stores else "rag_group"
                collection = self.retrieval.store_collections.get(store) or request.collection
                if not collection:
                    raise InvalidArgument(
                        f"collection: store {store!r} of rag group {group.name!r} configures no "
                        "collection; name one in the request",
                        field="collection",
                        reason="MISSING_FIELD",
                    )
                target = gw.resolve(store, collection, field="collection", store_field=path)
                weight = float(group.weights.get(store, 1.0))
                planned.append(
                    PlannedTarget(target, target.virtual_name or target.collection, weight, path)
                )
        else:
            target = gw.resolve(request.store, request.collection)
            planned.append(
                PlannedTarget(target, target.virtual_name or target.collection, 1.0, "collection")
            )
        seen: dict[tuple[str, str], str] = {}
        for resolved in planned:
            key = (resolved.store, resolved.name)
            if key in seen:
                raise InvalidArgument(
                    f"{resolved.field}: {resolved.store}/{resolved.name} is already targeted by "
                    f"{seen[key]}",
                    field=resolved.field,
                )
            seen[key] = resolved.field
        return planned

    def plan(self, request: FusedSearchRequest) -> Plan:
        """Validate ``request`` and resolve its targets; errors fail the whole request."""
        gw = self.gw
        if request.targets and request.rag_group:
            raise InvalidArgument(
                "rag_group: give either targets or a rag_group, not both", field="rag_group"
            )
        group = self._group(request.rag_group) if request.rag_group else None
        targets = self._targets(request, group)
        top_k = request.top_k or (group.top_k if group is not None else 0)
        gw.check_top_k(top_k)
        limit = gw.limits.max_top_k

        retrievers = request.retrievers
        text = request.text or None
        if Retriever.KEYWORD in retrievers:
            if not text:
                raise InvalidArgument(
                    "text: keyword and hybrid search need query text",
                    field="text",
                    reason="MISSING_FIELD",
                )
            lacking = [t for t in targets if not supports_keyword_search(t.target.adapter)]
            if lacking:
                names = ", ".join(f"{t.store} ({t.target.adapter.backend})" for t in lacking)
                raise Unsupported(
                    backend=lacking[0].target.adapter.backend,
                    operation="keyword search",
                    detail=f"stores without full-text search: {names}; use mode DENSE",
                )
        if text is None and request.vector is None:
            raise InvalidArgument(
                "text: give query text or a query vector", field="text", reason="MISSING_FIELD"
            )
        if text is not None and len(text.encode()) > gw.limits.max_text_bytes:
            raise InvalidArgument(
                f"text: longer than {gw.limits.max_text_bytes} bytes", field="text"
            )
        weights = {
            Retriever.DENSE: _positive_weight(
                request.dense_weight, 1.0, "hybrid.dense_weight", zero_ok=True
            ),
            Retriever.KEYWORD: _positive_weight(
                request.keyword_weight, 1.0, "hybrid.keyword_weight", zero_ok=True
            ),
        }
        if all(weights[r] == 0 for r in retrievers):
            raise InvalidArgument(
                "hybrid: the dense and keyword weights cannot both be 0", field="hybrid"
            )
        if request.rrf_k < 0:
            raise InvalidArgument("fusion.rrf_k: must be >= 1 (0: default)", field="fusion.rrf_k")
        rrf_k = request.rrf_k or (group.rrf_k if group is not None else 0)
        rrf_k = rrf_k or self.retrieval.default_rrf_k
        if request.candidates < 0 or request.candidates > limit:
            raise InvalidArgument(
                f"fusion.candidates: must be between 0 and {limit}", field="fusion.candidates"
            )

        rerank_plan = self._rerank_plan(request, group, top_k, text)
        candidates = max(request.candidates, top_k)
        if rerank_plan is not None:
            candidates = max(candidates, rerank_plan.pool)

        for item in targets:
            if request.filter is not None:
                missing = unsupported_ops(request.filter, item.target.adapter.capabilities)
                if missing:
                    raise Unsupported(
                        backend=item.target.adapter.backend,
                        operation=f"filter operator {missing[0]}",
                        detail=f"store {item.store!r} cannot express it",
                    )
            allowed = item.target.adapter.capabilities.native_params
            for key in request.native_params:
                if key not in allowed:
                    raise InvalidArgument(
                        f"native_params.{key}: not a {item.target.adapter.backend} search "
                        f"parameter (store {item.store!r} accepts: "
                        f"{', '.join(sorted(allowed)) or 'none'})",
                        field=f"native_params.{key}",
                    )
        if request.score_threshold is not None and math.isnan(request.score_threshold):
            raise InvalidArgument("score_threshold: must be a number", field="score_threshold")
        fetch_output = request.output
        if (request.need_text or rerank_plan is not None) and not fetch_output.text:
            fetch_output = replace(fetch_output, text=True)
        return Plan(
            targets=tuple(targets),
            text=text,
            vector=request.vector,
            top_k=top_k,
            filter=request.filter,
            output=request.output,
            fetch_output=fetch_output,
            native_params=dict(request.native_params),
            score_threshold=request.score_threshold,
            retrievers=retrievers,
            retriever_weights=weights,
            method=request.method,
            rrf_k=rrf_k,
            candidates=min(candidates, limit),
            rerank=rerank_plan,
        )

    def _rerank_plan(
        self,
        request: FusedSearchRequest,
        group: RagGroup | None,
        top_k: int,
        text: str | None,
    ) -> RerankPlan | None:
        enabled = request.rerank
        if enabled is None:
            enabled = group.rerank if group is not None else False
        if not enabled:
            return None
        limit = self.gw.limits.max_top_k
        if text is None:
            raise InvalidArgument(
                "rerank: reranking needs query text", field="text", reason="MISSING_FIELD"
            )
        model = request.rerank_model or (group.rerank_model if group is not None else None)
        model = model or LOCAL_RERANKER
        if model != LOCAL_RERANKER:
            self.retrieval.rerankers.get(model)  # FAILED_PRECONDITION when not configured
        if request.top_n < 0 or request.top_n > limit:
            raise InvalidArgument(
                f"rerank.top_n: must be between 0 and {limit}", field="rerank.top_n"
            )
        top_n = request.top_n or top_k
        pool = request.rerank_candidates
        if pool < 0 or pool > limit:
            raise InvalidArgument(
                f"rerank.candidates: must be between 0 and {limit}", field="rerank.candidates"
            )
        if pool == 0:
            pool = min(max(RERANK_POOL_FACTOR * top_n, RERANK_POOL_MIN), RERANK_POOL_MAX, limit)
        pool = max(pool, top_n)
        lam = request.mmr_lambda
        if lam is not None:
            if not math.isfinite(lam) or not 0 <= lam <= 1:
                raise InvalidArgument(
                    f"rerank.mmr_lambda: must be between 0 and 1, got {lam}",
                    field="rerank.mmr_lambda",
                )
            if model != LOCAL_RERANKER:
                raise InvalidArgument(
                    f"rerank.mmr_lambda: only the local reranker diversifies (model {model!r})",
                    field="rerank.mmr_lambda",
                )
        return RerankPlan(model=model, top_n=top_n, pool=pool, mmr_lambda=lam)

    # ------------------------------------------------------------------ running

    def _reranker(self, name: str) -> Reranker:
        if name == LOCAL_RERANKER:
            return LocalReranker(self.gw.embeddings)
        return self.retrieval.rerankers.get(name)

    def _deadlines(self, plan: Plan, ctx: CallContext | None) -> tuple[float | None, float | None]:
        """(end of the targets' share, end of the reranker's share) in loop time, or None."""
        if ctx is None or ctx.timeout is None:
            return None, None
        loop = asyncio.get_running_loop()
        remaining = ctx.timeout - (time.monotonic() - ctx.started)
        if remaining <= 0:
            raise DeadlineExceeded("the deadline passed before the search started")
        reserve = min(max(RESERVE_FRACTION * remaining, RESERVE_MIN_S), RESERVE_MAX_S)
        usable = max(remaining - reserve, 0.0)
        now = loop.time()
        if plan.rerank is None:
            return now + usable, None
        return now + TARGET_SHARE_WITH_RERANK * usable, now + usable

    def _target_end(self, item: PlannedTarget, shared_end: float | None) -> tuple[float, float]:
        """(loop time at which the target's stages are cut off, that limit in seconds)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        own = self.retrieval.store_timeouts.get(item.store, self.retrieval.target_timeout_s)
        end = now + own if shared_end is None else min(shared_end, now + own)
        return end, end - now

    def _embedder(self, info_model: str, collection: str) -> Embedder:
        if info_model == NO_EMBEDDING:
            raise FailedPrecondition(
                f"text: collection {collection!r} is vectors-only (embedding_model 'none'); "
                "send a vector",
                field="text",
            )
        try:
            return self.gw.embeddings.get(info_model or None)
        except UnknownModelError as exc:
            raise EmbeddingFailed(
                f"text: collection {collection!r} is pinned to embedding model {info_model!r}, "
                f"which this server does not serve ({exc})",
                field="text",
            ) from exc

    async def _dense(
        self,
        item: PlannedTarget,
        plan: Plan,
        embeds: dict[str, asyncio.Future[FloatArray]],
        result: _TargetResult,
    ) -> None:
        gw = self.gw
        try:
            info = await gw.collection(item.target)
            vector = plan.vector
            if vector is not None:
                check_vector(info, vector, "vector", item.name, item.target.adapter)
            else:
                assert plan.text is not None
                result.dense_stage = "embed"
                embedder = self._embedder(info.embedding_model, item.name)
                future = embeds.get(embedder.name)
                if future is None:
                    future = asyncio.ensure_future(self._embed_one(embedder, plan.text))
                    embeds[embedder.name] = future
                # shield: a target that times out must not cancel the others' embedding.
                vector = await asyncio.shield(future)
                check_dimension(info, embedder.dimension, "text", item.name)
                result.dense_stage = "search"
            query = SearchQuery(
                vector=vector,
                top_k=plan.candidates,
                filter=plan.filter,
                output=plan.fetch_output,
                native_params=plan.native_params,
            )
            hits = await gw.search(item.target, query, score_threshold=plan.score_threshold)
        except NotFound:
            gw.forget(item.target)
            raise
        result.answered = True
        weight = item.weight * plan.retriever_weights[Retriever.DENSE]
        result.lists.append(
            RankedList(ListKey(item.store, item.name, Retriever.DENSE.value), hits, weight)
        )

    async def _embed_one(self, embedder: Embedder, text: str) -> FloatArray:
        vectors = np.asarray(await embedder.embed([text]), dtype=np.float32)
        vector: FloatArray = vectors[0]
        return vector

    async def _keyword(self, item: PlannedTarget, plan: Plan, result: _TargetResult) -> None:
        assert plan.text is not None
        target = item.target
        flt = and_filters(plan.filter, target.policy)
        try:
            hits = await keyword_search(
                target.adapter,
                target.collection,
                plan.text,
                plan.candidates,
                flt,
                output=plan.fetch_output,
            )
        except NotFound:
            self.gw.forget(target)
            raise
        for hit in hits:
            hit.store = item.store
            hit.collection = item.name
        result.answered = True
        weight = item.weight * plan.retriever_weights[Retriever.KEYWORD]
        result.lists.append(
            RankedList(ListKey(item.store, item.name, Retriever.KEYWORD.value), hits, weight)
        )

    async def _stage(
        self,
        item: PlannedTarget,
        stage: str,
        work: Any,
        end: float,
        limit: float,
        result: _TargetResult,
    ) -> None:
        """Run one stage until ``end`` (loop time); record its failure instead of raising."""
        try:
            async with asyncio.timeout_at(end):
                await work
        except TimeoutError:
            if stage == "search":
                stage = result.dense_stage
            result.failures.append(
                Failure(
                    item.store,
                    item.name,
                    stage,
                    DeadlineExceeded(
                        f"{item.store}/{item.name}: no answer within its {limit * 1000:.0f} ms "
                        "share of the deadline",
                        metadata={"store": item.store, "collection": item.name},
                    ),
                )
            )
        except ModelNotAllowed:
            raise  # the caller's rights, not a target's failure: the whole call is denied
        except VectorgateError as exc:
            if stage == "search":
                stage = result.dense_stage
            result.failures.append(Failure(item.store, item.name, stage, exc))
        except Exception as exc:
            if stage == "search":
                stage = result.dense_stage
            error = _wrap_unexpected(exc, f"{stage} on {item.store}/{item.name}")
            result.failures.append(Failure(item.store, item.name, stage, error))

    async def _run_target(
        self,
        item: PlannedTarget,
        plan: Plan,
        embeds: dict[str, asyncio.Future[FloatArray]],
        shared_end: float | None,
    ) -> _TargetResult:
        result = _TargetResult()
        end, limit = self._target_end(item, shared_end)
        stages = []
        if Retriever.DENSE in plan.retrievers:
            stages.append(
                self._stage(
                    item, "search", self._dense(item, plan, embeds, result), end, limit, result
                )
            )
        if Retriever.KEYWORD in plan.retrievers:
            stages.append(
                self._stage(item, "keyword", self._keyword(item, plan, result), end, limit, result)
            )
        await asyncio.gather(*stages)
        return result

    async def run(self, plan: Plan, ctx: CallContext | None = None) -> Outcome:
        """Fan out, fuse, rerank. Raises only when every target failed."""
        targets_end, rerank_end = self._deadlines(plan, ctx)
        embeds: dict[str, asyncio.Future[FloatArray]] = {}
        try:
            results = await asyncio.gather(
                *(self._run_target(item, plan, embeds, targets_end) for item in plan.targets)
            )
        finally:
            for future in embeds.values():
                if not future.done():
                    future.cancel()
                elif not future.cancelled():
                    future.exception()  # retrieved: never "exception was never retrieved"
        failures = [f for r in results for f in r.failures]
        lists = [lst for r in results for lst in r.lists]
        if not any(r.answered for r in results):
            raise self._all_failed(failures)

        pool = plan.rerank.pool if plan.rerank is not None else plan.top_k
        fused = fuse(lists, top_k=pool, method=plan.method, k=plan.rrf_k)
        ranked: list[tuple[FusedHit, float]] = [(f, f.score) for f in fused]
        reranked_by = ""
        if plan.rerank is not None and fused:
            reranked, failure = await self._rerank(plan, fused, rerank_end)
            if failure is not None:
                failures.append(failure)
                ranked = ranked[: plan.rerank.top_n]
            else:
                ranked = reranked
                reranked_by = plan.rerank.model
        else:
            ranked = ranked[: plan.top_k]
        hits: list[ResultHit] = []
        for fused_hit, score in ranked:
            hit = replace(fused_hit.hit, score=score, raw_score=fused_hit.score)
            if not plan.output.text:
                hit.text = ""
            hits.append(ResultHit(hit, fused_hit.sources))
        return Outcome(tuple(hits), tuple(failures), reranked_by)

    async def _rerank(
        self, plan: Plan, fused: list[FusedHit], end: float | None
    ) -> tuple[list[tuple[FusedHit, float]], Failure | None]:
        assert plan.rerank is not None and plan.text is not None
        rerank = plan.rerank
        loop = asyncio.get_running_loop()
        if end is None:
            end = loop.time() + self.retrieval.rerank_timeout_s
        try:
            reranker = self._reranker(rerank.model)
            async with asyncio.timeout_at(end):
                results = await reranker.rerank(
                    plan.text,
                    [f.hit.text for f in fused],
                    rerank.top_n,
                    mmr_lambda=rerank.mmr_lambda,
                )
        except TimeoutError:
            error: VectorgateError = DeadlineExceeded(
                f"reranker {rerank.model!r}: no answer within its share of the deadline"
            )
        except ModelNotAllowed:
            raise
        except VectorgateError as exc:
            error = exc
        except Exception as exc:
            error = _wrap_unexpected(exc, f"reranker {rerank.model!r}")
        else:
            return [(fused[r.index], r.score) for r in results], None
        return [], Failure("", rerank.model, "rerank", error)

    def _all_failed(self, failures: Sequence[Failure]) -> VectorgateError:
        if not failures:
            return Unavailable("no target answered")
        codes = {f.code for f in failures}
        if len(codes) == 1 and next(iter(codes)) in _CALLER_CODES:
            return failures[0].error
        summary = "; ".join(
            f"{f.store}/{f.collection} ({f.stage}): {f.code}: {f.message}" for f in failures
        )
        return Unavailable(
            f"every target failed: {summary}",
            metadata={
                "failed_targets": ",".join(sorted({f"{f.store}/{f.collection}" for f in failures}))
            },
        )
