"""The Raft state machine: ticks and messages in, a ``Ready`` of effects out.

Follows the Raft paper and Ongaro's dissertation, with the refinements etcd-io/raft made
standard: PreVote, CheckQuorum, ReadIndex, leadership transfer, per-follower flow control.
Everything that changes the engine's state happens in this module or its helpers; the
driver only persists, sends and applies what ``ready`` hands out.

Rules this module keeps (each asserted where it is enforced):

- A message that promises durability (a vote, an append acknowledgement, a vote request
  carrying a new term) leaves only after the Ready that persists the promise.
- The leader counts its own log toward a quorum only once its entries are durable.
- An entry is committed only by counting replicas of an entry from the leader's current
  term (Raft paper, Figure 8); earlier entries commit with it.
- applied <= committed <= last index, and committed never moves back.
"""

from __future__ import annotations

from synod.consensus.quorum import VoteResult, vote_result
from synod.consensus.raft.leader import Leadership
from synod.consensus.raft.log import RaftLog
from synod.consensus.raft.membership import MembershipHistory
from synod.consensus.raft.messages import (
    RAFT_MESSAGE_TYPES,
    AppendEntries,
    AppendResponse,
    CommitNotice,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    RaftMessage,
    ReadIndexRequest,
    ReadIndexResponse,
    TimeoutNow,
    VoteRequest,
    VoteResponse,
)
from synod.consensus.raft.progress import Progress
from synod.consensus.reads import PendingRead
from synod.core.config import EngineConfig
from synod.core.engine import LogStorage, Message, Rng, Role
from synod.core.errors import NotLeader, ProposalDropped
from synod.core.ids import NO_INDEX, NO_NODE, LogIndex, NodeId, Term
from synod.core.log import (
    Entry,
    EntryKind,
    HardState,
    MembershipChange,
    Snapshot,
    SnapshotMeta,
)

LEADER_MESSAGES = (
    AppendEntries,
    CommitNotice,
    Heartbeat,
    InstallSnapshot,
    TimeoutNow,
    ReadIndexResponse,
)


