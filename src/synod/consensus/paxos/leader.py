"""The leader's half of the Multi-Paxos engine: phase 2, choosing, membership, ReadIndex.

Rules this module keeps:

- Every slot the leader holds past its first unchosen slot carries its ballot; a slot is
  chosen once a quorum of the voters of the configuration governing it (``membership.py``)
  accepted it in that ballot, counting the leader only once its own write is durable, and
  only as a prefix: the chosen index stops at the first slot without such a quorum.
- Learners, and every member of a configuration governing a slot past the chosen prefix, are
  sent the values and heartbeats; only voters count in quorums.
- Once the chosen prefix passes the leader's own removal, the leader tells everyone the new
  chosen index and steps down; it no longer campaigns (it is no voter).
- Check quorum, and the confirmation of reads, use the voters of the configuration after
  every chosen change. A rival needs a quorum of that configuration to choose past it, and
  when a change is chosen during a read round the two configurations differ by one server,
  so their quorums still meet.
- A read is answered at the chosen index of a heartbeat round that a quorum confirmed, and
  only once the leader's own no-op is chosen.
"""

from __future__ import annotations

from synod.consensus.paxos.messages import (
    Accept,
    Accepted,
    Heartbeat,
    HeartbeatAck,
    InstallSnapshot,
    ReadIndexResponse,
)
from synod.consensus.paxos.progress import Progress
from synod.consensus.paxos.proposer import Proposer
from synod.consensus.quorum import committed_index, has_quorum
from synod.consensus.reads import PendingRead
from synod.core.engine import Role
from synod.core.errors import LogCompacted, NotLeader, ProposalDropped
from synod.core.ids import NO_INDEX, NO_NODE, LogIndex, NodeId
from synod.core.log import Entry, EntryKind


