"""The Multi-Paxos engine: ticks and messages in, a ``Ready`` of effects out.

Every node is an acceptor and a learner; the node that completes phase 1 is the distinguished
proposer (the leader). The behaviour lives in layers, each module stating its rules:

- ``acceptor.py``: promises, acceptances, learning chosen values, snapshots received;
- ``proposer.py``: phase 1, merging promises, becoming leader;
- ``leader.py``: phase 2, choosing slots, replication to acceptors and learners, ReadIndex;
- ``membership.py``: which configuration governs each slot, and why that is safe.

This module holds the public contract and the hooks of the Ready cycle
(``synod.consensus.ready_cycle``, shared with Raft). Rules kept here:

- Durability: promises, acceptances and refusals leave in ``Ready.messages``, after the hard
  state (the promised ballot) and the entries (accepted values) are fsynced. A leader's own
  messages promise nothing about its disk and leave early; it counts itself an acceptor of its
  own values only once they are durable.
- Membership changes are single-server (add learner, promote, add voter, remove), proposed as
  MEMBERSHIP values in the log, one at a time: the leader takes a change only once its own
  no-op and every change before it are chosen. A change held at slot ``i`` governs slots from
  ``i + 1`` on; ``membership`` is the configuration after every chosen change.
- Liveness: a follower that hears no leader for a randomized timeout starts phase 1 with a
  ballot one round above anything it has seen, if it is a voter; acceptors that heard a leader
  within the election timeout ignore prepares (a healthy leader is not preempted), and a leader
  that hears no quorum within that timeout steps down (check quorum).
"""

from __future__ import annotations

from synod.consensus.paxos.acceptor import UNLIMITED
from synod.consensus.paxos.ballot import node_of
from synod.consensus.paxos.leader import Leader
from synod.consensus.paxos.membership import Configurations
from synod.consensus.paxos.messages import (
    LEADER_MESSAGES,
    PAXOS_MESSAGE_TYPES,
    Accept,
    Accepted,
    Heartbeat,
    HeartbeatAck,
    InstallSnapshot,
    PaxosMessage,
    Prepare,
    Promise,
    ReadIndexRequest,
    ReadIndexResponse,
    TimeoutNow,
)
from synod.consensus.paxos.progress import Progress
from synod.consensus.raft.log import RaftLog
from synod.consensus.reads import PendingRead
from synod.core.config import EngineConfig
from synod.core.engine import LogStorage, Message, Rng, Role
from synod.core.errors import NotLeader, ProposalDropped
from synod.core.ids import NO_INDEX, NO_NODE, NO_TERM, LogIndex, NodeId, Term
from synod.core.log import (
    Entry,
    EntryKind,
    HardState,
    MembershipChange,
    Snapshot,
    SnapshotMeta,
)