class RaftEngine(Leadership):
    def __init__(
        self,
        node_id: NodeId,
        storage: LogStorage,
        config: EngineConfig,
        rng: Rng,
        applied_index: LogIndex | None = None,
    ) -> None:
        assert node_id != NO_NODE, "node ids start at 1"
        config.validate()
        self.node_id = node_id
        self.config = config
        self._rng = rng
        self.log = RaftLog(storage)
        hard_state, membership = storage.initial_state()
        self.term = hard_state.term
        self.vote = hard_state.vote
        self.log.commit_to(hard_state.commit)
        self._repair_until = storage.repair_until()
        self._membership = MembershipHistory(self.log.applied, membership)
        if applied_index is not None:
            self._replay_membership(applied_index)
        self.role = Role.FOLLOWER
        self.leader = NO_NODE
        self._election_elapsed = 0
        self._heartbeat_elapsed = 0
        self._election_timeout = self._random_election_timeout()
        self._votes: dict[NodeId, bool] = {}
        self._progress: dict[NodeId, Progress] = {}
        self._transferee = NO_NODE
        self._pending_membership_index = NO_INDEX
        self._start_ready_cycle(hard_state)

    def _replay_membership(self, applied_index: LogIndex) -> None:
        """Restart with a durable state machine: reapply configurations up to ``applied``."""
        assert self.log.applied <= applied_index <= self.log.committed
        low = LogIndex(self.log.applied + 1)
        high = LogIndex(applied_index + 1)
        for entry in self.log.entries(low, 1 << 62, high):
            if entry.kind is EntryKind.MEMBERSHIP:
                self._membership.apply(entry.index, entry.data)
        self.log.applied_to(applied_index)

    # -- read-only views ------------------------------------------------------------------------

    @property
    def commit_index(self) -> LogIndex:
        return self.log.committed

    @property
    def applied_index(self) -> LogIndex:
        return self.log.applied

    @property
    def last_index(self) -> LogIndex:
        return self.log.last_index()

    def log_term(self, index: LogIndex) -> Term | None:
        return self.log.term(index)

    def progress(self, node: NodeId) -> Progress | None:
        return self._progress.get(node)

    def _promotable(self) -> bool:
        return self.node_id in self.membership.voters

    # -- the public contract --------------------------------------------------------------------

    def tick(self) -> None:
        if self.role is Role.LEADER:
            self._tick_leader()
        else:
            self._tick_election()

    def _tick_election(self) -> None:
        self._election_elapsed += 1
        if self._election_elapsed >= self._election_timeout and self._promotable():
            self._election_elapsed = 0
            self.campaign()

    def campaign(self) -> None:
        """Start an election now (PreVote first when configured)."""
        if self.role is not Role.LEADER and self._can_campaign():
            self._start_election(pre_vote=self.config.pre_vote, transfer=False)

    def step(self, message: Message) -> None:
        if not isinstance(message, RAFT_MESSAGE_TYPES):
            raise TypeError(f"not a Raft message: {message!r}")
        if message.target != self.node_id:
            raise ValueError(f"message for node {message.target} given to {self.node_id}")
        if self._step_term(message):
            self._dispatch(message)

    def propose(self, command: bytes) -> None:
        self._check_can_propose()
        self._append_own(EntryKind.NORMAL, command)

    def change_membership(self, change: MembershipChange) -> None:
        self._check_can_propose()
        if self._pending_membership_index > self.log.applied:
            raise ProposalDropped("a membership change is already in progress", self.leader)
        self.membership.apply(change)  # raises MembershipError when it does not fit
        self._pending_membership_index = self._append_own(EntryKind.MEMBERSHIP, change.encode())

    def read_index(self, request_id: bytes) -> None:
        if self.role is Role.LEADER:
            self._leader_read(PendingRead(request_id, self.node_id))
        elif self.leader != NO_NODE:
            self._send(ReadIndexRequest(self.node_id, self.leader, self.term, request_id))
        else:
            self._refused_reads.append(request_id)

    def transfer_leadership(self, target: NodeId) -> None:
        if self.role is not Role.LEADER:
            raise NotLeader("only the leader can transfer leadership", self.leader)
        if target in (self.node_id, self._transferee):
            return
        if target not in self.membership.voters:
            raise ProposalDropped(f"transfer target {target} is not a voter", self.leader)
        self._transferee = target
        self._election_elapsed = 0
        if self._progress[target].match == self.log.last_index():
            self._send(TimeoutNow(self.node_id, target, self.term))
        else:
            self._send_append(target)

    def compact(self, index: LogIndex, data: bytes) -> None:
        """Ask the driver to save ``data`` (the state machine at ``index``) as a snapshot."""
        snapshot_index = self.log.storage.first_index() - 1
        if index <= snapshot_index or self.log.unstable_snapshot is not None:
            return  # already folded away, or a leader's snapshot is replacing the whole log
        if index > self.log.applied:
            raise ValueError(f"cannot compact to {index}: applied is {self.log.applied}")
        term = self.log.term(index)
        assert term is not None, f"no term for applied index {index}"
        meta = SnapshotMeta(index, term, self._membership.at(index))
        self._compaction = Snapshot(meta, data)

    # -- Ready ----------------------------------------------------------------------------------

    def _on_entries_durable(self, entries: tuple[Entry, ...]) -> None:
        last = entries[-1]
        self.log.stable_to(last.index, last.term)
        if self.role is Role.LEADER:
            self._on_own_entries_durable()

    def _on_applying(self, entries: tuple[Entry, ...]) -> None:
        for entry in entries:
            # A snapshot received since this Ready was handed out carries the configuration
            # as of its index, which supersedes the changes below it.
            if entry.kind is EntryKind.MEMBERSHIP and entry.index > self._membership.applied_index:
                self._apply_membership(entry)

    def _on_compacted(self, index: LogIndex) -> None:
        self._membership.forget_before(index)

    def _flush(self) -> None:
        """Work deferred so that one Ready batches it: appends and read rounds."""
        if self.role is not Role.LEADER:
            return
        if self._broadcast_pending:
            self._broadcast_pending = False
            self._broadcast_append()
        if self._serves_reads():
            read_round = self._reads.start_round(self.log.committed)
            if read_round is not None:
                self._broadcast_heartbeat(read_round)
                self._release_reads()

    def _current_hard_state(self) -> HardState:
        return HardState(self.term, self.vote, self.log.committed)

    def _is_early(self, message: RaftMessage) -> bool:
        """May ``message`` leave before this Ready is durable? Only if it promises nothing.

        A leader's messages carry no promise about its own log (it counts itself only once
        durable); a PreVote changes no state. Votes, vote requests (a new term) and
        acknowledgements must wait for the fsync."""
        if isinstance(message, LEADER_MESSAGES):
            return True
        return isinstance(message, VoteRequest | VoteResponse) and message.pre_vote

    # -- terms and roles ------------------------------------------------------------------------

    def _step_term(self, message: RaftMessage) -> bool:
        """Apply Raft's term rules; False when the message must be dropped."""
        if message.term > self.term:
            return self._on_higher_term(message)
        if message.term < self.term:
            self._on_lower_term(message)
            return False
        return True

    def _on_higher_term(self, message: RaftMessage) -> bool:
        if isinstance(message, VoteRequest):
            in_lease = (
                self.config.check_quorum
                and self.leader != NO_NODE
                and self._election_elapsed < self.config.election_timeout_ticks
            )
            if in_lease and not message.transfer:
                return False  # a live leader exists: do not let a partitioned node disrupt it
            if message.pre_vote:
                return True
        if isinstance(message, VoteResponse) and message.pre_vote and message.granted:
            return True  # granted pre-votes carry the future term; it is not ours yet
        from_leader = isinstance(
            message, AppendEntries | CommitNotice | Heartbeat | InstallSnapshot
        )
        self._become_follower(message.term, message.source if from_leader else NO_NODE)
        return True

    def _on_lower_term(self, message: RaftMessage) -> None:
        config = self.config
        if (config.check_quorum or config.pre_vote) and isinstance(
            message, AppendEntries | CommitNotice | Heartbeat
        ):
            # A stale leader: tell it about the newer term so that it steps down.
            self._send(AppendResponse(self.node_id, message.source, self.term, NO_INDEX))
        elif isinstance(message, VoteRequest) and message.pre_vote:
            self._send(VoteResponse(self.node_id, message.source, self.term, False, True))
        elif isinstance(message, ReadIndexResponse) and message.index == NO_INDEX:
            # A deposed leader's refusal is stamped with its old term; refusing is always safe.
            self._refused_reads.append(message.request_id)

    def _become_follower(self, term: Term, leader: NodeId) -> None:
        self._stop_leading()
        if term != self.term:
            assert term > self.term, "terms never move back"
            self.term = term
            self.vote = NO_NODE
        self.role = Role.FOLLOWER
        self.leader = leader
        self._reset_timers()

    def _stop_leading(self) -> None:
        self._drop_reads()
        self._progress = {}
        self._transferee = NO_NODE
        self._broadcast_pending = False

    def _reset_timers(self) -> None:
        self._election_elapsed = 0
        self._heartbeat_elapsed = 0
        self._election_timeout = self._random_election_timeout()
        self._votes = {}

    def _random_election_timeout(self) -> int:
        base = self.config.election_timeout_ticks
        return base + self._rng.randrange(0, base)

    def _start_election(self, *, pre_vote: bool, transfer: bool) -> None:
        self._stop_leading()
        self._reset_timers()
        self.leader = NO_NODE
        if pre_vote:
            self.role = Role.PRE_CANDIDATE
        else:
            self.role = Role.CANDIDATE
            self.term = Term(self.term + 1)
            self.vote = self.node_id
        self._record_vote(self.node_id, granted=True, pre_vote=pre_vote)
        if self.role is Role.LEADER:
            return
        vote_term = Term(self.term + 1) if pre_vote else self.term
        last_index, last_term = self.log.last_index(), self.log.last_term()
        for voter in sorted(self.membership.voters - {self.node_id}):
            request = VoteRequest(
                self.node_id, voter, vote_term, last_index, last_term, pre_vote, transfer
            )
            self._send(request)

    def _record_vote(self, voter: NodeId, *, granted: bool, pre_vote: bool) -> None:
        self._votes[voter] = granted
        match vote_result(self.membership.voters, self._votes):
            case VoteResult.WON if pre_vote:
                self._start_election(pre_vote=False, transfer=False)
            case VoteResult.WON:
                self._become_leader()
            case VoteResult.LOST:
                self._become_follower(self.term, NO_NODE)
            case VoteResult.PENDING:
                pass

    def _can_campaign(self) -> bool:
        """Only a voter, and not while a committed configuration change awaits applying:
        it might change who the voters are; nor while its log is under repair."""
        return self._promotable() and not self._has_unapplied_membership() and not self._repairing()

    def _repairing(self) -> bool:
        """True until the log, cut short by a repair of damaged storage, reaches the bound on
        what this node may have acknowledged; from then on, for good."""
        if self._repair_until and self.log.last_index() >= self._repair_until:
            self._repair_until = NO_INDEX
        return self._repair_until != NO_INDEX

    def _has_unapplied_membership(self) -> bool:
        log = self.log
        if log.committed <= log.applied or log.unstable_snapshot is not None:
            return False
        pending = log.entries(LogIndex(log.applied + 1), 1 << 62, LogIndex(log.committed + 1))
        return any(entry.kind is EntryKind.MEMBERSHIP for entry in pending)

    # -- dispatch ---------------------------------------------------------------------------------

    def _dispatch(self, message: RaftMessage) -> None:  # noqa: C901, PLR0912 - one arm per type
        match message:
            case VoteRequest():
                self._on_vote_request(message)
            case VoteResponse():
                self._on_vote_response(message)
            case AppendEntries():
                if self._follow(message.source):
                    self._on_append_entries(message)
            case CommitNotice():
                if self._follow(message.source):
                    self._on_commit_notice(message)
            case Heartbeat():
                if self._follow(message.source):
                    self._on_heartbeat(message)
            case InstallSnapshot():
                if self._follow(message.source):
                    self._on_install_snapshot(message)
            case AppendResponse():
                if self.role is Role.LEADER:
                    self._on_append_response(message)
            case HeartbeatResponse():
                if self.role is Role.LEADER:
                    self._on_heartbeat_response(message)
            case TimeoutNow():
                if self._can_campaign() and self.role is not Role.LEADER:
                    self._start_election(pre_vote=False, transfer=True)
            case ReadIndexRequest():
                self._on_read_index_request(message.request_id, message.source)
            case ReadIndexResponse():
                self._on_read_index_response(message.request_id, message.index)

    def _follow(self, leader: NodeId) -> bool:
        """A message from this term's leader: make sure we follow it. False if we lead."""
        if self.role is Role.LEADER:
            return False  # impossible with one leader per term; ignore rather than trust it
        if self.role is not Role.FOLLOWER or self.leader != leader:
            self._become_follower(self.term, leader)
        self._election_elapsed = 0
        return True

    # -- voting -----------------------------------------------------------------------------------

    def _can_grant_vote(self, message: VoteRequest) -> bool:
        """Raft's vote rules: one vote per term, and only for a log at least as fresh as ours;
        none while our log is under repair (it may lack entries we acknowledged)."""
        if self._repairing():
            return False
        free = (
            self.vote == message.source
            or (self.vote == NO_NODE and self.leader == NO_NODE)
            or (message.pre_vote and message.term > self.term)
        )
        return free and self.log.is_up_to_date(message.last_index, message.last_term)

    def _on_vote_request(self, message: VoteRequest) -> None:
        if self._can_grant_vote(message):
            self._send(replace_vote(message, self.node_id, granted=True))
            if not message.pre_vote:
                self._election_elapsed = 0
                self.vote = message.source
        else:
            reply = VoteResponse(self.node_id, message.source, self.term, False, message.pre_vote)
            self._send(reply)

    def _on_vote_response(self, message: VoteResponse) -> None:
        expected = Role.PRE_CANDIDATE if message.pre_vote else Role.CANDIDATE
        if self.role is not expected:
            return
        self._record_vote(message.source, granted=message.granted, pre_vote=message.pre_vote)

    # -- following --------------------------------------------------------------------------------

    def _on_append_entries(self, message: AppendEntries) -> None:
        log = self.log
        epoch = message.epoch
        if message.prev_index < log.committed:
            self._send(
                AppendResponse(self.node_id, message.source, self.term, log.committed, epoch=epoch)
            )
            return
        last_new = log.maybe_append(
            message.prev_index, message.prev_term, message.commit, message.entries
        )
        if last_new is not None:
            self._send(
                AppendResponse(self.node_id, message.source, self.term, last_new, epoch=epoch)
            )
            return
        hint_index, hint_term = log.find_conflict_by_term(
            LogIndex(min(message.prev_index, log.last_index())), message.prev_term
        )
        reject = AppendResponse(
            self.node_id,
            message.source,
            self.term,
            message.prev_index,
            True,
            hint_index,
            hint_term,
            log_lost=self._repairing(),
            epoch=epoch,
        )
        self._send(reject)

    def _on_commit_notice(self, notice: CommitNotice) -> None:
        """A new commit index, answered only when refused (then as the AppendEntries it
        stands for would be)."""
        log = self.log
        if notice.prev_index >= log.committed and log.matches(notice.prev_index, notice.prev_term):
            log.commit_to(min(notice.commit, notice.prev_index))
            return
        self._on_append_entries(notice.as_append())

    def _on_heartbeat(self, message: Heartbeat) -> None:
        self.log.commit_to(min(message.commit, self.log.last_index()))
        reply = HeartbeatResponse(self.node_id, message.source, self.term, message.read_round)
        self._send(reply)

    def _on_install_snapshot(self, message: InstallSnapshot) -> None:
        meta = message.snapshot.meta
        log = self.log
        if meta.index > log.committed:
            if log.matches(meta.index, meta.term):
                log.commit_to(meta.index)
            else:
                log.restore(message.snapshot)
                self._membership.reset(meta.index, meta.membership)
        # Committed entries match the leader's log; after a restore that is the snapshot's index.
        reply = AppendResponse(
            self.node_id, message.source, self.term, log.committed, epoch=message.epoch
        )
        self._send(reply)


def replace_vote(request: VoteRequest, voter: NodeId, *, granted: bool) -> VoteResponse:
    """A vote answer; a granted pre-vote carries the requested (future) term."""
    return VoteResponse(voter, request.source, request.term, granted, request.pre_vote)
