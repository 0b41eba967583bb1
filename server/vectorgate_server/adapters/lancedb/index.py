"""The LanceDB adapter's vector indexes: types, vectorgate's defaults, validation."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, Final

from lancedb.index import HnswFlat, HnswPq, HnswSq, IvfFlat, IvfPq, IvfRq, IvfSq

from ...domain import IndexSpec
from ...errors import InvalidArgument
from ..index_params import positive_int_params
from ..params import validate_native_params as _validate_native_params
from .layout import BACKEND

#: ANN index types (``IndexSpec.type``) and the lancedb config class building each.
INDEX_TYPES: Final[Mapping[str, type[Any]]] = {
    "IVF_FLAT": IvfFlat,
    "IVF_SQ": IvfSq,
    "IVF_PQ": IvfPq,
    "IVF_RQ": IvfRq,
    "IVF_HNSW_FLAT": HnswFlat,
    "IVF_HNSW_SQ": HnswSq,
    "IVF_HNSW_PQ": HnswPq,
}
#: Index types meaning "no ANN index: exhaustive search".
NO_INDEX_TYPES: Final = frozenset({"", "FLAT"})
#: Config fields that are not user parameters.
_NOT_PARAMS: Final = frozenset({"distance_type", "accelerator"})
_PQ_TYPES: Final = frozenset({"IVF_PQ", "IVF_HNSW_PQ"})

#: Native search parameters: name -> kind ("int": positive integer, "bool").
NATIVE_PARAMS: Final[Mapping[str, str]] = {
    "nprobes": "int",
    "refine_factor": "int",
    "ef": "int",
    "exact": "bool",
}

# Defaults where Lance's own give poor recall, measured with the recall run of
# bench/bench_search.py (GloVe 6B 50d, 100,000 rows, 1,000 held-out queries,
# cosine, recall@10 against exact search; target >= 0.95):
#
# * IVF_PQ: Lance picks dim/16 or dim/8 sub-vectors, and ONE when the dimension
#   divides by neither (50 -> 1: recall 0.53, 0.66 even re-ranking 100
#   candidates). Sub-vectors of at most 4 dimensions (50 -> 25 of 2: 0.87)
#   and a refine factor re-ranking 10 x top_k candidates on the full vectors
#   (1.00; 10 sub-vectors of 5 dimensions would give 0.96).
# * HNSW: Lance's ef is 1.5 x top_k (recall 0.79 with IVF_HNSW_SQ); 16 x top_k
#   gives 0.96 for a few tenths of a millisecond.
#
# They apply only while the table has a vector index; native_params win.

#: Target sub-vector width (dimensions) of the default product quantizer.
PQ_SUB_VECTOR_WIDTH: Final = 4
#: Default refine factor of index types whose codes are lossy enough to need it.
REFINE_FACTOR_DEFAULTS: Final[Mapping[str, int]] = {
    "IVF_SQ": 5,  # 8-bit codes: recall 0.966 -> 1.000 on random 384-d (see AUTO_INDEX)
    "IVF_PQ": 10,
    "IVF_HNSW_PQ": 10,
    "IVF_RQ": 10,
}
#: The index a collection created without an index type gets once it holds the
#: store's ``index_min_rows``. Measured (100k x 384-d random unit vectors, the
#: worst case for an ANN index, 2 loaded cores): IVF_SQ builds in 16 s with
#: recall@10 0.966 at Lance's default nprobes, 1.000 with a refine factor of 5,
#: at p50 ~4x below the exhaustive search; IVF_HNSW_SQ took 87 s to build on
#: 20k rows and reached 0.85 only with ef=400; IVF_PQ (96 sub-vectors) had not
#: finished building 100k rows after 10 minutes.
AUTO_INDEX: Final = IndexSpec(type="IVF_SQ", params={})

#: Default ``nprobes``: this share of the IVF partitions, at least NPROBES_MIN
#: (Lance's own default, 20, whatever the partition count), until (or unless)
#: the calibration below finds fewer enough. Measured with the automatic IVF_SQ
#: index on 300k x 384-d random unit vectors (36 partitions, refine 5): recall@10
#: 0.708 at 20 probes, 0.901 at 30, 1.000 at 40, p50 19-26 ms for all (exact:
#: 809 ms). Random vectors are the worst case (their neighbours spread over every
#: partition, so recall follows the share probed); GloVe 6B 50d reaches 0.998 at
#: 20. Every partition, not 90 %: on the gateway's own 300k-row table (37
#: partitions) 34 probes gave recall 0.978 at p50 36.0 / 32.1 ms and all 37 gave
#: 1.000 at 33.2 / 32.6 ms (two passes, through the gateway); at 1M, LanceDB
#: probing all of its 122 partitions reached 1.000 where the gateway's 90 % gave
#: 0.971 (bench_scale, equal-recall rows).
NPROBES_FRACTION: Final = 1.0
NPROBES_MIN: Final = 20

#: Calibration of ``nprobes`` (see :func:`nprobes_ladder`): after each build of an
#: IVF index the adapter searches the vectors of CALIBRATION_QUERIES rows sampled
#: from the table, exhaustively and with each ``nprobes`` of the ladder (smallest
#: first, the other defaults as searches get them), and keeps the first whose
#: recall@10 reaches CALIBRATION_RECALL; else the default above stays.
#: Data with structure needs far fewer probes than random vectors (measured,
#: IVF_SQ, LanceDB direct, cosine, 200 held-out queries): GloVe 6B 50d, 399k rows,
#: 49 partitions: recall 0.995 at 20 probes, p50 8.2 ms, vs 1.000 at 45 probes,
#: 13.0 ms; random 384-d unit vectors, 300k rows, 37 partitions: 0.723 at 20
#: probes, 0.981 at 34 (p50 15.7 ms). Through the adapter (GloVe, 399k rows, the
#: automatic index retrained to 48 partitions, 200 held-out queries): calibrated
#: to 17 probes, p50 18.6 -> 12.9 ms at recall 1.000 -> 0.989; a 0.97 target over
#: 24 rows chose 10 probes and gave 0.955, too close to the issue's 0.95.
CALIBRATION_RECALL: Final = 0.98
CALIBRATION_QUERIES: Final = 32
#: Shares of the partitions the calibration tries, below the default share.
CALIBRATION_FRACTIONS: Final = (0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 0.9)

#: Default HNSW ``ef`` = this x top_k, at most :data:`EF_MAX` (and never below top_k).
EF_PER_RESULT: Final = 16
EF_MAX: Final = 4096

#: The vector index is retrained (rebuilt in the background) once the table has
#: grown this many times over the rows it was trained on: IVF partitions are
#: trained on the rows at build time, and later rows are only assigned to them.
REBUILD_GROWTH: Final = 4

#: Name of the vector index vectorgate builds.
_INDEX_NAME: Final = "vector_idx"


def _index_param_names(index_type: str) -> list[str]:
    cls = INDEX_TYPES[index_type]
    return sorted(f.name for f in dataclasses.fields(cls) if f.name not in _NOT_PARAMS)


def validate_index_spec(index: IndexSpec, dimension: int) -> IndexSpec:
    """The index spec normalised (upper-case type, int params), or ``InvalidArgument``."""
    index_type = index.type.strip().upper()
    accepted = ", ".join(sorted(NO_INDEX_TYPES - {""}) + sorted(INDEX_TYPES))
    if index_type in NO_INDEX_TYPES:
        for key in index.params:
            raise InvalidArgument(
                f"collection.index.params.{key}: index type {index_type or 'FLAT'!r} "
                "takes no parameters",
                field=f"collection.index.params.{key}",
            )
        return IndexSpec(type=index_type, params={})
    if index_type not in INDEX_TYPES:
        raise InvalidArgument(
            f"collection.index.type: unknown LanceDB index type {index.type!r} "
            f"(accepted: {accepted}, or empty for exhaustive search)",
            field="collection.index.type",
        )
    params = positive_int_params(index.params, _index_param_names(index_type), index_type)
    if index_type in _PQ_TYPES:
        if "num_bits" in params and params["num_bits"] not in (4, 8):
            raise InvalidArgument(
                "collection.index.params.num_bits: product quantization supports 4 or 8 bits",
                field="collection.index.params.num_bits",
            )
        sub = params.get("num_sub_vectors")
        if sub is not None and dimension % sub:
            raise InvalidArgument(
                f"collection.index.params.num_sub_vectors: {sub} does not divide the "
                f"dimension {dimension}",
                field="collection.index.params.num_sub_vectors",
            )
    return IndexSpec(type=index_type, params=params)


def validate_native_params(params: Mapping[str, Any]) -> dict[str, int | bool]:
    """The native search parameters, validated, or ``InvalidArgument``."""
    return _validate_native_params(params, NATIVE_PARAMS, BACKEND)


def default_sub_vectors(dimension: int) -> int:
    """PQ sub-vectors for ``dimension``: sub-vectors of the widest width dividing
    the dimension that is at most :data:`PQ_SUB_VECTOR_WIDTH` (384 -> 96, 50 -> 25)."""
    width = max(w for w in range(1, PQ_SUB_VECTOR_WIDTH + 1) if dimension % w == 0)
    return dimension // width


def index_build_params(index: IndexSpec, dimension: int) -> dict[str, int]:
    """The parameters an index of ``index.type`` is built with: the spec's, plus
    vectorgate's defaults for those it leaves out (see :data:`PQ_SUB_VECTOR_WIDTH`)."""
    params = dict(index.params)  # validated positive ints (validate_index_spec)
    if index.type in _PQ_TYPES and "num_sub_vectors" not in params:
        params["num_sub_vectors"] = default_sub_vectors(dimension)
    return params


