"""vectorgate configuration: pydantic models and the YAML / environment loader.

The configuration file is YAML and deliberately compatible with LiteLLM proxy
configs: a LiteLLM ``config.yaml`` with a ``vector_store_registry`` and a
``model_list`` loads unchanged, and LiteLLM-only sections (``litellm_settings``,
``environment_variables``, ...) are ignored.

Use :func:`load_config`; it returns a frozen :class:`Config` or raises
:class:`ConfigError`, whose ``str()`` is a short, user-facing list of
``key.path: reason`` lines (never a traceback).

Stores
------
``vector_stores`` (mapping name -> block) and ``vector_store_registry``
(LiteLLM list) are normalised into one insertion-ordered mapping,
:attr:`Config.stores`, of per-backend models:

=============  =========================  ========================  ===================
``type``       class                      default collection field  dimension field
=============  =========================  ========================  ===================
``lancedb``    :class:`LanceDBConfig`     ``table_name``            ``dimensions``
``milvus``     :class:`MilvusConfig`      ``collection_name``       ``dimensions``
``qdrant``     :class:`QdrantConfig`      ``collection_name``       ``vector_size``
``opensearch`` :class:`OpenSearchConfig`  ``index_name``            ``dimensions``
``pinecone``   :class:`PineconeConfig`    ``index_name``            ``dimensions``
``pgvector``   :class:`PgvectorConfig`    ``collection_name``       ``dimensions``
=============  =========================  ========================  ===================

Each model is owned by its adapter and defined in :mod:`vectorgate_server.adapters.configs`
(one module per store type; the common fields in :class:`BaseStoreConfig`); they are
re-exported here. Every store model has ``name``, ``type``, ``origin`` and the uniform accessors
``collection`` and ``dimension``. Tell the backend apart with ``store.type``
(a ``Literal``, which narrows the union for type checkers) or ``isinstance``.

Precedence
----------
For every setting: a value written in the file > the environment variable >
the built-in default.

* ``os.environ/NAME`` string values are replaced by the environment variable
  ``NAME`` when the file is loaded; an unset (or empty) variable is an error.
  Sections that vectorgate ignores and disabled stores are not resolved.
* ``LANCEDB_URI``, ``MILVUS_HOST`` (``host``, ``host:port`` or a URI / Milvus
  Lite file), ``QDRANT_URL``, ``OPENSEARCH_HOSTS`` (comma-separated) and
  ``PINECONE_API_KEY`` fill the matching field of every configured store of
  that type that left it unset; when no store of that type is configured
  (enabled or disabled), they define one named after the type.
  ``MILVUS_API_BASE`` / ``MILVUS_API_KEY`` (LiteLLM's names) are lower-priority
  fallbacks for Milvus stores only; they never define a store.
* A LanceDB store without ``uri`` uses ``<server.data_dir>/lancedb``. When no
  store is enabled at all, a LanceDB store named ``lancedb`` is added.
* The default store is the top-level ``default_store`` key, else
  ``VECTOR_STORE_TYPE`` (a store name, or a type with exactly one store), else
  the first store.
* ``general_settings.master_key`` / ``database_url`` fall back to
  ``VECTORGATE_MASTER_KEY`` / ``DATABASE_URL``.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import os
import re
import types
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import (
    Annotated,
    Any,
    Final,
    Union,
    cast,
    get_args,
    get_origin,
)

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails

from .adapters.configs import (
    STORE_CLASSES as _STORE_CLASSES,
)
from .adapters.configs import (
    STORE_TYPES,
    BaseStoreConfig,
    EmbeddingEndpointConfig,
    StoreConfig,
    StoreType,
)
from .adapters.configs.base import StrictModel as _Model
from .adapters.configs.base import is_secret_key as _is_secret_key
from .adapters.configs.base import protect_mapping as _protect_mapping
from .adapters.configs.base import split_csv as _split_csv

__all__ = [
    "DEFAULT_STORE_NAME",
    "Config",
    "ConfigError",
    "EmbeddingModelConfig",
    "EmbeddingSettings",
    "GeneralSettings",
    "LimitsSettings",
    "RagSettings",
    "RouterRagSettings",
    "RouterSettings",
    "ServerSettings",
    "load_config",
]

#: The one ``rag_settings.merge_strategy`` (LiteLLM's key): reciprocal rank fusion.
MERGE_STRATEGY: Final = "reciprocal_rank_fusion"
#: Name of the LanceDB store added when no store is configured.
DEFAULT_STORE_NAME: Final = "lancedb"

_MIB: Final = 1024 * 1024
_ENV_REF_PREFIX: Final = "os.environ/"
_ENV_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STORE_NAME_RE: Final = re.compile(r"[^\s/]{1,128}")
_TOP_LEVEL_KEYS: Final = frozenset(
    {
        "vector_stores",
        "vector_store_registry",
        "default_store",
        "model_list",
        "embedding",
        "general_settings",
        "router_settings",
        "rag_settings",
        "server",
        "limits",
    }
)
#: LiteLLM proxy sections that may appear in a shared config; vectorgate ignores them.
_IGNORED_LITELLM_SECTIONS: Final = frozenset(
    {
        "litellm_settings",
        "environment_variables",
        "callback_settings",
        "credential_list",
        "guardrails",
        "mcp_servers",
        "mcp_aliases",
        "search_tools",
        "prompts",
        "files_settings",
        "finetune_settings",
        "assistant_settings",
        "pass_through_endpoints",
        "model_group_settings",
    }
)


# --------------------------------------------------------------------------- errors


class ConfigError(Exception):
    """Invalid configuration.

    ``str(err)`` is a header line followed by one ``key.path: reason`` line per
    problem; ``err.errors`` holds those lines and ``err.source`` the file name.
    """

    def __init__(self, errors: Iterable[str], *, source: str | Path | None = None) -> None:
        self.errors: tuple[str, ...] = tuple(errors) or ("invalid configuration",)
        self.source: str | None = str(source) if source is not None else None
        where = f" in {self.source}" if self.source else ""
        lines = [f"invalid vectorgate configuration{where}:"]
        lines.extend(f"  {line}" for line in self.errors)
        super().__init__("\n".join(lines))


# --------------------------------------------------------------------------- models


class ServerSettings(_Model):
    """Listener and process settings (``server:``)."""

    host: str = "127.0.0.1"
    #: gRPC port; 0 lets the OS pick one.
    grpc_port: int = Field(default=50051, ge=0, le=65535)
    #: HTTP/REST port; 0 lets the OS pick one.
    http_port: int = Field(default=4000, ge=0, le=65535)
    #: Directory for local state (LanceDB, key database); relative to the working directory.
    data_dir: Path = Path("./vectorgate-data")
    #: Largest request: a gRPC message, or an HTTP body (refused with 413 as it streams in).
    max_message_bytes: int = Field(default=64 * _MIB, ge=1024)
    #: HTTP: seconds a client gets to send a request's headers (slowloris); 0 = no limit.
    header_timeout_s: float = Field(default=10.0, ge=0)
    #: HTTP: longest stall of a request body while the server waits for it; also the
    #: grace before ``body_min_bytes_per_s`` applies. 0 = no limit.
    body_timeout_s: float = Field(default=30.0, ge=0)
    #: HTTP: the average rate (bytes/s) a body must keep up after ``body_timeout_s``.
    body_min_bytes_per_s: float = Field(default=500.0, gt=0)
    #: Seconds in-flight requests get to finish on shutdown.
    grace_period_s: float = Field(default=10.0, ge=0)


class LimitsSettings(_Model):
    """Request limits enforced by the gateway (``limits:``)."""

    max_top_k: int = Field(default=1000, ge=1)
    max_batch_documents: int = Field(default=1000, ge=1)
    max_text_bytes: int = Field(default=_MIB, ge=1)
    max_metadata_bytes: int = Field(default=64 * 1024, ge=1)
    max_dimension: int = Field(default=8192, ge=1)


class EmbeddingSettings(_Model):
    """Local embedding defaults (``embedding:``)."""

    default_model: str = "all-MiniLM-L6-v2"
    #: ONNX Runtime intra-op threads; None = runtime default.
    threads: int | None = Field(default=None, ge=1)
    batch_size: int = Field(default=32, ge=1)


class EmbeddingModelConfig(_Model):
    """One ``model_list`` deployment (LiteLLM style)."""

    #: User-facing name (``model_name``); several deployments may share it.
    name: str
    #: Provider model string, e.g. ``azure/text-embedding-3-large``.
    model: str
    api_base: str | None = None
    api_key: SecretStr | None = None
    api_version: str | None = None
    #: Other ``litellm_params``; secret-looking values are ``SecretStr``.
    params: dict[str, Any] = Field(default_factory=dict)
    model_info: dict[str, Any] = Field(default_factory=dict)


class GeneralSettings(_Model):
    """``general_settings``; other LiteLLM keys in this section are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True, coerce_numbers_to_str=True)

    #: Admin key (or ``VECTORGATE_MASTER_KEY``).
    master_key: SecretStr | None = None
    #: Key database URL (or ``DATABASE_URL``).
    database_url: SecretStr | None = None


