"""One client port for two protocols, as etcd serves them: gRPC and HTTP/1.1 side by side.

A small asyncio listener on the client URL looks at the first bytes of each connection:

- the HTTP/2 client preface (``PRI * HTTP/2.0``; gRPC clients send it first, with prior
  knowledge) → the connection is handed to the gRPC server's HTTP/2 protocol
  (``synod.api.grpc_server``), in this process and this event loop;
- anything else → HTTP/1.1, handed to ``http_handler`` as an asyncio stream pair.

Rules:
- The decision needs at most ``len(GRPC_PREFACE)`` bytes and is made as soon as the bytes seen
  differ from the preface; nothing is read past what the first reads brought, and those bytes
  go to the chosen protocol first.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Awaitable, Callable
from typing import cast

logger = logging.getLogger("synod.api")

GRPC_PREFACE = b"PRI * HTTP/2.0"
"""The start of the HTTP/2 connection preface (RFC 9113 §3.4) that tells gRPC from HTTP/1."""

HttpHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
GrpcProtocolFactory = Callable[[], asyncio.Protocol]


class Protocol(enum.Enum):
    GRPC = "grpc"
    HTTP1 = "http/1.1"


def classify(first_bytes: bytes) -> Protocol | None:
    """Which protocol a connection speaks from its first bytes; None while undecided."""
    if not first_bytes:
        return None
    seen = first_bytes[: len(GRPC_PREFACE)]
    if not GRPC_PREFACE.startswith(seen):
        return Protocol.HTTP1
    if len(seen) < len(GRPC_PREFACE):
        return None
    return Protocol.GRPC


class _Sniffer(asyncio.Protocol):
    """The first protocol of every client connection: reads until it can classify."""

    def __init__(self, front: FrontListener) -> None:
        self.front = front
        self.transport: asyncio.Transport | None = None
        self.seen = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        self.seen += data
        kind = classify(bytes(self.seen))
        transport = self.transport
        assert transport is not None
        if kind is None:
            return
        transport.pause_reading()
        if kind is Protocol.GRPC:
            self._to_grpc(transport, bytes(self.seen))
        else:
            self._to_http(transport, bytes(self.seen))

    def eof_received(self) -> bool:
        return False

    def _to_grpc(self, transport: asyncio.Transport, first: bytes) -> None:
        protocol = self.front.grpc_protocol()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        protocol.data_received(first)
        if not transport.is_closing():
            transport.resume_reading()

    def _to_http(self, transport: asyncio.Transport, first: bytes) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=self.front.http_line_bytes_max, loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        reader.feed_data(first)
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        transport.resume_reading()
        self.front.spawn(self._serve_http(reader, writer))

    async def _serve_http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self.front.http_handler(reader, writer)
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            pass  # the client went away
        finally:
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()


class FrontListener:
    """Listens on one client address and sorts connections between gRPC and HTTP/1.1."""

    def __init__(
        self,
        host: str,
        port: int,
        grpc_protocol: GrpcProtocolFactory,
        http_handler: HttpHandler,
        http_line_bytes_max: int = 64 * 1024,
    ) -> None:
        self.host = host
        self.port = port
        self.grpc_protocol = grpc_protocol
        """Makes the protocol that serves one gRPC connection from its first byte on."""
        self.http_handler = http_handler
        self.http_line_bytes_max = http_line_bytes_max
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        """Start listening; the port bound (useful when ``port`` is 0)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Sniffer(self), self.host, self.port, reuse_address=True
        )
        bound: int = self._server.sockets[0].getsockname()[1]
        return bound

    def spawn(self, work: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
