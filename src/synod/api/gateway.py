"""etcd's HTTP/1.1 side of the client port: the JSON gateway, /version, /health and /metrics.

The gateway answers ``POST /v3/<route>`` (and ``/v3beta/<route>``, which etcd 3.4 rewrites to
``/v3/``) by parsing the JSON body into the method's request message, calling the very
servicer object the gRPC server uses, and writing the response back as JSON
(``gateway_json``). The route table is data: one ``Route`` per path names the gRPC service
and method; request types and streaming kinds come from etcd's service descriptors. A route
whose service is not served here answers Unimplemented (501), as a method the servicer does
not override does.

Streaming routes (``/v3/watch``, ``/v3/lease/keepalive``, ``/v3/maintenance/snapshot``) send
every object of the body into the call, then end the request stream, and answer with
chunked lines ``{"result":…}``; the response ends when the call ends or the client goes away.

Other paths, as etcd: ``GET /version``, ``GET /health`` (200 ``{"health":"true"}`` when a
leader is known and a linearizable read of key ``health`` succeeds within a second, else 503),
``GET /metrics`` (``exposition``); anything else 404, a wrong method 405.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message

from synod.api import gateway_json as gj
from synod.api.call_status import CallFailed
from synod.api.exposition import CONTENT_TYPE, HealthCounts, RpcCounters, render
from synod.api.gateway_call import GatewayContext, call, metadata_of
from synod.api.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from synod.api.http1 import Request, Response, StreamingResponse
from synod.core.ids import NO_NODE
from synod.kv.mvcc import RangeRequest
from synod.server.node import Node

ETCD_SERVER_VERSION = "3.4.0"
ETCD_CLUSTER_VERSION = "3.4.0"
HEALTH_READ_SECONDS_MAX = 1.0

CORS_HEADERS = (
    ("Access-Control-Allow-Headers", "accept, content-type, authorization"),
    ("Access-Control-Allow-Methods", "POST, GET, OPTIONS, PUT, DELETE"),
    ("Access-Control-Allow-Origin", "*"),
)


@dataclass(frozen=True, slots=True)
class Route:
    path: str
    """Under /v3/, without the prefix: ``kv/range``."""
    service: str
    """etcd's gRPC service name in package etcdserverpb: ``KV``, ``Lease``..."""
    method: str


ROUTES: tuple[Route, ...] = (
    Route("kv/range", "KV", "Range"),
    Route("kv/put", "KV", "Put"),
    Route("kv/deleterange", "KV", "DeleteRange"),
    Route("kv/txn", "KV", "Txn"),
    Route("kv/compaction", "KV", "Compact"),
    Route("watch", "Watch", "Watch"),
    Route("lease/grant", "Lease", "LeaseGrant"),
    Route("lease/revoke", "Lease", "LeaseRevoke"),
    Route("kv/lease/revoke", "Lease", "LeaseRevoke"),
    Route("lease/keepalive", "Lease", "LeaseKeepAlive"),
    Route("lease/timetolive", "Lease", "LeaseTimeToLive"),
    Route("kv/lease/timetolive", "Lease", "LeaseTimeToLive"),
    Route("lease/leases", "Lease", "LeaseLeases"),
    Route("kv/lease/leases", "Lease", "LeaseLeases"),
    Route("cluster/member/add", "Cluster", "MemberAdd"),
    Route("cluster/member/remove", "Cluster", "MemberRemove"),
    Route("cluster/member/update", "Cluster", "MemberUpdate"),
    Route("cluster/member/list", "Cluster", "MemberList"),
    Route("cluster/member/promote", "Cluster", "MemberPromote"),
    Route("maintenance/alarm", "Maintenance", "Alarm"),
    Route("maintenance/status", "Maintenance", "Status"),
    Route("maintenance/defragment", "Maintenance", "Defragment"),
    Route("maintenance/hash", "Maintenance", "Hash"),
    Route("maintenance/snapshot", "Maintenance", "Snapshot"),
    Route("maintenance/transfer-leadership", "Maintenance", "MoveLeader"),
)


@dataclass(frozen=True, slots=True)
class Binding:
    """A route resolved against etcd's descriptors and the servicers this node runs."""

    route: Route
    request_type: type[Message]
    client_streaming: bool
    server_streaming: bool
    servicer: object | None

    @property
    def kind(self) -> str:
        if self.client_streaming:
            return "bidi_stream" if self.server_streaming else "client_stream"
        return "server_stream" if self.server_streaming else "unary"


def _descriptor(route: Route) -> MethodDescriptor:
    service = rpc_pb2.DESCRIPTOR.services_by_name[route.service]
    return service.methods_by_name[route.method]


def bind(routes: Sequence[Route], servicers: Sequence[object]) -> dict[str, Binding]:
    """Path → binding; a route's servicer is the one that implements its gRPC service."""
    table: dict[str, Binding] = {}
    for route in routes:
        method = _descriptor(route)
        base: type = getattr(rpc_pb2_grpc, f"{route.service}Servicer")
        servicer = next((each for each in servicers if isinstance(each, base)), None)
        request_type: type[Message] = message_factory.GetMessageClass(method.input_type)
        table[route.path] = Binding(
            route, request_type, method.client_streaming, method.server_streaming, servicer
        )
    return table