class RouterRagSettings(_Model):
    """``router_settings.rag_settings``."""

    vector_store: str | None = None
    top_k: int = Field(default=5, ge=1)
    rerank: bool = False
    rerank_model: str | None = None


class RouterSettings(_Model):
    """``router_settings``; other LiteLLM router keys are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True, coerce_numbers_to_str=True)

    # ``routing_strategy`` picks among LiteLLM's LLM deployments; vectorgate routes none, so
    # it is one of the ignored LiteLLM router keys (not a field nothing would read).
    rag_enabled: bool = False
    rag_settings: RouterRagSettings | None = None


class RagSettings(_Model):
    """Top-level ``rag_settings``: multi-store retrieval."""

    #: Stores queried together; empty = the default store only.
    stores: list[str] = Field(default_factory=list)
    top_k: int = Field(default=5, ge=1)
    rerank: bool = False
    rerank_model: str | None = None
    rrf_k: int = Field(default=60, ge=1)
    #: Per-store weight for fusion (default 1.0).
    weights: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _merge_strategy(cls, data: Any) -> Any:
        """LiteLLM's ``merge_strategy``: accepted when it names the one fusion there is."""
        if not isinstance(data, Mapping) or "merge_strategy" not in data:
            return data
        out = dict(data)
        strategy = out.pop("merge_strategy")
        if strategy != MERGE_STRATEGY:
            raise ValueError(
                f"merge_strategy: {_short_repr(strategy)} is not supported; "
                f"the only strategy is {MERGE_STRATEGY!r}"
            )
        return out


