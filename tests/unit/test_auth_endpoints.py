"""Endpoint/credential keys in gRPC requests: found wherever free-form JSON can
carry them, and typed subtrees that cannot hold JSON are not walked."""

from __future__ import annotations

import pytest

from vectorgate.v1 import search_service_pb2 as spb
from vectorgate.v1 import types_pb2
from vectorgate.v1 import upsert_service_pb2 as upb
from vectorgate_server.auth import _may_hold_json, reject_endpoints
from vectorgate_server.errors import InvalidArgument


def test_which_types_can_hold_json() -> None:
    # Documents hold JSON only in their metadata, which is caller data.
    assert not _may_hold_json(types_pb2.Document.DESCRIPTOR)
    assert not _may_hold_json(upb.UpsertDocumentsRequest.DESCRIPTOR)
    assert not _may_hold_json(types_pb2.Filter.DESCRIPTOR)  # recursive, typed
    assert _may_hold_json(spb.SearchRequest.DESCRIPTOR)  # native_params
    assert _may_hold_json(spb.RetrieveRequest.DESCRIPTOR)  # through its SearchRequest


def test_json_fields_are_checked_at_any_depth() -> None:
    request = spb.RetrieveRequest()
    request.search.targets.add(collection="a")
    request.search.native_params.update({"deep": {"list": [{"ok": 1}, {"Endpoint": "http://e"}]}})
    with pytest.raises(InvalidArgument) as info:
        reject_endpoints(request)
    assert info.value.field == "search.native_params.deep.list[1].Endpoint"


def test_document_metadata_is_data() -> None:
    request = upb.UpsertDocumentsRequest(collection="c")
    for i in range(3):
        doc = request.documents.add(id=f"d{i}", text="t")
        doc.metadata.update({"url": "https://example.com", "api_key": "not a secret of ours"})
    reject_endpoints(request)  # no error
