"""The leader's half of the Raft engine: replication, commitment, ReadIndex, membership.

``Leadership`` is a mixin of ``RaftEngine``: the state lives on the engine (declared below so
the type checker sees it); this module only holds the behaviour a leader has. Rules it keeps:

- A follower is sent what it misses next, paced by its ``Progress`` (probe, replicate within
  the inflight window, or one snapshot), never more than ``message_bytes_max`` per message.
  With no entries to send, a follower in the replicate state gets a new commit index in a
  ``CommitNotice``, which it answers only to refuse (an answer would bring nothing new).
- The leader's own log counts toward a quorum only once durable (``_on_own_entries_durable``).
- Only an entry of the current term commits by counting replicas (``_commit_candidate_ok``).
- A read is answered at the commit index of a heartbeat round that a quorum confirmed, and
  only once an entry of the leader's own term has committed.
"""

from __future__ import annotations

from synod.consensus.quorum import committed_index, has_quorum
from synod.consensus.raft.membership import MembershipHistory
from synod.consensus.raft.messages import (
    AppendEntries,
    AppendResponse,
    CommitNotice,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    RaftMessage,
    ReadIndexResponse,
    TimeoutNow,
)
from synod.consensus.raft.progress import Inflights, Progress, ProgressState
from synod.consensus.reads import PendingRead
from synod.consensus.ready_cycle import ReadyCycle
from synod.core.engine import Role
from synod.core.errors import LogCompacted, NotLeader, ProposalDropped
from synod.core.ids import NO_INDEX, NO_NODE, LogIndex, NodeId, Term
from synod.core.log import Entry, EntryKind, Membership