class _SettingsSections(_Model):
    """The settings sections, the same in the file and in the loaded configuration."""

    server: ServerSettings = Field(default_factory=ServerSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    general_settings: GeneralSettings = Field(default_factory=GeneralSettings)
    rag_settings: RagSettings = Field(default_factory=RagSettings)
    router_settings: RouterSettings = Field(default_factory=RouterSettings)

    def settings_sections(self) -> dict[str, Any]:
        """The sections by field name, to hand on to another model."""
        return {name: getattr(self, name) for name in _SettingsSections.model_fields}


class Config(_SettingsSections):
    """The loaded, normalised configuration."""

    #: Every enabled store, by name, in definition order.
    stores: dict[str, StoreConfig]
    #: Name of the store used when a request names none.
    default_store: str
    #: ``model_list`` deployments in file order (names may repeat).
    embedding_models: list[EmbeddingModelConfig] = Field(default_factory=list)
    #: The file the configuration was read from, if any.
    source_path: Path | None = None

    @model_validator(mode="after")
    def _check(self) -> Config:
        if not self.stores:
            raise ValueError("at least one store is required")
        for key, store in self.stores.items():
            if store.name != key:
                raise ValueError(f"store {key!r} has name {store.name!r}")
        if self.default_store not in self.stores:
            raise ValueError(f"default_store {self.default_store!r} is not a configured store")
        return self

    def get_store(self, name: str | None = None) -> StoreConfig:
        """The store called ``name`` (the default store when None); KeyError if unknown."""
        return self.stores[self.default_store if name is None else name]

    def get_embedding_model(self, name: str) -> EmbeddingModelConfig | None:
        """The first ``model_list`` deployment named ``name``."""
        return next((m for m in self.embedding_models if m.name == name), None)

    def redacted_dict(self) -> dict[str, Any]:
        """JSON-compatible dump with every secret replaced by ``**********``."""
        return self.model_dump(mode="json")


# --------------------------------------------------------------------------- raw file models


class _LitellmParams(BaseModel):
    """A LiteLLM ``litellm_params`` block: the endpoint, and any further keys kept as extras."""

    model_config = ConfigDict(extra="allow", frozen=True, coerce_numbers_to_str=True)

    api_key: SecretStr | None = None
    api_base: str | None = None


class _RegistryParams(_LitellmParams):
    vector_store_id: str
    custom_llm_provider: str
    litellm_embedding_model: str | None = None
    litellm_embedding_config: EmbeddingEndpointConfig | None = None


class _RegistryEntry(_Model):
    vector_store_name: str
    litellm_params: _RegistryParams
    vector_store_description: str | None = None
    vector_store_metadata: dict[str, Any] | None = None


class _ModelParams(_LitellmParams):
    model: str
    api_version: str | None = None


class _ModelListEntry(_Model):
    model_name: str
    litellm_params: _ModelParams
    model_info: dict[str, Any] = Field(default_factory=dict)


class _Sections(_SettingsSections):
    default_store: str | None = None
    model_list: list[_ModelListEntry] = Field(default_factory=list)


# --------------------------------------------------------------------------- helpers


def _path(prefix: str, *parts: str | int) -> str:
    out = prefix
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else part
    return out


def _short_repr(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Errors:
    """Accumulates ``key.path: reason`` lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        #: Paths whose value could not be resolved; validation errors on them are follow-ups.
        self.unresolved: set[str] = set()

    def add(self, path: str, reason: str) -> None:
        self.lines.append(f"{path}: {reason}" if path else reason)

    def add_validation(self, path: str, reason: str) -> None:
        """Like :meth:`add`, but drop errors caused by an unresolved ``os.environ/`` value."""
        for bad in self.unresolved:
            if path == bad or bad.startswith((f"{path}.", f"{path}[")):
                return
        self.add(path, reason)

    def __bool__(self) -> bool:
        return bool(self.lines)


def _model_of(annotation: Any) -> Any:
    """Strip Optional / Annotated wrappers."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _allowed_keys(model: type[BaseModel] | None, loc: Sequence[str | int]) -> list[str]:
    """Field names of the model that contains ``loc[-1]``, for "did you mean" hints."""
    current: Any = model
    for part in loc[:-1]:
        current = _model_of(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return []
            current = field.annotation
        elif get_origin(current) in (list, dict):
            current = get_args(current)[-1]
        else:
            return []
    current = _model_of(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        names = list(current.model_fields)
        if issubclass(current, BaseStoreConfig):
            names = [n for n in names if n not in ("name", "origin")]
        return names
    return []


def _describe(err: ErrorDetails, key: str, allowed: Sequence[str]) -> str:
    etype = err["type"]
    msg = err["msg"]
    if etype == "extra_forbidden":
        close = difflib.get_close_matches(key, allowed, n=1)
        return f"unknown key (did you mean '{close[0]}'?)" if close else "unknown key"
    if etype == "missing":
        return "field required"
    if etype in ("value_error", "assertion_error"):
        for prefix in ("Value error, ", "Assertion failed, "):
            msg = msg.removeprefix(prefix)
        return msg
    if etype.endswith("_parsing") and ", " in msg:
        msg = msg.split(", ", 1)[0]
    if key and _is_secret_key(key):
        return msg
    return f"{msg}, got {_short_repr(err.get('input'))}"


def _pydantic_errors(
    exc: ValidationError,
    prefix: str,
    errors: _Errors,
    *,
    model: type[BaseModel] | None,
    rename: Mapping[str, str] | None = None,
    notes: Mapping[str, str] | None = None,
) -> None:
    """Translate a ValidationError into ``key.path: reason`` lines under ``prefix``."""
    for err in exc.errors(include_url=False):
        loc = list(err["loc"])
        key = str(loc[-1]) if loc and isinstance(loc[-1], str) else ""
        reason = _describe(err, key, _allowed_keys(model, loc))
        if loc and isinstance(loc[0], str):
            first = loc[0]
            if notes and first in notes:
                reason += f" (from {notes[first]})"
            if rename and first in rename:
                loc[0] = rename[first]
        errors.add_validation(_path(prefix, *loc), reason)


def _resolve_env_refs(value: Any, path: str, environ: Mapping[str, str], errors: _Errors) -> Any:
    """Replace ``os.environ/NAME`` strings; turn YAML dates into ISO strings."""
    if isinstance(value, Mapping):
        return {
            k: _resolve_env_refs(v, _path(path, str(k)), environ, errors) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_resolve_env_refs(v, _path(path, i), environ, errors) for i, v in enumerate(value)]
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(_ENV_REF_PREFIX):
        name = value[len(_ENV_REF_PREFIX) :]
        if not _ENV_NAME_RE.fullmatch(name):
            errors.add(path, f"invalid environment variable reference {value!r}")
            errors.unresolved.add(path)
            return None
        resolved = environ.get(name)
        if not resolved:
            state = "is not set" if resolved is None else "is empty"
            errors.add(path, f"environment variable {name} {state}")
            errors.unresolved.add(path)
            return None
        return resolved
    return value


# --------------------------------------------------------------------------- YAML


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"duplicate key {key!r}",
                key_node.start_mark,
            )
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(["config file not found"], source=path) from None
    except IsADirectoryError:
        raise ConfigError(["config path is a directory, not a file"], source=path) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"file is not valid UTF-8 ({exc.reason})"], source=path) from None
    except OSError as exc:
        raise ConfigError([f"cannot read config file: {exc.strerror}"], source=path) from None
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise ConfigError([f"{where}{problem}"], source=path) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"invalid YAML: {exc}"], source=path) from None


