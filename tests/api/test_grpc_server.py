"""The built-in gRPC server, driven by grpcio's own client over real loopback sockets.

Each test serves a small ``test.Svc`` through ``FrontListener`` + ``GrpcServer`` (as
``synod serve`` does) and checks what a gRPC client sees: answers, statuses and texts,
streaming in both directions, flow control over large messages, deadlines, cancellation,
metadata, the receive limit, counting for /metrics, and a graceful stop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import grpc
import pytest

from synod.api.exposition import RpcCounters
from synod.api.front import FrontListener
from synod.api.grpc_server import GrpcServer, parse_timeout, percent_encode

SECONDS_MAX = 20.0
RECEIVE_BYTES_MAX = 4 << 20
Context = Any


def run(test: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(test, 60))


def _identity(data: bytes) -> bytes:
    return data


class Svc:
    """Handlers of ``test.Svc``; records what the server side saw."""

    def __init__(self) -> None:
        self.cancelled = asyncio.Event()
        self.metadata: tuple[tuple[str, Any], ...] = ()
        self.release = asyncio.Event()

    async def echo(self, request: bytes, context: Context) -> bytes:
        if request.startswith(b"abort:"):
            await context.abort(grpc.StatusCode.NOT_FOUND, request[6:].decode())
        if request == b"boom":
            raise ValueError("boom went the handler")
        return request

    async def big(self, request: bytes, context: Context) -> bytes:
        return bytes(range(256)) * (int(request) // 256)

    async def metadata_of(self, request: bytes, context: Context) -> bytes:
        self.metadata = tuple(context.invocation_metadata())
        return b"ok"

    async def slow(self, request: bytes, context: Context) -> bytes:
        try:
            await asyncio.sleep(SECONDS_MAX)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return b"late"

    async def held(self, request: bytes, context: Context) -> bytes:
        await self.release.wait()
        return b"released"

    async def upper(self, requests: AsyncIterator[bytes], context: Context) -> AsyncIterator[bytes]:
        async for request in requests:
            yield request.upper()

    async def chunks(self, request: bytes, context: Context) -> AsyncIterator[bytes]:
        count, size = (int(part) for part in request.split(b","))
        for index in range(count):
            yield bytes([index % 256]) * size

    async def total(self, requests: AsyncIterator[bytes], context: Context) -> bytes:
        return b"%d" % sum([len(request) async for request in requests])

    async def endless(self, request: bytes, context: Context) -> AsyncIterator[bytes]:
        try:
            while True:
                yield b"tick"
                await asyncio.sleep(0.01)
        finally:
            self.cancelled.set()

    def missing(self, request: bytes, context: Context) -> bytes:
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details("Method not implemented!")
        raise NotImplementedError("Method not implemented!")


def _handlers(svc: Svc) -> Any:
    unary = grpc.unary_unary_rpc_method_handler
    return grpc.method_handlers_generic_handler(
        "test.Svc",
        {
            "Echo": unary(svc.echo, _identity, _identity),
            "Big": unary(svc.big, _identity, _identity),
            "Metadata": unary(svc.metadata_of, _identity, _identity),
            "Slow": unary(svc.slow, _identity, _identity),
            "Held": unary(svc.held, _identity, _identity),
            "Missing": unary(svc.missing, _identity, _identity),
            "Upper": grpc.stream_stream_rpc_method_handler(svc.upper, _identity, _identity),
            "Chunks": grpc.unary_stream_rpc_method_handler(svc.chunks, _identity, _identity),
            "Total": grpc.stream_unary_rpc_method_handler(svc.total, _identity, _identity),
            "Endless": grpc.unary_stream_rpc_method_handler(svc.endless, _identity, _identity),
        },
    )


@contextlib.asynccontextmanager
async def serving(
    rpcs: RpcCounters | None = None,
) -> AsyncIterator[tuple[Svc, grpc.aio.Channel, GrpcServer]]:
    svc = Svc()
    server = GrpcServer(receive_bytes_max=RECEIVE_BYTES_MAX, rpcs=rpcs)
    server.add_generic_rpc_handlers((_handlers(svc),))

    async def no_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    front = FrontListener("127.0.0.1", 0, server.connection, no_http)
    port = await front.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield svc, channel, server
    finally:
        await front.stop()
        await server.stop(0)


def _unary(channel: grpc.aio.Channel, name: str) -> Any:
    return channel.unary_unary(f"/test.Svc/{name}", _identity, _identity)


def test_unary_calls_many_at_once_each_get_their_answer() -> None:
    async def scenario() -> None:
        async with serving() as (_, channel, _server):
            echo = _unary(channel, "Echo")
            requests = [b"request %d" % index for index in range(200)]
            answers = await asyncio.gather(
                *(echo(request, timeout=SECONDS_MAX) for request in requests)
            )
            assert answers == requests
            assert await echo(b"", timeout=SECONDS_MAX) == b""

    run(scenario())


@pytest.mark.parametrize("size", [100_000, 3 << 20])
def test_large_messages_cross_flow_control_both_ways(size: int) -> None:
    """Past the stream window (1 MiB) and the client's default window: both sides must hand
    window back as they read, or the call stalls."""

    async def scenario() -> None:
        async with serving() as (_, channel, _server):
            request = bytes(range(256)) * (size // 256)
            assert await _unary(channel, "Echo")(request, timeout=SECONDS_MAX) == request
            answer = await _unary(channel, "Big")(b"%d" % size, timeout=SECONDS_MAX)
            assert answer == request

    run(scenario())


def test_statuses_and_texts_reach_the_client() -> None:
    async def scenario() -> None:
        async with serving() as (_, channel, _server):
            cases = [
                (
                    "Echo",
                    "abort:no such key, 100% gone é".encode(),
                    grpc.StatusCode.NOT_FOUND,
                    "no such key, 100% gone é",
                ),
                ("Echo", b"boom", grpc.StatusCode.UNKNOWN, "boom went the handler"),
                ("Missing", b"", grpc.StatusCode.UNIMPLEMENTED, "Method not implemented!"),
                (
                    "Nope",
                    b"",
                    grpc.StatusCode.UNIMPLEMENTED,
                    "unknown method Nope for service test.Svc",
                ),
            ]
            for method, request, code, details in cases:
                with pytest.raises(grpc.aio.AioRpcError) as failed:
                    await _unary(channel, method)(request, timeout=SECONDS_MAX)
                assert (failed.value.code(), failed.value.details()) == (code, details)
            other = channel.unary_unary("/other.Svc/Echo", _identity, _identity)
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await other(b"", timeout=SECONDS_MAX)
            assert failed.value.code() is grpc.StatusCode.UNIMPLEMENTED
            assert failed.value.details() == "unknown service other.Svc"

    run(scenario())


def test_a_message_over_the_limit_is_refused_as_grpc_go_says() -> None:
    async def scenario() -> None:
        async with serving() as (_, channel, _server):
            request = b"x" * (RECEIVE_BYTES_MAX + 1)
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await _unary(channel, "Echo")(request, timeout=SECONDS_MAX)
            assert failed.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            assert failed.value.details() == (
                f"grpc: received message larger than max ({len(request)} vs. {RECEIVE_BYTES_MAX})"
            )
            assert await _unary(channel, "Echo")(b"fine", timeout=SECONDS_MAX) == b"fine"

    run(scenario())


def test_streams_in_both_directions() -> None:
    async def scenario() -> None:
        async with serving() as (_, channel, _server):
            upper = channel.stream_stream("/test.Svc/Upper", _identity, _identity)
            call = upper(timeout=SECONDS_MAX)
            for index in range(50):
                await call.write(b"word %d" % index)
                assert await call.read() == b"WORD %d" % index
            await call.done_writing()
            assert await call.read() is grpc.aio.EOF
            assert await call.code() is grpc.StatusCode.OK

            chunks = channel.unary_stream("/test.Svc/Chunks", _identity, _identity)
            got = [chunk async for chunk in chunks(b"40,100000", timeout=SECONDS_MAX)]
            assert got == [bytes([index]) * 100_000 for index in range(40)]

            total = channel.stream_unary("/test.Svc/Total", _identity, _identity)

            async def pieces() -> AsyncIterator[bytes]:
                for _ in range(30):
                    yield b"y" * 100_000

            assert await total(pieces(), timeout=SECONDS_MAX) == b"3000000"

    run(scenario())


def test_a_deadline_cancels_the_handler() -> None:
    async def scenario() -> None:
        async with serving() as (svc, channel, _server):
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await _unary(channel, "Slow")(b"", timeout=0.2)
            assert failed.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
            await asyncio.wait_for(svc.cancelled.wait(), SECONDS_MAX)

    run(scenario())


def test_a_client_cancelling_a_stream_stops_its_handler() -> None:
    async def scenario() -> None:
        async with serving() as (svc, channel, _server):
            endless = channel.unary_stream("/test.Svc/Endless", _identity, _identity)
            call = endless(b"", timeout=SECONDS_MAX)
            assert await call.read() == b"tick"
            call.cancel()
            await asyncio.wait_for(svc.cancelled.wait(), SECONDS_MAX)

    run(scenario())


def test_metadata_reaches_the_handler_and_binary_values_are_decoded() -> None:
    async def scenario() -> None:
        async with serving() as (svc, channel, _server):
            metadata = (("hasleader", "true"), ("token-bin", b"\x00\xffraw"))
            await _unary(channel, "Metadata")(b"", metadata=metadata, timeout=SECONDS_MAX)
        seen = dict(svc.metadata)
        assert seen["hasleader"] == "true"
        assert seen["token-bin"] == b"\x00\xffraw"
        assert not any(name.startswith(":") or name == "grpc-timeout" for name in seen)

    run(scenario())


def test_calls_are_counted_with_their_final_codes() -> None:
    rpcs = RpcCounters()

    async def scenario() -> None:
        async with serving(rpcs) as (_, channel, _server):
            echo = _unary(channel, "Echo")
            await echo(b"a", timeout=SECONDS_MAX)
            await echo(b"b", timeout=SECONDS_MAX)
            with pytest.raises(grpc.aio.AioRpcError):
                await echo(b"abort:gone", timeout=SECONDS_MAX)
            upper = channel.stream_stream("/test.Svc/Upper", _identity, _identity)
            call = upper(timeout=SECONDS_MAX)
            await call.write(b"x")
            await call.read()
            await call.done_writing()
            await call.code()

    run(scenario())
    assert rpcs.started[("unary", "test.Svc", "Echo")] == 3
    assert rpcs.handled[("unary", "test.Svc", "Echo", "OK")] == 2
    assert rpcs.handled[("unary", "test.Svc", "Echo", "NotFound")] == 1
    assert rpcs.started[("bidi_stream", "test.Svc", "Upper")] == 1
    assert rpcs.handled[("bidi_stream", "test.Svc", "Upper", "OK")] == 1


def test_stop_lets_running_calls_finish_within_the_grace() -> None:
    async def scenario() -> None:
        async with serving() as (svc, channel, server):
            held = asyncio.ensure_future(_unary(channel, "Held")(b"", timeout=SECONDS_MAX))
            for _ in range(200):  # bounded: the call must reach the handler first
                if server.running_calls:
                    break
                await asyncio.sleep(0.01)
            assert server.running_calls == 1
            stopping = asyncio.ensure_future(server.stop(SECONDS_MAX))
            await asyncio.sleep(0.1)
            svc.release.set()
            assert await held == b"released"
            await stopping

    run(scenario())


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("1S", 1.0), ("250m", 0.25), ("2M", 120.0), ("1H", 3600.0), ("5u", 5e-6), ("7n", 7e-9)],
)
def test_parse_timeout(value: str, seconds: float) -> None:
    assert parse_timeout(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["", "1", "S", "1s", "123456789S", "-1S", "1.5S"])
def test_parse_timeout_refuses_malformed_values(value: str) -> None:
    assert parse_timeout(value) is None


def test_percent_encode_keeps_printable_ascii_and_escapes_the_rest() -> None:
    assert percent_encode("plain text: ok") == b"plain text: ok"
    assert percent_encode("100%") == b"100%25"
    assert percent_encode("é\n") == b"%C3%A9%0A"
