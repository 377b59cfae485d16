"""The small HTTP/1.1 server: request parsing, keep-alive, chunked bodies and streams, limits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from synod.api.http1 import (
    Limits,
    Request,
    Response,
    StreamingResponse,
    serve_connection,
)


def run(test: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(test, 30))


async def exchange(raw: bytes, limits: Limits | None = None) -> tuple[bytes, list[Request]]:
    """Serve one connection that sends ``raw`` then half-closes; all it got back."""
    seen: list[Request] = []

    async def handler(request: Request) -> Response | StreamingResponse:
        seen.append(request)
        if request.path == "/boom":
            raise RuntimeError("handler bug")
        if request.path == "/stream":

            async def chunks() -> AsyncIterator[bytes]:
                for part in (b"one\n", b"", b"two\n"):
                    yield part

            return StreamingResponse(chunks())
        return Response(200, b"echo:" + request.body)

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve_connection(reader, writer, handler, limits or Limits())
        writer.close()

    server = await asyncio.start_server(on_connection, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    writer.write_eof()
    out = await reader.read()
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()
    return out, seen


def test_two_requests_on_one_connection_with_a_chunked_body() -> None:
    raw = (
        b"POST /a?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
        b"POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\nde\r\n1;ext=1\r\nf\r\n0\r\n\r\n"
    )

    async def scenario() -> None:
        out, seen = await exchange(raw)
        assert [(r.method, r.path, r.query, r.body) for r in seen] == [
            ("POST", "/a", "x=1", b"abc"),
            ("POST", "/b", "", b"def"),
        ]
        assert out.count(b"HTTP/1.1 200 OK\r\n") == 2
        assert out.endswith(b"echo:def")
        assert b"Content-Length: 8\r\n" in out

    run(scenario())


def test_connection_close_ends_after_the_first_answer() -> None:
    raw = b"GET /a HTTP/1.1\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\n\r\n"

    async def scenario() -> None:
        out, seen = await exchange(raw)
        assert [request.path for request in seen] == ["/a"]
        assert b"Connection: close\r\n" in out

    run(scenario())


def test_streaming_response_is_chunked_and_skips_empty_chunks() -> None:
    async def scenario() -> None:
        out, _ = await exchange(b"POST /stream HTTP/1.1\r\n\r\n")
        head, _, body = out.partition(b"\r\n\r\n")
        assert b"Transfer-Encoding: chunked" in head
        assert body == b"4\r\none\n\r\n4\r\ntwo\n\r\n0\r\n\r\n"

    run(scenario())


def test_malformed_and_oversized_requests_are_refused() -> None:
    async def scenario() -> None:
        out, seen = await exchange(b"NONSENSE\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 400 ")
        assert not seen
        too_big = b"POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world"
        out, seen = await exchange(too_big, Limits(body_bytes_max=10))
        assert out.startswith(b"HTTP/1.1 413 ")
        assert not seen
        long_line = b"GET /" + b"a" * 200 + b" HTTP/1.1\r\n\r\n"
        out, seen = await exchange(long_line, Limits(line_bytes_max=100))
        assert not seen

    run(scenario())


def test_a_failing_handler_answers_500_and_the_connection_goes_on() -> None:
    raw = b"GET /boom HTTP/1.1\r\n\r\nPOST /after HTTP/1.1\r\nContent-Length: 2\r\n\r\nok"

    async def scenario() -> None:
        out, seen = await exchange(raw)
        assert [request.path for request in seen] == ["/boom", "/after"]
        assert out.startswith(b"HTTP/1.1 500 ")
        assert out.endswith(b"echo:ok")

    run(scenario())


def test_a_client_going_away_ends_an_endless_stream() -> None:
    """As a watch through the gateway ends: the producer is closed when the client leaves."""
    closed = asyncio.Event()

    async def forever() -> AsyncIterator[bytes]:
        try:
            while True:
                yield b"tick\n"
                await asyncio.sleep(0.01)
        finally:
            closed.set()

    async def handler(request: Request) -> Response | StreamingResponse:
        return StreamingResponse(forever())

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve_connection(reader, writer, handler, Limits())
        writer.close()

    async def scenario() -> None:
        server = await asyncio.start_server(on_connection, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /v3/watch HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        assert b"tick" in await reader.readuntil(b"tick\n")
        writer.close()
        await writer.wait_closed()
        await asyncio.wait_for(closed.wait(), 5)
        server.close()
        await server.wait_closed()

    run(scenario())