# --------------------------------------------------------------------------- stores


class _RawStore:
    """A store definition before validation, with what is needed to report errors."""

    def __init__(
        self,
        data: dict[str, Any],
        prefix: str,
        rename: Mapping[str, str] | None = None,
    ) -> None:
        self.data = data
        self.prefix = prefix
        self.rename: dict[str, str] = dict(rename or {})
        #: field -> environment variable it was filled from.
        self.notes: dict[str, str] = {}

    @property
    def type(self) -> str:
        return str(self.data["type"])

    @property
    def name(self) -> str:
        return str(self.data["name"])


_BOOL: Final = TypeAdapter(bool)


def _store_type_for(name: str, raw_type: Any, path: str, errors: _Errors) -> str | None:
    if raw_type is None:
        if name in _STORE_CLASSES:
            return name
        errors.add(
            _path(path, "type"),
            f"field required (the store name {name!r} is not a store type; "
            f"set type to one of {', '.join(STORE_TYPES)})",
        )
        return None
    if not isinstance(raw_type, str) or raw_type.strip().lower() not in _STORE_CLASSES:
        errors.add(
            _path(path, "type"),
            f"unknown store type {_short_repr(raw_type)}; expected one of {', '.join(STORE_TYPES)}",
        )
        return None
    return raw_type.strip().lower()


