"""The whole contract suite (``vectorgate.testing``) on PostgreSQL + pgvector: one run per
factory in ``tests/contract/backends/pgvector.py``."""

from __future__ import annotations

import pytest

from tests.contract.backends import pgvector
from vectorgate.testing import ContractSuite, Factory


class TestPgvector(ContractSuite):
    @pytest.fixture(params=sorted(pgvector.FACTORIES))
    def adapter_factory(self, request: pytest.FixtureRequest) -> Factory:
        return pgvector.FACTORIES[request.param]
