"""The Multi-Paxos state machine: ticks and messages in, a ``Ready`` of effects out.

Every node is an acceptor and a learner; the node that completes phase 1 is the distinguished
proposer (the leader). The rules, each enforced in this module:

- Acceptor: it promises a ballot only above the one it promised (a prepare of the same ballot
  from its owner is answered again), and accepts values only in a ballot at least the one it
  promised; accepting raises the promise. It never forgets an accepted value: a value is
  replaced only by one accepted in a ballot at least as high, at the same slot (a write of a
  shorter batch rewrites the suffix it keeps). It accepts only contiguous slots (no holes in
  the log); refusing is always safe in Paxos, and the leader resends from its commit.
- Durability: promises, acceptances and refusals leave in ``Ready.messages``, after the hard
  state (the promised ballot) and the entries (accepted values) are fsynced. A leader's own
  messages promise nothing about its disk and leave early; it counts itself an acceptor of its
  own values only once they are durable.
- Phase 1 runs once for all slots from the candidate's first unchosen slot. The new leader
  takes, for each slot up to the highest one reported, the value with the highest ballot among
  the promises (its own log included), or a no-op, re-proposes all of them in its ballot, and
  appends one no-op of its own: once that is chosen, everything chosen before it is known.
- A slot is chosen once a quorum of acceptors (the leader included) accepted it in the leader's
  ballot; all slots the leader holds past its first unchosen slot carry its ballot.
- An acceptor commits (learns chosen) only up to the point the leader knows it holds the
  leader's values (``commit`` in Accept/Heartbeat is capped by the acceptor's match).
- Linearizable reads: ReadIndex. Once the leader's own no-op is chosen, a read takes the commit
  index as its point and waits for a heartbeat round acknowledged by a quorum in its ballot.
- Liveness: a follower that hears no leader for a randomized timeout starts phase 1 with a
  ballot one round above anything it has seen; acceptors that heard a leader within the
  election timeout ignore prepares (a healthy leader is not preempted), and a leader that hears
  no quorum within that timeout steps down (check quorum).
- A node whose log a storage repair cut short neither promises nor campaigns until a leader
  has refilled it past the repair bound (it may have lost values it accepted). Until then it
  vouches only for its chosen prefix and what the current ballot's leader has refilled
  contiguously from there: a repair may have brought back older values under slots the
  leader believes it holds, so it takes no chosen index past that, and refuses an Accept
  that starts past it as a hole (the leader then resends from its chosen prefix).
- Membership is fixed: ``change_membership`` raises ``MembershipUnsupported``.
"""

from __future__ import annotations

from synod.consensus.paxos.ballot import next_ballot, node_of
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
from synod.consensus.quorum import VoteResult, committed_index, has_quorum, vote_result
from synod.consensus.raft.log import RaftLog
from synod.consensus.raft.reads import PendingRead, ReadQueue
from synod.core.config import EngineConfig
from synod.core.engine import LogStorage, Message, ReadState, Ready, Rng, Role, SoftState
from synod.core.errors import LogCompacted, NotLeader, ProposalDropped
from synod.core.ids import NO_INDEX, NO_NODE, NO_TERM, LogIndex, NodeId, Term
from synod.core.log import (
    Entry,
    EntryKind,
    HardState,
    Membership,
    MembershipChange,
    Snapshot,
    SnapshotMeta,
)

UNLIMITED = 1 << 62


class MembershipUnsupported(ProposalDropped):
    """The Multi-Paxos engine runs a fixed configuration."""


