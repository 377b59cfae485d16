"""Raft's messages: one frozen, slotted dataclass each, a closed union, and a readable form.

The readable form (``describe``) is what interaction-test scripts print, so it is stable:
changing it means rewriting the expected traces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import assert_never

from synod.core.ids import NO_INDEX, NO_TERM, LogIndex, NodeId, Term
from synod.core.log import Entry, EntryKind, MembershipChange, Snapshot

HEADER_BYTES = 32


@dataclass(frozen=True, slots=True)
class VoteRequest:
    source: NodeId
    target: NodeId
    term: Term
    last_index: LogIndex
    last_term: Term
    pre_vote: bool = False
    transfer: bool = False
    """Sent because the leader handed over (TimeoutNow): voters ignore their leader lease."""

    def size_bytes(self) -> int:
        return HEADER_BYTES


@dataclass(frozen=True, slots=True)
class VoteResponse:
    source: NodeId
    target: NodeId
    term: Term
    granted: bool
    pre_vote: bool = False

    def size_bytes(self) -> int:
        return HEADER_BYTES


@dataclass(frozen=True, slots=True)
class AppendEntries:
    source: NodeId
    target: NodeId
    term: Term
    prev_index: LogIndex
    prev_term: Term
    entries: tuple[Entry, ...]
    commit: LogIndex
    epoch: int = 0
    """The leader's loss epoch for this follower (``Progress.epoch``), echoed in the answer."""

    def size_bytes(self) -> int:
        return HEADER_BYTES + sum(entry.size_bytes() for entry in self.entries)


@dataclass(frozen=True, slots=True)
class CommitNotice:
    """An AppendEntries without entries that wants no answer unless it is refused: the leader
    sends it, in place of an empty AppendEntries, to carry a new commit index to a follower it
    replicates to (whose acknowledgements of ``prev_index`` are on their way or arrived).

    The follower checks ``prev_index``/``prev_term`` exactly as for an AppendEntries; a match
    raises its commit to ``min(commit, prev_index)`` and is not answered (the answer would tell
    the leader nothing new); a mismatch is answered with the same rejection."""

    source: NodeId
    target: NodeId
    term: Term
    prev_index: LogIndex
    prev_term: Term
    commit: LogIndex
    epoch: int = 0

    def size_bytes(self) -> int:
        return HEADER_BYTES

    def as_append(self) -> AppendEntries:
        """The AppendEntries it stands for."""
        return AppendEntries(
            self.source,
            self.target,
            self.term,
            self.prev_index,
            self.prev_term,
            (),
            self.commit,
            self.epoch,
        )


@dataclass(frozen=True, slots=True)
class AppendResponse:
    """Success: the follower's log matches the leader's up to ``index``.

    Rejection: ``index`` is the rejected ``prev_index``; (``hint_index``, ``hint_term``) is the
    last entry at or below it whose term is at most the leader's ``prev_term``, so the leader
    can skip a whole conflicting term in one round trip. ``log_lost``: the follower is
    repairing a damaged log, so its hint may lie below what it acknowledged before.
    ``epoch``: echoed from the AppendEntries or InstallSnapshot this answers."""

    source: NodeId
    target: NodeId
    term: Term
    index: LogIndex
    reject: bool = False
    hint_index: LogIndex = NO_INDEX
    hint_term: Term = NO_TERM
    log_lost: bool = False
    epoch: int = 0

    def size_bytes(self) -> int:
        return HEADER_BYTES


@dataclass(frozen=True, slots=True)
class Heartbeat:
    source: NodeId
    target: NodeId
    term: Term
    commit: LogIndex
    read_round: int = 0
    """The newest ReadIndex round the leader wants confirmed (0: none)."""

    def size_bytes(self) -> int:
        return HEADER_BYTES


@dataclass(frozen=True, slots=True)
class HeartbeatResponse:
    source: NodeId
    target: NodeId
    term: Term
    read_round: int = 0

    def size_bytes(self) -> int:
        return HEADER_BYTES


@dataclass(frozen=True, slots=True)
class InstallSnapshot:
    source: NodeId
    target: NodeId
    term: Term
    snapshot: Snapshot
    epoch: int = 0

    def size_bytes(self) -> int:
        return HEADER_BYTES + self.snapshot.size_bytes()


