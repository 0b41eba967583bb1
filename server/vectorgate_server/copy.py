"""``vectorgate copy``: stream a collection from one configured store to another.

Both stores are opened directly from the configuration (no gateway runs); the
source is read with :meth:`Adapter.scan <vectorgate_server.adapters.base.Adapter.scan>`
page by page and every page is upserted into the target, so the copy is
idempotent: re-running it, or resuming it, never duplicates a document.

* The target collection is created with the source's spec (dimension, metric,
  text field, embedding model, index spec) when it is missing. An index type
  the target backend does not accept falls back to the target's default index.
  An existing target with another dimension or metric is refused.
* After every page the cursor (the last document id copied, see
  ``Adapter.scan``) and the running total are written atomically to a JSON
  checkpoint; ``resume=True`` continues after that cursor. A finished copy
  deletes its checkpoint.
* At the end the target's count is compared with the source's; a mismatch
  raises :class:`CopyError` (the CLI exits with status 1).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from .adapters.base import Adapter, upsert
from .domain import CollectionInfo, CollectionSpec, Document, IndexSpec
from .errors import NotFound

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "Checkpoint",
    "CopyError",
    "CopyInterrupted",
    "CopyResult",
    "copy_collection",
    "default_checkpoint_path",
    "parse_location",
]

DEFAULT_PAGE_SIZE: Final = 1000
_CHECKPOINT_VERSION: Final = 1


class CopyError(Exception):
    """The copy cannot proceed or did not verify; ``str()`` is the user-facing message."""


class CopyInterrupted(CopyError):
    """Stopped on purpose after ``stop_after_pages`` pages (the checkpoint is kept)."""


def parse_location(value: str, default_store: str) -> tuple[str, str]:
    """``STORE/COLLECTION`` -> (store, collection); a bare ``COLLECTION`` uses ``default_store``."""
    store, sep, collection = value.partition("/")
    if not sep:
        store, collection = default_store, value
    if not store or not collection:
        raise CopyError(f"{value!r}: expected STORE/COLLECTION")
    return store, collection


def default_checkpoint_path(data_dir: Path, source: str, target: str) -> Path:
    """``<data_dir>/copy-checkpoints/<readable>-<hash>.json`` for a source/target pair."""
    key = f"{source}\n{target}"
    readable = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{source}--{target}")
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return data_dir / "copy-checkpoints" / f"{readable[:80]}-{digest}.json"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Progress of one copy: everything up to ``after`` (in scan order) is in the target."""

    source: str
    target: str
    after: str | None
    copied: int

    def save(self, path: Path) -> None:
        """Write atomically (temporary file + rename), so a crash leaves the old or the new one."""
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "version": _CHECKPOINT_VERSION,
            "source": self.source,
            "target": self.target,
            "after": self.after,
            "copied": self.copied,
        }
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(payload, fh, ensure_ascii=False)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Checkpoint:
        try:
            raw: Any = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CopyError(f"no checkpoint at {path} to resume from") from None
        except (OSError, ValueError) as exc:
            raise CopyError(f"cannot read checkpoint {path}: {exc}") from exc
        if (
            not isinstance(raw, dict)
            or raw.get("version") != _CHECKPOINT_VERSION
            or not isinstance(raw.get("source"), str)
            or not isinstance(raw.get("target"), str)
            or not (raw.get("after") is None or isinstance(raw.get("after"), str))
            or not isinstance(raw.get("copied"), int)
        ):
            raise CopyError(f"checkpoint {path} is not a vectorgate copy checkpoint")
        return cls(raw["source"], raw["target"], raw["after"], raw["copied"])


@dataclass(frozen=True, slots=True)
class CopyResult:
    """What a finished copy did."""

    copied: int
    pages: int
    source_count: int
    target_count: int
    created: bool
    resumed_after: str | None


#: Called after each page with (documents copied so far, total expected or None).
ProgressCallback = Callable[[int, int | None], None]