class Leader(Proposer):
    # -- proposals ------------------------------------------------------------------------------

    def _check_can_propose(self) -> None:
        if self.role is not Role.LEADER:
            raise NotLeader(f"node {self.node_id} is not the leader", self.leader)
        if self._transferee != NO_NODE:
            raise ProposalDropped("leadership transfer in progress", self.leader)
        if self.node_id not in self._configs.latest.voters:
            raise ProposalDropped(f"leader {self.node_id} is being removed", NO_NODE)
        if self.log.last_index() - self.log.committed >= self.config.proposal_entries_max:
            raise ProposalDropped("too many unchosen proposals", self.leader)

    def _append_own(self, kind: EntryKind, data: bytes) -> LogIndex:
        index = LogIndex(self.log.last_index() + 1)
        self._log_append([Entry(index, self.promised, kind, data)])
        if kind is EntryKind.MEMBERSHIP:
            self._sync_progress()
        self._broadcast_pending = True
        return index

    def _change_pending(self) -> bool:
        """A change held past the chosen prefix: the next one waits until it is chosen."""
        return bool(self._configs.changes_from(LogIndex(self.log.committed + 1)))

    def _sync_progress(self) -> None:
        """Track exactly the replication targets (after a change was appended or chosen)."""
        targets = self._replication_targets()
        for node in sorted(targets - self._progress.keys()):
            self._progress[node] = Progress(NO_INDEX, LogIndex(self.log.committed + 1))
        for node in self._progress.keys() - targets:
            del self._progress[node]

    # -- phase 2 --------------------------------------------------------------------------------

    def _tick_leader(self) -> None:
        self._heartbeat_elapsed += 1
        if self._election_elapsed >= self.config.election_timeout_ticks:
            self._election_elapsed = 0
            if self.config.check_quorum and not self._quorum_active():
                self._become_follower(self.promised, NO_NODE)
                return
            self._transferee = NO_NODE
        if self._heartbeat_elapsed >= self.config.heartbeat_interval_ticks:
            self._heartbeat_elapsed = 0
            for node in sorted(self._progress):
                self._heartbeat(node)

    def _quorum_active(self) -> bool:
        active = {node for node, progress in self._progress.items() if progress.active}
        for progress in self._progress.values():
            progress.active = False
        return has_quorum(self.membership.voters, active | {self.node_id})

    def _heartbeat(self, node: NodeId) -> None:
        progress = self._progress[node]
        if progress.match < self.log.last_index() and not progress.progressed:
            progress.rewind()
        progress.progressed = False
        self._send_heartbeat(node, self._reads.current_round)
        self._send_accepts(node)

    def _send_heartbeat(self, node: NodeId, read_round: int) -> None:
        progress = self._progress[node]
        commit = LogIndex(min(self.log.committed, progress.match))
        progress.told = max(progress.told, commit)
        self._send(Heartbeat(self.node_id, node, self.promised, commit, read_round))

    def _tell_chosen(self, node: NodeId) -> None:
        """Send ``node`` the chosen index now if it holds chosen values it was not told of."""
        progress = self._progress[node]
        if min(self.log.committed, progress.match) > progress.told:
            self._send_heartbeat(node, self._reads.current_round)

    def _send_accepts(self, node: NodeId) -> None:
        progress = self._progress.get(node)
        if progress is None or progress.snapshot:
            return
        while progress.can_send(self.config.inflight_messages_max):
            if progress.next > self.log.last_index():
                return
            try:
                batch = self.log.entries(progress.next, self.config.message_bytes_max)
            except LogCompacted:
                self._send_snapshot(node, progress)
                return
            commit = LogIndex(min(self.log.committed, progress.match))
            progress.told = max(progress.told, commit)
            prev = LogIndex(progress.next - 1)
            self._send(Accept(self.node_id, node, self.promised, prev, tuple(batch), commit))
            progress.next = LogIndex(batch[-1].index + 1)
            progress.sent(batch[-1].index)

    def _send_snapshot(self, node: NodeId, progress: Progress) -> None:
        snapshot = self.log.storage.snapshot()
        progress.snapshot = snapshot.meta.index
        progress.next = LogIndex(snapshot.meta.index + 1)
        self._send(InstallSnapshot(self.node_id, node, self.promised, snapshot))

    def _answering(self, message: Accepted | HeartbeatAck) -> Progress | None:
        """The progress of an acceptor answering this leader's ballot (None for any other
        answer: one from a higher ballot makes this leader step down), updated with what the
        answer shows: the acceptor is alive and knows its chosen prefix."""
        if self._step_down_if_outranked(message.term):
            return None
        if self.role is not Role.LEADER or message.term != self.promised:
            return None
        progress = self._progress.get(message.source)
        if progress is not None:
            progress.active = True
            progress.chosen_held(LogIndex(min(message.commit, self.log.committed)))
        return progress

    def _on_accepted(self, message: Accepted) -> None:
        progress = self._answering(message)
        if progress is None:
            return
        run = LogIndex(min(message.run, self.log.last_index()))
        if message.ok:
            acknowledged = progress.acknowledged(message.prev, message.last)
            if progress.held_run(run) or acknowledged:
                progress.progressed = True
                self._maybe_commit()
        else:
            if not progress.probing or message.prev == progress.match:
                if message.last < progress.match:
                    # It holds less than it acknowledged: a repair cut its log (or this refusal
                    # is older than the acknowledgement). Start over from its chosen prefix.
                    progress.match = LogIndex(min(message.commit, self.log.committed))
                progress.rewind()  # a hole: probe again, from the first slot it lacks (below)
            if progress.held_run(run):
                progress.progressed = True
                self._maybe_commit()
        if self._progress.get(message.source) is not progress:
            return  # a chosen change removed it, or this leader (which then told everyone)
        self._send_accepts(message.source)
        # It may hold chosen values it does not know are chosen (its acknowledgement came
        # after the quorum's): tell it now rather than at the next heartbeat tick.
        self._tell_chosen(message.source)

    def _on_heartbeat_ack(self, message: HeartbeatAck) -> None:
        if self._answering(message) is None:
            return
        self._reads.ack(message.source, message.read_round)
        self._release_reads()

    def _maybe_commit(self) -> None:
        """Chosen: accepted in our ballot by a quorum of each slot's configuration, counting
        our own durable values, slot by slot from the first unchosen one."""
        match = {node: progress.match for node, progress in self._progress.items()}
        match[self.node_id] = LogIndex(self.log.unstable_offset - 1)
        old = self.log.committed
        chosen = old
        for low, high, config in self._configs.segments(LogIndex(old + 1), self.log.last_index()):
            reach = committed_index(config.voters, match)
            if reach < low:
                break
            chosen = LogIndex(min(reach, high))
            if reach < high:
                break
        if chosen <= old:
            return
        term = self.log.term(chosen)
        assert term == self.promised, f"choosing slot {chosen} of ballot {term}"
        self.log.commit_to(chosen)
        self._broadcast_pending = True
        self._chosen_untold = True
        if self._configs.changes_from(LogIndex(old + 1)):
            self._on_change_chosen()

    def _on_change_chosen(self) -> None:
        if self.node_id in self.membership.voters:
            self._sync_progress()
            return
        for node in sorted(self._progress):  # let the others learn the choice first
            self._send_heartbeat(node, 0)
            self._send_accepts(node)
        self._become_follower(self.promised, NO_NODE)

    def _noop_chosen(self) -> bool:
        return self.log.committed >= self._noop_index

    # -- reads ----------------------------------------------------------------------------------

    def _leader_read(self, read: PendingRead) -> None:
        if self._reads.full():
            self._refuse_read(read)
            return
        self._reads.add(read)
        if self.membership.voters == {self.node_id} and self._serves_reads():
            self._reads.start_round(self.log.committed)
            self._release_reads()

    def _serves_reads(self) -> bool:
        return self._noop_chosen()

    def _read_response(
        self, target: NodeId, request_id: bytes, index: LogIndex
    ) -> ReadIndexResponse:
        return ReadIndexResponse(self.node_id, target, self.promised, request_id, index)
