"""HTTP/2's wire format (RFC 9113), as much as the server in ``synod.api.http2`` needs:
frame types, flags, settings and error codes, building frames, and writing header fields as
HPACK literals (RFC 7541 §6.2.2: without indexing, so the encoder keeps no dynamic table).
"""

from __future__ import annotations

import enum

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DEFAULT_WINDOW = 65_535
WINDOW_MAX = 2**31 - 1
DEFAULT_FRAME_BYTES = 16_384
FRAME_BYTES_MAX = 2**24 - 1


class FrameType(enum.IntEnum):
    DATA = 0
    HEADERS = 1
    PRIORITY = 2
    RST_STREAM = 3
    SETTINGS = 4
    PUSH_PROMISE = 5
    PING = 6
    GOAWAY = 7
    WINDOW_UPDATE = 8
    CONTINUATION = 9


END_STREAM = 0x1
ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20


class Setting(enum.IntEnum):
    HEADER_TABLE_SIZE = 1
    ENABLE_PUSH = 2
    MAX_CONCURRENT_STREAMS = 3
    INITIAL_WINDOW_SIZE = 4
    MAX_FRAME_SIZE = 5
    MAX_HEADER_LIST_SIZE = 6


class ErrorCode(enum.IntEnum):
    NO_ERROR = 0
    PROTOCOL_ERROR = 1
    INTERNAL_ERROR = 2
    FLOW_CONTROL_ERROR = 3
    STREAM_CLOSED = 5
    FRAME_SIZE_ERROR = 6
    REFUSED_STREAM = 7
    CANCEL = 8
    COMPRESSION_ERROR = 9


class ProtocolViolation(Exception):
    """A violation that ends the connection (GOAWAY with ``code``)."""

    def __init__(self, code: ErrorCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code


def frame(kind: FrameType, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    size = len(payload)
    return (
        bytes((size >> 16 & 0xFF, size >> 8 & 0xFF, size & 0xFF, kind, flags))
        + stream_id.to_bytes(4, "big")
        + payload
    )


def settings_payload(settings: dict[Setting, int]) -> bytes:
    return b"".join(
        key.to_bytes(2, "big") + value.to_bytes(4, "big") for key, value in settings.items()
    )


# -- HPACK literals (RFC 7541 §6.2.2: without indexing, so no dynamic table on our side) ------


def _integer(value: int, prefix_bits: int, first: int) -> bytes:
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((first | value,))
    out = bytearray((first | limit,))
    value -= limit
    while value >= 128:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _string(data: bytes) -> bytes:
    return _integer(len(data), 7, 0) + data


def literal(name: bytes, value: bytes, name_index: int = 0) -> bytes:
    """One header field as a literal without indexing (a static-table name when indexed)."""
    if name_index:
        return _integer(name_index, 4, 0) + _string(value)
    return b"\x00" + _string(name) + _string(value)


STATUS_200 = b"\x88"
"""``:status: 200``, index 8 of HPACK's static table."""


def status_field(status: int) -> bytes:
    """``:status`` (static name index 8)."""
    return STATUS_200 if status == 200 else literal(b":status", str(status).encode(), 8)


def unpad(payload: bytes) -> bytes:
    """A PADDED frame's payload without its pad length byte and padding."""
    if not payload:
        raise ProtocolViolation(ErrorCode.PROTOCOL_ERROR, "padded frame without its pad length")
    pad = payload[0]
    if pad >= len(payload):
        raise ProtocolViolation(ErrorCode.PROTOCOL_ERROR, "padding longer than the frame")
    return payload[1 : len(payload) - pad]


def error_code(code: ErrorCode) -> bytes:
    return int(code).to_bytes(4, "big")
