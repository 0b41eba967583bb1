"""The whole contract suite (``vectorgate.testing``) on Milvus: one run per factory in
``tests/contract/backends/milvus.py``."""

from __future__ import annotations

import pytest

from tests.contract.backends import milvus
from vectorgate.testing import ContractSuite, Factory


class TestMilvus(ContractSuite):
    @pytest.fixture(params=sorted(milvus.FACTORIES))
    def adapter_factory(self, request: pytest.FixtureRequest) -> Factory:
        return milvus.FACTORIES[request.param]
