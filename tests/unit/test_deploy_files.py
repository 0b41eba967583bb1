"""deploy/: the compose file and Kubernetes manifests validate against their schemas.

They cannot be started here, so they are checked statically: the compose file
against the Compose Specification JSON schema vendored in ``check-jsonschema``,
the manifests against the Kubernetes JSON schemas shipped in
``kubernetes-validate`` (strict: unknown fields fail), and both vectorgate
configurations through the real config loader. No schema is fetched at run time.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from vectorgate_server.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S_VERSION = "1.30.0"
COMPOSE_ENV = {
    "VECTORGATE_MASTER_KEY": "vg-master-test",
    "DATABASE_URL": "postgresql://vectorgate:pw@postgres:5432/vectorgate",
    "OPENSEARCH_PASSWORD": "Str0ng-Passw0rd!",
}


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def _manifests() -> list[tuple[str, dict[str, Any]]]:
    docs: list[tuple[str, dict[str, Any]]] = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                docs.append((path.name, doc))
    return docs


def _by_kind(kind: str) -> dict[str, Any]:
    found = [doc for _, doc in _manifests() if doc["kind"] == kind]
    assert len(found) == 1, kind
    return found[0]


def test_compose_file_matches_the_compose_spec_schema() -> None:
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads((vendor / "compose-spec.json").read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    errors = sorted(
        validator_class(schema).iter_errors(_compose()), key=lambda e: list(e.absolute_path)
    )
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_compose_file_runs_every_backend_and_wires_the_gateway() -> None:
    services = _compose()["services"]
    assert {"vectorgate", "postgres", "milvus", "etcd", "minio", "qdrant", "opensearch"} <= set(
        services
    )
    gateway = services["vectorgate"]
    assert set(gateway["depends_on"]) == {"postgres", "milvus", "qdrant", "opensearch"}
    assert services["milvus"]["command"] == ["milvus", "run", "standalone"]
    assert services["milvus"]["environment"]["ETCD_ENDPOINTS"] == "etcd:2379"
    assert services["milvus"]["environment"]["MINIO_ADDRESS"] == "minio:9000"
    assert services["opensearch"]["image"].startswith("opensearchproject/opensearch:")
    assert "postgres:5432" in gateway["environment"]["DATABASE_URL"]
    config_file = _compose()["configs"]["vectorgate_config"]["file"]
    assert (DEPLOY / config_file).resolve() == DEPLOY / "vectorgate.compose.yaml"
    assert (DEPLOY / gateway["build"]["context"] / gateway["build"]["dockerfile"]).is_file()
    # every secret the config reads is given to the container
    config_text = (DEPLOY / "vectorgate.compose.yaml").read_text()
    for name in COMPOSE_ENV:
        assert f"os.environ/{name}" in config_text
        assert name in gateway["environment"]


def test_compose_config_is_a_valid_vectorgate_config() -> None:
    config = load_config(DEPLOY / "vectorgate.compose.yaml", environ=COMPOSE_ENV)
    stores = dict(config.stores)
    assert {name: store.type for name, store in stores.items()} == {
        "milvus": "milvus",
        "qdrant": "qdrant",
        "opensearch": "opensearch",
    }
    assert config.default_store == "qdrant"
    milvus = stores["milvus"]
    assert milvus.type == "milvus" and milvus.connection_uri == "http://milvus:19530"
    assert config.general_settings.master_key is not None
    assert config.general_settings.master_key.get_secret_value() == "vg-master-test"
    assert config.server.grpc_port == 50051


def test_compose_config_fails_without_its_secrets() -> None:
    with pytest.raises(ConfigError, match="OPENSEARCH_PASSWORD"):
        load_config(DEPLOY / "vectorgate.compose.yaml", environ={})


@pytest.mark.parametrize(
    ("name", "doc"), _manifests(), ids=[f"{n}:{d['kind']}" for n, d in _manifests()]
)
def test_kubernetes_manifest_matches_the_schema(name: str, doc: dict[str, Any]) -> None:
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as err:
        pytest.fail(f"{name}: {'.'.join(map(str, err.path))}: {err.message}")


def test_kubernetes_manifests_fit_together(tmp_path: Path) -> None:
    kinds = sorted(doc["kind"] for _, doc in _manifests())
    assert kinds == [
        "ConfigMap", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget",
        "Secret", "Service",
    ]  # fmt: skip
    deployment = _by_kind("Deployment")
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    container = pod["spec"]["containers"][0]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["grpc"]["port"] == 50051, probe
    assert _by_kind("Service")["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    hpa = _by_kind("HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["minReplicas"] >= 2
    assert container["resources"]["requests"]["cpu"]  # the HPA scales on CPU utilisation
    secret = _by_kind("Secret")
    assert container["envFrom"][0]["secretRef"]["name"] == secret["metadata"]["name"]
    configmap = _by_kind("ConfigMap")
    assert pod["spec"]["volumes"][0]["configMap"]["name"] == configmap["metadata"]["name"]
    mount = container["volumeMounts"][0]["mountPath"]
    assert container["args"] == ["--config", f"{mount}/vectorgate.yaml"]

    config_path = tmp_path / "vectorgate.yaml"
    config_path.write_text(configmap["data"]["vectorgate.yaml"])
    config = load_config(config_path, environ=secret["stringData"])
    assert set(config.stores) == {"milvus", "qdrant", "opensearch"}
    assert not any(store.type == "lancedb" for store in config.stores.values())
    assert config.general_settings.database_url is not None
    assert config.general_settings.database_url.get_secret_value().startswith("postgresql://")
