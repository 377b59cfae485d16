"""The engine contract: what every consensus engine (Raft, Multi-Paxos) offers its driver.

The driver (``synod.replica`` under ``synod.server`` or ``synod.sim``) loops::

    ready = engine.ready()
    if ready:
        persist(ready.hard_state, ready.snapshot, ready.entries)   # then fsync
        send(ready.messages)                                       # only after the fsync
        apply(ready.snapshot, ready.committed_entries)             # in order, exactly once
        answer(ready.read_states)                                  # once applied >= index
        engine.advance(ready)

``early_messages`` may leave before the fsync: they promise nothing about local durability.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from synod.core.ids import NO_NODE, LogIndex, NodeId, Term
from synod.core.log import Entry, HardState, Membership, MembershipChange, Snapshot


class Message(Protocol):
    """Any engine message: it knows who sends it, who receives it, and its size."""

    @property
    def source(self) -> NodeId: ...

    @property
    def target(self) -> NodeId: ...

    def size_bytes(self) -> int: ...


class Rng(Protocol):
    """The only source of randomness an engine sees (``random.Random`` fits)."""

    def randrange(self, start: int, stop: int) -> int: ...


class LogStorage(Protocol):
    """The durable log as the engine reads it. Writing is the driver's job (after a Ready)."""

    def initial_state(self) -> tuple[HardState, Membership]: ...

    def first_index(self) -> LogIndex:
        """Index of the first entry still held (snapshot index + 1)."""
        ...

    def last_index(self) -> LogIndex: ...

    def term(self, index: LogIndex) -> Term:
        """Term of the entry at ``index``; the snapshot's term at its index.

        Raises LogCompacted below the snapshot, LogUnavailable past the end."""
        ...

    def entries(self, low: LogIndex, high: LogIndex, bytes_max: int) -> list[Entry]:
        """Entries in [low, high), at least one if any, stopping before ``bytes_max``."""
        ...

    def snapshot(self) -> Snapshot: ...

    def repair_until(self) -> LogIndex:
        """Nonzero after a repair of a damaged log (``synod.storage.recovery``): until the log
        reaches this index with a leader's entries, the node must not vote or campaign."""
        ...


class Role(enum.StrEnum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre-candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


@dataclass(frozen=True, slots=True)
class SoftState:
    """Volatile facts that need no persistence but that drivers and invariants watch."""

    leader: NodeId = NO_NODE
    role: Role = Role.FOLLOWER


@dataclass(frozen=True, slots=True)
class ReadState:
    """A linearizable read of ``request_id`` may be served once applied >= ``index``."""

    index: LogIndex
    request_id: bytes


@dataclass(frozen=True, slots=True)
class Ready:
    soft_state: SoftState | None = None
    hard_state: HardState | None = None
    entries: tuple[Entry, ...] = ()
    snapshot: Snapshot | None = None
    """A snapshot received from the leader: persist it, then restore the state machine."""
    committed_entries: tuple[Entry, ...] = ()
    messages: tuple[Message, ...] = ()
    early_messages: tuple[Message, ...] = ()
    read_states: tuple[ReadState, ...] = ()
    compaction: Snapshot | None = None
    """Asked for with ``compact``: save this snapshot, then drop log entries up to its index."""
    refused_reads: tuple[bytes, ...] = ()
    """Read requests this node cannot serve (no leader, or it lost leadership)."""

    def is_empty(self) -> bool:
        return not (
            self.soft_state
            or self.hard_state
            or self.entries
            or self.snapshot
            or self.committed_entries
            or self.messages
            or self.early_messages
            or self.read_states
            or self.compaction
            or self.refused_reads
        )


class Engine(Protocol):
    """One consensus replica. Pure: time is ``tick``, bytes come in through ``step``."""

    @property
    def node_id(self) -> NodeId: ...

    @property
    def term(self) -> Term: ...

    @property
    def leader(self) -> NodeId: ...

    @property
    def membership(self) -> Membership: ...

    def tick(self) -> None: ...

    def step(self, message: Message) -> None: ...

    def propose(self, command: bytes) -> None:
        """Raises ProposalDropped (NotLeader with a hint) when the command cannot be taken."""
        ...

    def read_index(self, request_id: bytes) -> None: ...

    def transfer_leadership(self, target: NodeId) -> None: ...

    def change_membership(self, change: MembershipChange) -> None: ...

    def campaign(self) -> None: ...

    def compact(self, index: LogIndex, data: bytes) -> None: ...

    def has_ready(self) -> bool: ...

    def ready(self) -> Ready | None: ...

    def advance(self, ready: Ready) -> None: ...


class ObservableEngine(Engine, Protocol):
    """An engine plus the read-only state its drivers report and check (the runtime, the
    simulator's invariants)."""

    @property
    def role(self) -> Role: ...

    @property
    def commit_index(self) -> LogIndex: ...

    @property
    def applied_index(self) -> LogIndex: ...

    @property
    def last_index(self) -> LogIndex: ...


def messages_of(ready: Ready) -> Sequence[Message]:
    return (*ready.early_messages, *ready.messages)
