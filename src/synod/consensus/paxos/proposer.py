"""Phase 1 of the Multi-Paxos engine: from candidate to leader.

Rules this module keeps:

- Phase 1 runs once for all slots from the candidate's first unchosen slot ``first``, in a
  ballot one round above anything the node has seen.
- The candidate merges the promises: for each slot from ``first`` up to the highest one
  reported, the value with the highest ballot, or a no-op where none is reported. The
  configurations that merged log assigns to its slots (``membership.py``: a change at slot
  ``i`` governs from ``i + 1``), plus the one governing the slot after it, must each have
  granted a quorum of promises before the candidate leads; a voter that appears in them is
  sent a prepare as soon as it appears. The candidate gives up when the configuration of
  ``first`` (known: it follows from the chosen prefix) can no longer grant a quorum.
- A quorum of promises in a configuration of ``n`` voters is a majority of them of which at
  least ``n - majority + 1`` are intact, that is, not from an acceptor repairing a damaged log
  (``Promise.repairing``). Such an acceptor may have lost values it accepted, so its report
  proves nothing; the intact promisers alone meet every majority, so every value chosen
  before is reported by one of them (or, by induction, the same value in a higher ballot).
  With an odd ``n`` that is an intact majority, and repairing promises never help; with an
  even ``n`` they do: in a configuration of two voters, one of which repairs, the other's own
  promise with the repairing one completes phase 1, where otherwise no leader could ever be
  chosen again (a change to a larger configuration held but not yet known chosen leaves the
  slots before it governed by the two).
- The new leader re-proposes the merged values in its own ballot and appends one no-op of
  its own: once that is chosen, everything chosen before it is known.
"""

from __future__ import annotations

from synod.consensus.paxos.acceptor import UNLIMITED, Acceptor
from synod.consensus.paxos.ballot import next_ballot
from synod.consensus.paxos.membership import Configurations
from synod.consensus.paxos.messages import Prepare, Promise
from synod.consensus.paxos.progress import Progress
from synod.consensus.quorum import VoteResult, majority, vote_result
from synod.core.engine import Role
from synod.core.ids import NO_INDEX, NO_NODE, NO_TERM, LogIndex, NodeId, Term
from synod.core.log import Entry, EntryKind, Membership


