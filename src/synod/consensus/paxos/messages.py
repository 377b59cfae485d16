"""Multi-Paxos messages: one frozen, slotted dataclass each, and a closed union.

``term`` is always a ballot (see ``ballot.py``). Leader-to-acceptor messages carry the
leader's ballot; acceptor replies carry the ballot they answer, or, when refusing because of
a higher promise, that higher ballot so the sender learns it.
"""

from __future__ import annotations

from dataclasses import dataclass

from synod.core.ids import NO_INDEX, LogIndex, NodeId, Term
from synod.core.log import Entry, Snapshot

HEADER_BYTES = 32


@dataclass(frozen=True, slots=True)
class Prepare:
    """Phase 1a for every slot from ``first`` on (the candidate's first unchosen slot)."""

    source: NodeId
    target: NodeId
    term: Term
    first: LogIndex
    transfer: bool = False
    """Sent on the leader's request (leadership transfer): acceptors ignore their lease."""

    def size_bytes(self) -> int:
        return HEADER_BYTES


@dataclass(frozen=True, slots=True)
class Promise:
    """Phase 1b. Granted: the acceptor promised ``term`` and returns every accepted value at
    or above the prepare's ``first`` slot (each entry's term is the ballot it was accepted
    in), and its chosen index. Refused: ``term`` is its higher promise, or equals the
    request's ballot with ``behind`` set when the acceptor's log is compacted past ``first``
    (the candidate lacks chosen values it could not recover). ``repairing``: a granted
    promise from an acceptor whose repaired log may lack values it accepted; the candidate
    counts it toward a quorum's size only (see ``proposer.py``)."""

    source: NodeId
    target: NodeId
    term: Term
    granted: bool
    commit: LogIndex = NO_INDEX
    entries: tuple[Entry, ...] = ()
    behind: bool = False
    repairing: bool = False

    def size_bytes(self) -> int:
        return HEADER_BYTES + sum(entry.size_bytes() for entry in self.entries)


@dataclass(frozen=True, slots=True)
class Accept:
    """Phase 2a for the slots ``prev + 1 ..`` (contiguous), plus the chosen index this
    acceptor may trust (``commit``: never above what it acknowledged in this ballot)."""

    source: NodeId
    target: NodeId
    term: Term
    prev: LogIndex
    entries: tuple[Entry, ...]
    commit: LogIndex

    def size_bytes(self) -> int:
        return HEADER_BYTES + sum(entry.size_bytes() for entry in self.entries)


@dataclass(frozen=True, slots=True)
class Accepted:
    """Phase 2b. ``ok``: the acceptor accepted slots ``prev + 1 .. last`` in ballot ``term``.
    Not ok with the same ballot: a hole (``prev`` beyond its log, which ends at ``last``);
    with a higher ballot: it promised that one. ``commit`` is the acceptor's chosen index;
    ``run``, in an answer to ``term``'s leader, the last slot of the run from its chosen prefix
    that holds values accepted in ``term`` (the leader's values), however the Accepts that
    wrote them were ordered."""

    source: NodeId
    target: NodeId
    term: Term
    ok: bool
    prev: LogIndex = NO_INDEX
    last: LogIndex = NO_INDEX
    commit: LogIndex = NO_INDEX
    run: LogIndex = NO_INDEX

    def size_bytes(self) -> int:
        return HEADER_BYTES


@dataclass(frozen=True, slots=True)
class Heartbeat:
    source: NodeId
    target: NodeId
    term: Term
    commit: LogIndex
    read_round: int = 0

    def size_bytes(self) -> int:
        return HEADER_BYTES


@dataclass(frozen=True, slots=True)
class HeartbeatAck:
    source: NodeId
    target: NodeId
    term: Term
    read_round: int = 0
    commit: LogIndex = NO_INDEX

    def size_bytes(self) -> int:
        return HEADER_BYTES


@dataclass(frozen=True, slots=True)
class InstallSnapshot:
    """Catch-up past the leader's compacted log: the chosen state up to the snapshot."""

    source: NodeId
    target: NodeId
    term: Term
    snapshot: Snapshot

    def size_bytes(self) -> int:
        return HEADER_BYTES + self.snapshot.size_bytes()


@dataclass(frozen=True, slots=True)
class TimeoutNow:
    """The leader asks its chosen successor to start phase 1 at once."""

    source: NodeId
    target: NodeId
    term: Term

    def size_bytes(self) -> int:
        return HEADER_BYTES


@dataclass(frozen=True, slots=True)
class ReadIndexRequest:
    source: NodeId
    target: NodeId
    term: Term
    request_id: bytes

    def size_bytes(self) -> int:
        return HEADER_BYTES + len(self.request_id)


@dataclass(frozen=True, slots=True)
class ReadIndexResponse:
    """The read point for a forwarded read; ``index`` 0 means refused."""

    source: NodeId
    target: NodeId
    term: Term
    request_id: bytes
    index: LogIndex

    def size_bytes(self) -> int:
        return HEADER_BYTES + len(self.request_id)


PaxosMessage = (
    Prepare
    | Promise
    | Accept
    | Accepted
    | Heartbeat
    | HeartbeatAck
    | InstallSnapshot
    | TimeoutNow
    | ReadIndexRequest
    | ReadIndexResponse
)

PAXOS_MESSAGE_TYPES = (
    Prepare,
    Promise,
    Accept,
    Accepted,
    Heartbeat,
    HeartbeatAck,
    InstallSnapshot,
    TimeoutNow,
    ReadIndexRequest,
    ReadIndexResponse,
)

LEADER_MESSAGES = (Accept, Heartbeat, InstallSnapshot, TimeoutNow, ReadIndexResponse)
"""What a leader sends: no promise about its own disk, so it may leave before the fsync."""