def _check_store_name(name: Any, path: str, errors: _Errors) -> str | None:
    if not isinstance(name, str) or not _STORE_NAME_RE.fullmatch(name):
        errors.add(
            path,
            f"invalid store name {_short_repr(name)} (1-128 characters, no whitespace or '/')",
        )
        return None
    return name


def _collect_vector_stores(
    section: Any,
    environ: Mapping[str, str],
    errors: _Errors,
    disabled: dict[str, str],
) -> list[_RawStore]:
    """Raw ``vector_stores`` blocks; disabled ones are recorded in ``disabled`` and dropped."""
    if section is None:
        return []
    if not isinstance(section, Mapping):
        errors.add(
            "vector_stores",
            f"expected a mapping of store name to settings, got {_short_repr(section)}",
        )
        return []
    out: list[_RawStore] = []
    for raw_name, raw_block in section.items():
        path = _path("vector_stores", str(raw_name))
        name = _check_store_name(raw_name, path, errors)
        if name is None:
            continue
        block: Any = {} if raw_block is None else raw_block
        if not isinstance(block, Mapping):
            errors.add(path, f"expected a mapping of store settings, got {_short_repr(block)}")
            continue
        enabled_raw = _resolve_env_refs(
            block.get("enabled", True), _path(path, "enabled"), environ, errors
        )
        try:
            enabled = _BOOL.validate_python(enabled_raw)
        except ValidationError:
            errors.add(
                _path(path, "enabled"),
                f"Input should be a valid boolean, got {_short_repr(enabled_raw)}",
            )
            continue
        type_raw = _resolve_env_refs(block.get("type"), _path(path, "type"), environ, errors)
        if not enabled:
            disabled[name] = (type_raw if isinstance(type_raw, str) else name).strip().lower()
            continue
        store_type = _store_type_for(name, type_raw, path, errors)
        data: dict[str, Any] = {}
        for key, value in block.items():
            if key in ("enabled", "type"):
                continue
            if key in ("name", "origin"):
                errors.add(_path(path, str(key)), "unknown key (the store name is the mapping key)")
                continue
            data[str(key)] = _resolve_env_refs(value, _path(path, str(key)), environ, errors)
        if store_type is None:
            continue
        data.update(name=name, type=store_type, origin="vector_stores")
        out.append(_RawStore(data, path))
    return out


#: Store field <- litellm_params ``api_base``, per provider.
_REGISTRY_BASE_FIELD: Final[Mapping[str, str]] = {
    "lancedb": "uri",
    "milvus": "uri",
    "qdrant": "url",
    "opensearch": "hosts",
    "pinecone": "host",
    "pgvector": "dsn",
}
#: LiteLLM-native parameter -> store field, per provider (kept in native_defaults too).
_REGISTRY_NATIVE_FIELDS: Final[Mapping[str, Mapping[str, str]]] = {
    "milvus": {"milvus_text_field": "text_field", "dbName": "db_name"},
}