class Proposer(Acceptor):
    _phase1_first: LogIndex
    _phase1_transfer: bool

    def _maybe_commit(self) -> None: ...

    def _start_phase1(self, *, transfer: bool) -> None:
        """Phase 1a: promise ourselves a fresh ballot and ask every acceptor for theirs."""
        self.promised = self._new_ballot()
        self._seen = self.promised
        self.role = Role.CANDIDATE
        self.leader = NO_NODE
        self._progress = {}
        self._election_elapsed = 0
        self._election_timeout = self._random_election_timeout()
        self._votes, self._promises, self._asked = {}, {}, {self.node_id}
        self._phase1_first = LogIndex(self.log.committed + 1)
        self._phase1_transfer = transfer
        self._record_promise(self._own_promise(self._phase1_first))

    def _new_ballot(self) -> Term:
        return next_ballot(Term(max(self._seen, self.promised)), self.node_id)

    def _own_promise(self, first: LogIndex) -> Promise:
        entries = tuple(self.log.entries(first, UNLIMITED))
        return Promise(self.node_id, self.node_id, self.promised, True, self.log.committed, entries)

    def _on_promise(self, message: Promise) -> None:
        if self._step_down_if_outranked(message.term):
            return
        if self.role is Role.CANDIDATE and message.term == self.promised:
            self._record_promise(message)
        elif self.role is Role.LEADER and message.term == self.promised and message.granted:
            progress = self._progress.get(message.source)
            if progress is not None:  # a promise that came after the quorum's
                progress.chosen_held(LogIndex(min(message.commit, self.log.committed)))
                self._send_accepts(message.source)

    def _send_accepts(self, node: NodeId) -> None: ...

    def _record_promise(self, promise: Promise) -> None:
        self._votes[promise.source] = promise.granted
        if promise.granted:
            self._promises[promise.source] = promise
        configs = self._phase1_configurations()
        if self._phase1_result(configs[0]) is VoteResult.LOST:
            self._become_follower(self.promised, NO_NODE)
            return
        if all(self._phase1_result(c) is VoteResult.WON for c in configs):
            self._become_leader()
            return
        voters: set[NodeId] = set()
        for config in configs:
            voters |= config.voters
        for node in sorted(voters - self._asked):
            self._asked.add(node)
            message = Prepare(
                self.node_id, node, self.promised, self._phase1_first, self._phase1_transfer
            )
            self._send(message)

    def _phase1_result(self, config: Membership) -> VoteResult:
        """Phase 1 in one configuration: WON with promises from a majority of its voters of
        which ``n - majority + 1`` are intact (see the module's rules)."""
        voters = config.voters
        result = vote_result(voters, self._votes)
        if result is VoteResult.LOST:
            return result
        answered = [v for v in voters if v in self._votes]
        intact = sum(1 for v in answered if v in self._promises and not self._promises[v].repairing)
        needed = len(voters) - majority(len(voters)) + 1
        if len(voters) - (len(answered) - intact) < needed:
            return VoteResult.LOST
        return result if intact >= needed else VoteResult.PENDING

    def _phase1_configurations(self) -> list[Membership]:
        """Every configuration governing a slot the merged promises would have this node
        propose: from ``first`` to the slot of the leader's own no-op."""
        first = self._phase1_first
        configs = Configurations(LogIndex(first - 1), self._configs.at(first))
        values = self._merge_promises(first)
        merged = [
            Entry(LogIndex(first + offset), NO_TERM, kind, data)
            for offset, (kind, data) in enumerate(values)
        ]
        configs.record(merged)
        return configs.governing(first, LogIndex(first + len(values)))

    def _become_leader(self) -> None:
        """Phase 1 done: re-propose the highest-ballot value of every slot, fill holes."""
        first = LogIndex(self.log.committed + 1)
        chosen_values = self._merge_promises(first)
        entries = [
            Entry(LogIndex(first + offset), self.promised, kind, data)
            for offset, (kind, data) in enumerate(chosen_values)
        ]
        self._noop_index = LogIndex(first + len(entries))
        entries.append(Entry(self._noop_index, self.promised))
        self._log_append(entries)
        self.role = Role.LEADER
        self.leader = self.node_id
        self._votes, self._asked = {}, set()
        self._progress = {}
        for node in self._replication_targets():
            reported = self._promises.get(node)
            match = min(reported.commit, self.log.committed) if reported else NO_INDEX
            self._progress[node] = Progress(match, LogIndex(self.log.committed + 1))
        self._promises = {}
        self._heartbeat_elapsed = 0
        self._election_elapsed = 0
        self._broadcast_pending = True
        self._maybe_commit()

    def _replication_targets(self) -> set[NodeId]:
        """Every member (voter or learner) of a configuration governing a slot past the
        chosen prefix, up to the next free slot: the leader sends them its values."""
        low = LogIndex(self.log.committed + 1)
        high = LogIndex(self.log.last_index() + 1)
        members: set[NodeId] = set()
        for config in self._configs.governing(low, high):
            members |= config.members
        members.discard(self.node_id)
        return members

    def _merge_promises(self, first: LogIndex) -> list[tuple[EntryKind, bytes]]:
        """For each slot from ``first`` on: the value accepted in the highest ballot, or a
        no-op where no promise reports one (a hole nobody can have chosen)."""
        best: dict[int, Entry] = {}
        for promise in self._promises.values():
            for entry in promise.entries:
                if entry.index < first:
                    continue
                known = best.get(entry.index)
                if known is None or entry.term > known.term:
                    best[entry.index] = entry
        if not best:
            return []
        values: list[tuple[EntryKind, bytes]] = []
        for index in range(first, max(best) + 1):
            found = best.get(index)
            values.append((found.kind, found.data) if found else (EntryKind.NORMAL, b""))
        return values
