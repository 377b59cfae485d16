"""A one-node stand-in engine: every proposal commits in the Ready that persists it.

Enough to drive the replica through each branch (redirects, refusals, reads, compaction,
received snapshots) without a real consensus engine.
"""

from __future__ import annotations

from synod.core.engine import Message, ReadState, Ready, SoftState
from synod.core.errors import NotLeader, ProposalDropped
from synod.core.ids import LogIndex, NodeId, Term
from synod.core.log import (
    Entry,
    EntryKind,
    HardState,
    Membership,
    MembershipChange,
    Snapshot,
    SnapshotMeta,
)


class FakeEngine:
    def __init__(self, node_id: int = 1, last_index: int = 0) -> None:
        self.node_id = NodeId(node_id)
        self.term = Term(1)
        self.leader = self.node_id
        self.membership = Membership(frozenset({self.node_id}))
        self.last = LogIndex(last_index)
        self.full = False
        self.unstable: list[Entry] = []
        self.read_states: list[ReadState] = []
        self.refused: list[bytes] = []
        self.compaction: Snapshot | None = None
        self.incoming_snapshot: Snapshot | None = None
        self.stepped: list[Message] = []
        self.ticks = 0
        self.advanced: list[Ready] = []

    def tick(self) -> None:
        self.ticks += 1

    def step(self, message: Message) -> None:
        self.stepped.append(message)

    def propose(self, command: bytes) -> None:
        self._check_leader()
        self.append(EntryKind.NORMAL, command)

    def append(self, kind: EntryKind, data: bytes) -> None:
        self.last = LogIndex(self.last + 1)
        self.unstable.append(Entry(self.last, self.term, kind, data))

    def _check_leader(self) -> None:
        if self.leader != self.node_id:
            raise NotLeader("not the leader", self.leader)
        if self.full:
            raise ProposalDropped("too many proposals", self.leader)

    def read_index(self, request_id: bytes) -> None:
        if self.leader != self.node_id:
            self.refused.append(request_id)
            return
        self.read_states.append(ReadState(self.last, request_id))

    def transfer_leadership(self, target: NodeId) -> None:
        raise NotImplementedError

    def change_membership(self, change: MembershipChange) -> None:
        self._check_leader()
        self.append(EntryKind.MEMBERSHIP, change.encode())

    def campaign(self) -> None:
        raise NotImplementedError

    def compact(self, index: LogIndex, data: bytes) -> None:
        self.compaction = Snapshot(SnapshotMeta(index, self.term, self.membership), data)

    def has_ready(self) -> bool:
        return bool(
            self.unstable
            or self.read_states
            or self.refused
            or self.compaction
            or self.incoming_snapshot
        )

    def ready(self) -> Ready | None:
        if not self.has_ready():
            return None
        entries = tuple(self.unstable)
        commit = entries[-1].index if entries else self.last
        ready = Ready(
            soft_state=SoftState(self.leader),
            hard_state=HardState(self.term, self.node_id, commit),
            entries=entries,
            snapshot=self.incoming_snapshot,
            committed_entries=entries,
            read_states=tuple(self.read_states),
            compaction=self.compaction,
            refused_reads=tuple(self.refused),
        )
        self.unstable, self.read_states, self.refused = [], [], []
        self.compaction = self.incoming_snapshot = None
        return ready

    def advance(self, ready: Ready) -> None:
        self.advanced.append(ready)