def _collect_registry(section: Any, environ: Mapping[str, str], errors: _Errors) -> list[_RawStore]:
    """Raw stores from a LiteLLM ``vector_store_registry`` list."""
    if section is None:
        return []
    if not isinstance(section, list):
        errors.add("vector_store_registry", f"expected a list, got {_short_repr(section)}")
        return []
    out: list[_RawStore] = []
    for index, raw_entry in enumerate(section):
        path = _path("vector_store_registry", index)
        resolved = _resolve_env_refs(raw_entry, path, environ, errors)
        try:
            entry = _RegistryEntry.model_validate(resolved)
        except ValidationError as exc:
            _pydantic_errors(exc, path, errors, model=_RegistryEntry)
            continue
        name = _check_store_name(entry.vector_store_name, _path(path, "vector_store_name"), errors)
        params = entry.litellm_params
        params_path = _path(path, "litellm_params")
        provider = params.custom_llm_provider.strip().lower()
        if provider not in _STORE_CLASSES:
            errors.add(
                _path(params_path, "custom_llm_provider"),
                f"unsupported provider {params.custom_llm_provider!r}; "
                f"vectorgate supports {', '.join(STORE_TYPES)}",
            )
            continue
        if name is None:
            continue
        store_cls = _STORE_CLASSES[provider]
        collection_field = store_cls.collection_field
        base_field = _REGISTRY_BASE_FIELD[provider]
        rename: dict[str, str] = {
            collection_field: "vector_store_id",
            "embedding_model": "litellm_embedding_model",
            "embedding_config": "litellm_embedding_config",
            base_field: "api_base",
        }
        data: dict[str, Any] = {
            "name": name,
            "type": provider,
            "origin": "vector_store_registry",
            collection_field: params.vector_store_id,
        }
        if params.api_base is not None:
            api_base = params.api_base
            data[base_field] = _split_csv(api_base) if base_field == "hosts" else api_base
        if params.litellm_embedding_model is not None:
            data["embedding_model"] = params.litellm_embedding_model
        if params.litellm_embedding_config is not None:
            data["embedding_config"] = params.litellm_embedding_config
        native: dict[str, Any] = dict(params.model_extra or {})
        if params.api_key is not None:
            if "api_key" in store_cls.model_fields:
                data["api_key"] = params.api_key
            else:
                native["api_key"] = params.api_key
        for native_key, field_name in _REGISTRY_NATIVE_FIELDS.get(provider, {}).items():
            if native_key in native and field_name not in data:
                data[field_name] = native[native_key]
                rename[field_name] = native_key
        reserved = {"name", "origin", "type", "native_defaults"}
        as_fields = {k for k in native if k in store_cls.model_fields and k not in reserved}
        for key in as_fields:
            data.setdefault(key, native[key])
        if provider not in _REGISTRY_NATIVE_FIELDS:
            # Only Milvus reads LiteLLM's own parameters; elsewhere what became a store
            # field is not a native search default too.
            native = {k: v for k, v in native.items() if k not in as_fields}
        data["native_defaults"] = native
        out.append(_RawStore(data, params_path, rename))
    return out


#: (env var, store type, field it fills).
_BACKEND_ENV: Final[tuple[tuple[str, StoreType, str], ...]] = (
    ("LANCEDB_URI", "lancedb", "uri"),
    ("MILVUS_HOST", "milvus", "host"),
    ("QDRANT_URL", "qdrant", "url"),
    ("OPENSEARCH_HOSTS", "opensearch", "hosts"),
    ("PINECONE_API_KEY", "pinecone", "api_key"),
)


def _env_value(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name, "").strip()
    return value or None


def _parse_milvus_host(value: str) -> dict[str, Any] | str:
    """``MILVUS_HOST`` -> fields, or an error message."""
    if "://" in value or value.endswith(".db") or value.startswith(("/", "./", "../")):
        return {"uri": value}
    if value.count(":") == 1:
        host, port = value.split(":")
        if not host or not port.isdigit():
            return f"expected host, host:port or a URI, got {value!r}"
        return {"host": host, "port": int(port)}
    return {"host": value}


def _backend_fields(env_name: str, value: str) -> dict[str, Any] | str:
    if env_name == "MILVUS_HOST":
        return _parse_milvus_host(value)
    if env_name == "LANCEDB_URI":
        return {"uri": value}
    if env_name == "QDRANT_URL":
        return {"url": value}
    if env_name == "OPENSEARCH_HOSTS":
        hosts = _split_csv(value)
        return {"hosts": hosts} if hosts else f"no hosts in {value!r}"
    return {"api_key": SecretStr(value)}


def _is_unset(store: _RawStore, env_name: str) -> bool:
    data = store.data
    if env_name == "MILVUS_HOST":
        return not data.get("host") and not data.get("uri")
    if env_name == "QDRANT_URL":
        return not data.get("url") and not data.get("path")
    field = next(f for n, _, f in _BACKEND_ENV if n == env_name)
    return not data.get(field)


def _apply_backend_env(
    stores: dict[str, _RawStore],
    disabled: Mapping[str, str],
    environ: Mapping[str, str],
    data_dir: Path,
    errors: _Errors,
) -> None:
    for env_name, store_type, _ in _BACKEND_ENV:
        value = _env_value(environ, env_name)
        if value is None:
            continue
        fields = _backend_fields(env_name, value)
        if isinstance(fields, str):
            errors.add(env_name, fields)
            continue
        matching = [s for s in stores.values() if s.type == store_type]
        for store in matching:
            if _is_unset(store, env_name):
                for key, field_value in fields.items():
                    if store.data.get(key) is None:
                        store.data[key] = field_value
                        store.notes[key] = env_name
        if matching or store_type in disabled.values():
            continue
        if store_type in stores or store_type in disabled:
            errors.add(
                env_name,
                f"cannot define store {store_type!r}: that name is already used by a store "
                f"of another type",
            )
            continue
        store = _RawStore(
            {"name": store_type, "type": store_type, "origin": "environment", **fields},
            _path("vector_stores", store_type),
        )
        store.notes = {key: env_name for key in fields}
        stores[store_type] = store

    # LiteLLM-compatible fallbacks for Milvus; never define a store.
    api_base = _env_value(environ, "MILVUS_API_BASE")
    api_key = _env_value(environ, "MILVUS_API_KEY")
    for store in stores.values():
        if store.type != "milvus":
            continue
        if api_base and not store.data.get("host") and not store.data.get("uri"):
            store.data["uri"] = api_base
            store.notes["uri"] = "MILVUS_API_BASE"
        if api_key and store.data.get("token") is None and store.data.get("api_key") is None:
            store.data["api_key"] = SecretStr(api_key)
            store.notes["api_key"] = "MILVUS_API_KEY"

    default_uri = str(data_dir / "lancedb")
    for store in stores.values():
        if store.type == "lancedb" and not store.data.get("uri"):
            store.data["uri"] = default_uri


