"""The LanceDB adapter's read gate: pruning waits for the reads in flight, never the reverse.

Pruning keeps the version that was the latest when it began and every later one,
so a read that starts once pruning has begun reads a version it keeps: it must not wait.
Holding new reads back made every read wait for the whole deletion (the soak
test's p99 growth once versions became old enough to delete).
"""

from __future__ import annotations

import asyncio

from vectorgate_server.adapters.lancedb import _ReadGate


async def _read(gate: _ReadGate, started: asyncio.Event, release: asyncio.Event) -> None:
    async with gate.reading():
        started.set()
        await release.wait()


async def test_pruning_waits_for_the_reads_in_flight() -> None:
    gate = _ReadGate()
    started, release = asyncio.Event(), asyncio.Event()
    reader = asyncio.create_task(_read(gate, started, release))
    await started.wait()
    pruned = asyncio.Event()

    async def prune() -> None:
        async with gate.pruning():
            assert reader.done()
            pruned.set()

    pruner = asyncio.create_task(prune())
    await asyncio.sleep(0.05)
    assert not pruned.is_set()
    release.set()
    await asyncio.wait_for(pruner, 5)
    assert pruned.is_set() and gate.readers == 0


async def test_reads_starting_during_pruning_do_not_wait() -> None:
    gate = _ReadGate()
    old_started, old_release = asyncio.Event(), asyncio.Event()
    old = asyncio.create_task(_read(gate, old_started, old_release))
    await old_started.wait()
    holding, finish = asyncio.Event(), asyncio.Event()

    async def prune() -> None:
        async with gate.pruning():
            holding.set()
            await finish.wait()

    pruner = asyncio.create_task(prune())
    await asyncio.sleep(0)
    # Pruning waits for the old read; a new read goes through meanwhile.
    new_started, new_release = asyncio.Event(), asyncio.Event()
    new_release.set()
    await asyncio.wait_for(_read(gate, new_started, new_release), 1)
    assert not holding.is_set()
    old_release.set()
    await asyncio.wait_for(holding.wait(), 5)
    # While pruning holds (deleting files), reads still go through.
    await asyncio.wait_for(_read(gate, asyncio.Event(), new_release), 1)
    # A read that starts during pruning does not hold up the next pruning.
    late_started, late_release = asyncio.Event(), asyncio.Event()
    late = asyncio.create_task(_read(gate, late_started, late_release))
    await late_started.wait()
    finish.set()
    await asyncio.wait_for(pruner, 5)
    next_pruned = asyncio.Event()

    async def prune_again() -> None:
        async with gate.pruning():
            next_pruned.set()

    again = asyncio.create_task(prune_again())
    await asyncio.sleep(0.05)
    assert not next_pruned.is_set()  # the late read is in flight at its start
    late_release.set()
    await asyncio.wait_for(again, 5)
    await asyncio.gather(old, late)
    assert gate.readers == 0


async def test_a_cancelled_read_releases_the_gate() -> None:
    gate = _ReadGate()
    started, release = asyncio.Event(), asyncio.Event()
    reader = asyncio.create_task(_read(gate, started, release))
    await started.wait()
    reader.cancel()
    await asyncio.gather(reader, return_exceptions=True)

    async def prune() -> None:
        async with gate.pruning():
            pass

    await asyncio.wait_for(prune(), 5)
    assert gate.readers == 0
