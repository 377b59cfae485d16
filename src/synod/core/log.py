"""Log entries, hard state, membership and snapshots: what engines persist and exchange."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from synod.core.ids import NO_INDEX, NO_NODE, NO_TERM, LogIndex, NodeId, Term

ENTRY_OVERHEAD_BYTES = 24
"""Approximate framing cost of one entry, counted against message byte limits."""


class EntryKind(enum.IntEnum):
    NORMAL = 0
    """An application command; empty data is a no-op (a new leader's first entry)."""
    MEMBERSHIP = 1
    """A single-server membership change, encoded with ``MembershipChange.encode``."""


@dataclass(frozen=True, slots=True)
class Entry:
    index: LogIndex
    term: Term
    kind: EntryKind = EntryKind.NORMAL
    data: bytes = b""

    def size_bytes(self) -> int:
        return len(self.data) + ENTRY_OVERHEAD_BYTES


@dataclass(frozen=True, slots=True)
class HardState:
    """What a node must have durable before it speaks: its term, its vote, its commit index."""

    term: Term = NO_TERM
    vote: NodeId = NO_NODE
    commit: LogIndex = NO_INDEX


class ChangeKind(enum.IntEnum):
    ADD_VOTER = 0
    ADD_LEARNER = 1
    PROMOTE_LEARNER = 2
    REMOVE = 3


class MembershipError(ValueError):
    """A membership change that cannot apply to the current configuration."""


@dataclass(frozen=True, slots=True)
class MembershipChange:
    kind: ChangeKind
    node: NodeId

    def __str__(self) -> str:
        action = self.kind.name.lower().replace("_", " ")
        return f"{action} {self.node}"

    def encode(self) -> bytes:
        return bytes([int(self.kind)]) + int(self.node).to_bytes(8, "big")

    @classmethod
    def decode(cls, data: bytes) -> MembershipChange:
        if len(data) != 9 or data[0] > max(ChangeKind):
            raise MembershipError(f"malformed membership change: {data!r}")
        return cls(ChangeKind(data[0]), NodeId(int.from_bytes(data[1:], "big")))


@dataclass(frozen=True, slots=True)
class Membership:
    """Voters decide; learners only receive the log. A node is never both."""

    voters: frozenset[NodeId] = field(default_factory=frozenset)
    learners: frozenset[NodeId] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        assert not (self.voters & self.learners), "a node is either a voter or a learner"

    @property
    def members(self) -> frozenset[NodeId]:
        return self.voters | self.learners

    def quorum(self) -> int:
        return len(self.voters) // 2 + 1

    def apply(self, change: MembershipChange) -> Membership:
        """The configuration after ``change``; raises MembershipError if it does not fit."""
        node = change.node
        match change.kind:
            case ChangeKind.ADD_VOTER:
                if node in self.voters:
                    raise MembershipError(f"node {node} is already a voter")
                return Membership(self.voters | {node}, self.learners - {node})
            case ChangeKind.ADD_LEARNER:
                if node in self.members:
                    raise MembershipError(f"node {node} is already a member")
                return Membership(self.voters, self.learners | {node})
            case ChangeKind.PROMOTE_LEARNER:
                if node not in self.learners:
                    raise MembershipError(f"node {node} is not a learner")
                return Membership(self.voters | {node}, self.learners - {node})
            case ChangeKind.REMOVE:
                if node not in self.members:
                    raise MembershipError(f"node {node} is not a member")
                if self.voters == {node}:
                    raise MembershipError("cannot remove the last voter")
                return Membership(self.voters - {node}, self.learners - {node})


@dataclass(frozen=True, slots=True)
class SnapshotMeta:
    index: LogIndex = NO_INDEX
    term: Term = NO_TERM
    membership: Membership = field(default_factory=Membership)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The state machine as of ``meta.index``: replaces every entry up to and including it."""

    meta: SnapshotMeta = field(default_factory=SnapshotMeta)
    data: bytes = b""

    def size_bytes(self) -> int:
        return len(self.data) + ENTRY_OVERHEAD_BYTES