def _validate_store(raw: _RawStore, errors: _Errors) -> StoreConfig | None:
    store_cls = _STORE_CLASSES[raw.type]
    try:
        return cast("StoreConfig", store_cls.model_validate(raw.data))
    except ValidationError as exc:
        _pydantic_errors(
            exc, raw.prefix, errors, model=store_cls, rename=raw.rename, notes=raw.notes
        )
        return None


def _select_default(
    explicit: str | None,
    store_types: Mapping[str, str],
    disabled: Mapping[str, str],
    environ: Mapping[str, str],
    errors: _Errors,
) -> str | None:
    configured = ", ".join(store_types) or "none"
    if explicit is not None:
        if explicit in store_types:
            return explicit
        state = "is disabled" if explicit in disabled else "is not configured"
        errors.add("default_store", f"store {explicit!r} {state} (configured: {configured})")
        return None
    wanted = _env_value(environ, "VECTOR_STORE_TYPE")
    if wanted is not None:
        if wanted in store_types:
            return wanted
        wanted_type = wanted.lower()
        if wanted_type not in _STORE_CLASSES:
            errors.add(
                "VECTOR_STORE_TYPE",
                f"{wanted!r} is neither a configured store ({configured}) nor a store type "
                f"({', '.join(STORE_TYPES)})",
            )
            return None
        of_type = [name for name, kind in store_types.items() if kind == wanted_type]
        if len(of_type) == 1:
            return of_type[0]
        if not of_type:
            errors.add(
                "VECTOR_STORE_TYPE", f"no enabled store of type {wanted_type!r} is configured"
            )
        else:
            errors.add(
                "VECTOR_STORE_TYPE",
                f"{len(of_type)} stores have type {wanted_type!r} ({', '.join(of_type)}); "
                f"name one of them or set default_store",
            )
        return None
    return next(iter(store_types), None)


def _check_references(
    sections: _Sections,
    stores: Mapping[str, StoreConfig],
    raw_stores: Mapping[str, _RawStore],
    disabled: Mapping[str, str],
    errors: _Errors,
) -> None:
    configured = ", ".join(raw_stores) or "none"

    def check(path: str, name: str) -> bool:
        if name in raw_stores:
            return True
        state = "is disabled" if name in disabled else "is not configured"
        errors.add(path, f"store {name!r} {state} (configured: {configured})")
        return False

    rag = sections.rag_settings
    seen: set[str] = set()
    for index, name in enumerate(rag.stores):
        path = _path("rag_settings.stores", index)
        if name in seen:
            errors.add(path, f"store {name!r} is listed twice")
        seen.add(name)
        check(path, name)
    for name in rag.weights:
        path = _path("rag_settings.weights", name)
        if check(path, name) and rag.stores and name not in rag.stores:
            errors.add(path, f"store {name!r} is not listed in rag_settings.stores")
    limits = sections.limits
    if rag.top_k > limits.max_top_k:
        errors.add("rag_settings.top_k", f"exceeds limits.max_top_k ({limits.max_top_k})")
    router_rag = sections.router_settings.rag_settings
    if router_rag is not None:
        if router_rag.vector_store is not None:
            check("router_settings.rag_settings.vector_store", router_rag.vector_store)
        if router_rag.top_k > limits.max_top_k:
            errors.add(
                "router_settings.rag_settings.top_k",
                f"exceeds limits.max_top_k ({limits.max_top_k})",
            )
    for name, store in stores.items():
        dimension = store.dimension
        if dimension is not None and dimension > limits.max_dimension:
            raw = raw_stores[name]
            field = store.dimension_field
            errors.add(
                _path(raw.prefix, raw.rename.get(field, field)),
                f"{dimension} exceeds limits.max_dimension ({limits.max_dimension})",
            )


# --------------------------------------------------------------------------- loader


