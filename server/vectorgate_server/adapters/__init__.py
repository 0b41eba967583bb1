"""Backend adapters: one module per backend, each implementing :class:`.base.Adapter`.

Backend modules are imported lazily (by :mod:`.factory`) so that a deployment
needs only the SDKs of the backends it uses.
"""

from __future__ import annotations

from .base import Adapter, Capabilities, unsupported_ops

__all__ = ["Adapter", "Capabilities", "unsupported_ops"]
