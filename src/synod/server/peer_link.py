"""The outbound side of the peer transport: one connection to one peer, kept alive.

Rules:
- One ``PeerLink`` per peer, one TCP connection at a time, used only to send. Replies come back
  on the peer's own outbound connection to us.
- The send queue is bounded by messages and bytes. When full, the OLDEST message is dropped:
  while a peer is away its queue fills with traffic that has gone stale (old heartbeats, old
  terms, appends the leader will resend from its progress tracking anyway), and the newest
  messages carry the current term, commit index and read rounds, which are what the peer needs
  when it comes back. Raft tolerates any loss; the counter says how much.
- A message larger than ``chunk_bytes`` is streamed as CHUNK frames; queued messages that fit
  one frame are sent between its chunks, so a large snapshot does not starve heartbeats.
- After a failed dial, refused handshake or lost connection the link waits
  ``reconnect_delay_ms`` (doubling per consecutive failure from the minimum up to the cap,
  half of it random from the injected RNG so peers do not retry in lockstep), then dials again.
- Nothing is read on this connection after the handshake except an ERROR frame or the end of
  the stream, either of which closes it.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections import deque

from synod.core.engine import Rng
from synod.core.errors import SynodError
from synod.core.ids import NodeId
from synod.server.connection import close_writer, read_frame
from synod.server.frames import (
    FrameError,
    FrameType,
    Hello,
    chunk_frames,
    decode_error,
    decode_hello,
    encode_error,
    encode_frame,
    encode_hello,
)
from synod.server.transport_config import TransportConfig, TransportMetrics

logger = logging.getLogger("synod.server.transport")

_Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class HandshakeRefused(SynodError):
    """The handshake failed on identity: wrong cluster, unknown member, wrong node."""


def reconnect_delay_ms(failures: int, delay_ms_min: int, delay_ms_max: int, rng: Rng) -> int:
    """Delay before the next dial after ``failures`` consecutive failures: the doubled delay
    capped at ``delay_ms_max``, its upper half drawn at random."""
    ceiling_ms = min(delay_ms_max, delay_ms_min << min(failures, 32))
    half_ms = ceiling_ms // 2
    delay_ms = ceiling_ms - half_ms + rng.randrange(0, half_ms + 1)
    assert delay_ms_min // 2 <= delay_ms <= delay_ms_max
    return delay_ms


class PeerLink:
    def __init__(
        self,
        config: TransportConfig,
        metrics: TransportMetrics,
        rng: Rng,
        peer: NodeId,
        address: tuple[str, int],
    ) -> None:
        self.peer = peer
        self.address = address
        self._config = config
        self._metrics = metrics
        self._rng = rng
        self._queue: deque[bytes] = deque()
        self._queued_bytes = 0
        self._wake = asyncio.Event()
        self._broken = False
        self._dropping = False
        self._ever_connected = False
        self._quiet_failures = False
        self._stream_count = 0
        self.connected = False

    @property
    def queued_messages(self) -> int:
        return len(self._queue)

    def enqueue(self, payload: bytes) -> None:
        """Queue an encoded message, dropping the oldest past the bounds."""
        self._queue.append(payload)
        self._queued_bytes += len(payload)
        dropped = 0
        while (
            len(self._queue) > self._config.send_queue_messages_max
            or self._queued_bytes > self._config.send_queue_bytes_max
        ):
            self._queued_bytes -= len(self._queue.popleft())
            dropped += 1
        if dropped:
            self._metrics.messages_dropped += dropped
            if not self._dropping:
                logger.warning(
                    "node %d: send queue to node %d is full (%d messages, %d bytes):"
                    " dropping the oldest messages",
                    self._config.node_id,
                    self.peer,
                    len(self._queue),
                    self._queued_bytes,
                )
            self._dropping = True
        self._wake.set()

    async def run(self) -> None:
        """Dial, serve, back off, forever (until cancelled)."""
        failures = 0
        while True:
            streams = await self._connect()
            if streams is not None:
                failures = 0
                await self._serve(*streams)
            config = self._config
            delay_ms = reconnect_delay_ms(
                failures, config.reconnect_delay_ms_min, config.reconnect_delay_ms_max, self._rng
            )
            failures += 1
            await asyncio.sleep(delay_ms / 1000)

    async def _connect(self) -> _Streams | None:
        """Dial and shake hands; the streams on success, None (logged, counted) on failure.

        Deadlines use ``asyncio.timeout``: Python 3.11's ``wait_for`` can swallow a
        cancellation that lands as its operation completes, which would outlive ``close()``."""
        host, port = self.address
        config = self._config
        try:
            async with asyncio.timeout(config.dial_timeout_ms / 1000):
                reader, writer = await asyncio.open_connection(
                    host, port, limit=config.frame_payload_bytes_max
                )
        except (OSError, TimeoutError) as error:
            self._on_dial_failure(f"cannot reach it: {error!r}")
            return None
        shaken = False
        try:
            async with asyncio.timeout(config.handshake_timeout_ms / 1000):
                await self._handshake(reader, writer)
            shaken = True
        except HandshakeRefused as refusal:
            self._metrics.refused += 1
            logger.error(
                "node %d: handshake with node %d at %s:%d refused: %s",
                config.node_id,
                self.peer,
                host,
                port,
                refusal,
            )
        except (FrameError, OSError, TimeoutError, asyncio.IncompleteReadError) as error:
            self._on_dial_failure(f"handshake failed: {error!r}")
        finally:
            if not shaken:  # also when cancelled
                await close_writer(writer, config.close_timeout_ms)
        return (reader, writer) if shaken else None

    def _on_dial_failure(self, reason: str) -> None:
        """Count every failure; log the first of a run, then stay quiet until a success."""
        self._metrics.dial_failures += 1
        if not self._quiet_failures:
            host, port = self.address
            logger.warning(
                "node %d: dialing node %d at %s:%d: %s (retrying with backoff)",
                self._config.node_id,
                self.peer,
                host,
                port,
                reason,
            )
        self._quiet_failures = True

    async def _handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        config = self._config
        hello = Hello(config.node_id, self.peer, config.cluster_token, config.engine)
        writer.write(encode_frame(FrameType.HELLO, encode_hello(hello)))
        await writer.drain()
        header, payload = await read_frame(reader, config.frame_payload_bytes_max)
        if header.type is FrameType.ERROR:
            raise HandshakeRefused(f"the peer says: {decode_error(payload)}")
        if header.type is not FrameType.WELCOME:
            raise FrameError(f"expected WELCOME, got {header.type.name}")
        welcome = decode_hello(payload)
        reason = ""
        if not hmac.compare_digest(welcome.token, config.cluster_token):
            reason = "the peer answered with another cluster's token"
        elif welcome.engine != config.engine:
            reason = f"engine mismatch: the peer runs {welcome.engine}, this node {config.engine}"
        elif (welcome.source, welcome.target) != (self.peer, config.node_id):
            reason = f"the peer answered as node {welcome.source} to node {welcome.target}"
        if reason:
            writer.write(encode_error(f"refused by node {config.node_id}: {reason}"))
            raise HandshakeRefused(reason)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        config = self._config
        if self._ever_connected:
            self._metrics.reconnects += 1
        logger.info(
            "node %d: %s node %d at %s:%d",
            config.node_id,
            "reconnected to" if self._ever_connected else "connected to",
            self.peer,
            *self.address,
        )
        self._ever_connected = True
        self._quiet_failures = False
        self._broken = False
        self.connected = True
        watcher = asyncio.create_task(self._watch(reader))
        try:
            await self._send_loop(writer)
        except OSError as error:
            logger.warning(
                "node %d: connection to node %d lost: %r", config.node_id, self.peer, error
            )
        finally:
            self.connected = False
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            await close_writer(writer, config.close_timeout_ms)

    async def _watch(self, reader: asyncio.StreamReader) -> None:
        """Wait for the end of the connection, and say why it ended."""
        node = self._config.node_id
        try:
            header, payload = await read_frame(reader, self._config.frame_payload_bytes_max)
            if header.type is FrameType.ERROR:
                logger.warning(
                    "node %d: node %d closed our connection: %s",
                    node,
                    self.peer,
                    decode_error(payload),
                )
            else:
                self._metrics.connection_errors += 1
                logger.warning(
                    "node %d: node %d sent an unexpected %s frame; closing",
                    node,
                    self.peer,
                    header.type.name,
                )
        except (asyncio.IncompleteReadError, OSError):
            logger.info("node %d: connection to node %d closed by the peer", node, self.peer)
        except FrameError as error:
            self._metrics.connection_errors += 1
            logger.warning("node %d: bad frame from node %d: %s", node, self.peer, error)
        finally:
            self._broken = True
            self._wake.set()

    async def _send_loop(self, writer: asyncio.StreamWriter) -> None:
        while not self._broken:
            if not self._queue:
                self._dropping = False
                self._wake.clear()
                await self._wake.wait()
                continue
            if len(self._queue[0]) > self._config.chunk_bytes:
                await self._stream(writer, self._pop())
            else:
                self._write_batch(writer)
            await writer.drain()

    def _write_batch(self, writer: asyncio.StreamWriter) -> None:
        """Write the queued messages that fit one frame, up to ``chunk_bytes`` in all, with one
        call (one system call when the socket keeps up)."""
        chunk_bytes = self._config.chunk_bytes
        frames: list[bytes] = []
        batch_bytes = 0
        while self._queue and len(self._queue[0]) <= chunk_bytes - batch_bytes:
            payload = self._pop()
            frames.append(encode_frame(FrameType.MESSAGE, payload))
            batch_bytes += len(payload)
        assert frames, "the caller checked the head fits one frame"
        writer.writelines(frames)
        self._metrics.messages_sent += len(frames)
        self._metrics.bytes_sent += batch_bytes

    def _pop(self) -> bytes:
        payload = self._queue.popleft()
        self._queued_bytes -= len(payload)
        return payload

    async def _stream(self, writer: asyncio.StreamWriter, payload: bytes) -> None:
        self._stream_count += 1
        chunk_bytes = self._config.chunk_bytes
        for frame in chunk_frames(payload, self._stream_count, chunk_bytes):
            writer.write(frame)
            await writer.drain()
            if self._broken:
                return
            if self._queue and len(self._queue[0]) <= chunk_bytes:
                self._write_batch(writer)
        self._metrics.messages_sent += 1
        self._metrics.bytes_sent += len(payload)
