"""The whole contract suite (``vectorgate.testing``) on Qdrant: one run per factory in
``tests/contract/backends/qdrant.py``."""

from __future__ import annotations

import pytest

from tests.contract.backends import qdrant
from vectorgate.testing import ContractSuite, Factory


class TestQdrant(ContractSuite):
    @pytest.fixture(params=sorted(qdrant.FACTORIES))
    def adapter_factory(self, request: pytest.FixtureRequest) -> Factory:
        return qdrant.FACTORIES[request.param]
