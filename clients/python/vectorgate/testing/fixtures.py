"""The fixtures every test class of the contract suite shares.

A backend is named by a *factory*: ``factory(request, location)`` is an async
context manager that yields a started adapter and closes it on exit.
``location`` is a per-test temporary directory; entering the factory twice with
the same location must give two adapters on the same data (the persistence test
does that). A factory whose backend is not reachable calls ``pytest.skip`` with
the reason; ``request`` gives it session fixtures (``request.getfixturevalue``).

A test class names its factory with an ``adapter_factory`` fixture (see
:mod:`vectorgate.testing`).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from vectorgate_server.adapters.base import Adapter
from vectorgate_server.errors import NotFound

__all__ = ["AdapterFixtures", "Factory", "Names", "Reopen"]

#: ``factory(request, location)``: an async context manager yielding a started adapter.
Factory = Callable[[pytest.FixtureRequest, Path], contextlib.AbstractAsyncContextManager[Adapter]]


class Reopen:
    """Opens further adapters of the backend under test on the same data."""

    def __init__(self, factory: Factory, request: pytest.FixtureRequest, location: Path) -> None:
        self._factory = factory
        self._request = request
        self._location = location
        self.stack = contextlib.AsyncExitStack()

    async def __call__(self) -> Adapter:
        return await self.stack.enter_async_context(self._factory(self._request, self._location))


class Names:
    """Collection names unique to one test; the suite drops them afterwards."""

    def __init__(self) -> None:
        self.prefix = f"vgc_{uuid.uuid4().hex[:10]}"
        self.created: list[str] = []

    def new(self, suffix: str = "c") -> str:
        name = f"{self.prefix}_{suffix}"
        self.created.append(name)
        return name


class AdapterFixtures:
    """``adapter``, ``names`` and ``reopen``, built from the class's ``adapter_factory`` fixture."""

    @pytest.fixture
    def names(self) -> Names:
        """Collection names unique to this test."""
        return Names()

    @pytest_asyncio.fixture
    async def reopen(
        self, adapter_factory: Factory, request: pytest.FixtureRequest, tmp_path: Path
    ) -> AsyncIterator[Reopen]:
        """Opens more adapters on the data of ``adapter``; they are closed after the test."""
        opener = Reopen(adapter_factory, request, tmp_path)
        async with opener.stack:
            yield opener

    @pytest_asyncio.fixture
    async def adapter(
        self,
        adapter_factory: Factory,
        request: pytest.FixtureRequest,
        tmp_path: Path,
        names: Names,
        reopen: Reopen,
    ) -> AsyncIterator[Adapter]:
        """A started adapter of the backend under test; its test collections are dropped after."""
        async with adapter_factory(request, tmp_path) as instance:
            try:
                yield instance
            finally:
                cleaner = instance
                for name in names.created:
                    try:
                        await cleaner.drop_collection(name)
                    except NotFound:
                        pass
                    except Exception:
                        # The test closed the adapter (persistence): clean up through
                        # another, after closing the ones the test reopened, so that no
                        # background maintenance of theirs still writes into a table
                        # being dropped.
                        await reopen.stack.aclose()
                        cleaner = await reopen()
                        with contextlib.suppress(NotFound):
                            await cleaner.drop_collection(name)
