"""One client port for two protocols, as etcd serves them: gRPC and HTTP/1.1 side by side.

grpcio cannot share its listening socket, so the client URL is served by a small asyncio
listener that looks at the first bytes of each connection:

- the HTTP/2 client preface (``PRI * HTTP/2.0``; gRPC clients send it first, with prior
  knowledge) → the connection is spliced to the gRPC server, which listens on an internal
  127.0.0.1 port chosen at start, or on an abstract Unix socket when one is named (cheaper
  per write than loopback TCP: no TCP segments, ACKs or timers in the kernel);
- anything else → HTTP/1.1, handed to ``http_handler`` as an asyncio stream pair.

Rules:
- The decision needs at most ``len(GRPC_PREFACE)`` bytes and is made as soon as the bytes seen
  differ from the preface; nothing is read past what the first reads brought.
- After the decision the gRPC pass-through is two ``asyncio.Protocol`` objects writing each
  other's received bytes straight into the other socket: no streams, no tasks, no copies
  beyond the one the event loop makes. Back-pressure: when one side's write buffer passes its
  high-water mark, the other side stops reading until it drains.
- Half-close is passed on (EOF on one side → ``write_eof`` on the other); either side closing
  closes both.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import cast

logger = logging.getLogger("synod.api")

GRPC_PREFACE = b"PRI * HTTP/2.0"
"""The start of the HTTP/2 connection preface (RFC 9113 §3.4) that tells gRPC from HTTP/1."""

PIPE_WRITE_BUFFER_BYTES_HIGH = 4 * 1024 * 1024
"""A side stops reading once the other side has this much unsent."""

HttpHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


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


class _Pipe(asyncio.Protocol):
    """One side of a splice: what arrives here is written to ``peer``."""

    def __init__(self, peer: asyncio.Transport, partner: _Pipe | None = None) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer = peer
        self.partner = partner
        """The protocol of the other side, once both exist (set on both)."""
        self.got_eof = False
        if partner is not None:
            partner.partner = self

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.set_write_buffer_limits(high=PIPE_WRITE_BUFFER_BYTES_HIGH)

    def data_received(self, data: bytes) -> None:
        self.peer.write(data)

    def eof_received(self) -> bool:
        """Pass the half-close on; once both directions are closed, close both sockets."""
        self.got_eof = True
        partner = self.partner
        if partner is not None and partner.got_eof:
            self.peer.close()
            return False
        peer = self.peer
        if not peer.is_closing() and peer.can_write_eof():
            peer.write_eof()
            return True
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.peer.close()

    def pause_writing(self) -> None:
        self.peer.pause_reading()

    def resume_writing(self) -> None:
        if not self.peer.is_closing():
            self.peer.resume_reading()


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
            self.front.spawn(self._splice(transport, bytes(self.seen)))
        else:
            self._to_http(transport, bytes(self.seen))

    def eof_received(self) -> bool:
        return False

    async def _splice(self, client: asyncio.Transport, first: bytes) -> None:
        try:
            upstream, upstream_side = await self.front.connect_upstream(lambda: _Pipe(client))
        except OSError as error:
            logger.warning("cannot reach the gRPC server: %s", error)
            client.close()
            return
        client_side = _Pipe(upstream, partner=upstream_side)
        client.set_protocol(client_side)
        client_side.connection_made(client)
        upstream.write(first)
        if client.is_closing():
            upstream.close()
        else:
            client.resume_reading()
        assert upstream_side.partner is client_side

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
        grpc_port: int,
        http_handler: HttpHandler,
        http_line_bytes_max: int = 64 * 1024,
        *,
        grpc_unix_name: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.grpc_port = grpc_port
        self.grpc_unix_name = grpc_unix_name
        """An abstract Unix socket name (without the leading NUL) to reach gRPC on instead of
        ``grpc_port``."""
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

    async def connect_upstream(
        self, factory: Callable[[], _Pipe]
    ) -> tuple[asyncio.Transport, _Pipe]:
        """A connection to the gRPC server, on its Unix socket if named, else its port."""
        loop = asyncio.get_running_loop()
        if self.grpc_unix_name is None:
            return await loop.create_connection(factory, "127.0.0.1", self.grpc_port)
        # uvloop cannot dial an abstract name itself; it adopts a connected socket.
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, "\0" + self.grpc_unix_name)
        except BaseException:
            sock.close()
            raise
        return await loop.create_unix_connection(factory, sock=sock)

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