class PaxosEngine:
    SUPPORTS_MEMBERSHIP_CHANGE = False
    """Read by drivers (the simulator disables its membership nemesis for this engine)."""
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
        self._membership = membership
        self._repair_until = storage.repair_until()
        self._refilled = NO_INDEX
        self._refilled_ballot = NO_TERM
        """While repairing: slots up to ``_refilled`` hold the values of ``_refilled_ballot``'s
        leader (or chosen ones), written by its Accepts from the chosen prefix on."""
        self._seen = self.promised
        """The highest ballot heard of (promised or refused with): the next round is above it."""
        self.role = Role.FOLLOWER
        self.leader = NO_NODE
        self._election_elapsed = 0
        self._heartbeat_elapsed = 0
        self._election_timeout = self._random_election_timeout()
        self._votes: dict[NodeId, bool] = {}
        self._promises: dict[NodeId, Promise] = {}
        self._progress: dict[NodeId, Progress] = {}
        self._noop_index = NO_INDEX
        self._transferee = NO_NODE
        self._reads = ReadQueue(config.pending_reads_max)
        self._outbox: list[PaxosMessage] = []
        self._read_states: list[ReadState] = []
        self._refused_reads: list[bytes] = []
        self._compaction: Snapshot | None = None
        self._broadcast_pending = False
        self._chosen_untold = False
        """A slot was chosen since the last broadcast: acceptors are told without a tick."""
        self._soft_state = SoftState()
        self._hard_state = hard_state
        self._in_flight: Ready | None = None

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
    def membership(self) -> Membership:
        return self._membership

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

    def _is_voter(self) -> bool:
        return self.node_id in self._membership.voters

    def _others(self) -> list[NodeId]:
        return sorted(self._membership.voters - {self.node_id})

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
        self._append_own(command)

    def change_membership(self, change: MembershipChange) -> None:
        raise MembershipUnsupported(
            f"cannot {change}: the Multi-Paxos engine runs a fixed membership", self.leader
        )

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
        if target not in self._membership.voters:
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
        self._compaction = Snapshot(SnapshotMeta(index, term, self._membership), data)

    # -- Ready ----------------------------------------------------------------------------------

    def has_ready(self) -> bool:
        if self._in_flight is not None:
            return False
        log = self.log
        return bool(
            self._outbox
            or self._broadcast_pending
            or self._reads_waiting_round()
            or log.unstable
            or log.unstable_snapshot
            or log.committed > log.applied
            or self._read_states
            or self._refused_reads
            or self._compaction
            or self._current_soft_state() != self._soft_state
            or self._current_hard_state() != self._hard_state
        )

    def ready(self) -> Ready | None:
        assert self._in_flight is None, "advance the previous Ready first"
        self._flush()
        soft = self._current_soft_state()
        hard = self._current_hard_state()
        early = tuple(m for m in self._outbox if self._is_early(m))
        late = tuple(m for m in self._outbox if not self._is_early(m))
        ready = Ready(
            soft_state=soft if soft != self._soft_state else None,
            hard_state=hard if hard != self._hard_state else None,
            entries=tuple(self.log.unstable),
            snapshot=self.log.unstable_snapshot,
            committed_entries=tuple(self._committed_to_apply()),
            messages=late,
            early_messages=early,
            read_states=tuple(self._read_states),
            compaction=self._compaction,
            refused_reads=tuple(self._refused_reads),
        )
        if ready.is_empty():
            return None
        self._soft_state, self._hard_state = soft, hard
        self._outbox, self._read_states, self._refused_reads = [], [], []
        self._compaction = None
        self._in_flight = ready
        return ready

    def advance(self, ready: Ready) -> None:
        assert ready is self._in_flight, "advance takes the Ready just handed out"
        self._in_flight = None
        if ready.snapshot is not None:
            meta = ready.snapshot.meta
            self.log.stable_snapshot_to(meta.index)
            self.log.restored_to(meta.index)
        if ready.entries:
            self._stable_to(ready.entries)
            if self.role is Role.LEADER:
                self._maybe_commit()
        if ready.committed_entries:
            self.log.applied_to(max(self.log.applied, ready.committed_entries[-1].index))
        assert self.log.applied <= self.log.committed <= self.log.last_index()

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
            for node in self._others():
                sent = len(self._outbox)
                self._send_accepts(node)
                if self._chosen_untold and len(self._outbox) == sent:
                    self._send_heartbeat(node, self._reads.current_round)
            self._chosen_untold = False
        if self._noop_chosen():
            read_round = self._reads.start_round(self.log.committed)
            if read_round is not None:
                for node in self._others():
                    self._send_heartbeat(node, read_round)
                self._release_reads()

    def _reads_waiting_round(self) -> bool:
        leading = self.role is Role.LEADER
        return leading and self._reads.has_unstarted() and self._noop_chosen()

    def _committed_to_apply(self) -> list[Entry]:
        log = self.log
        if log.unstable_snapshot is not None or log.committed <= log.applied:
            return []
        low = LogIndex(log.applied + 1)
        return log.entries(low, self.config.apply_bytes_max, LogIndex(log.committed + 1))

    def _current_soft_state(self) -> SoftState:
        return SoftState(self.leader, self.role)

    def _current_hard_state(self) -> HardState:
        return HardState(self.promised, self.vote, self.log.committed)

    def _send(self, message: PaxosMessage) -> None:
        self._outbox.append(message)

    # -- roles ----------------------------------------------------------------------------------

    def _random_election_timeout(self) -> int:
        base = self.config.election_timeout_ticks
        return base + self._rng.randrange(0, base)

    def _become_follower(self, promised: Term, leader: NodeId) -> None:
        if self.role is Role.LEADER:
            self._drop_reads()
        assert promised >= self.promised, "a promise never goes back"
        self.promised = promised
        self.role = Role.FOLLOWER
        self.leader = leader
        self._progress = {}
        self._votes, self._promises = {}, {}
        self._transferee = NO_NODE
        self._election_elapsed = 0
        self._election_timeout = self._random_election_timeout()

    def _start_phase1(self, *, transfer: bool) -> None:
        """Phase 1a: promise ourselves a fresh ballot and ask every acceptor for theirs."""
        self.promised = self._new_ballot()
        self._seen = self.promised
        self.role = Role.CANDIDATE
        self.leader = NO_NODE
        self._progress = {}
        self._election_elapsed = 0
        self._election_timeout = self._random_election_timeout()
        self._votes, self._promises = {}, {}
        first = LogIndex(self.log.committed + 1)
        self._record_promise(self._own_promise(first))
        if self.role is not Role.CANDIDATE:
            return
        for node in self._others():
            self._send(Prepare(self.node_id, node, self.promised, first, transfer))

    def _new_ballot(self) -> Term:
        return next_ballot(Term(max(self._seen, self.promised)), self.node_id)

    def _own_promise(self, first: LogIndex) -> Promise:
        entries = tuple(self.log.entries(first, UNLIMITED))
        return Promise(self.node_id, self.node_id, self.promised, True, self.log.committed, entries)

    def _record_promise(self, promise: Promise) -> None:
        self._votes[promise.source] = promise.granted
        if promise.granted:
            self._promises[promise.source] = promise
        match vote_result(self._membership.voters, self._votes):
            case VoteResult.WON:
                self._become_leader()
            case VoteResult.LOST:
                self._become_follower(self.promised, NO_NODE)
            case VoteResult.PENDING:
                pass

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
        self.log.append(entries)
        self.role = Role.LEADER
        self.leader = self.node_id
        self._votes = {}
        self._progress = {}
        for node in self._others():
            reported = self._promises.get(node)
            match = min(reported.commit, self.log.committed) if reported else NO_INDEX
            self._progress[node] = Progress(match, LogIndex(self.log.committed + 1))
        self._promises = {}
        self._heartbeat_elapsed = 0
        self._election_elapsed = 0
        self._broadcast_pending = True
        self._maybe_commit()

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

    def _check_can_propose(self) -> None:
        if self.role is not Role.LEADER:
            raise NotLeader(f"node {self.node_id} is not the leader", self.leader)
        if self._transferee != NO_NODE:
            raise ProposalDropped("leadership transfer in progress", self.leader)
        if self.log.last_index() - self.log.committed >= self.config.proposal_entries_max:
            raise ProposalDropped("too many unchosen proposals", self.leader)

    def _append_own(self, command: bytes) -> LogIndex:
        index = LogIndex(self.log.last_index() + 1)
        self.log.append([Entry(index, self.promised, EntryKind.NORMAL, command)])
        self._broadcast_pending = True
        return index

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
                if message.term == self.promised and self.role is Role.FOLLOWER:
                    self._start_phase1(transfer=True)
            case ReadIndexRequest():
                self._on_read_index_request(message)
            case ReadIndexResponse():
                if message.index == NO_INDEX:
                    self._refused_reads.append(message.request_id)
                else:
                    self._read_states.append(ReadState(message.index, message.request_id))

    def _step_down_if_outranked(self, ballot: Term) -> bool:
        """An answer carrying a ballot above ours: someone promised it; stop leading."""
        if ballot > self.promised and self.role is not Role.FOLLOWER:
            self._become_follower(self.promised, NO_NODE)
            return True
        return False

    # -- acceptor: phase 1 ----------------------------------------------------------------------

    def _repairing(self) -> bool:
        """True while the log, cut short by a repair of damaged storage, has not been refilled
        by a leader up to the bound on what this node may have accepted: until then it may
        have lost accepted values, so it neither promises nor campaigns (it still accepts)."""
        if self._repair_until and self._vouched(repairing=True) >= self._repair_until:
            self._repair_until = NO_INDEX
        return self._repair_until != NO_INDEX

    def _held(self) -> LogIndex:
        """The last slot this acceptor vouches for holding the leader's (or chosen) values."""
        return self._vouched(repairing=self._repairing())

    def _vouched(self, *, repairing: bool) -> LogIndex:
        if not repairing:
            return self.log.last_index()
        if self._refilled_ballot != self.promised:
            return self.log.committed
        return LogIndex(max(self._refilled, self.log.committed))

    def _in_lease(self) -> bool:
        return (
            self.config.check_quorum
            and self.leader != NO_NODE
            and self._election_elapsed < self.config.election_timeout_ticks
        )

    def _on_prepare(self, message: Prepare) -> None:
        repeat = message.term == self.promised and self.role is Role.FOLLOWER
        if message.term < self.promised or (message.term == self.promised and not repeat):
            self._send(Promise(self.node_id, message.source, self.promised, False))
            return
        if not repeat and self._in_lease() and not message.transfer:
            return  # a live leader exists: do not let a stray candidate disrupt it
        if self._repairing():
            return  # it may have lost values it accepted: its promise would not report them
        if self.log.first_index() > message.first:
            reply = Promise(self.node_id, message.source, message.term, False, behind=True)
            self._send(reply)
            return
        self._become_follower(message.term, NO_NODE)
        entries = tuple(self.log.entries(message.first, UNLIMITED))
        promise = Promise(
            self.node_id, message.source, self.promised, True, self.log.committed, entries
        )
        self._send(promise)

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

    # -- acceptor: phase 2 and learning ---------------------------------------------------------

    def _follow(self, message: Accept | Heartbeat | InstallSnapshot) -> bool:
        """A message from a leader: refuse a ballot below our promise, else promise it."""
        if message.term < self.promised:
            self._send(Accepted(self.node_id, message.source, self.promised, False))
            return False
        if message.term == self.promised and self.role is Role.LEADER:
            return False  # one leader per ballot: never ours to accept from another
        if message.term > self.promised or self.role is not Role.FOLLOWER:
            self._become_follower(message.term, message.source)
        self.leader = message.source
        self._election_elapsed = 0
        return True

    def _on_leader_message(self, message: Accept | Heartbeat | InstallSnapshot) -> None:
        match message:
            case Accept():
                self._on_accept(message)
            case Heartbeat():
                self.log.commit_to(min(message.commit, self._held()))
                reply = HeartbeatAck(
                    self.node_id,
                    message.source,
                    self.promised,
                    message.read_round,
                    self.log.committed,
                )
                self._send(reply)
            case InstallSnapshot():
                self._on_install_snapshot(message)

    def _on_accept(self, message: Accept) -> None:
        log = self.log
        held = self._held()
        if message.prev > held:
            reply = Accepted(
                self.node_id,
                message.source,
                self.promised,
                False,
                message.prev,
                held,
                log.committed,
            )
            self._send(reply)
            return
        last = LogIndex(message.prev + len(message.entries))
        self._accept_values(message.entries)
        if self._repair_until:
            same = self._refilled_ballot == self.promised
            self._refilled = LogIndex(max(self._refilled, last)) if same else last
            self._refilled_ballot = self.promised
        log.commit_to(min(message.commit, last, log.last_index()))
        reply = Accepted(
            self.node_id, message.source, self.promised, True, message.prev, last, log.committed
        )
        self._send(reply)

    def _accept_values(self, entries: tuple[Entry, ...]) -> None:
        """Write the values past our chosen prefix, keeping every accepted value after them."""
        log = self.log
        fresh = [entry for entry in entries if entry.index > log.committed]
        if not fresh:
            return
        position = 0
        while position < len(fresh) and log.matches(fresh[position].index, fresh[position].term):
            position += 1  # already held in this ballot (a retransmission)
        fresh = fresh[position:]
        if not fresh:
            return
        end = fresh[-1].index
        kept = log.entries(LogIndex(end + 1), UNLIMITED) if end < log.last_index() else []
        log.append([*fresh, *kept])

    def _on_install_snapshot(self, message: InstallSnapshot) -> None:
        meta = message.snapshot.meta
        log = self.log
        if meta.index > log.committed:
            kept = log.entries(LogIndex(meta.index + 1), UNLIMITED)
            log.restore(message.snapshot)
            log.append(kept)
            self._membership = meta.membership
        reply = Accepted(
            self.node_id,
            message.source,
            self.promised,
            True,
            NO_INDEX,
            meta.index,
            log.committed,
        )
        self._send(reply)

    # -- leader ---------------------------------------------------------------------------------

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
            for node in self._others():
                self._heartbeat(node)

    def _quorum_active(self) -> bool:
        active = {node for node, progress in self._progress.items() if progress.active}
        for progress in self._progress.values():
            progress.active = False
        return has_quorum(self._membership.voters, active | {self.node_id})

    def _heartbeat(self, node: NodeId) -> None:
        progress = self._progress[node]
        if progress.match < self.log.last_index() and not progress.progressed:
            progress.rewind()
        progress.progressed = False
        self._send_heartbeat(node, self._reads.current_round)
        self._send_accepts(node)

    def _send_heartbeat(self, node: NodeId, read_round: int) -> None:
        commit = min(self.log.committed, self._progress[node].match)
        self._send(Heartbeat(self.node_id, node, self.promised, LogIndex(commit), read_round))

    def _send_accepts(self, node: NodeId) -> None:
        progress = self._progress[node]
        if progress.snapshot:
            return
        while progress.inflight < progress.window(self.config.inflight_messages_max):
            if progress.next > self.log.last_index():
                return
            try:
                batch = self.log.entries(progress.next, self.config.message_bytes_max)
            except LogCompacted:
                self._send_snapshot(node, progress)
                return
            commit = LogIndex(min(self.log.committed, progress.match))
            prev = LogIndex(progress.next - 1)
            self._send(Accept(self.node_id, node, self.promised, prev, tuple(batch), commit))
            progress.next = LogIndex(batch[-1].index + 1)
            progress.inflight += 1

    def _send_snapshot(self, node: NodeId, progress: Progress) -> None:
        snapshot = self.log.storage.snapshot()
        progress.snapshot = snapshot.meta.index
        progress.next = LogIndex(snapshot.meta.index + 1)
        self._send(InstallSnapshot(self.node_id, node, self.promised, snapshot))

    def _on_accepted(self, message: Accepted) -> None:
        if self._step_down_if_outranked(message.term):
            return
        if self.role is not Role.LEADER or message.term != self.promised:
            return
        progress = self._progress.get(message.source)
        if progress is None:
            return
        progress.active = True
        progress.chosen_held(LogIndex(min(message.commit, self.log.committed)))
        if message.ok:
            if progress.acknowledged(message.prev, message.last):
                progress.progressed = True
                self._maybe_commit()
        elif not progress.probing or message.prev == progress.match:
            if message.last < progress.match:
                # It holds less than it acknowledged: a repair cut its log (or this refusal is
                # older than the acknowledgement). Start over from its chosen prefix.
                progress.match = LogIndex(min(message.commit, self.log.committed))
            progress.rewind()  # a hole: resend from what it holds
        sent = len(self._outbox)
        self._send_accepts(message.source)
        if len(self._outbox) == sent and message.commit < min(self.log.committed, progress.match):
            # It holds chosen values it does not know are chosen (its acknowledgement came
            # after the quorum's): tell it now rather than at the next heartbeat tick.
            self._send_heartbeat(message.source, self._reads.current_round)

    def _on_heartbeat_ack(self, message: HeartbeatAck) -> None:
        if self._step_down_if_outranked(message.term):
            return
        if self.role is not Role.LEADER or message.term != self.promised:
            return
        progress = self._progress.get(message.source)
        if progress is None:
            return
        progress.active = True
        progress.chosen_held(LogIndex(min(message.commit, self.log.committed)))
        self._reads.ack(message.source, message.read_round)
        self._release_reads()

    def _maybe_commit(self) -> None:
        """Chosen: accepted in our ballot by a quorum, counting our own durable values."""
        match = {node: progress.match for node, progress in self._progress.items()}
        match[self.node_id] = LogIndex(self.log.unstable_offset - 1)
        chosen = committed_index(self._membership.voters, match)
        if chosen > self.log.committed:
            term = self.log.term(chosen)
            assert term == self.promised, f"choosing slot {chosen} of ballot {term}"
            self.log.commit_to(chosen)
            self._broadcast_pending = True
            self._chosen_untold = True

    def _noop_chosen(self) -> bool:
        return self.log.committed >= self._noop_index

    # -- reads ----------------------------------------------------------------------------------

    def _leader_read(self, read: PendingRead) -> None:
        if self._reads.full():
            self._refuse_read(read)
            return
        self._reads.add(read)
        if len(self._membership.voters) == 1 and self._noop_chosen():
            self._reads.start_round(self.log.committed)
            self._release_reads()

    def _release_reads(self) -> None:
        for read in self._reads.release(self._membership.voters, self.node_id):
            self._answer_read(read)

    def _answer_read(self, read: PendingRead) -> None:
        if read.origin == self.node_id:
            self._read_states.append(ReadState(read.index, read.request_id))
        else:
            response = ReadIndexResponse(
                self.node_id, read.origin, self.promised, read.request_id, read.index
            )
            self._send(response)

    def _refuse_read(self, read: PendingRead) -> None:
        if read.origin == self.node_id:
            self._refused_reads.append(read.request_id)
        else:
            response = ReadIndexResponse(
                self.node_id, read.origin, self.promised, read.request_id, NO_INDEX
            )
            self._send(response)

    def _drop_reads(self) -> None:
        for read in self._reads.drain():
            self._refuse_read(read)

    def _on_read_index_request(self, message: ReadIndexRequest) -> None:
        read = PendingRead(message.request_id, message.source)
        if self.role is Role.LEADER:
            self._leader_read(read)
        else:
            self._refuse_read(read)
