"""A small HTTP/1.1 server over asyncio streams: just what etcd's HTTP side needs.

Rules:
- Requests: a request line, headers, and a body given by Content-Length or chunked transfer
  coding. A request line or header past ``line_bytes_max``, more than ``headers_max`` headers or
  a body past ``body_bytes_max`` ends the connection with 400 / 413.
- Responses: a ``Response`` is sent whole with Content-Length; a ``StreamingResponse`` is sent
  with chunked transfer coding, one chunk per item, and closes the connection afterwards.
  While a stream is sent, the connection is read for EOF: a client that goes away cancels
  the stream's producer.
- Connections are kept alive (HTTP/1.1 default) unless the client says ``Connection: close``
  or speaks HTTP/1.0 without keep-alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus

logger = logging.getLogger("synod.api")


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    """Lower-case names; a repeated header keeps its last value."""
    body: bytes
    keep_alive: bool


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class StreamingResponse:
    chunks: AsyncIterator[bytes]
    status: int = 200
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = field(default=())


Handler = Callable[[Request], Awaitable[Response | StreamingResponse]]


class BadRequest(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True, slots=True)
class Limits:
    line_bytes_max: int = 64 * 1024
    headers_max: int = 100
    body_bytes_max: int = 4 * 1024 * 1024


async def _line(reader: asyncio.StreamReader, limits: Limits) -> bytes:
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError:
        raise BadRequest(400, "line too long") from None
    except asyncio.IncompleteReadError as error:
        if error.partial:
            raise BadRequest(400, "connection closed inside a request") from None
        raise
    if len(line) > limits.line_bytes_max:
        raise BadRequest(400, "line too long")
    return line


async def read_request(reader: asyncio.StreamReader, limits: Limits) -> Request | None:
    """The next request on the connection; None at a clean end of the connection."""
    try:
        first = await _line(reader, limits)
    except asyncio.IncompleteReadError:
        return None
    parts = first.decode("latin-1").strip().split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(400, "malformed request line")
    method, target, version = parts
    headers: dict[str, str] = {}
    for _ in range(limits.headers_max + 1):
        line = (await _line(reader, limits)).decode("latin-1").rstrip("\r\n")
        if not line:
            break
        name, separator, value = line.partition(":")
        if not separator:
            raise BadRequest(400, "malformed header")
        headers[name.strip().lower()] = value.strip()
    else:
        raise BadRequest(400, "too many headers")
    body = await _body(reader, headers, limits)
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" and (version != "HTTP/1.0" or connection == "keep-alive")
    path, _, query = target.partition("?")
    return Request(method, path, query, headers, body, keep_alive)


async def _body(reader: asyncio.StreamReader, headers: dict[str, str], limits: Limits) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        return await _chunked_body(reader, limits)
    length_text = headers.get("content-length", "0")
    if not length_text.isdigit():
        raise BadRequest(400, "bad Content-Length")
    length = int(length_text)
    if length > limits.body_bytes_max:
        raise BadRequest(413, "body too large")
    return await reader.readexactly(length)


async def _chunked_body(reader: asyncio.StreamReader, limits: Limits) -> bytes:
    body = bytearray()
    while True:
        size_text = (await _line(reader, limits)).split(b";")[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise BadRequest(400, "bad chunk size") from None
        if size == 0:
            while (await _line(reader, limits)).strip():
                pass  # trailers are read and dropped
            return bytes(body)
        if len(body) + size > limits.body_bytes_max:
            raise BadRequest(413, "body too large")
        body += await reader.readexactly(size)
        await reader.readexactly(2)


def _head(status: int, content_type: str, extra: tuple[tuple[str, str], ...]) -> list[str]:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    return [
        f"HTTP/1.1 {status} {reason}",
        f"Content-Type: {content_type}",
        f"Date: {formatdate(usegmt=True)}",
        *(f"{name}: {value}" for name, value in extra),
    ]


async def write_response(writer: asyncio.StreamWriter, response: Response, keep: bool) -> None:
    lines = _head(response.status, response.content_type, response.headers)
    lines.append(f"Content-Length: {len(response.body)}")
    if not keep:
        lines.append("Connection: close")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body)
    await writer.drain()


async def write_stream(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, response: StreamingResponse
) -> None:
    """Send chunks until the producer ends or the client goes away."""
    lines = _head(response.status, response.content_type, response.headers)
    lines += ["Transfer-Encoding: chunked", "Connection: close"]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    await writer.drain()

    async def send() -> None:
        async for chunk in response.chunks:
            if chunk:
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    sender = asyncio.ensure_future(send())
    gone = asyncio.ensure_future(reader.read())  # returns once the client closes
    try:
        await asyncio.wait({sender, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sender, gone):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError, ConnectionError):
                await task
        closer = getattr(response.chunks, "aclose", None)
        if closer is not None:
            with contextlib.suppress(Exception):
                await closer()


async def serve_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handler: Handler, limits: Limits
) -> None:
    """Answer requests on one connection until it ends or asks to close."""
    while True:
        try:
            request = await read_request(reader, limits)
        except BadRequest as error:
            body = f"{HTTPStatus(error.status).phrase}: {error}\n".encode()
            await write_response(writer, Response(error.status, body), keep=False)
            return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        if request is None:
            return
        try:
            response = await handler(request)
        except Exception:
            logger.exception("HTTP handler failed on %s %s", request.method, request.path)
            response = Response(500, b"Internal Server Error\n")
        if isinstance(response, StreamingResponse):
            await write_stream(reader, writer, response)
            return
        await write_response(writer, response, keep=request.keep_alive)
        if not request.keep_alive:
            return
