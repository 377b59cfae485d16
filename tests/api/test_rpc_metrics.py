"""gRPC calls counted by kind, method and final code through the server interceptor."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import grpc
import pytest

from synod.api.exposition import RpcCounters
from synod.api.rpc_metrics import RpcCountingInterceptor


def run(test: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(test, 30))


def _identity(data: bytes) -> bytes:
    return data


async def _echo(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    if request == b"refuse":
        await context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
    return request


async def _each(
    requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[bytes, bytes]
) -> AsyncIterator[bytes]:
    async for request in requests:
        yield request.upper()


def test_calls_are_counted_with_their_codes() -> None:
    rpcs = RpcCounters()

    async def scenario() -> None:
        server = grpc.aio.server(interceptors=[RpcCountingInterceptor(rpcs)])
        handler = grpc.method_handlers_generic_handler(
            "test.Svc",
            {
                "Echo": grpc.unary_unary_rpc_method_handler(_echo, _identity, _identity),
                "Each": grpc.stream_stream_rpc_method_handler(_each, _identity, _identity),
            },
        )
        server.add_generic_rpc_handlers((handler,))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                echo = channel.unary_unary("/test.Svc/Echo", _identity, _identity)
                assert await echo(b"a") == b"a"
                assert await echo(b"b") == b"b"
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await echo(b"refuse")
                assert refused.value.code() is grpc.StatusCode.NOT_FOUND
                each = channel.stream_stream("/test.Svc/Each", _identity, _identity)
                call = each(iter([b"x", b"y"]))
                assert [reply async for reply in call] == [b"X", b"Y"]
        finally:
            await server.stop(0)

    run(scenario())
    assert rpcs.started[("unary", "test.Svc", "Echo")] == 3
    assert rpcs.handled[("unary", "test.Svc", "Echo", "OK")] == 2
    assert rpcs.handled[("unary", "test.Svc", "Echo", "NotFound")] == 1
    assert rpcs.started[("bidi_stream", "test.Svc", "Each")] == 1
    assert rpcs.handled[("bidi_stream", "test.Svc", "Each", "OK")] == 1
