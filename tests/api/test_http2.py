"""The HTTP/2 layer frame by frame, from a raw socket: what grpcio's client never sends.

Settings and pings are answered; CONTINUATION and padding are understood; the peer's flow
control window is respected to the byte; protocol violations end the connection with GOAWAY
and the right error code; a request that is not gRPC gets HTTP 415.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any

import grpc
import hpack
import pytest

from synod.api.grpc_server import GrpcServer
from synod.api.http2 import STREAM_WINDOW, STREAMS_MAX
from synod.api.http2_wire import (
    ACK,
    END_HEADERS,
    END_STREAM,
    PADDED,
    PREFACE,
    ErrorCode,
    FrameType,
    Setting,
    frame,
    settings_payload,
)

SECONDS_MAX = 10.0


def run(test: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(test, 30))


def _identity(data: bytes) -> bytes:
    return data


async def _echo(request: bytes, context: Any) -> bytes:
    return request


@dataclass
class Frame:
    kind: int
    flags: int
    stream_id: int
    payload: bytes


class RawClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def frame(self) -> Frame | None:
        """The next frame, or None at EOF."""
        try:
            head = await self.reader.readexactly(9)
        except asyncio.IncompleteReadError:
            return None
        length = int.from_bytes(head[:3], "big")
        payload = await self.reader.readexactly(length)
        return Frame(head[3], head[4], int.from_bytes(head[5:9], "big") & 0x7FFFFFFF, payload)

    async def until(self, kind: FrameType, stream_id: int | None = None) -> Frame:
        for _ in range(1000):  # bounded
            got = await self.frame()
            assert got is not None, f"connection closed before a {kind.name} frame"
            if got.kind == kind and (stream_id is None or got.stream_id == stream_id):
                return got
        raise AssertionError(f"no {kind.name} frame in 1000")

    async def goaway_code(self) -> int:
        goaway = await self.until(FrameType.GOAWAY)
        assert await self.reader.read() == b"", "the connection stays open after GOAWAY"
        return int.from_bytes(goaway.payload[4:8], "big")

    def request_block(
        self, path: str = "/test.Svc/Echo", content_type: str = "application/grpc"
    ) -> bytes:
        headers = [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", path),
            (":authority", "localhost"),
            ("content-type", content_type),
            ("te", "trailers"),
        ]
        return bytes(self.encoder.encode(headers))

    async def response(self, stream_id: int) -> tuple[dict[str, str], bytes, dict[str, str]]:
        """(headers, data, trailers) of one stream's answer, read to END_STREAM."""
        blocks: list[dict[str, str]] = []
        data = b""
        for _ in range(1000):
            got = await self.frame()
            assert got is not None, "connection closed before the answer ended"
            if got.stream_id != stream_id:
                continue
            if got.kind == FrameType.HEADERS:
                blocks.append(
                    {str(name): str(value) for name, value in self.decoder.decode(got.payload)}
                )
            elif got.kind == FrameType.DATA:
                data += got.payload
            if got.flags & END_STREAM and got.kind in (FrameType.HEADERS, FrameType.DATA):
                break
        headers = blocks[0]
        trailers = blocks[-1] if len(blocks) > 1 else blocks[0]
        return headers, data, trailers


