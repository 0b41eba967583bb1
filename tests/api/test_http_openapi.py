"""``/openapi.json``: generated from the descriptors, valid OpenAPI 3.1, and every operation
in it answers as documented."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from tests.support.servers import ServerThread, make_config
from vectorgate_server.embeddings import EmbeddingRegistry
from vectorgate_server.http.transcode import all_bindings

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def srv(
    tmp_path_factory: pytest.TempPathFactory, embeddings: EmbeddingRegistry
) -> Iterator[ServerThread]:
    config = make_config(tmp_path_factory.mktemp("openapi") / "data")
    with ServerThread(config, embeddings) as server:
        yield server


@pytest.fixture(scope="module")
def http(srv: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.http_base, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def spec(http: httpx.Client) -> dict[str, Any]:
    r = http.get("/openapi.json")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    document: dict[str, Any] = r.json()
    return document


def test_document_is_valid_openapi_3_1(spec: dict[str, Any]) -> None:
    assert spec["openapi"] == "3.1.0"
    validate(spec)  # raises OpenAPIValidationError


def test_every_rpc_binding_is_documented(srv: ServerThread, spec: dict[str, Any]) -> None:
    assert srv.server is not None
    bindings = all_bindings(srv.server.rpcs)
    assert bindings
    for binding in bindings:
        operation = spec["paths"][binding.openapi_path][binding.method.lower()]
        assert binding.rpc.method in operation["summary"]
    ids = [op["operationId"] for path in spec["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))
    for path in (
        "/v1/vector/store",
        "/v1/vector/search",
        "/v1/embeddings",
        "/embeddings",
        "/v1/vector_stores/{vector_store_id}/search",
        "/vector_stores/{vector_store_id}/search",
        "/healthz",
        "/readyz",
    ):
        assert path in spec["paths"], path


def test_schemas_follow_the_descriptors(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    search = schemas["vectorgate.v1.SearchRequest"]
    assert search["additionalProperties"] is False
    assert search["properties"]["vector"] == {"$ref": "#/components/schemas/vectorgate.v1.Vector"}
    assert {"required": ["text", "vector"]} in search["not"]["anyOf"]  # oneof query
    assert search["properties"]["native_params"]["type"] == "object"  # Struct
    assert search["properties"]["output_fields"] == {"type": "array", "items": {"type": "string"}}
    assert schemas["vectorgate.v1.Vector"]["properties"]["packed"]["contentEncoding"] == "base64"
    collection = schemas["vectorgate.v1.Collection"]["properties"]
    assert collection["document_count"]["type"] == ["string", "integer"]  # int64
    assert collection["create_time"] == {"type": "string", "format": "date-time"}
    metric = schemas["vectorgate.v1.DistanceMetric"]
    assert metric["type"] == "string" and "DISTANCE_METRIC_COSINE" in metric["enum"]
    assert schemas["vectorgate.v1.IndexTarget"]["required"] == [
        "vector_store_index",
        "vector_store_name",
    ]
    status = schemas["google.rpc.Status"]["properties"]
    assert status["details"]["items"]["required"] == ["@type"]
    # The path variable is not part of the search body.
    body = spec["paths"]["/v1/collections/{collection}:search"]["post"]["requestBody"]
    assert "collection" not in body["content"]["application/json"]["schema"]["properties"]


def _validator(spec: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator({**schema, "components": spec["components"]})


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    ops = [
        (path, method, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]
    # Create before read, delete last.
    order = {"post": 0, "get": 1, "put": 1, "patch": 1, "delete": 2}
    return sorted(ops, key=lambda o: order[o[1]])


def test_every_operation_answers_as_documented(http: httpx.Client, spec: dict[str, Any]) -> None:
    # Resources the examples name ("example"), so that more of them succeed.
    assert http.post("/v1/collections", json={"collection": {"name": "example"}}).status_code == 200
    r = http.post(
        "/v1/collections/example/documents:upsert",
        json={"documents": [{"id": "example", "text": "an example document"}]},
    )
    assert r.status_code == 200
    answered: dict[str, int] = {}
    for path, method, op in _operations(spec):
        url = path
        for param in op.get("parameters", []):
            if param["in"] == "path":
                url = url.replace("{" + param["name"] + "}", str(param["example"]))
        body = None
        if "requestBody" in op:
            body = op["requestBody"]["content"]["application/json"]["example"]
        r = http.request(method.upper(), url, json=body)
        where = f"{method.upper()} {path} -> {r.status_code}: {r.text[:300]}"
        assert r.status_code not in (405, 500), where
        documented = op["responses"].get(str(r.status_code))
        assert documented is not None, where
        payload = r.json()
        if r.status_code == 404:
            # A domain "not found" (with its reason), never a missing route.
            reasons = [d.get("reason", "") for d in payload.get("details", [])]
            assert any(x.endswith("NOT_FOUND") for x in reasons) or "error" in payload, where
        schema = documented["content"]["application/json"]["schema"]
        errors = sorted(_validator(spec, schema).iter_errors(payload), key=str)
        assert not errors, f"{where}\n{errors[0]}"
        answered[f"{method.upper()} {path}"] = r.status_code
    assert answered["GET /v1/collections/{name}"] == 200
    assert answered["POST /v1/embeddings"] == 200
    assert answered["POST /v1/vector_stores/{vector_store_id}/search"] == 200
    assert answered["DELETE /v1/collections/{name}"] == 200


def test_documented_success_shapes_validate(http: httpx.Client, spec: dict[str, Any]) -> None:
    """Full responses (not just the minimal examples) validate against their schemas."""
    http.post("/v1/collections", json={"collection": {"name": "shapes"}})
    http.post(
        "/v1/collections/shapes/documents:upsert",
        json={
            "documents": [
                {
                    "id": "s1",
                    "text": "shape text",
                    "metadata": {"a": 1, "b": "x", "c": True, "d": ["y"], "file_id": "f1"},
                }
            ]
        },
    )
    calls = [
        (
            "post",
            "/v1/collections/{collection}:search",
            "/v1/collections/shapes:search",
            {"text": "shape", "top_k": 1, "output_fields": ["text", "vector", "metadata"]},
        ),
        (
            "post",
            "/v1/collections/{collection}/documents:get",
            "/v1/collections/shapes/documents:get",
            {"ids": ["s1"], "include_vectors": True},
        ),
        ("get", "/v1/collections", "/v1/collections", None),
        (
            "post",
            "/v1/vector_stores/{vector_store_id}/search",
            "/v1/vector_stores/shapes/search",
            {"query": ["shape", "text"], "rewrite_query": True},
        ),
        (
            "post",
            "/v1/vector/search",
            "/v1/vector/search",
            {"collection": "shapes", "query": "shape"},
        ),
        (
            "post",
            "/v1/embeddings",
            "/v1/embeddings",
            {"input": ["a", "b"], "model": "all-MiniLM-L6-v2", "encoding_format": "base64"},
        ),
    ]
    for method, path, url, body in calls:
        r = http.request(method.upper(), url, json=body)
        assert r.status_code == 200, r.text
        schema = spec["paths"][path][method]["responses"]["200"]["content"]["application/json"][
            "schema"
        ]
        errors = list(_validator(spec, schema).iter_errors(r.json()))
        assert not errors, f"{path}: {errors[0]}"
