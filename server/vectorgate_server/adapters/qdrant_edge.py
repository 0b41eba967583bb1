"""Embedded Qdrant (a ``path:`` store): now :mod:`vectorgate_server.adapters.qdrant.edge`.

Kept so that ``from vectorgate_server.adapters.qdrant_edge import ...`` keeps working.
"""

from .qdrant.edge import LOCK_FILE, SPEC_FILE, QdrantEdgeAdapter, edge_filter

__all__ = ["LOCK_FILE", "SPEC_FILE", "QdrantEdgeAdapter", "edge_filter"]
