"""The gateway's routing and calling, over stand-in servicers (no node, no sockets).

The stand-ins subclass etcd's generated servicer bases, as the real services do, so the
gateway finds them the same way; what they answer is made up for each test.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, TypeVar, cast

import grpc
import pytest

from synod.api.exposition import RpcCounters
from synod.api.gateway import ROUTES, Gateway, Route, bind, code_name
from synod.api.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from synod.api.http1 import Request, Response, StreamingResponse
from synod.server.node import Node

T = TypeVar("T")


def run(test: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(test, 30))


class FakeKv(rpc_pb2_grpc.KVServicer):
    def __init__(self) -> None:
        self.metadata: tuple[tuple[str, str], ...] = ()

    async def Range(  # noqa: N802 - gRPC's method names
        self, request: rpc_pb2.RangeRequest, context: Any
    ) -> rpc_pb2.RangeResponse:
        self.metadata = tuple(context.invocation_metadata())
        if request.revision > 10:
            await context.abort(
                grpc.StatusCode.OUT_OF_RANGE,
                "etcdserver: mvcc: required revision is a future revision",
            )
        return rpc_pb2.RangeResponse(count=request.limit, more=request.keys_only)

    async def Put(  # noqa: N802
        self, request: rpc_pb2.PutRequest, context: Any
    ) -> rpc_pb2.PutResponse:
        raise RuntimeError("disk on fire")


class FakeLease(rpc_pb2_grpc.LeaseServicer):
    """Keep-alive as an async generator (one answer per request); revoke fails with 404."""

    async def LeaseKeepAlive(  # noqa: N802
        self, request_iterator: AsyncIterator[rpc_pb2.LeaseKeepAliveRequest], context: Any
    ) -> AsyncIterator[rpc_pb2.LeaseKeepAliveResponse]:
        async for request in request_iterator:
            if request.ID == 0:
                await context.abort(grpc.StatusCode.UNAVAILABLE, "etcdserver: no leader")
            yield rpc_pb2.LeaseKeepAliveResponse(ID=request.ID, TTL=request.ID * 10)

    async def LeaseRevoke(  # noqa: N802
        self, request: rpc_pb2.LeaseRevokeRequest, context: Any
    ) -> rpc_pb2.LeaseRevokeResponse:
        await context.abort(grpc.StatusCode.NOT_FOUND, "etcdserver: requested lease not found")
        raise AssertionError("unreachable")


class FakeWatch(rpc_pb2_grpc.WatchServicer):
    """Watch as a coroutine that writes through the context (the other servicer style)."""

    async def Watch(  # type: ignore[override]  # noqa: N802 - grpc.aio allows this style
        self, request_iterator: AsyncIterator[rpc_pb2.WatchRequest], context: Any
    ) -> None:
        watch_id = 0
        async for request in request_iterator:
            created = rpc_pb2.WatchResponse(watch_id=watch_id, created=True)
            await context.write(created)
            if request.create_request.key == b"x":
                event = rpc_pb2.WatchResponse(watch_id=watch_id)
                event.events.add().kv.key = b"x"
                await context.write(event)
            watch_id += 1


def fake(kind: Callable[[], T]) -> T:
    """A stand-in servicer; the methods it leaves out stay the base class's Unimplemented."""
    return kind()


def gateway(*servicers: object) -> tuple[Gateway, RpcCounters]:
    rpcs = RpcCounters()
    return Gateway(cast(Node, None), servicers, rpcs), rpcs


def post(path: str, body: bytes, **headers: str) -> Request:
    return Request("POST", path, "", {k.lower(): v for k, v in headers.items()}, body, True)


async def whole(response: Response | StreamingResponse) -> tuple[int, bytes]:
    if isinstance(response, Response):
        return response.status, response.body
    lines = [chunk async for chunk in response.chunks]
    return response.status, b"".join(lines)


def answer(gateway_: Gateway, request: Request) -> tuple[int, bytes]:
    result: list[tuple[int, bytes]] = []

    async def scenario() -> None:
        result.append(await whole(await gateway_.handle(request)))

    run(scenario())
    return result[0]


def test_unary_call_maps_json_both_ways() -> None:
    kv = fake(FakeKv)
    gw, rpcs = gateway(kv)
    status, body = answer(gw, post("/v3/kv/range", b'{"key":"YQ==","limit":"4","keys_only":true}'))
    assert (status, json.loads(body)) == (200, {"count": "4", "more": True})
    assert rpcs.handled[("unary", "etcdserverpb.KV", "Range", "OK")] == 1


def test_v3beta_is_the_same_route() -> None:
    gw, _ = gateway(fake(FakeKv))
    status, body = answer(gw, post("/v3beta/kv/range", b'{"key":"YQ==","limit":2}'))
    assert (status, json.loads(body)) == (200, {"count": "2"})


def test_abort_becomes_etcds_error_body_and_status() -> None:
    gw, rpcs = gateway(fake(FakeKv))
    status, body = answer(gw, post("/v3/kv/range", b'{"key":"YQ==","revision":99}'))
    text = "etcdserver: mvcc: required revision is a future revision"
    assert status == 400
    assert json.loads(body) == {"error": text, "message": text, "code": 11}
    assert rpcs.handled[("unary", "etcdserverpb.KV", "Range", "OutOfRange")] == 1


def test_lease_revoke_and_its_kv_alias_give_404() -> None:
    gw, _ = gateway(fake(FakeLease))
    for path in ("/v3/lease/revoke", "/v3/kv/lease/revoke"):
        status, body = answer(gw, post(path, b'{"ID":7}'))
        assert status == 404
        assert json.loads(body)["code"] == 5