@dataclass(frozen=True, slots=True)
class TimeoutNow:
    """The leader asks its chosen successor to campaign at once."""

    source: NodeId
    target: NodeId
    term: Term

    def size_bytes(self) -> int:
        return HEADER_BYTES


@dataclass(frozen=True, slots=True)
class ReadIndexRequest:
    """A follower forwards a linearizable read to the leader."""

    source: NodeId
    target: NodeId
    term: Term
    request_id: bytes

    def size_bytes(self) -> int:
        return HEADER_BYTES + len(self.request_id)


@dataclass(frozen=True, slots=True)
class ReadIndexResponse:
    """The read point for a forwarded read; ``index`` 0 means refused (leadership lost)."""

    source: NodeId
    target: NodeId
    term: Term
    request_id: bytes
    index: LogIndex

    def size_bytes(self) -> int:
        return HEADER_BYTES + len(self.request_id)


RaftMessage = (
    VoteRequest
    | VoteResponse
    | AppendEntries
    | CommitNotice
    | AppendResponse
    | Heartbeat
    | HeartbeatResponse
    | InstallSnapshot
    | TimeoutNow
    | ReadIndexRequest
    | ReadIndexResponse
)

RAFT_MESSAGE_TYPES = (
    VoteRequest,
    VoteResponse,
    AppendEntries,
    AppendResponse,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    TimeoutNow,
    ReadIndexRequest,
    ReadIndexResponse,
    CommitNotice,
)


def describe_entry(entry: Entry) -> str:
    if entry.kind is EntryKind.MEMBERSHIP:
        change = MembershipChange.decode(entry.data)
        return f"{entry.term}/{entry.index} {change.kind.name.lower()} {change.node}"
    text = entry.data.decode("utf-8", "backslashreplace") if entry.data else "<noop>"
    return f"{entry.term}/{entry.index} {text}"


def describe(message: RaftMessage) -> str:
    """A one-line rendering: ``1->2 AppendEntries term=2 prev=2/5 commit=5 [2/6 put x]``."""
    head = f"{message.source}->{message.target} {type(message).__name__} term={message.term}"
    return f"{head} {_describe_body(message)}".rstrip()


def _describe_body(message: RaftMessage) -> str:  # noqa: PLR0911 - one arm per message type
    match message:
        case VoteRequest():
            flags = " pre" * message.pre_vote + " transfer" * message.transfer
            return f"last={message.last_term}/{message.last_index}{flags}"
        case VoteResponse():
            verdict = "granted" if message.granted else "rejected"
            return verdict + " pre" * message.pre_vote
        case AppendEntries():
            entries = ", ".join(describe_entry(entry) for entry in message.entries)
            prev = f"prev={message.prev_term}/{message.prev_index}"
            return f"{prev} commit={message.commit}{_epoch(message.epoch)} [{entries}]"
        case CommitNotice():
            prev = f"prev={message.prev_term}/{message.prev_index}"
            return f"{prev} commit={message.commit}{_epoch(message.epoch)}"
        case AppendResponse():
            if message.reject:
                hint = f"hint={message.hint_term}/{message.hint_index}"
                lost = " log-lost" if message.log_lost else ""
                return f"rejected index={message.index} {hint}{lost}{_epoch(message.epoch)}"
            return f"index={message.index}{_epoch(message.epoch)}"
        case Heartbeat():
            return f"commit={message.commit}" + _round(message.read_round)
        case HeartbeatResponse():
            return _round(message.read_round).lstrip()
        case InstallSnapshot():
            meta = message.snapshot.meta
            voters = ",".join(str(v) for v in sorted(meta.membership.voters))
            return f"snapshot={meta.term}/{meta.index} voters={voters}"
        case TimeoutNow():
            return ""
        case ReadIndexRequest():
            return f"read={message.request_id.decode('utf-8', 'backslashreplace')}"
        case ReadIndexResponse():
            read = message.request_id.decode("utf-8", "backslashreplace")
            return f"read={read} index={message.index}"
        case _:
            assert_never(message)


def _round(read_round: int) -> str:
    return f" round={read_round}" if read_round else ""


def _epoch(epoch: int) -> str:
    return f" epoch={epoch}" if epoch else ""