def _sections_data(
    document: Mapping[Any, Any], environ: Mapping[str, str], errors: _Errors
) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in document.items():
        if key in ("vector_stores", "vector_store_registry") or key in _IGNORED_LITELLM_SECTIONS:
            continue
        if key not in _TOP_LEVEL_KEYS:
            known = sorted(_TOP_LEVEL_KEYS | _IGNORED_LITELLM_SECTIONS)
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            errors.add(str(key), f"unknown top-level key{hint}")
            continue
        if value is None:
            continue
        data[key] = _resolve_env_refs(value, key, environ, errors)
    general = data.get("general_settings")
    if general is None or isinstance(general, Mapping):
        general = dict(general or {})
        for field, env_name in (
            ("master_key", "VECTORGATE_MASTER_KEY"),
            ("database_url", "DATABASE_URL"),
        ):
            env_value = _env_value(environ, env_name)
            if general.get(field) is None and env_value is not None:
                general[field] = env_value
        if general:
            data["general_settings"] = general
    return data


def _validate_sections(data: Mapping[str, Any], errors: _Errors) -> _Sections:
    """Validate each section on its own so one bad section keeps the others' checks."""
    valid: dict[str, Any] = {}
    for key, value in data.items():
        try:
            _Sections.model_validate({key: value})
        except ValidationError as exc:
            _pydantic_errors(exc, "", errors, model=_Sections)
        else:
            valid[key] = value
    return _Sections.model_validate(valid)


def _embedding_models(entries: Sequence[_ModelListEntry]) -> list[EmbeddingModelConfig]:
    models: list[EmbeddingModelConfig] = []
    for entry in entries:
        params = entry.litellm_params
        models.append(
            EmbeddingModelConfig(
                name=entry.model_name,
                model=params.model,
                api_base=params.api_base,
                api_key=params.api_key,
                api_version=params.api_version,
                params=_protect_mapping(params.model_extra or {}),
                model_info=_protect_mapping(entry.model_info),
            )
        )
    return models


def load_config(
    path: str | Path | None,
    environ: Mapping[str, str] | None = None,
    *,
    server_overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Load and validate the configuration.

    ``path`` is a YAML file; None (or "") means built-in defaults plus
    environment variables. ``environ`` defaults to ``os.environ``. Values in
    the file win over environment variables (see the module docstring for the
    full precedence rules). ``server_overrides`` (command-line flags) win over
    the file's ``server:`` section and are applied before anything derived from
    it, such as the embedded store's location under ``data_dir``. Raises
    :class:`ConfigError` listing every problem.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    source = Path(path) if path else None
    document: Any = _read_yaml(source) if source is not None else None
    if document is None:
        document = {}
    if not isinstance(document, Mapping):
        raise ConfigError(
            [f"the top level must be a mapping of sections, got {_short_repr(document)}"],
            source=source,
        )
    if server_overrides:
        server_section = document.get("server")
        base = dict(server_section) if isinstance(server_section, Mapping) else {}
        document = {**document, "server": {**base, **server_overrides}}

    errors = _Errors()
    section_data = _sections_data(document, env, errors)
    sections = _validate_sections(section_data, errors)

    disabled: dict[str, str] = {}
    raw_stores: dict[str, _RawStore] = {}
    for raw in _collect_vector_stores(document.get("vector_stores"), env, errors, disabled):
        raw_stores[raw.name] = raw
    for raw in _collect_registry(document.get("vector_store_registry"), env, errors):
        if raw.name in raw_stores or raw.name in disabled:
            where = raw_stores[raw.name].prefix if raw.name in raw_stores else "vector_stores"
            errors.add(
                _path(raw.prefix.removesuffix(".litellm_params"), "vector_store_name"),
                f"store {raw.name!r} is already defined at {where.removesuffix('.litellm_params')}",
            )
            continue
        raw_stores[raw.name] = raw

    _apply_backend_env(raw_stores, disabled, env, sections.server.data_dir, errors)
    if not raw_stores:
        default = _RawStore(
            {
                "name": DEFAULT_STORE_NAME,
                "type": "lancedb",
                "origin": "default",
                "uri": str(sections.server.data_dir / "lancedb"),
            },
            _path("vector_stores", DEFAULT_STORE_NAME),
        )
        raw_stores[DEFAULT_STORE_NAME] = default

    stores: dict[str, StoreConfig] = {}
    for name, raw in raw_stores.items():
        validated = _validate_store(raw, errors)
        if validated is not None:
            stores[name] = validated

    store_types = {name: raw.type for name, raw in raw_stores.items()}
    default_store = _select_default(sections.default_store, store_types, disabled, env, errors)
    _check_references(sections, stores, raw_stores, disabled, errors)
    if errors or default_store is None:
        raise ConfigError(errors.lines, source=source)

    try:
        return Config(
            stores=stores,
            default_store=default_store,
            embedding_models=_embedding_models(sections.model_list),
            source_path=source,
            **sections.settings_sections(),
        )
    except ValidationError as exc:
        _pydantic_errors(exc, "", errors, model=Config)
        raise ConfigError(errors.lines, source=source) from None
