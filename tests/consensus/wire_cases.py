"""What the shared wire-codec tests (test_wire_codecs.py) need of each engine: its codec, its
message types with one strategy each, builders for the few messages the refusal tests damage
on purpose, and its pinned bytes (a change to those breaks every running cluster: add a new
first byte instead)."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from synod.consensus.paxos import messages as paxos
from synod.consensus.paxos import wire as paxos_wire
from synod.consensus.raft import messages as raft
from synod.consensus.raft import wire as raft_wire
from synod.consensus.wire import WireCodec
from synod.core.engine import Message
from synod.core.ids import LogIndex, NodeId, Term
from synod.core.log import Entry, EntryKind, Membership, Snapshot, SnapshotMeta

u64 = st.integers(0, 2**64 - 1)
nodes = u64.map(NodeId)
terms = u64.map(Term)
indexes = u64.map(LogIndex)
flags = st.booleans()
entries = st.builds(Entry, indexes, terms, st.sampled_from(EntryKind), st.binary(max_size=64))
entry_lists = st.lists(entries, max_size=8).map(tuple)
request_ids = st.binary(max_size=32)


@st.composite
def memberships(draw: st.DrawFn) -> Membership:
    members = draw(st.frozensets(nodes, max_size=9))
    learners = draw(st.frozensets(st.sampled_from(sorted(members)))) if members else frozenset()
    return Membership(members - learners, learners)


snapshots = st.builds(
    Snapshot, st.builds(SnapshotMeta, indexes, terms, memberships()), st.binary(max_size=256)
)

PINNED_ENTRIES = (
    Entry(LogIndex(7), Term(3), EntryKind.NORMAL, b"put"),
    Entry(LogIndex(8), Term(3), EntryKind.MEMBERSHIP, b"\x00\xff"),
)
PINNED_SNAPSHOT = Snapshot(
    SnapshotMeta(
        LogIndex(9),
        Term(3),
        Membership(frozenset({NodeId(2), NodeId(1)}), frozenset({NodeId(300)})),
    ),
    b"state",
)


@dataclass(frozen=True)
class WireCase:
    codec: WireCodec[Any]
    message_types: tuple[type, ...]
    per_type: tuple[st.SearchStrategy[Message], ...]
    """One strategy per message type, in ``message_types`` order."""
    timeout_now: Callable[[NodeId, NodeId, Term], Message]
    carrying_entries: Callable[[tuple[Entry, ...]], Message]
    carrying_snapshot: Callable[[Snapshot], Message]
    pinned: tuple[tuple[Message, str], ...]
    """Messages and their exact encoding in hex (spaces ignored), as the format fixes them."""

    @property
    def name(self) -> str:
        return self.codec.engine

    @property
    def messages(self) -> st.SearchStrategy[Message]:
        return st.one_of(*self.per_type)


RAFT = WireCase(
    codec=raft_wire.CODEC,
    message_types=raft.RAFT_MESSAGE_TYPES,
    per_type=(
        st.builds(raft.VoteRequest, nodes, nodes, terms, indexes, terms, flags, flags),
        st.builds(raft.VoteResponse, nodes, nodes, terms, flags, flags),
        st.builds(
            raft.AppendEntries, nodes, nodes, terms, indexes, terms, entry_lists, indexes, u64
        ),
        st.builds(
            raft.AppendResponse, nodes, nodes, terms, indexes, flags, indexes, terms, flags, u64
        ),
        st.builds(raft.Heartbeat, nodes, nodes, terms, indexes, u64),
        st.builds(raft.HeartbeatResponse, nodes, nodes, terms, u64),
        st.builds(raft.InstallSnapshot, nodes, nodes, terms, snapshots, u64),
        st.builds(raft.TimeoutNow, nodes, nodes, terms),
        st.builds(raft.ReadIndexRequest, nodes, nodes, terms, request_ids),
        st.builds(raft.ReadIndexResponse, nodes, nodes, terms, request_ids, indexes),
        st.builds(raft.CommitNotice, nodes, nodes, terms, indexes, terms, indexes, u64),
    ),
    timeout_now=raft.TimeoutNow,
    carrying_entries=lambda entries: raft.AppendEntries(
        NodeId(1), NodeId(2), Term(1), LogIndex(0), Term(0), entries, LogIndex(0)
    ),
    carrying_snapshot=lambda snapshot: raft.InstallSnapshot(
        NodeId(1), NodeId(2), Term(2), snapshot
    ),
    pinned=(
        (
            raft.AppendEntries(
                NodeId(1), NodeId(2), Term(3), LogIndex(6), Term(2), PINNED_ENTRIES, LogIndex(5), 4
            ),
            "01 99 03 01 02 03 06 02 92 94 07 03 00 c4 03 707574 94 08 03 01 c4 02 00ff 05 04",
        ),
        (
            raft.InstallSnapshot(NodeId(1), NodeId(2), Term(3), PINNED_SNAPSHOT, 4),
            "01 9a 07 01 02 03 09 03 92 01 02 91 cd 012c c4 05 7374617465 04",
        ),
    ),
)

PAXOS = WireCase(
    codec=paxos_wire.CODEC,
    message_types=paxos.PAXOS_MESSAGE_TYPES,
    per_type=(
        st.builds(paxos.Prepare, nodes, nodes, terms, indexes, flags),
        st.builds(paxos.Promise, nodes, nodes, terms, flags, indexes, entry_lists, flags, flags),
        st.builds(paxos.Accept, nodes, nodes, terms, indexes, entry_lists, indexes),
        st.builds(paxos.Accepted, nodes, nodes, terms, flags, indexes, indexes, indexes, indexes),
        st.builds(paxos.Heartbeat, nodes, nodes, terms, indexes, u64),
        st.builds(paxos.HeartbeatAck, nodes, nodes, terms, u64, indexes),
        st.builds(paxos.InstallSnapshot, nodes, nodes, terms, snapshots),
        st.builds(paxos.TimeoutNow, nodes, nodes, terms),
        st.builds(paxos.ReadIndexRequest, nodes, nodes, terms, request_ids),
        st.builds(paxos.ReadIndexResponse, nodes, nodes, terms, request_ids, indexes),
    ),
    timeout_now=paxos.TimeoutNow,
    carrying_entries=lambda entries: paxos.Accept(
        NodeId(1), NodeId(2), Term(1), LogIndex(0), entries, LogIndex(0)
    ),
    carrying_snapshot=lambda snapshot: paxos.InstallSnapshot(
        NodeId(1), NodeId(2), Term(2), snapshot
    ),
    pinned=(
        (
            paxos.Accept(
                NodeId(1), NodeId(2), Term(2**40 + 1), LogIndex(6), PINNED_ENTRIES, LogIndex(5)
            ),
            "51 97 03 01 02 cf 0000010000000001 06 92 94 07 03 00 c4 03 707574"
            " 94 08 03 01 c4 02 00ff 05",
        ),
        (
            paxos.InstallSnapshot(NodeId(1), NodeId(2), Term(3), PINNED_SNAPSHOT),
            "51 99 07 01 02 03 09 03 92 01 02 91 cd 012c c4 05 7374617465",
        ),
    ),
)

CASES = (RAFT, PAXOS)