@contextlib.asynccontextmanager
async def raw_client(
    settings: dict[Setting, int] | None = None, preface: bytes = PREFACE
) -> AsyncIterator[RawClient]:
    server = GrpcServer(receive_bytes_max=1 << 20)
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "test.Svc",
                {"Echo": grpc.unary_unary_rpc_method_handler(_echo, _identity, _identity)},
            ),
        )
    )
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(server.connection, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    client = RawClient(reader, writer)
    client.send(preface + frame(FrameType.SETTINGS, 0, 0, settings_payload(settings or {})))
    try:
        async with asyncio.timeout(SECONDS_MAX):
            yield client
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        listener.close()
        await server.stop(0)


def _message(payload: bytes) -> bytes:
    return b"\x00" + len(payload).to_bytes(4, "big") + payload


def test_the_server_advertises_its_limits_and_answers_settings_and_pings() -> None:
    async def scenario() -> None:
        async with raw_client() as client:
            first = await client.frame()
            assert first is not None
            assert first.kind == FrameType.SETTINGS
            advertised = {
                int.from_bytes(first.payload[i : i + 2], "big"): int.from_bytes(
                    first.payload[i + 2 : i + 6], "big"
                )
                for i in range(0, len(first.payload), 6)
            }
            assert advertised[Setting.MAX_CONCURRENT_STREAMS] == STREAMS_MAX
            assert advertised[Setting.INITIAL_WINDOW_SIZE] == STREAM_WINDOW
            ack = await client.until(FrameType.SETTINGS)
            assert (ack.flags & ACK, ack.payload) == (ACK, b"")
            client.send(frame(FrameType.PING, 0, 0, b"12345678"))
            pong = await client.until(FrameType.PING)
            assert (pong.flags & ACK, pong.payload) == (ACK, b"12345678")

    run(scenario())


def test_continuation_and_padding_are_understood() -> None:
    async def scenario() -> None:
        async with raw_client() as client:
            block = client.request_block()
            padded = bytes([3]) + block[:5] + b"\x00" * 3
            client.send(frame(FrameType.HEADERS, PADDED, 1, padded))
            client.send(frame(FrameType.CONTINUATION, 0, 1, block[5:9]))
            client.send(frame(FrameType.CONTINUATION, END_HEADERS, 1, block[9:]))
            body = _message(b"hello")
            client.send(frame(FrameType.DATA, PADDED | END_STREAM, 1, bytes([7]) + body + bytes(7)))
            headers, data, trailers = await client.response(1)
            assert headers[":status"] == "200"
            assert data == _message(b"hello")
            assert trailers["grpc-status"] == "0"

    run(scenario())


def test_the_peers_window_is_respected_to_the_byte() -> None:
    async def scenario() -> None:
        async with raw_client({Setting.INITIAL_WINDOW_SIZE: 10}) as client:
            client.send(frame(FrameType.HEADERS, END_HEADERS, 1, client.request_block()))
            client.send(frame(FrameType.DATA, END_STREAM, 1, _message(b"0123456789abcdef")))
            first = await client.until(FrameType.DATA, 1)
            assert len(first.payload) == 10
            client.send(frame(FrameType.PING, 0, 0, b"barrier!"))
            # Everything the server wrote before answering the ping has arrived by now.
            for _ in range(100):
                got = await client.frame()
                assert got is not None
                assert got.kind != FrameType.DATA, "data sent past the stream's window"
                if got.kind == FrameType.PING:
                    break
            client.send(frame(FrameType.WINDOW_UPDATE, 0, 1, (100).to_bytes(4, "big")))
            _, rest, trailers = await client.response(1)
            assert first.payload + rest == _message(b"0123456789abcdef")
            assert trailers["grpc-status"] == "0"

    run(scenario())


def test_a_request_that_is_not_grpc_gets_415() -> None:
    async def scenario() -> None:
        async with raw_client() as client:
            block = client.request_block(content_type="application/json")
            client.send(frame(FrameType.HEADERS, END_HEADERS | END_STREAM, 1, block))
            headers, _, _ = await client.response(1)
            assert headers[":status"] == "415"

    run(scenario())


@pytest.mark.parametrize(
    ("violation", "code"),
    [
        ("bad preface", ErrorCode.PROTOCOL_ERROR),
        ("oversized frame", ErrorCode.FRAME_SIZE_ERROR),
        ("interrupted header block", ErrorCode.PROTOCOL_ERROR),
        ("even stream id", ErrorCode.PROTOCOL_ERROR),
        ("stream id going back", ErrorCode.PROTOCOL_ERROR),
        ("data on stream 0", ErrorCode.PROTOCOL_ERROR),
        ("malformed ping", ErrorCode.PROTOCOL_ERROR),
        ("garbage header block", ErrorCode.COMPRESSION_ERROR),
    ],
)
def test_a_protocol_violation_ends_the_connection_with_goaway(
    violation: str, code: ErrorCode
) -> None:
    async def scenario() -> None:
        preface = b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" if violation == "bad preface" else PREFACE
        async with raw_client(preface=preface) as client:
            block = client.request_block()
            match violation:
                case "oversized frame":
                    client.send(frame(FrameType.DATA, 0, 1, bytes(20_000)))
                case "interrupted header block":
                    client.send(frame(FrameType.HEADERS, 0, 1, block[:4]))
                    client.send(frame(FrameType.PING, 0, 0, bytes(8)))
                case "even stream id":
                    client.send(frame(FrameType.HEADERS, END_HEADERS, 2, block))
                case "stream id going back":
                    client.send(frame(FrameType.HEADERS, END_HEADERS, 5, block))
                    block = client.request_block()
                    client.send(frame(FrameType.HEADERS, END_HEADERS, 3, block))
                case "data on stream 0":
                    client.send(frame(FrameType.DATA, 0, 0, b"x"))
                case "malformed ping":
                    client.send(frame(FrameType.PING, 0, 0, b"short"))
                case "garbage header block":
                    client.send(frame(FrameType.HEADERS, END_HEADERS, 1, b"\xff\xff\xff\xff\xff"))
            assert await client.goaway_code() == code

    run(scenario())
