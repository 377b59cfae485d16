"""The wire layout every engine's codec shares, and the codec that frames it, with msgpack.

Layout: one first byte that names the engine and its format version, then one msgpack array
whose first element is the message's type tag and whose other elements are the message's
fields in declaration order: ``source``, ``target`` and ``term`` first (``WireHeader``), then
the message's own. An entry is ``[index, term, kind, data]``; a snapshot is ``[index, term,
voters, learners, data]`` with voters and learners sorted (``WireSnapshot``). Each engine
defines its tagged structs on these bases; tags are part of its format: never renumber one,
only add new ones. Engines use distinct first bytes, so one engine's bytes are refused by
another's codec even if a misconfigured pair of nodes got past the transport's handshake.

Rules:
- ``WireCodec.decode`` raises ``MalformedMessage`` on any input that is not exactly one valid
  message (empty, another first byte, unknown tag, missing or extra fields, wrong types,
  integers outside 0..2**64-1, an unknown entry kind, a node both voter and learner, trailing
  bytes), and never another exception type; each refusal names the engine and the problem.
- ``WireCodec.encode`` raises ``MalformedMessage`` for a message not of its engine or an
  integer past 2**64 - 1. An engine's own messages are trusted: a negative integer is not
  checked there, and the receiving decoder refuses it.
- ``decode(encode(m)) == m`` for every message ``m`` of the codec's engine.
- Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Final, Generic, TypeVar

import msgspec

from synod.core.engine import Message
from synod.core.errors import MalformedMessage
from synod.core.ids import LogIndex, NodeId, Term
from synod.core.log import Entry, EntryKind, Membership, Snapshot, SnapshotMeta

U64 = Annotated[int, msgspec.Meta(ge=0)]
"""msgpack integers stop at 2**64 - 1, so non-negative is the whole check."""
WireEntry = tuple[U64, U64, EntryKind, bytes]
"""An entry as ``[index, term, kind, data]``."""


class WireHeader(msgspec.Struct, array_like=True, frozen=True, tag_field="tag"):
    """Fields every message starts with; each message's struct adds ``tag=`` and its own."""

    source: U64
    target: U64
    term: U64


class WireSnapshot(WireHeader, frozen=True):
    """The snapshot a message carries, right after the header; a subclass may add fields."""

    index: U64
    snapshot_term: U64
    voters: tuple[U64, ...]
    learners: tuple[U64, ...]
    data: bytes


SnapshotFields = tuple[int, int, tuple[int, ...], tuple[int, ...], bytes]


def entries_to_wire(entries: tuple[Entry, ...]) -> tuple[WireEntry, ...]:
    return tuple((entry.index, entry.term, entry.kind, entry.data) for entry in entries)


def entries_from_wire(entries: tuple[WireEntry, ...]) -> tuple[Entry, ...]:
    return tuple(
        Entry(LogIndex(index), Term(term), kind, data) for index, term, kind, data in entries
    )


def snapshot_to_wire(snapshot: Snapshot) -> SnapshotFields:
    """The ``WireSnapshot`` fields of ``snapshot``, in order, to follow a header."""
    meta = snapshot.meta
    return (
        meta.index,
        meta.term,
        tuple(sorted(meta.membership.voters)),
        tuple(sorted(meta.membership.learners)),
        snapshot.data,
    )


def snapshot_from_wire(wire: WireSnapshot) -> Snapshot:
    """The snapshot ``wire`` carries; MalformedMessage if a node is both voter and learner."""
    voters = frozenset(NodeId(node) for node in wire.voters)
    learners = frozenset(NodeId(node) for node in wire.learners)
    both = voters & learners
    if both:
        raise MalformedMessage(f"snapshot membership lists {sorted(both)} as voter and learner")
    meta = SnapshotMeta(
        LogIndex(wire.index), Term(wire.snapshot_term), Membership(voters, learners)
    )
    return Snapshot(meta, wire.data)


W = TypeVar("W", bound=WireHeader)

_ENCODER: Final = msgspec.msgpack.Encoder()


class WireCodec(Generic[W]):
    """One engine's codec. ``engine`` names it in every refusal; ``format_byte`` leads its
    bytes; ``wire_type`` is the union of its tagged structs (``W``); ``to_wire`` gives a
    message's struct, or None for a message not of this engine; ``from_wire`` gives the message
    a decoded struct stands for (or raises MalformedMessage)."""

    __slots__ = ("_decoder", "_first", "engine", "format_byte", "from_wire", "to_wire")

    def __init__(
        self,
        engine: str,
        format_byte: int,
        wire_type: object,
        to_wire: Callable[[Message], W | None],
        from_wire: Callable[[W], Message],
    ) -> None:
        self.engine: Final = engine
        self.format_byte: Final = format_byte
        self.to_wire: Final = to_wire
        self.from_wire: Final = from_wire
        self._first: Final = bytes([format_byte])
        self._decoder: Final[msgspec.msgpack.Decoder[W]] = msgspec.msgpack.Decoder(wire_type)

    def encode(self, message: Message) -> bytes:
        """The wire form of ``message``."""
        name = type(message).__name__
        wire = self.to_wire(message)
        if wire is None:
            raise MalformedMessage(f"not a {self.engine} message: {name}")
        try:
            return self._first + _ENCODER.encode(wire)
        except OverflowError as error:
            raise MalformedMessage(
                f"cannot encode {name} as a {self.engine} message: {error}"
            ) from None

    def decode(self, data: bytes) -> Message:
        """The message ``data`` encodes; MalformedMessage (with the reason) if it encodes none."""
        if not data:
            raise MalformedMessage(f"empty {self.engine} message")
        if data[0] != self.format_byte:
            raise MalformedMessage(
                f"{self.engine} wire format byte {data[0]:#04x} (this node speaks"
                f" {self.format_byte:#04x}; a peer running another engine or version?)"
            )
        try:
            wire = self._decoder.decode(memoryview(data)[1:])
        except msgspec.DecodeError as error:
            raise MalformedMessage(f"malformed {self.engine} message: {error}") from None
        return self.from_wire(wire)
