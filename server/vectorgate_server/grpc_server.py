"""The gRPC transport: generic handlers over the RPC table, health, reflection."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import _async as reflection_aio
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from . import deadline
from .errors import DeadlineExceeded, InvalidArgument, VectorgateError, classify
from .services.registry import CallContext, Rpc, to_status

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "x-request-id"
#: The gRPC health service reports each store as ``vectorgate.store.<name>``.
STORE_HEALTH_PREFIX = "vectorgate.store."

#: Server reflection as newer tools ask for it (``buf curl --reflect-protocol grpc-v1``,
#: grpcurl): the v1 protocol is v1alpha's, message for message and field for field,
#: under the package ``grpc.reflection.v1``.
REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"
_REFLECTION_V1_FILE = "grpc/reflection/v1/reflection.proto"


def _register_reflection_v1() -> None:
    """Add ``grpc/reflection/v1/reflection.proto`` to the default descriptor pool.

    grpcio-reflection ships v1alpha only; the v1 file is v1alpha's descriptor with
    the package renamed, so reflection can describe the v1 service it serves.
    """
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(_REFLECTION_V1_FILE)
        return
    except KeyError:
        pass
    proto = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(proto)
    old, new = ".grpc.reflection.v1alpha.", ".grpc.reflection.v1."
    proto.name = _REFLECTION_V1_FILE
    proto.package = "grpc.reflection.v1"
    proto.ClearField("options")
    for kind in proto.message_type:
        for field in kind.field:
            if field.type_name.startswith(old):
                field.type_name = new + field.type_name[len(old) :]
    for service in proto.service:
        for method in service.method:
            method.input_type = new + method.input_type[len(old) :]
            method.output_type = new + method.output_type[len(old) :]
    pool.AddSerializedFile(proto.SerializeToString())


def _enable_reflection(service_names: Sequence[str], server: grpc.aio.Server) -> None:
    """Serve reflection as both ``grpc.reflection.v1alpha`` and ``grpc.reflection.v1``."""
    _register_reflection_v1()
    names = [*service_names, reflection.SERVICE_NAME, REFLECTION_V1]
    servicer = reflection_aio.ReflectionServicer(names)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    v1 = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(REFLECTION_V1, {"ServerReflectionInfo": v1}),)
    )


def _context(context: grpc.aio.ServicerContext[Any, Any]) -> CallContext:
    metadata = {
        k.lower(): v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)
    }
    request_id = metadata.get(REQUEST_ID_HEADER) or uuid.uuid4().hex
    return CallContext(
        timeout=context.time_remaining(),
        metadata=metadata,
        peer=context.peer() or "",
        request_id=request_id,
    )


async def _abort(
    context: grpc.aio.ServicerContext[Any, Any], error: VectorgateError, request_id: str
) -> None:
    mapping = classify(error)
    status = rpc_status.to_status(to_status(error, mapping.code.value[0]))
    await context.abort(
        status.code,
        status.details,
        (*tuple(status.trailing_metadata), (REQUEST_ID_HEADER, request_id)),
    )


class _Undecodable:
    """Stands in for a request whose bytes are not a valid message of its type."""

    __slots__ = ("detail", "type_name")

    def __init__(self, type_name: str, detail: str) -> None:
        self.type_name = type_name
        self.detail = detail

    def error(self) -> InvalidArgument:
        return InvalidArgument(
            f"request: not a valid {self.type_name} message ({self.detail})",
            field="request",
        )


def _deserializer(request_type: type[message.Message]) -> Callable[[bytes], Any]:
    """``FromString`` that turns undecodable bytes into an INVALID_ARGUMENT answer.

    grpcio answers a deserializer exception with UNKNOWN and logs a traceback;
    bad bytes from a caller are the caller's error, reported as such.
    """
    parse = request_type.FromString
    type_name = request_type.DESCRIPTOR.full_name

    def deserialize(data: bytes) -> Any:
        try:
            return parse(data)
        except message.DecodeError as exc:
            return _Undecodable(type_name, str(exc))

    return deserialize


async def _checked_stream(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for request in requests:
        if isinstance(request, _Undecodable):
            raise request.error()
        yield request


def _wrap(rpc: Rpc) -> Callable[..., Any]:
    async def behaviour(
        request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> message.Message:
        ctx = _context(context)
        await context.send_initial_metadata(((REQUEST_ID_HEADER, ctx.request_id),))
        try:
            if isinstance(request, _Undecodable):
                raise request.error()
            if rpc.client_streaming:
                request = _checked_stream(request)
            coro = rpc.handler(request, ctx)
            if ctx.timeout is not None:
                try:
                    async with asyncio.timeout(ctx.timeout):
                        with deadline.start(ctx.timeout):
                            return await coro
                except TimeoutError as exc:
                    raise DeadlineExceeded(
                        f"deadline of {ctx.timeout:.3f}s exceeded in {rpc.method}"
                    ) from exc
            return await coro
        except VectorgateError as error:
            if classify(error).http_status >= 500:
                log.warning(
                    "%s failed: %s",
                    rpc.full_name,
                    error.message,
                    extra={"request_id": ctx.request_id},
                )
            await _abort(context, error, ctx.request_id)
            raise AssertionError("abort returned") from error  # pragma: no cover
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception:
            log.exception("%s: internal error", rpc.full_name, extra={"request_id": ctx.request_id})
            await context.abort(
                grpc.StatusCode.INTERNAL,
                f"internal error (request id {ctx.request_id})",
                ((REQUEST_ID_HEADER, ctx.request_id),),
            )
            raise AssertionError("abort returned") from None  # pragma: no cover

    return behaviour


def generic_handlers(rpcs: Sequence[Rpc]) -> list[grpc.GenericRpcHandler[Any, Any]]:
    """One generic handler per service."""
    by_service: dict[str, dict[str, grpc.RpcMethodHandler[Any, Any]]] = {}
    for rpc in rpcs:
        behaviour = _wrap(rpc)
        if rpc.client_streaming:
            handler = grpc.stream_unary_rpc_method_handler(
                behaviour,
                request_deserializer=_deserializer(rpc.request_type),
                response_serializer=rpc.response_type.SerializeToString,
            )
        else:
            handler = grpc.unary_unary_rpc_method_handler(
                behaviour,
                request_deserializer=_deserializer(rpc.request_type),
                response_serializer=rpc.response_type.SerializeToString,
            )
        by_service.setdefault(rpc.service, {})[rpc.method] = handler
    return [grpc.method_handlers_generic_handler(s, m) for s, m in by_service.items()]


class GrpcServer:
    """A ``grpc.aio`` server serving the RPC table, health and reflection."""

    def __init__(
        self,
        rpcs: Sequence[Rpc],
        *,
        host: str,
        port: int,
        max_message_bytes: int,
    ) -> None:
        options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.so_reuseport", 0),
        ]
        self.server = grpc.aio.server(options=options)
        self.server.add_generic_rpc_handlers(generic_handlers(rpcs))
        self.health = health_aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.services = sorted({rpc.service for rpc in rpcs})
        self._stores: set[str] = set()
        _enable_reflection([*self.services, health.SERVICE_NAME], self.server)
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.port = self.server.add_insecure_port(address)
        if self.port == 0:
            raise OSError(f"cannot bind gRPC on {address}")

    async def start(self) -> None:
        """Start serving and report SERVING for every service."""
        await self.server.start()
        await self.set_serving(True)

    async def set_serving(self, serving: bool) -> None:
        """Health of the server ("") and of each service."""
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ["", *self.services]:
            await self.health.set(name, status)
        if not serving:
            for name in self._stores:
                await self.health.set(name, status)

    async def set_store_serving(self, store: str, available: bool) -> None:
        """Health of one store, as service ``vectorgate.store.<name>``."""
        name = f"{STORE_HEALTH_PREFIX}{store}"
        self._stores.add(name)
        await self.health.set(
            name,
            health_pb2.HealthCheckResponse.SERVING
            if available
            else health_pb2.HealthCheckResponse.NOT_SERVING,
        )

    async def stop(self, grace: float) -> None:
        """NOT_SERVING, refuse new calls, let in-flight ones finish within ``grace`` seconds."""
        await self.set_serving(False)
        await self.server.stop(grace)
