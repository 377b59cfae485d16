"""Peer frames: the byte layout of the peer transport, with no I/O (the transport reads them).

Frame: ``magic (4) | version (u8) | type (u8) | length (u32) | crc32c (u32) | payload``,
little-endian. ``length`` counts the payload; the CRC32C covers the type byte and the payload,
so a frame whose type was flipped fails its check like any other.

Frame types and payloads:
- HELLO (dialer first) and WELCOME (acceptor's answer): ``source (u64) | target (u64) |
  engine length (u8) | engine | token``: the sender's and the intended receiver's member ids,
  the name of the consensus engine the sender runs (ASCII) and the cluster token.
- ERROR: a UTF-8 reason, sent just before closing a connection (a refused handshake, a bad
  frame), so the other side can log why.
- MESSAGE: one engine message, as the engine's codec encoded it.
- CHUNK: one piece of a message too large for one frame: ``stream (u64) | total_bytes (u64) |
  offset (u64) | total_crc32c (u32) | data``. The pieces of a stream go in order on one
  connection; MESSAGE frames may come between them. ``Reassembler`` checks each piece and
  the CRC32C of the whole.

Rules: every decoder checks lengths before it trusts them, and raises ``FrameError`` (with the
reason) on anything malformed, never another exception.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import google_crc32c

from synod.core.errors import SynodError
from synod.core.ids import NodeId

MAGIC: Final = b"SYNP"
FRAME_VERSION: Final = 2
"""2: HELLO and WELCOME name the engine."""
HEADER: Final = struct.Struct("<4sBBII")
HEADER_BYTES: Final = HEADER.size
_HELLO: Final = struct.Struct("<QQB")
_CHUNK: Final = struct.Struct("<QQQI")
CHUNK_HEADER_BYTES: Final = _CHUNK.size
TOKEN_BYTES_MAX: Final = 256
ENGINE_NAME_BYTES_MAX: Final = 32
ERROR_REASON_BYTES_MAX: Final = 1024


class FrameError(SynodError):
    """Bytes from a peer that are not a valid frame; the connection they came on is closed."""


class FrameType(enum.IntEnum):
    HELLO = 1
    WELCOME = 2
    ERROR = 3
    MESSAGE = 4
    CHUNK = 5


_FRAME_TYPES: Final = frozenset(int(frame_type) for frame_type in FrameType)


@dataclass(frozen=True, slots=True)
class Header:
    type: FrameType
    length: int
    crc: int


@dataclass(frozen=True, slots=True)
class Hello:
    """Who speaks, to whom, in which cluster, running which engine: HELLO's and WELCOME's
    payload."""

    source: NodeId
    target: NodeId
    token: bytes
    engine: str = "raft"


def _crc(frame_type: int, payload: bytes | memoryview) -> int:
    crc: int = google_crc32c.extend(google_crc32c.value(bytes([frame_type])), payload)
    return crc


def encode_frame(frame_type: FrameType, payload: bytes | memoryview) -> bytes:
    header = HEADER.pack(MAGIC, FRAME_VERSION, frame_type, len(payload), _crc(frame_type, payload))
    return header + payload


def decode_header(data: bytes, payload_bytes_max: int) -> Header:
    """The header in ``data`` (exactly HEADER_BYTES long); FrameError if it cannot be one."""
    assert len(data) == HEADER_BYTES
    magic, version, frame_type, length, crc = HEADER.unpack(data)
    if magic != MAGIC:
        raise FrameError(f"bad magic {magic!r} (expected {MAGIC!r})")
    if version != FRAME_VERSION:
        raise FrameError(f"frame version {version} (this node speaks {FRAME_VERSION})")
    if frame_type not in _FRAME_TYPES:
        raise FrameError(f"unknown frame type {frame_type}")
    if length > payload_bytes_max:
        raise FrameError(f"frame of {length} bytes exceeds the limit of {payload_bytes_max}")
    return Header(FrameType(frame_type), length, crc)


def check_payload(header: Header, payload: bytes) -> None:
    assert len(payload) == header.length
    if _crc(header.type, payload) != header.crc:
        raise FrameError(f"{header.type.name} frame of {header.length} bytes fails its crc32c")


def encode_hello(hello: Hello) -> bytes:
    engine = hello.engine.encode("ascii")
    assert len(hello.token) <= TOKEN_BYTES_MAX
    assert len(engine) <= ENGINE_NAME_BYTES_MAX
    return _HELLO.pack(hello.source, hello.target, len(engine)) + engine + hello.token


def decode_hello(payload: bytes) -> Hello:
    if len(payload) < _HELLO.size:
        raise FrameError(f"handshake payload of {len(payload)} bytes")
    source, target, engine_bytes = _HELLO.unpack_from(payload)
    token_at = _HELLO.size + engine_bytes
    if engine_bytes > ENGINE_NAME_BYTES_MAX or not 0 <= len(payload) - token_at <= TOKEN_BYTES_MAX:
        raise FrameError(
            f"handshake payload of {len(payload)} bytes with an engine name of {engine_bytes}"
        )
    engine = payload[_HELLO.size : token_at]
    if not engine.isascii():
        raise FrameError(f"handshake names the engine {engine!r}, not in ASCII")
    return Hello(NodeId(source), NodeId(target), payload[token_at:], engine.decode("ascii"))


def encode_error(reason: str) -> bytes:
    return encode_frame(FrameType.ERROR, reason.encode()[:ERROR_REASON_BYTES_MAX])


def decode_error(payload: bytes) -> str:
    return payload[:ERROR_REASON_BYTES_MAX].decode("utf-8", "replace")


def chunk_frames(payload: bytes, stream: int, chunk_bytes: int) -> Iterator[bytes]:
    """CHUNK frames that carry ``payload`` in pieces of at most ``chunk_bytes``."""
    assert chunk_bytes >= 1
    total_crc = google_crc32c.value(payload)
    view = memoryview(payload)
    for offset in range(0, len(payload), chunk_bytes):
        head = _CHUNK.pack(stream, len(payload), offset, total_crc)
        yield encode_frame(FrameType.CHUNK, head + view[offset : offset + chunk_bytes])


@dataclass(slots=True)
class _Stream:
    stream: int
    total_bytes: int
    total_crc: int
    data: bytearray


class Reassembler:
    """Joins the CHUNK frames of one connection back into whole messages.

    Invariant: at most one stream is open, and it holds fewer than ``total_bytes`` bytes."""

    def __init__(self, message_bytes_max: int) -> None:
        self._message_bytes_max = message_bytes_max
        self._open: _Stream | None = None

    def feed(self, payload: bytes) -> bytes | None:
        """The whole message once ``payload`` completes it, else None; FrameError if the piece
        does not continue the open stream, breaks a limit, or the whole fails its checksum."""
        if len(payload) <= _CHUNK.size:
            raise FrameError(f"chunk frame of {len(payload)} bytes carries no data")
        stream, total_bytes, offset, total_crc = _CHUNK.unpack_from(payload)
        data = memoryview(payload)[_CHUNK.size :]
        current = self._open if offset else self._start(stream, total_bytes, total_crc)
        if current is None or (stream, total_bytes, total_crc) != (
            current.stream,
            current.total_bytes,
            current.total_crc,
        ):
            raise FrameError(f"chunk of stream {stream} at offset {offset} continues no stream")
        if offset != len(current.data) or offset + len(data) > total_bytes:
            raise FrameError(
                f"chunk of stream {stream} at offset {offset} (+{len(data)} bytes) does not fit"
                f" after {len(current.data)} of {total_bytes} bytes"
            )
        current.data += data
        if len(current.data) < total_bytes:
            return None
        self._open = None
        whole = bytes(current.data)
        if google_crc32c.value(whole) != total_crc:
            raise FrameError(f"stream {stream} of {total_bytes} bytes fails its crc32c")
        return whole

    def _start(self, stream: int, total_bytes: int, total_crc: int) -> _Stream:
        if self._open is not None:
            raise FrameError(f"stream {stream} starts before stream {self._open.stream} ended")
        if total_bytes > self._message_bytes_max:
            raise FrameError(
                f"streamed message of {total_bytes} bytes exceeds the limit of"
                f" {self._message_bytes_max}"
            )
        self._open = _Stream(stream, total_bytes, total_crc, bytearray())
        return self._open
