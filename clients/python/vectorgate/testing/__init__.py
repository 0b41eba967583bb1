"""The adapter contract suite, for adapters inside and outside this repository.

As Haystack ships its ``DocumentStore`` test classes, vectorgate ships the
tests that define "an adapter works" as base classes. A test module subclasses
them and names its backend with an ``adapter_factory`` fixture returning a
*factory*: ``factory(request, location)`` is an async context manager that
yields a started :class:`~vectorgate_server.adapters.base.Adapter` and closes
it on exit (entering it twice with the same ``location`` must reach the same
data; see :mod:`vectorgate.testing.fixtures`)::

    import contextlib
    import pytest
    from vectorgate.testing import ContractSuite

    @contextlib.asynccontextmanager
    async def my_store(request, location):
        adapter = MyAdapter("test", path=str(location / "db"))
        await adapter.start()
        try:
            yield adapter
        finally:
            await adapter.close()

    class TestMyStore(ContractSuite):
        @pytest.fixture
        def adapter_factory(self):
            return my_store

:class:`ContractSuite` is the whole suite: :class:`AdapterContractTests`
(collections, documents, search, the portable filter, metadata, scan,
persistence), :class:`KeywordSearchContractTests` and
:class:`HybridSearchContractTests` (keyword search and dense + keyword fusion
through the gateway; a backend without full-text search must answer
``Unsupported``). Each can also be used alone.

Needs the ``testing`` extra (``pip install 'vectorgate[testing]'``: pytest and
pytest-asyncio); the tests are coroutines marked ``asyncio``, so they run in
pytest-asyncio's strict and auto modes alike.
"""

from __future__ import annotations

from .contract import AdapterContractTests
from .fixtures import AdapterFixtures, Factory, Names, Reopen
from .hybrid import HybridSearchContractTests
from .keyword import KeywordSearchContractTests

__all__ = [
    "AdapterContractTests",
    "AdapterFixtures",
    "ContractSuite",
    "Factory",
    "HybridSearchContractTests",
    "KeywordSearchContractTests",
    "Names",
    "Reopen",
]


class ContractSuite(AdapterContractTests, KeywordSearchContractTests, HybridSearchContractTests):
    """Every contract test: subclass it and define the ``adapter_factory`` fixture."""