def default_nprobes(partitions: int) -> int:
    """The ``nprobes`` of an IVF index of ``partitions`` partitions before (or
    without) calibration: :data:`NPROBES_FRACTION` of them, at least :data:`NPROBES_MIN`."""
    return max(NPROBES_MIN, math.ceil(NPROBES_FRACTION * partitions))


def nprobes_ladder(partitions: int) -> list[int]:
    """The ``nprobes`` values the calibration tries, ascending: the
    :data:`CALIBRATION_FRACTIONS` of ``partitions``, each below the default."""
    default = default_nprobes(partitions)
    tried = {max(1, math.ceil(share * partitions)) for share in CALIBRATION_FRACTIONS}
    return sorted(n for n in tried if n < min(default, partitions))


def search_defaults(
    index_type: str, top_k: int, partitions: int = 0, nprobes: int = 0
) -> dict[str, int]:
    """Default native search parameters for a table with an index of ``index_type``
    with ``partitions`` IVF partitions (0: unknown, Lance's default nprobes) and, once
    calibrated, ``nprobes`` probes (0: not calibrated, :func:`default_nprobes`)."""
    kind = index_type.upper()
    out: dict[str, int] = {}
    if kind.startswith("IVF"):
        if nprobes > 0:
            out["nprobes"] = nprobes
        elif partitions > 0:
            out["nprobes"] = default_nprobes(partitions)
    refine = REFINE_FACTOR_DEFAULTS.get(kind)
    if refine is not None:
        out["refine_factor"] = refine
    if "HNSW" in kind:
        out["ef"] = max(top_k, min(EF_PER_RESULT * top_k, EF_MAX))
    return out
