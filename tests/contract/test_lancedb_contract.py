"""The whole contract suite (``vectorgate.testing``) on LanceDB: one run per factory in
``tests/contract/backends/lancedb.py``."""

from __future__ import annotations

import pytest

from tests.contract.backends import lancedb
from vectorgate.testing import ContractSuite, Factory


class TestLanceDB(ContractSuite):
    @pytest.fixture(params=sorted(lancedb.FACTORIES))
    def adapter_factory(self, request: pytest.FixtureRequest) -> Factory:
        return lancedb.FACTORIES[request.param]
