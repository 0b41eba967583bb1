"""``vectorgate.v1.KeyService``: virtual keys, generated, described, updated, deleted.

Keys are shown once and stored as their SHA-256. The master key manages every
key; a virtual key manages only the keys it created, and can never give one
more than it has itself: indexes and permissions within its own grants,
models within its own, expiry no later than its own. Its rights stay bounded
by its creator's at every call (see :mod:`..auth`), and deleting a key
deletes every key below it.

The master key may choose a key's value (``key``) instead of a random one,
so that keys migrated from LiteLLM keep working unchanged: ``sk-``, then at
least :data:`MIN_CHOSEN_KEY` characters in all, printable ASCII without
spaces.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final

from google.protobuf import struct_pb2

from vectorgate.v1 import key_service_pb2 as kpb

from .. import convert
from ..app import validate_name
from ..auth import KEY_PREFIX, Credentials, hash_key, new_key
from ..errors import AlreadyExists, InvalidArgument, NotFound, PermissionDenied
from ..storage import KeyRecord, KeyStore
from .registry import CallContext, Permission, requires

#: Index permissions a key may hold: ``read`` and ``write`` (LiteLLM's) and ``admin``
#: (create and drop the collection behind the index, and its indexes).
PERMISSIONS = frozenset({"read", "write", "admin"})
#: The longest key lifetime accepted (datetime arithmetic overflows past year 9999).
MAX_DURATION: Final = timedelta(days=100 * 365)
#: Shortest and longest chosen key, in characters (``sk-`` included).
MIN_CHOSEN_KEY = 16
MAX_CHOSEN_KEY = 256
_CHOSEN_KEY = re.compile(r"sk-[\x21-\x7e]+")
_DURATION = re.compile(r"(\d{1,9})([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
#: Characters of the key kept for display.
PREFIX_CHARS = 7


def _credentials(ctx: CallContext) -> Credentials:
    credentials = ctx.credentials
    if not isinstance(credentials, Credentials):
        raise PermissionDenied("key management needs an authenticated caller")
    return credentials


def _expiry(duration: str, field: str) -> datetime | None:
    if not duration:
        return None
    match = _DURATION.fullmatch(duration.strip())
    if match is None:
        raise InvalidArgument(
            f"{field}: expected a number and a unit (s, m, h, d), e.g. '30d'; got {duration!r}",
            field=field,
        )
    delta = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    if delta > MAX_DURATION:
        raise InvalidArgument(
            f"{field}: at most {MAX_DURATION.days} days; got {duration!r}", field=field
        )
    return datetime.now(UTC) + delta


def _grants(
    pbs: list[kpb.IndexGrant], field: str = "allowed_vector_store_indexes"
) -> dict[str, frozenset[str]]:
    grants: dict[str, frozenset[str]] = {}
    for i, grant in enumerate(pbs):
        path = f"{field}[{i}]"
        validate_name(grant.index_name, f"{path}.index_name", "index")
        perms = frozenset(p.strip().lower() for p in grant.index_permissions)
        unknown = sorted(perms - PERMISSIONS)
        if unknown or not perms:
            raise InvalidArgument(
                f"{path}.index_permissions: use 'read', 'write' and/or 'admin' (got "
                f"{', '.join(unknown) or 'none'})",
                field=f"{path}.index_permissions",
            )
        grants[grant.index_name] = grants.get(grant.index_name, frozenset()) | perms
    return grants


def _chosen_key(key: str, caller: Credentials, master_key: str | None) -> str:
    """A chosen key, checked: master key only, ``sk-`` prefix, length, characters."""
    if not caller.admin:
        raise PermissionDenied("key: only the master key may choose a key's value", field="key")
    if len(key) < MIN_CHOSEN_KEY or len(key) > MAX_CHOSEN_KEY or not _CHOSEN_KEY.fullmatch(key):
        raise InvalidArgument(
            f"key: a chosen key starts with {KEY_PREFIX!r} and is {MIN_CHOSEN_KEY} to "
            f"{MAX_CHOSEN_KEY} printable ASCII characters without spaces",
            field="key",
        )
    if master_key is not None and key == master_key:
        raise InvalidArgument("key: must differ from the master key", field="key")
    return key


def _check_within(
    caller: Credentials,
    grants: dict[str, frozenset[str]],
    models: tuple[str, ...],
    expires: datetime | None,
) -> None:
    """A key may not hand out more than it has (its effective rights)."""
    key = caller.key
    if caller.admin or key is None:
        return
    for name, perms in grants.items():
        extra = sorted(perms - key.grants.get(name, frozenset()))
        if extra:
            raise PermissionDenied(
                f"allowed_vector_store_indexes: this key has no {', '.join(extra)} access "
                f"to index {name!r} to grant",
                field="allowed_vector_store_indexes",
            )
    for allowed in caller.model_limits:
        if not models or not set(models) <= allowed:
            raise PermissionDenied(
                "models: a key can only grant models it may use itself", field="models"
            )
    if key.expires is not None and (expires is None or expires > key.expires):
        raise PermissionDenied(
            "duration: a key cannot outlive the key that created it", field="duration"
        )


def key_info(record: KeyRecord, out: kpb.KeyInfo | None = None) -> kpb.KeyInfo:
    """The public description of a stored key."""
    info = out if out is not None else kpb.KeyInfo()
    info.token = record.token
    info.key_alias = record.key_alias
    info.key_prefix = record.key_prefix
    info.created_by = record.created_by
    info.models.extend(record.models)
    for name in sorted(record.grants):
        info.allowed_vector_store_indexes.add(
            index_name=name, index_permissions=sorted(record.grants[name])
        )
    if record.metadata:
        info.metadata.update(record.metadata)
    if record.expires is not None:
        info.expires.FromDatetime(record.expires)
    info.create_time.FromDatetime(record.create_time)
    return info


def _metadata(value: struct_pb2.Struct, field: str = "metadata") -> dict[str, object]:
    return dict(convert.struct_to_dict(value)) if value.fields else {}


class KeyService:
    """``vectorgate.v1.KeyService``."""

    def __init__(self, keys: KeyStore, master_key: str | None = None) -> None:
        self.keys = keys
        self._master_key = master_key

    async def _owned(self, caller: Credentials, key: str, field: str) -> KeyRecord:
        if not key:
            raise InvalidArgument(f"{field}: required", field=field, reason="MISSING_FIELD")
        token = hash_key(key) if key.startswith(KEY_PREFIX) else key
        record = await self.keys.get(token)
        if record is not None and (
            caller.admin or record.token == caller.token or record.created_by == caller.token
        ):
            return record
        # Same answer whether the key does not exist or is not the caller's.
        raise NotFound(f"{field}: no such key", field=field, reason="KEY_NOT_FOUND")

    @requires(Permission.READ)
    async def GenerateKey(
        self, request: kpb.GenerateKeyRequest, ctx: CallContext
    ) -> kpb.GenerateKeyResponse:
        """Generate a key within the caller's rights."""
        caller = _credentials(ctx)
        grants = _grants(list(request.allowed_vector_store_indexes))
        models = tuple(dict.fromkeys(request.models))
        expires = _expiry(request.duration, "duration")
        if caller.key is not None:
            # Unless told otherwise, the new key may use what its creator may use.
            nearest = tuple(sorted(caller.model_limits[0])) if caller.model_limits else ()
            models = models or caller.key.models or nearest
            expires = expires or caller.key.expires
        _check_within(caller, grants, models, expires)
        key = _chosen_key(request.key, caller, self._master_key) if request.key else new_key()
        record = KeyRecord(
            token=hash_key(key),
            key_prefix=key[:PREFIX_CHARS],
            key_alias=request.key_alias,
            grants=grants,
            models=models,
            metadata=_metadata(request.metadata),
            expires=expires,
            create_time=datetime.now(UTC),
            created_by=caller.token,
        )
        if not await self.keys.insert(record):
            raise AlreadyExists(
                "key: a key with this value already exists",
                field="key",
                reason="KEY_ALREADY_EXISTS",
            )
        return kpb.GenerateKeyResponse(key=key, info=key_info(record))

    @requires(Permission.READ)
    async def GetKey(self, request: kpb.GetKeyRequest, ctx: CallContext) -> kpb.GetKeyResponse:
        """Describe a key the caller may manage (or the caller's own)."""
        caller = _credentials(ctx)
        if not request.key:
            if caller.key is None:
                raise InvalidArgument(
                    "key: required with the master key", field="key", reason="MISSING_FIELD"
                )
            record = caller.key
        else:
            record = await self._owned(caller, request.key, "key")
        return kpb.GetKeyResponse(info=key_info(record))

    @requires(Permission.READ)
    async def ListKeys(
        self, request: kpb.ListKeysRequest, ctx: CallContext
    ) -> kpb.ListKeysResponse:
        """The keys the caller may manage."""
        caller = _credentials(ctx)
        records = await self.keys.list(None if caller.admin else caller.token)
        response = kpb.ListKeysResponse()
        for record in records:
            key_info(record, response.keys.add())
        return response

    @requires(Permission.READ)
    async def UpdateKey(
        self, request: kpb.UpdateKeyRequest, ctx: CallContext
    ) -> kpb.UpdateKeyResponse:
        """Change a key the caller manages, never beyond the caller's rights."""
        caller = _credentials(ctx)
        record = await self._owned(caller, request.key, "key")
        if not caller.admin and record.token == caller.token:
            raise PermissionDenied("key: a key cannot change itself", field="key")
        grants = record.grants
        if request.update_indexes or request.allowed_vector_store_indexes:
            grants = _grants(list(request.allowed_vector_store_indexes))
        models = tuple(dict.fromkeys(request.models)) if request.models else record.models
        expires = _expiry(request.duration, "duration") if request.duration else record.expires
        _check_within(caller, grants, models, expires)
        updated = KeyRecord(
            token=record.token,
            key_prefix=record.key_prefix,
            key_alias=request.key_alias or record.key_alias,
            grants=grants,
            models=models,
            metadata=_metadata(request.metadata)
            if request.HasField("metadata")
            else record.metadata,
            expires=expires,
            create_time=record.create_time,
            created_by=record.created_by,
        )
        await self.keys.update(updated)
        return kpb.UpdateKeyResponse(info=key_info(updated))

    @requires(Permission.READ)
    async def DeleteKey(
        self, request: kpb.DeleteKeyRequest, ctx: CallContext
    ) -> kpb.DeleteKeyResponse:
        """Delete keys the caller manages, and every key below them (``deleted_keys``
        lists them all). Those stop working at once on every replica; so would they
        even if left in place, as a key is valid only while its creators are."""
        caller = _credentials(ctx)
        if not request.keys:
            raise InvalidArgument("keys: required", field="keys", reason="MISSING_FIELD")
        records = [
            await self._owned(caller, key, f"keys[{i}]") for i, key in enumerate(request.keys)
        ]
        response = kpb.DeleteKeyResponse()
        done: set[str] = set()
        for record in records:
            # The key first: from then on its descendants are refused already.
            for token in [
                record.token,
                *(d.token for d in await self.keys.descendants(record.token)),
            ]:
                if token not in done and await self.keys.delete(token):
                    response.deleted_keys.append(token)
                done.add(token)
        return response
