"""The envelope a client request travels in through the log.

Every normal entry carries ``origin | request id | payload`` so that, when the entry applies on
every replica, the node that proposed it (and only that node) recognizes its own pending request
and answers its client. Layout (big-endian)::

    origin: u64 | request_id_length: u16 | request_id | payload

Request ids must be unique per origin across restarts (a runtime prefixes a boot id; the
simulator uses one world-wide counter), or an entry from a previous life could answer a new
request.
"""

from __future__ import annotations

from dataclasses import dataclass

from synod.core.errors import SynodError
from synod.core.ids import NodeId

REQUEST_ID_BYTES_MAX = 256
_HEADER_BYTES = 10


class CommandError(SynodError):
    """An entry whose bytes are not a well-formed command envelope."""


@dataclass(frozen=True, slots=True)
class Command:
    origin: NodeId
    request_id: bytes
    payload: bytes


def encode_command(command: Command) -> bytes:
    assert 0 <= command.origin < 1 << 64, f"origin {command.origin} out of range"
    assert len(command.request_id) <= REQUEST_ID_BYTES_MAX, "request id too long"
    header = command.origin.to_bytes(8, "big") + len(command.request_id).to_bytes(2, "big")
    return header + command.request_id + command.payload


def decode_command(data: bytes) -> Command:
    """The envelope in ``data``; raises CommandError if it is truncated or oversized."""
    if len(data) < _HEADER_BYTES:
        raise CommandError(f"command of {len(data)} bytes is shorter than its header")
    origin = NodeId(int.from_bytes(data[:8], "big"))
    length = int.from_bytes(data[8:10], "big")
    if length > REQUEST_ID_BYTES_MAX or _HEADER_BYTES + length > len(data):
        raise CommandError(f"request id length {length} does not fit a {len(data)}-byte command")
    end = _HEADER_BYTES + length
    return Command(origin, data[_HEADER_BYTES:end], data[end:])
