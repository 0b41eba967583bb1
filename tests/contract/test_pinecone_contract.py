"""The whole contract suite (``vectorgate.testing``) on Pinecone: one run per factory in
``tests/contract/backends/pinecone.py``."""

from __future__ import annotations

import pytest

from tests.contract.backends import pinecone
from vectorgate.testing import ContractSuite, Factory


class TestPinecone(ContractSuite):
    @pytest.fixture(params=sorted(pinecone.FACTORIES))
    def adapter_factory(self, request: pytest.FixtureRequest) -> Factory:
        return pinecone.FACTORIES[request.param]