def code_name(code: grpc.StatusCode) -> str:
    """Go's name for a gRPC code (``InvalidArgument``, ``OK``, ``Canceled``)."""
    if code is grpc.StatusCode.OK:
        return "OK"
    if code is grpc.StatusCode.CANCELLED:
        return "Canceled"
    return "".join(word.capitalize() for word in code.name.split("_"))


def _text(status: int, text: str, *extra: tuple[str, str]) -> Response:
    return Response(status, text.encode(), headers=(*CORS_HEADERS, *extra))


def _json(status: int, body: bytes) -> Response:
    return Response(status, body, "application/json", CORS_HEADERS)


class Gateway:
    def __init__(
        self,
        node: Node,
        servicers: Sequence[object],
        rpcs: RpcCounters | None = None,
        routes: Sequence[Route] = ROUTES,
    ) -> None:
        self.node = node
        self.rpcs = rpcs if rpcs is not None else RpcCounters()
        self.health = HealthCounts()
        self.bindings = bind(routes, servicers)

    async def handle(self, request: Request) -> Response | StreamingResponse:
        path = request.path
        for prefix in ("/v3/", "/v3beta/"):
            if path.startswith(prefix):
                return await self._gateway(request, path.removeprefix(prefix))
        fixed = {"/version": self._version, "/health": self._health, "/metrics": self._metrics}
        page = fixed.get(path)
        if page is None:
            return _text(404, "404 page not found\n", ("X-Content-Type-Options", "nosniff"))
        if request.method not in ("GET", "HEAD"):
            return _text(405, "Method Not Allowed\n", ("Allow", "GET"))
        return await page()

    # -- fixed pages -----------------------------------------------------------------------------

    async def _version(self) -> Response:
        body = gj.dumps({"etcdserver": ETCD_SERVER_VERSION, "etcdcluster": ETCD_CLUSTER_VERSION})
        return _json(200, body)

    async def _health(self) -> Response:
        healthy = await self.healthy()
        if healthy:
            self.health.success += 1
            return _text(200, '{"health":"true"}')
        self.health.failures += 1
        return _text(503, '{"health":"false"}\n')

    async def healthy(self) -> bool:
        if self.node.leader == NO_NODE:
            return False
        try:
            async with asyncio.timeout(HEALTH_READ_SECONDS_MAX):
                result = await self.node.read(RangeRequest(key=b"health"))
        except Exception:
            return False
        return not isinstance(result, BaseException)

    async def _metrics(self) -> Response:
        return Response(200, render(self.node, self.rpcs, self.health), CONTENT_TYPE, CORS_HEADERS)

    # -- the gateway -----------------------------------------------------------------------------

    async def _gateway(self, request: Request, route: str) -> Response | StreamingResponse:
        binding = self.bindings.get(route)
        if binding is None:
            return _text(404, "Not Found\n", ("X-Content-Type-Options", "nosniff"))
        if request.method != "POST":
            return _text(405, "Method Not Allowed\n", ("X-Content-Type-Options", "nosniff"))
        try:
            values = gj.json_objects(request.body)
            requests = [gj.decode(value, binding.request_type) for value in values]
        except gj.BadJson as error:
            return _json(400, gj.error_body(grpc.StatusCode.INVALID_ARGUMENT, str(error)))
        context = GatewayContext(metadata_of(request.headers))
        responses = self._call(binding, requests, context)
        if binding.server_streaming:
            return StreamingResponse(self._lines(responses), headers=CORS_HEADERS)
        try:
            answers = [message async for message in responses]
        except CallFailed as failed:
            status = gj.HTTP_STATUS_OF.get(failed.code, 500)
            return _json(status, gj.error_body(failed.code, failed.message))
        if len(answers) != 1:
            message = f"{binding.route.method} answered {len(answers)} messages"
            return _json(500, gj.error_body(grpc.StatusCode.INTERNAL, message))
        return _json(200, gj.encode(answers[0]))

    async def _call(
        self, binding: Binding, requests: list[Message], context: GatewayContext
    ) -> AsyncGenerator[Message, None]:
        """The call's responses, counted in ``rpcs`` like a gRPC call."""
        route = binding.route
        labels = (binding.kind, f"etcdserverpb.{route.service}", route.method)
        self.rpcs.on_start(*labels)
        code = grpc.StatusCode.OK
        try:
            if binding.servicer is None:
                raise CallFailed(grpc.StatusCode.UNIMPLEMENTED, f"unknown service {labels[1]}")
            messages = call(
                binding.servicer, route.method, requests, binding.client_streaming, context
            )
            async for message in messages:
                yield message
        except CallFailed as failed:
            code = failed.code
            raise
        except (asyncio.CancelledError, GeneratorExit):
            code = grpc.StatusCode.CANCELLED
            context.cancel()
            raise
        finally:
            self.rpcs.on_end(*labels, code_name(code))

    async def _lines(self, responses: AsyncGenerator[Message, None]) -> AsyncIterator[bytes]:
        try:
            async for message in responses:
                yield gj.encode_stream_item(message)
        except CallFailed as failed:
            yield gj.stream_error_line(failed.code, failed.message)
        finally:
            with contextlib.suppress(Exception):
                await responses.aclose()
