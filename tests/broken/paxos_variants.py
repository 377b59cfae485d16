"""Deliberately broken Multi-Paxos engines: each breaks one rule the real engine keeps, and the
simulator must notice (see ``test_broken_paxos.py``)."""

from __future__ import annotations

from synod.consensus.paxos import PaxosEngine
from synod.consensus.paxos.ballot import ballot, round_of
from synod.consensus.paxos.messages import Accept, Heartbeat, InstallSnapshot
from synod.core.engine import Role
from synod.core.ids import LogIndex, NodeId, Term
from synod.core.log import EntryKind


class AcceptsLowerBallot(PaxosEngine):
    """(a) An acceptor that accepts values in a ballot lower than the one it promised."""

    def _follow(self, message: Accept | Heartbeat | InstallSnapshot) -> bool:
        if message.term < self.promised and self.role is Role.FOLLOWER:
            self.leader = message.source
            self._election_elapsed = 0
            return True
        return super()._follow(message)


class IgnoresPromisedValues(PaxosEngine):
    """(b) A proposer that ignores the values returned in promises: it re-proposes only what
    its own log holds, and no-ops past it."""

    def _merge_promises(self, first: LogIndex) -> list[tuple[EntryKind, bytes]]:
        own = self._promises.get(self.node_id)
        entries = own.entries if own is not None else ()
        return [(entry.kind, entry.data) for entry in entries if entry.index >= first]


class SharedBallot(PaxosEngine):
    """(c) Ballots without the node part: two nodes can lead the same ballot number."""

    def _new_ballot(self) -> Term:
        return ballot(round_of(max(self._seen, self.promised)) + 1, NodeId(1))


VARIANTS: dict[str, type[PaxosEngine]] = {
    "accepts-lower-ballot": AcceptsLowerBallot,
    "ignores-promised-values": IgnoresPromisedValues,
    "shared-ballot": SharedBallot,
}
