"""The whole contract suite (``vectorgate.testing``) on OpenSearch: one run per factory in
``tests/contract/backends/opensearch.py``."""

from __future__ import annotations

import pytest

from tests.contract.backends import opensearch
from vectorgate.testing import ContractSuite, Factory


class TestOpenSearch(ContractSuite):
    @pytest.fixture(params=sorted(opensearch.FACTORIES))
    def adapter_factory(self, request: pytest.FixtureRequest) -> Factory:
        return opensearch.FACTORIES[request.param]