class PaxosEngine(Leader):
    SUPPORTS_MEMBERSHIP_CHANGE = True
    """Read by drivers (the simulator runs its membership nemesis only for engines that do)."""
    ENTRY_TERM_IS_BALLOT = True
    """Entry terms are the ballot a value was accepted in: a chosen value may be held under
    different terms on different nodes (re-proposed by a later leader)."""

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
        self.promised = hard_state.term
        self.log.commit_to(hard_state.commit)
        if applied_index is not None:
            assert self.log.applied <= applied_index <= self.log.committed
            self.log.applied_to(applied_index)
        self._configs = Configurations(LogIndex(storage.first_index() - 1), membership)
        if self.log.last_index() >= self.log.first_index():
            self._configs.record(self.log.entries(self.log.first_index(), UNLIMITED))
        self._repair_until = storage.repair_until()
        self._refilled = NO_INDEX
        self._refilled_ballot = NO_TERM
        """While repairing: slots up to ``_refilled`` hold the values of ``_refilled_ballot``'s
        leader (or chosen ones), written by its Accepts from the chosen prefix on."""
        self._run = NO_INDEX
        self._run_ballot = NO_TERM
        """``_ballot_run``'s last answer, and the ballot it was computed in."""
        self._seen = self.promised
        """The highest ballot heard of (promised or refused with): the next round is above it."""
        self.role = Role.FOLLOWER
        self.leader = NO_NODE
        self._election_elapsed = 0
        self._heartbeat_elapsed = 0
        self._election_timeout = self._random_election_timeout()
        self._votes: dict[NodeId, bool] = {}
        self._promises: dict[NodeId, Promise] = {}
        self._asked: set[NodeId] = set()
        self._phase1_first = NO_INDEX
        self._phase1_transfer = False
        self._progress: dict[NodeId, Progress] = {}
        self._noop_index = NO_INDEX
        self._transferee = NO_NODE
        self._start_ready_cycle(hard_state)
        self._chosen_untold = False
        """A slot was chosen since the last broadcast: acceptors are told without a tick."""

    # -- read-only views ------------------------------------------------------------------------

    @property
    def term(self) -> Term:
        """The promised ballot (the contract's term)."""
        return self.promised

    @property
    def vote(self) -> NodeId:
        """The owner of the promised ballot: one per ballot, so it never changes within one."""
        return node_of(self.promised)

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

    def log_entry(self, index: LogIndex) -> Entry | None:
        """The value held at ``index`` (None when compacted or past the end)."""
        if index < self.log.first_index() or index > self.log.last_index():
            return None
        return self.log.entries(index, UNLIMITED, LogIndex(index + 1))[0]

    def progress(self, node: NodeId) -> Progress | None:
        return self._progress.get(node)

    # -- the public contract --------------------------------------------------------------------

    def tick(self) -> None:
        self._election_elapsed += 1
        if self.role is Role.LEADER:
            self._tick_leader()
        elif self._election_elapsed >= self._election_timeout and self._is_voter():
            self.campaign()

    def campaign(self) -> None:
        if self.role is not Role.LEADER and self._is_voter() and not self._repairing():
            self._start_phase1(transfer=False)

    def step(self, message: Message) -> None:
        if not isinstance(message, PAXOS_MESSAGE_TYPES):
            raise TypeError(f"not a Paxos message: {message!r}")
        if message.target != self.node_id:
            raise ValueError(f"message for node {message.target} given to {self.node_id}")
        self._seen = max(self._seen, message.term)
        self._dispatch(message)

    def propose(self, command: bytes) -> None:
        self._check_can_propose()
        self._append_own(EntryKind.NORMAL, command)

    def change_membership(self, change: MembershipChange) -> None:
        """Propose a single-server change; raises ProposalDropped (NotLeader off the leader,
        or while the leader's no-op or an earlier change is unchosen) and MembershipError
        when the change does not fit the configuration it would apply to."""
        self._check_can_propose()
        if not self._noop_chosen():
            raise ProposalDropped("the new leader's first slot is not chosen yet", self.leader)
        if self._change_pending():
            raise ProposalDropped("a membership change is already in progress", self.leader)
        self._configs.latest.apply(change)  # raises MembershipError when it does not fit
        self._append_own(EntryKind.MEMBERSHIP, change.encode())

    def read_index(self, request_id: bytes) -> None:
        if self.role is Role.LEADER:
            self._leader_read(PendingRead(request_id, self.node_id))
        elif self.leader != NO_NODE:
            self._send(ReadIndexRequest(self.node_id, self.leader, self.promised, request_id))
        else:
            self._refused_reads.append(request_id)

    def transfer_leadership(self, target: NodeId) -> None:
        if self.role is not Role.LEADER:
            raise NotLeader("only the leader can transfer leadership", self.leader)
        if target == self.node_id:
            return
        if target not in self.membership.voters:
            raise ProposalDropped(f"transfer target {target} is not a voter", self.leader)
        self._transferee = target
        self._send(TimeoutNow(self.node_id, target, self.promised))

    def compact(self, index: LogIndex, data: bytes) -> None:
        snapshot_index = self.log.storage.first_index() - 1
        if index <= snapshot_index or self.log.unstable_snapshot is not None:
            return
        if index > self.log.applied:
            raise ValueError(f"cannot compact to {index}: applied is {self.log.applied}")
        term = self.log.term(index)
        assert term is not None, f"no term for applied index {index}"
        membership = self._configs.at(LogIndex(index + 1))
        self._compaction = Snapshot(SnapshotMeta(index, term, membership), data)

    # -- Ready ----------------------------------------------------------------------------------

    def _on_entries_durable(self, entries: tuple[Entry, ...]) -> None:
        self._stable_to(entries)
        if self.role is Role.LEADER:
            self._maybe_commit()

    def _on_compacted(self, index: LogIndex) -> None:
        self._configs.fold_to(index)

    def _stable_to(self, written: tuple[Entry, ...]) -> None:
        """Mark ``written`` durable, unless the log changed since at or below it. A matching
        last (slot, ballot) proves nothing here (Raft's log matching does not hold: an
        acceptor keeps older values after a rewritten range), so compare the entries."""
        log = self.log
        if log.unstable_snapshot is not None:
            return  # a received snapshot will replace the whole log: rewrite what follows it
        offset = log.unstable_offset
        first, last = written[0].index, written[-1].index
        if not log.unstable or last < offset or first > offset:
            return
        pending = log.unstable[: last - offset + 1]
        if pending == list(written[offset - first :]):
            log.stable_to(last, written[-1].term)

    def _is_early(self, message: PaxosMessage) -> bool:
        """Only a leader's messages may leave before the fsync: an acceptor's answers (and a
        candidate's prepares, which carry its new promise) wait for it."""
        return isinstance(message, LEADER_MESSAGES)

    def _flush(self) -> None:
        if self.role is not Role.LEADER:
            return
        if self._broadcast_pending:
            self._broadcast_pending = False
            for node in sorted(self._progress):
                self._send_accepts(node)
                if self._chosen_untold:
                    self._tell_chosen(node)
            self._chosen_untold = False
        if self._serves_reads():
            read_round = self._reads.start_round(self.log.committed)
            if read_round is not None:
                for node in sorted(self._progress):
                    self._send_heartbeat(node, read_round)
                self._release_reads()

    def _current_hard_state(self) -> HardState:
        return HardState(self.promised, self.vote, self.log.committed)

    # -- dispatch -------------------------------------------------------------------------------

    def _dispatch(self, message: PaxosMessage) -> None:
        match message:
            case Prepare():
                self._on_prepare(message)
            case Promise():
                self._on_promise(message)
            case Accept() | Heartbeat() | InstallSnapshot():
                if self._follow(message):
                    self._on_leader_message(message)
            case Accepted():
                self._on_accepted(message)
            case HeartbeatAck():
                self._on_heartbeat_ack(message)
            case TimeoutNow():
                leading = message.term == self.promised and self.role is Role.FOLLOWER
                if leading and self._is_voter() and not self._repairing():
                    self._start_phase1(transfer=True)
            case ReadIndexRequest():
                self._on_read_index_request(message.request_id, message.source)
            case ReadIndexResponse():
                self._on_read_index_response(message.request_id, message.index)
