"""The peer transport: engine messages between the members of one cluster over TCP (asyncio).

Each node listens on one address and dials every peer it knows; a connection carries messages
one way, from dialer to acceptor (``peer_link.py`` is the dialing side). Frames are described
in ``frames.py``. The engine's codec is injected (``Codec``): this module knows no engine.

Rules:
- Handshake: the dialer's first frame is HELLO (its id, the id it means to reach, the cluster
  token, its engine's name). The acceptor refuses a wrong token, another engine (the codecs
  would not understand each other), a wrong target id, or a member it does not know:
  it logs why, answers with an ERROR frame saying why, and closes; the dialer logs the refusal
  too and retries with backoff (the configuration may be fixed meanwhile). Otherwise it answers
  WELCOME (its own id and token), which the dialer checks in turn.
- A bad frame (magic, version, type, length, crc32c, chunk order, stream checksum), a message
  the codec refuses, or a message whose source or target does not match the handshake closes
  that connection with a log line and an ERROR frame; the node and its other connections go on.
- Each peer has at most one accepted connection: a new one from the same peer replaces it.
- Every wait is bounded (dial, handshake, close); every buffer is bounded (send queues, frame
  length, reassembled message size, inbound connection count).
- ``close()`` stops listening, cancels every task it started, waits (bounded) for writers to
  flush, and returns with none of its tasks pending.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable

from synod.core.engine import Message, Rng
from synod.core.errors import ConfigError, MalformedMessage
from synod.core.ids import NodeId
from synod.server.connection import close_writer, read_frame
from synod.server.frames import (
    FrameError,
    FrameType,
    Hello,
    Reassembler,
    decode_error,
    decode_hello,
    encode_error,
    encode_frame,
    encode_hello,
)
from synod.server.peer_link import PeerLink
from synod.server.transport_config import Codec, TransportConfig, TransportMetrics

__all__ = ["Codec", "Transport", "TransportConfig", "TransportMetrics"]

logger = logging.getLogger("synod.server.transport")


class Transport:
    """Sends engine messages to peers and hands received ones to ``on_message``.

    ``on_message`` runs on the event loop for every message, in arrival order per peer; it
    must not block (put the message on a queue, or step the engine)."""

    def __init__(
        self,
        config: TransportConfig,
        codec: Codec,
        on_message: Callable[[Message], None],
        rng: Rng,
    ) -> None:
        self.config = config
        self.metrics = TransportMetrics()
        self._codec = codec
        self._on_message = on_message
        self._rng = rng
        self._server: asyncio.Server | None = None
        self._links: dict[NodeId, tuple[PeerLink, asyncio.Task[None]]] = {}
        self._handlers: set[asyncio.Task[None]] = set()
        self._inbound: dict[NodeId, asyncio.Task[None]] = {}
        self._closed = False

    @property
    def node_id(self) -> NodeId:
        return self.config.node_id

    @property
    def address(self) -> tuple[str, int]:
        """Where this node listens (the real port when configured with port 0)."""
        assert self._server is not None, "start() first"
        host, port = self._server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    @property
    def peers(self) -> frozenset[NodeId]:
        return frozenset(self._links)

    def is_connected(self, peer: NodeId) -> bool:
        """Whether the outbound connection to ``peer`` is up (handshake done)."""
        link = self._links.get(peer)
        return link is not None and link[0].connected

    @property
    def inbound_connections(self) -> int:
        """Accepted connections open now, handshaken or not."""
        return len(self._handlers)

    def queued_messages(self, peer: NodeId) -> int:
        link = self._links.get(peer)
        return 0 if link is None else link[0].queued_messages

    async def start(self) -> tuple[str, int]:
        assert self._server is None, "start() once"
        assert not self._closed, "closed"
        config = self.config
        self._server = await asyncio.start_server(
            self._on_connection,
            config.listen_host,
            config.listen_port,
            limit=config.frame_payload_bytes_max,
        )
        logger.info("node %d: listening on %s:%d", config.node_id, *self.address)
        return self.address

    def add_peer(self, peer: NodeId, host: str, port: int) -> None:
        """Know ``peer`` (accept its connections) and start dialing it at ``host:port``."""
        if peer == self.node_id or peer in self._links:
            raise ConfigError(f"node {peer} is this node or already a peer")
        assert not self._closed, "closed"
        link = PeerLink(self.config, self.metrics, self._rng, peer, (host, port))
        self._links[peer] = (link, asyncio.create_task(link.run(), name=f"peer-link-{peer}"))

    async def remove_peer(self, peer: NodeId) -> None:
        """Forget ``peer``: stop dialing it, close its connections, drop what is queued."""
        if peer not in self._links:
            raise ConfigError(f"node {peer} is not a peer")
        link, task = self._links.pop(peer)
        self.metrics.messages_dropped += link.queued_messages
        inbound = self._inbound.pop(peer, None)
        await self._cancel([task] if inbound is None else [task, inbound])

    def send(self, message: Message) -> bool:
        """Queue ``message`` for its target; False (and counted as dropped) if it cannot go.

        The codec's error propagates for a message it cannot encode (the caller's bug)."""
        link = self._links.get(message.target)
        if link is None or self._closed:
            self.metrics.messages_dropped += 1
            return False
        payload = self._codec.encode(message)
        if len(payload) > self.config.streamed_message_bytes_max:
            self.metrics.messages_dropped += 1
            logger.error(
                "node %d: dropping a message of %d bytes to node %d (limit %d)",
                self.node_id,
                len(payload),
                message.target,
                self.config.streamed_message_bytes_max,
            )
            return False
        link[0].enqueue(payload)
        return True

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._server is not None:
            self._server.close()
        for _ in range(3):  # a connection accepted while closing registers one more handler
            tasks = [task for _, task in self._links.values()] + list(self._handlers)
            tasks = [task for task in tasks if not task.done()]
            if not tasks:
                break
            await self._cancel(tasks)
        if self._server is not None:
            await self._server.wait_closed()
        logger.info("node %d: transport closed", self.node_id)

    async def _cancel(self, tasks: list[asyncio.Task[None]]) -> None:
        for task in tasks:
            task.cancel()
        # Each task closes its own streams in a `finally`, bounded by close_timeout_ms.
        _, pending = await asyncio.wait(tasks, timeout=2 * self.config.close_timeout_ms / 1000)
        if pending:
            logger.error("node %d: %d tasks ignored cancellation", self.node_id, len(pending))

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            await self._handle_connection(reader, writer)
        except asyncio.CancelledError:
            # Closing, or replaced by a newer connection from the same peer. Nothing awaits
            # this task, and Python 3.11's stream server logs a cancelled connection task as
            # an error, so it ends normally instead.
            logger.debug("node %d: connection from %s cancelled", self.node_id, _remote(writer))

    async def _handle_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        peer: NodeId | None = None
        remote = _remote(writer)
        try:
            if self._closed or len(self._handlers) > self.config.inbound_connections_max:
                logger.warning("node %d: too many connections; closing %s", self.node_id, remote)
                writer.write(encode_error(f"node {self.node_id} is closing or has too many"))
                return
            async with asyncio.timeout(self.config.handshake_timeout_ms / 1000):
                peer = await self._accept(reader, writer, remote)
            if peer is not None:
                self._replace_inbound(peer, task)
                await self._receive(peer, reader)
        except (FrameError, MalformedMessage) as error:
            self._refuse_connection(writer, remote, peer, str(error))
        except TimeoutError:
            logger.warning("node %d: handshake from %s timed out", self.node_id, remote)
        except (asyncio.IncompleteReadError, OSError):
            logger.info("node %d: connection from %s closed by the peer", self.node_id, remote)
        except Exception:  # a bug must close this connection, not stop the node
            self.metrics.connection_errors += 1
            logger.exception("node %d: closing connection from %s", self.node_id, remote)
        finally:
            if peer is not None and self._inbound.get(peer) is task:
                del self._inbound[peer]
            try:
                await close_writer(writer, self.config.close_timeout_ms)
            finally:  # close() waits for the tasks in _handlers: this one is done only now
                self._handlers.discard(task)

    def _refuse_connection(
        self, writer: asyncio.StreamWriter, remote: str, peer: NodeId | None, reason: str
    ) -> None:
        self.metrics.connection_errors += 1
        who = remote if peer is None else f"node {peer} at {remote}"
        logger.warning("node %d: closing connection from %s: %s", self.node_id, who, reason)
        writer.write(encode_error(f"node {self.node_id} closes this connection: {reason}"))

    async def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, remote: str
    ) -> NodeId | None:
        """The peer's id after a good handshake; None after a refused one."""
        header, payload = await read_frame(reader, self.config.frame_payload_bytes_max)
        if header.type is not FrameType.HELLO:
            raise FrameError(f"expected HELLO, got {header.type.name}")
        hello = decode_hello(payload)
        reason = self._refusal(hello)
        if reason:
            self.metrics.refused += 1
            logger.error(
                "node %d: refused connection from %s claiming to be node %d: %s",
                self.node_id,
                remote,
                hello.source,
                reason,
            )
            writer.write(encode_error(f"refused by node {self.node_id}: {reason}"))
            return None
        welcome = Hello(self.node_id, hello.source, self.config.cluster_token, self.config.engine)
        writer.write(encode_frame(FrameType.WELCOME, encode_hello(welcome)))
        await writer.drain()
        logger.info("node %d: accepted node %d from %s", self.node_id, hello.source, remote)
        return hello.source

    def _refusal(self, hello: Hello) -> str:
        """Why the handshake ``hello`` is refused, or "" if it is not."""
        if not hmac.compare_digest(hello.token, self.config.cluster_token):
            return "wrong cluster token (the dialer belongs to another cluster)"
        if hello.engine != self.config.engine:
            return (
                f"engine mismatch: the dialer runs {hello.engine},"
                f" this node runs {self.config.engine}"
            )
        if hello.target != self.node_id:
            return f"this is node {self.node_id}, not node {hello.target}"
        if hello.source not in self._links:
            return f"node {hello.source} is not a known member"
        return ""

    def _replace_inbound(self, peer: NodeId, task: asyncio.Task[None]) -> None:
        previous = self._inbound.get(peer)
        if previous is not None:
            logger.info(
                "node %d: node %d reconnected; closing its old connection", self.node_id, peer
            )
            previous.cancel()
        self._inbound[peer] = task

    async def _receive(self, peer: NodeId, reader: asyncio.StreamReader) -> None:
        reassembler = Reassembler(self.config.streamed_message_bytes_max)
        while True:
            header, payload = await read_frame(reader, self.config.frame_payload_bytes_max)
            match header.type:
                case FrameType.MESSAGE:
                    self._deliver(peer, payload)
                case FrameType.CHUNK:
                    whole = reassembler.feed(payload)
                    if whole is not None:
                        self._deliver(peer, whole)
                case FrameType.ERROR:
                    logger.warning(
                        "node %d: node %d closed its connection: %s",
                        self.node_id,
                        peer,
                        decode_error(payload),
                    )
                    return
                case _:
                    raise FrameError(f"unexpected {header.type.name} frame after the handshake")

    def _deliver(self, peer: NodeId, payload: bytes) -> None:
        message = self._codec.decode(payload)
        if (message.source, message.target) != (peer, self.node_id):
            raise FrameError(
                f"a message from node {message.source} to node {message.target}"
                f" on the connection from node {peer} to node {self.node_id}"
            )
        self.metrics.messages_received += 1
        self.metrics.bytes_received += len(payload)
        try:
            self._on_message(message)
        except Exception:  # the receiver's bug must not close a healthy connection
            logger.exception("node %d: on_message failed for a message from %d", self.node_id, peer)


def _remote(writer: asyncio.StreamWriter) -> str:
    peername = writer.get_extra_info("peername")
    if isinstance(peername, tuple) and len(peername) >= 2:
        return f"{peername[0]}:{peername[1]}"
    return str(peername)