async def _prepare_target(
    source_info: CollectionInfo, source_backend: str, target: Adapter, target_name: str
) -> bool:
    """Create the target collection like the source; True if created. Refuses a mismatch."""
    try:
        existing = await target.describe_collection(target_name)
    except NotFound:
        index = source_info.index
        accepted = target.capabilities.index_types
        if index.type and accepted and index.type.upper() not in accepted:
            index = IndexSpec()
        elif index.params and source_backend != target.backend:
            # Build parameters are named per backend (Milvus nlist, Qdrant ef_construct,
            # OpenSearch engine, pgvector lists): another backend gets the type alone.
            index = IndexSpec(type=index.type)
        await target.create_collection(
            CollectionSpec(
                name=target_name,
                dimension=source_info.dimension,
                metric=source_info.metric,
                text_field=source_info.text_field,
                embedding_model=source_info.embedding_model,
                index=index,
            )
        )
        return True
    problems = []
    if existing.dimension != source_info.dimension:
        problems.append(f"dimension {existing.dimension} (source {source_info.dimension})")
    if existing.metric is not source_info.metric:
        problems.append(f"metric {existing.metric.value} (source {source_info.metric.value})")
    if problems:
        raise CopyError(f"target collection {target_name!r} exists with " + " and ".join(problems))
    return False


async def copy_collection(
    source: Adapter,
    source_name: str,
    target: Adapter,
    target_name: str,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    checkpoint: Path | None = None,
    resume: bool = False,
    on_progress: ProgressCallback | None = None,
    stop_after_pages: int | None = None,
) -> CopyResult:
    """Copy every document of ``source_name`` into ``target_name`` (see the module docstring).

    ``stop_after_pages`` (tests) raises :class:`CopyInterrupted` after that
    many pages of this run, as an interruption would, leaving the checkpoint.
    """
    if page_size <= 0:
        raise CopyError("page size must be positive")
    source_id = f"{source.store}/{source_name}"
    target_id = f"{target.store}/{target_name}"
    if source is target and source_name == target_name:
        raise CopyError("source and target are the same collection")
    try:
        source_info = await source.describe_collection(source_name)
    except NotFound:
        raise CopyError(f"source collection {source_id} does not exist") from None
    after: str | None = None
    resumed_after: str | None = None
    copied = 0
    if resume:
        if checkpoint is None:
            raise CopyError("resuming needs a checkpoint file")
        state = await asyncio.to_thread(Checkpoint.load, checkpoint)
        if (state.source, state.target) != (source_id, target_id):
            raise CopyError(
                f"checkpoint {checkpoint} is for {state.source} -> {state.target}, "
                f"not {source_id} -> {target_id}"
            )
        after, copied = state.after, state.copied
        resumed_after = after
    created = await _prepare_target(source_info, source.backend, target, target_name)
    total = source_info.document_count
    if total is None:
        total = await source.count(source_name)
    if on_progress is not None:
        on_progress(copied, total)

    async def read(cursor: str | None) -> list[Document]:
        return await source.scan(source_name, after=cursor, limit=page_size, include_vectors=True)

    pages = 0
    # The next page is read while the current one is written.
    pending: asyncio.Task[list[Document]] = asyncio.ensure_future(read(after))
    try:
        while True:
            page = await pending
            if not page:
                break
            for doc in page:
                if doc.vector is None:
                    raise CopyError(f"source document {doc.id!r} has no vector")
            pending = asyncio.ensure_future(read(page[-1].id))
            await upsert(target, target_name, page)
            after = page[-1].id
            copied += len(page)
            pages += 1
            if checkpoint is not None:
                await asyncio.to_thread(
                    Checkpoint(source_id, target_id, after, copied).save, checkpoint
                )
            if on_progress is not None:
                on_progress(copied, total)
            if stop_after_pages is not None and pages >= stop_after_pages:
                raise CopyInterrupted(f"stopped after {pages} page(s), {copied} document(s)")
    finally:
        if not pending.done():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pending

    source_count = await source.count(source_name)
    target_count = await target.count(target_name)
    if target_count != source_count:
        raise CopyError(
            f"count mismatch after copying {copied} document(s): source {source_id} has "
            f"{source_count}, target {target_id} has {target_count}"
            + (" (the target existed before the copy)" if not created else "")
        )
    if checkpoint is not None:
        await asyncio.to_thread(checkpoint.unlink, missing_ok=True)
    return CopyResult(
        copied=copied,
        pages=pages,
        source_count=source_count,
        target_count=target_count,
        created=created,
        resumed_after=resumed_after,
    )