class Leadership(ReadyCycle[RaftMessage]):
    term: Term
    _membership: MembershipHistory
    _progress: dict[NodeId, Progress]
    _transferee: NodeId
    _pending_membership_index: LogIndex
    _election_elapsed: int
    _heartbeat_elapsed: int

    @property
    def membership(self) -> Membership:
        return self._membership.current

    def _become_follower(self, term: Term, leader: NodeId) -> None: ...

    def _reset_timers(self) -> None: ...

    def _tick_leader(self) -> None:
        self._heartbeat_elapsed += 1
        self._election_elapsed += 1
        if self._election_elapsed >= self.config.election_timeout_ticks:
            self._election_elapsed = 0
            if self.config.check_quorum and not self._quorum_active():
                self._become_follower(self.term, NO_NODE)
                return
            self._transferee = NO_NODE
            self._tick_snapshot_waits()
        if self._heartbeat_elapsed >= self.config.heartbeat_interval_ticks:
            self._heartbeat_elapsed = 0
            self._broadcast_heartbeat(self._reads.current_round)

    def _quorum_active(self) -> bool:
        active = {node for node, pr in self._progress.items() if pr.recently_active}
        active.add(self.node_id)
        for node, pr in self._progress.items():
            pr.recently_active = node == self.node_id
        return has_quorum(self.membership.voters, active)

    def _tick_snapshot_waits(self) -> None:
        """A snapshot unanswered for two election timeouts was lost: probe again."""
        for progress in self._progress.values():
            if progress.state is ProgressState.SNAPSHOT:
                progress.snapshot_timeouts += 1
                if progress.snapshot_timeouts >= 2:
                    progress.become_probe()

    def _become_leader(self) -> None:
        assert self.role is Role.CANDIDATE, "only a candidate becomes leader"
        self.role = Role.LEADER
        self.leader = self.node_id
        self._reset_timers()
        last = self.log.last_index()
        self._progress = {node: self._new_progress(node, last) for node in self.membership.members}
        # No membership change until this leader's first entry has applied (see membership.py).
        self._pending_membership_index = self._append_own(EntryKind.NORMAL, b"")
        if self._progress.get(self.node_id) is not None:
            self._progress[self.node_id].recently_active = True

    def _new_progress(self, node: NodeId, last: LogIndex) -> Progress:
        progress = Progress(LogIndex(last + 1), Inflights(self.config.inflight_messages_max))
        progress.is_learner = node in self.membership.learners
        if node == self.node_id:
            progress.match = self._durable_last_index()
            progress.next = LogIndex(max(progress.next, progress.match + 1))
            progress.become_replicate()
        return progress

    def _durable_last_index(self) -> LogIndex:
        return LogIndex(self.log.unstable_offset - 1)

    def _check_can_propose(self) -> None:
        if self.role is not Role.LEADER:
            raise NotLeader(f"node {self.node_id} is not the leader", self.leader)
        if self.node_id not in self.membership.members:
            raise NotLeader(f"node {self.node_id} was removed from the cluster")
        if self._transferee != NO_NODE:
            raise ProposalDropped("leadership transfer in progress", self._transferee)
        if self.log.last_index() - self.log.committed >= self.config.proposal_entries_max:
            raise ProposalDropped("too many uncommitted entries", self.leader)

    def _append_own(self, kind: EntryKind, data: bytes) -> LogIndex:
        index = LogIndex(self.log.last_index() + 1)
        self.log.append([Entry(index, self.term, kind, data)])
        self._broadcast_pending = True
        return index

    def _on_own_entries_durable(self) -> None:
        progress = self._progress.get(self.node_id)
        if progress is not None and progress.maybe_update(self._durable_last_index()):
            self._maybe_commit()

    def _commit_candidate_ok(self, index: LogIndex) -> bool:
        """Figure 8: only an entry of the current term commits by counting replicas."""
        return self.log.term(index) == self.term

    def _maybe_commit(self) -> bool:
        match = {node: progress.match for node, progress in self._progress.items()}
        index = committed_index(self.membership.voters, match)
        if index <= self.log.committed or not self._commit_candidate_ok(index):
            return False
        self.log.commit_to(index)
        self._broadcast_pending = True
        return True

    def _serves_reads(self) -> bool:
        return self.log.term(self.log.committed) == self.term

    def _broadcast_append(self) -> None:
        """Send new entries, or at least the new commit index, to every follower."""
        for node in sorted(self._progress):
            if node != self.node_id:
                stale_commit = self._progress[node].commit_sent < self.log.committed
                self._send_append(node, allow_empty=stale_commit)

    def _broadcast_heartbeat(self, read_round: int) -> None:
        for node in sorted(self._progress):
            if node == self.node_id:
                continue
            commit = min(self._progress[node].match, self.log.committed)
            self._send(Heartbeat(self.node_id, node, self.term, commit, read_round))

    def _send_append(self, node: NodeId, *, allow_empty: bool = True) -> bool:
        """Send the follower what it misses next; False when nothing was sent."""
        progress = self._progress[node]
        if progress.paused():
            return False
        prev_index = LogIndex(progress.next - 1)
        prev_term = self.log.term(prev_index)
        try:
            entries = self.log.entries(progress.next, self.config.message_bytes_max)
        except LogCompacted:
            return self._send_snapshot(node, progress)
        if prev_term is None:
            return self._send_snapshot(node, progress)
        if not entries and not allow_empty:
            return False
        commit = self.log.committed
        progress.commit_sent = commit
        if not entries and progress.state is ProgressState.REPLICATE:
            # Only the commit index to carry: a notice that is answered only if refused.
            notice = CommitNotice(
                self.node_id, node, self.term, prev_index, prev_term, commit, progress.epoch
            )
            self._send(notice)
            return True
        self._send(
            AppendEntries(
                self.node_id,
                node,
                self.term,
                prev_index,
                prev_term,
                (*entries,),
                commit,
                progress.epoch,
            )
        )
        progress.sent_entries(entries[-1].index if entries else None)
        return True

    def _send_snapshot(self, node: NodeId, progress: Progress) -> bool:
        if not progress.recently_active:
            return False
        snapshot = self.log.storage.snapshot()
        assert snapshot.meta.index > NO_INDEX, "entries are compacted but no snapshot exists"
        progress.become_snapshot(snapshot.meta.index)
        self._send(InstallSnapshot(self.node_id, node, self.term, snapshot, progress.epoch))
        return True

    def _on_append_response(self, message: AppendResponse) -> None:
        progress = self._progress.get(message.source)
        if progress is None:
            return
        progress.recently_active = True
        if message.epoch != progress.epoch:
            return  # it answers a message sent before the follower's log loss was found
        if message.reject:
            self._on_append_rejected(message, progress)
            return
        was_paused = progress.paused()
        if not progress.maybe_update(message.index):
            return
        if progress.state is ProgressState.PROBE:
            progress.become_replicate()
        elif progress.state is ProgressState.SNAPSHOT:
            if progress.match + 1 >= self.log.first_index():
                progress.become_probe()
                progress.become_replicate()
        else:
            progress.inflights.free_up_to(message.index)
        committed = self._maybe_commit()
        if was_paused and not committed and not self._broadcast_pending:
            self._send_append(message.source)  # unpaused: resume at once, even if empty
        while self._send_append(message.source, allow_empty=False):
            pass
        if message.source == self._transferee and progress.match == self.log.last_index():
            self._send(TimeoutNow(self.node_id, message.source, self.term))

    def _on_append_rejected(self, message: AppendResponse, progress: Progress) -> None:
        if message.log_lost and progress.match > message.hint_index:
            # The follower repaired a damaged log and lost entries it had acknowledged.
            progress.forget_beyond(message.hint_index)
            self._send_append(message.source)
            return
        next_probe = message.hint_index
        if message.hint_term > 0:
            next_probe, _ = self.log.find_conflict_by_term(message.hint_index, message.hint_term)
        if progress.maybe_decrease_to(message.index, next_probe):
            if progress.state is ProgressState.REPLICATE:
                progress.become_probe()
            self._send_append(message.source)

    def _on_heartbeat_response(self, message: HeartbeatResponse) -> None:
        progress = self._progress.get(message.source)
        if progress is None:
            return
        progress.recently_active = True
        if progress.state is ProgressState.PROBE:
            progress.probe_sent = False
        elif progress.state is ProgressState.REPLICATE and progress.inflights.full():
            progress.inflights.reset()  # every message in the window may have been lost
        if progress.match < self.log.last_index():
            self._send_append(message.source)
        if message.read_round and message.source in self.membership.voters:
            self._reads.ack(message.source, message.read_round)
            self._release_reads()

    def _apply_membership(self, entry: Entry) -> None:
        if not self._membership.apply(entry.index, entry.data):
            return
        if self.role is not Role.LEADER:
            return
        members = self.membership.members
        last = self.log.last_index()
        for node in members - self._progress.keys():
            self._progress[node] = self._new_progress(node, last)
        for node in self._progress.keys() - members:
            del self._progress[node]
        for node, progress in self._progress.items():
            progress.is_learner = node in self.membership.learners
        if self.node_id not in members:
            self._broadcast_append()  # let the others learn the commit before stepping down
            self._become_follower(self.term, NO_NODE)
            return
        self._maybe_commit()

    # -- ReadIndex --------------------------------------------------------------------------------

    def _leader_read(self, read: PendingRead) -> None:
        """Queue a read; ``_flush`` starts its confirmation round once our term committed."""
        if self._reads.full():
            self._refuse_read(read)
            return
        self._reads.add(read)

    def _read_response(
        self, target: NodeId, request_id: bytes, index: LogIndex
    ) -> ReadIndexResponse:
        return ReadIndexResponse(self.node_id, target, self.term, request_id, index)