def test_a_crash_in_the_servicer_is_unknown_500() -> None:
    gw, _ = gateway(fake(FakeKv))
    status, body = answer(gw, post("/v3/kv/put", b'{"key":"YQ=="}'))
    assert (status, json.loads(body)) == (
        500,
        {"error": "disk on fire", "message": "disk on fire", "code": 2},
    )


def test_methods_not_overridden_and_services_not_served_are_unimplemented() -> None:
    gw, rpcs = gateway(fake(FakeKv))
    status, body = answer(gw, post("/v3/kv/txn", b"{}"))
    assert (status, json.loads(body)["code"]) == (501, 12)
    status, body = answer(gw, post("/v3/cluster/member/list", b"{}"))
    assert (status, json.loads(body)["code"]) == (501, 12)
    assert rpcs.handled[("unary", "etcdserverpb.Cluster", "MemberList", "Unimplemented")] == 1


def test_bad_json_is_400_invalid_argument_and_reaches_no_servicer() -> None:
    kv = fake(FakeKv)
    gw, rpcs = gateway(kv)
    status, body = answer(gw, post("/v3/kv/range", b"{bad"))
    assert (status, json.loads(body)["code"]) == (400, 3)
    assert not rpcs.started


def test_unknown_paths_and_methods() -> None:
    gw, _ = gateway(fake(FakeKv))
    assert answer(gw, post("/v3/kv/nothing", b"{}")) == (404, b"Not Found\n")
    assert answer(gw, post("/v3alpha/kv/range", b"{}")) == (404, b"404 page not found\n")
    assert answer(gw, post("/nowhere", b"{}")) == (404, b"404 page not found\n")
    get = Request("GET", "/v3/kv/range", "", {}, b"", True)
    assert answer(gw, get) == (405, b"Method Not Allowed\n")
    assert answer(gw, post("/version", b""))[0] == 405


def test_authorization_and_grpc_metadata_headers_are_forwarded() -> None:
    kv = fake(FakeKv)
    gw, _ = gateway(kv)
    request = post(
        "/v3/kv/range",
        b'{"key":"YQ=="}',
        Authorization="tok.1",
        **{"Grpc-Metadata-Hasleader": "true"},
    )
    assert answer(gw, request)[0] == 200
    assert set(kv.metadata) == {("authorization", "tok.1"), ("hasleader", "true")}


def test_keepalive_streams_one_result_line_per_request_object() -> None:
    gw, rpcs = gateway(fake(FakeLease))
    status, body = answer(gw, post("/v3/lease/keepalive", b'{"ID":1}{"ID":"2"}'))
    assert status == 200
    lines = [json.loads(line) for line in body.splitlines()]
    assert lines == [{"result": {"ID": "1", "TTL": "10"}}, {"result": {"ID": "2", "TTL": "20"}}]
    assert rpcs.handled[("bidi_stream", "etcdserverpb.Lease", "LeaseKeepAlive", "OK")] == 1


def test_a_failure_inside_a_stream_is_an_error_line_after_the_results() -> None:
    gw, _ = gateway(fake(FakeLease))
    status, body = answer(gw, post("/v3/lease/keepalive", b'{"ID":3}{"ID":0}'))
    first, second = (json.loads(line) for line in body.splitlines())
    assert status == 200
    assert first == {"result": {"ID": "3", "TTL": "30"}}
    assert second["error"]["grpc_code"] == 14
    assert second["error"]["http_code"] == 503


def test_a_servicer_that_writes_through_the_context_streams_too() -> None:
    gw, _ = gateway(fake(FakeWatch))
    body = b'{"create_request":{"key":"eA=="}}{"create_request":{"key":"eQ=="}}'
    status, out = answer(gw, post("/v3/watch", body))
    lines = [json.loads(line) for line in out.splitlines()]
    assert status == 200
    assert lines == [
        {"result": {"created": True}},
        {"result": {"events": [{"kv": {"key": "eA=="}}]}},
        {"result": {"watch_id": "1", "created": True}},
    ]


def test_every_route_names_a_real_etcd_method_and_paths_are_unique() -> None:
    table = bind(ROUTES, ())
    assert len(table) == len(ROUTES)
    assert table["watch"].kind == "bidi_stream"
    assert table["maintenance/snapshot"].kind == "server_stream"
    assert table["kv/range"].request_type is rpc_pb2.RangeRequest
    assert table["kv/lease/revoke"].request_type is rpc_pb2.LeaseRevokeRequest
    with pytest.raises(KeyError):
        bind((Route("kv/nope", "KV", "Nope"),), ())


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (grpc.StatusCode.OK, "OK"),
        (grpc.StatusCode.CANCELLED, "Canceled"),
        (grpc.StatusCode.INVALID_ARGUMENT, "InvalidArgument"),
        (grpc.StatusCode.DATA_LOSS, "DataLoss"),
    ],
)
def test_code_names_are_gos(code: grpc.StatusCode, name: str) -> None:
    assert code_name(code) == name


def test_stream_responses_are_streaming() -> None:
    gw, _ = gateway(fake(FakeLease))

    async def scenario() -> None:
        response = await gw.handle(post("/v3/lease/keepalive", b'{"ID":1}'))
        assert isinstance(response, StreamingResponse)
        assert response.content_type == "application/json"
        await whole(response)

    run(scenario())
