"""Keeping the objects made at start-up out of Python's full garbage collections.

A full (generation 2) collection walks every container object the process
holds, holding the GIL, so every request in flight waits for it. Most of those
objects are made once, at start-up, and live as long as the process: the
modules and classes of the libraries the server imports. ``import lance`` alone
brings pandas and the pydantic models of the Lance namespace client: 132,600
objects, whose full collection takes 90 ms on the 2-core host; the whole
``vectorgate serve`` process holds about 150,000 after start-up and its full
collections took 96-164 ms each (measured with ``gc.callbacks``). They come
every 30-40 s under steady traffic, as the objects requests leave behind
accumulate, and each put a 100-150 ms stall on the requests in flight: the
p99 of a third of the soak (tests/integration/test_soak.py) went from 24-35 ms
to 65-180 ms when one fell in it.

:func:`freeze_startup_objects`, called once the server has started (stores
open, embedding model loaded), moves the objects alive then into the
permanent generation (:func:`gc.freeze`), which collections skip. A full
collection then walks only the objects made since: 0.3 ms for 40,000 dicts.
Frozen objects are still freed when their reference count drops to zero;
only a reference cycle among them would never be collected, and start-up
objects live until the process exits.
"""

from __future__ import annotations

import gc
import logging

__all__ = ["freeze_startup_objects"]

log = logging.getLogger("vectorgate")


def freeze_startup_objects() -> int:
    """Collect the garbage of start-up, then freeze what is left; returns how many
    objects are frozen in all."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug("froze %d start-up objects out of full garbage collections", frozen)
    return frozen
