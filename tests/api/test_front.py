"""The shared client port: sorting connections by their first bytes, and handing gRPC ones
to the gRPC server's protocol with every byte, the sniffed ones first."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any, cast

import grpc
import pytest

from synod.api.front import GRPC_PREFACE, FrontListener, Protocol, classify
from synod.api.grpc_server import GrpcServer

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SECONDS_MAX = 10.0


def run(test: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(test, 60))


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        (b"", None),
        (b"P", None),
        (b"PRI * HTTP/2.", None),
        (GRPC_PREFACE, Protocol.GRPC),
        (PREFACE, Protocol.GRPC),
        (b"POST /v3/kv/range HTTP/1.1\r\n", Protocol.HTTP1),
        (b"PUT", Protocol.HTTP1),
        (b"PRX", Protocol.HTTP1),
        (b"GET /health HTTP/1.1\r\n", Protocol.HTTP1),
        (b"\x16\x03\x01", Protocol.HTTP1),
    ],
)
def test_classify(first: bytes, expected: Protocol | None) -> None:
    assert classify(first) is expected


def test_the_preface_constant_is_the_start_of_http2s_preface() -> None:
    assert PREFACE.startswith(GRPC_PREFACE)
    assert len(GRPC_PREFACE) == 14


async def _http_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    line = await reader.readline()
    writer.write(b"HTTP-HANDLER " + line)
    await writer.drain()


class _HashBack(asyncio.Protocol):
    """gRPC-side stand-in: reads to EOF, answers with the byte count and SHA-256 of it all."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.digest = hashlib.sha256()
        self.total = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        self.digest.update(data)
        self.total += len(data)

    def eof_received(self) -> bool:
        assert self.transport is not None
        self.transport.write(b"%d %s" % (self.total, self.digest.hexdigest().encode()))
        self.transport.close()
        return True


@contextlib.asynccontextmanager
async def front_over_hasher() -> AsyncIterator[int]:
    front = FrontListener("127.0.0.1", 0, _HashBack, _http_echo)
    port = await front.start()
    try:
        yield port
    finally:
        await front.stop()


def test_http_goes_to_the_http_handler() -> None:
    async def scenario() -> None:
        async with front_over_hasher() as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /version HTTP/1.1\r\n")
            answer = await reader.read()
            writer.close()
            await writer.wait_closed()
        assert answer == b"HTTP-HANDLER GET /version HTTP/1.1\r\n"

    run(scenario())


def _hashed(data: bytes) -> bytes:
    return b"%d %s" % (len(data), hashlib.sha256(data).hexdigest().encode())


async def _send_through(port: int, data: bytes, piece_bytes: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for start in range(0, len(data), piece_bytes):
        writer.write(data[start : start + piece_bytes])
        await writer.drain()
    writer.write_eof()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    return answer


def test_preface_sent_a_byte_at_a_time_is_still_grpc() -> None:
    data = PREFACE + b"frames"

    async def scenario() -> None:
        async with front_over_hasher() as port:
            assert await _send_through(port, data, 1) == _hashed(data)

    run(scenario())


def test_large_transfer_arrives_whole_and_in_order() -> None:
    """16 MiB after the preface: the gRPC side sees every byte in order, then the EOF."""
    data = PREFACE + bytes(range(256)) * (16 * 4096)

    async def scenario() -> None:
        async with front_over_hasher() as port:
            assert await _send_through(port, data, 1 << 20) == _hashed(data)

    run(scenario())


def _identity(data: bytes) -> bytes:
    return data


async def _reverse(request: bytes, _: object) -> bytes:
    return request[::-1]


def test_a_real_grpc_call_goes_through_the_front() -> None:
    async def body() -> None:
        server = GrpcServer(receive_bytes_max=1 << 20)
        handler = grpc.method_handlers_generic_handler(
            "test.Echo",
            {"Reverse": grpc.unary_unary_rpc_method_handler(_reverse, _identity, _identity)},
        )
        server.add_generic_rpc_handlers((handler,))
        front = FrontListener("127.0.0.1", 0, server.connection, _http_echo)
        port = await front.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                reverse = channel.unary_unary("/test.Echo/Reverse", _identity, _identity)
                answers = [
                    await reverse(b"abc%d" % index, timeout=SECONDS_MAX) for index in range(3)
                ]
            assert answers == [b"0cba", b"1cba", b"2cba"]
        finally:
            await front.stop()
            await server.stop(0)

    run(body())
