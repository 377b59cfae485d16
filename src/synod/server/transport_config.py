"""The peer transport's identity, limits and counters. Units are the last word of each name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from synod.core.engine import Message
from synod.core.errors import ConfigError
from synod.core.ids import NodeId
from synod.server.frames import CHUNK_HEADER_BYTES, ENGINE_NAME_BYTES_MAX, TOKEN_BYTES_MAX


@dataclass(frozen=True, slots=True)
class Codec:
    """An engine's wire codec. ``decode`` raises MalformedMessage, and only that, on bad bytes."""

    encode: Callable[[Message], bytes]
    decode: Callable[[bytes], Message]


@dataclass(frozen=True, slots=True)
class TransportConfig:
    node_id: NodeId
    cluster_token: bytes
    """Shared by every member; a peer that presents another one is refused."""
    engine: str = "raft"
    """The consensus engine this node runs (the codec's); a peer running another is refused."""
    listen_host: str = "127.0.0.1"
    listen_port: int = 0
    """0: the system picks a free port (``Transport.address`` tells which)."""
    send_queue_messages_max: int = 4096
    send_queue_bytes_max: int = 64 << 20
    """Per peer. Past either bound the oldest queued message is dropped."""
    chunk_bytes: int = 1 << 20
    """A message larger than this is streamed as CHUNK frames of at most this much data."""
    streamed_message_bytes_max: int = 64 << 20
    """The largest message sent or reassembled (a snapshot, a batch of entries)."""
    dial_timeout_ms: int = 2000
    handshake_timeout_ms: int = 2000
    reconnect_delay_ms_min: int = 50
    reconnect_delay_ms_max: int = 5000
    """Reconnect delays double from the minimum up to this cap, with jitter."""
    inbound_connections_max: int = 64
    close_timeout_ms: int = 1000
    """How long closing waits for buffered bytes to leave a connection."""

    def __post_init__(self) -> None:
        self.validate()

    @property
    def frame_payload_bytes_max(self) -> int:
        return self.chunk_bytes + CHUNK_HEADER_BYTES

    def validate(self) -> None:
        checks = [
            (self.node_id >= 1, "node_id must be >= 1"),
            (
                1 <= len(self.cluster_token) <= TOKEN_BYTES_MAX,
                f"cluster_token must be 1 to {TOKEN_BYTES_MAX} bytes",
            ),
            (
                self.engine.isascii() and 1 <= len(self.engine) <= ENGINE_NAME_BYTES_MAX,
                f"engine must be 1 to {ENGINE_NAME_BYTES_MAX} ASCII characters",
            ),
            (0 <= self.listen_port <= 65535, "listen_port must be in 0..65535"),
            (self.send_queue_messages_max >= 1, "send_queue_messages_max must be >= 1"),
            (self.chunk_bytes >= 1, "chunk_bytes must be >= 1"),
            (
                self.chunk_bytes <= self.streamed_message_bytes_max <= self.send_queue_bytes_max,
                "need chunk_bytes <= streamed_message_bytes_max <= send_queue_bytes_max",
            ),
            (self.dial_timeout_ms >= 1, "dial_timeout_ms must be >= 1"),
            (self.handshake_timeout_ms >= 1, "handshake_timeout_ms must be >= 1"),
            (
                1 <= self.reconnect_delay_ms_min <= self.reconnect_delay_ms_max,
                "need 1 <= reconnect_delay_ms_min <= reconnect_delay_ms_max",
            ),
            (self.inbound_connections_max >= 1, "inbound_connections_max must be >= 1"),
            (self.close_timeout_ms >= 1, "close_timeout_ms must be >= 1"),
        ]
        for ok, text in checks:
            if not ok:
                raise ConfigError(text)


@dataclass(slots=True)
class TransportMetrics:
    """Running totals since start, over all peers (plain integers for /metrics)."""

    messages_sent: int = 0
    """Written whole to a connection (the peer may still lose them with the connection)."""
    bytes_sent: int = 0
    messages_received: int = 0
    """Decoded and handed to the receive callback."""
    bytes_received: int = 0
    messages_dropped: int = 0
    """Never sent: pushed out of a full queue, too large, or for a peer we do not know."""
    reconnects: int = 0
    """Handshakes completed with a peer we had been connected to before."""
    dial_failures: int = 0
    """Connection attempts that failed before or during the handshake (not refusals)."""
    refused: int = 0
    """Handshakes refused, by us (inbound) or by the peer (outbound)."""
    connection_errors: int = 0
    """Connections closed for bad frames or protocol violations."""
