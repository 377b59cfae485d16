"""The acceptor's half of the Multi-Paxos engine, and the state every role shares.

``Acceptor`` is the base of ``PaxosEngine`` (through ``Proposer`` and ``Leader``): it declares
the engine's state so the type checker sees it, and holds what a node does as an acceptor and
learner. Rules it keeps:

- It promises a ballot only above the one it promised (a prepare of the same ballot from its
  owner is answered again), and accepts values only in a ballot at least the one it promised;
  accepting raises the promise.
- It never forgets an accepted value: a value is replaced only by one accepted in a ballot at
  least as high, at the same slot (a write of a shorter batch rewrites the suffix it keeps).
  It accepts only contiguous slots (no holes); refusing is always safe in Paxos.
- It commits (learns chosen) only up to the point the leader knows it holds the leader's
  values: ``commit`` in Accept/Heartbeat is capped by the acceptor's match.
- Every answer to a leader carries ``run``: the last slot of the run, from its chosen prefix,
  of slots holding values accepted in the leader's ballot (``_ballot_run``). The leader takes
  it as the acceptor's match whatever order its Accepts arrived in, so an acknowledgement that
  overtook an earlier one is not wasted, nor values accepted in this ballot before a partition
  cut the answers off. Why that is safe: one ballot has one leader, and the leader never
  changes the value of a slot within its ballot, so a value held under the leader's ballot is
  the leader's value at that slot: the run reports acceptances in that ballot, as
  acknowledgements do. Each is durable before the answer leaves (answers wait for the fsync
  of every write before them) and is replaced only by a value of a higher ballot, which this
  acceptor then promised, so no answer in the leader's ballot follows. A run that arrives
  late is a late acknowledgement: the acceptances happened; if a repair has since cut them
  from the log, the repair rule below covers them as it covers acknowledged values, and the
  leader's view, too high for a while, costs a refusal and a resend. The run stops at the
  first slot holding anything else (an older ballot's value, or nothing), and while
  repairing it stops where the acceptor stops vouching (``_held``).
- Every write to the log goes through ``_log_append``/``_log_restore``, which keep the
  per-slot configurations (``membership.py``) in step with the values held. Learners accept
  like any acceptor; only the quorum arithmetic (elsewhere) leaves them out.
- While the log, cut short by a storage repair, has not been refilled past the repair bound,
  the node does not campaign, and its promises say it is repairing (it may have lost values
  it accepted): a candidate counts them toward a quorum's size only. Until then it also
  vouches only for its chosen prefix and what the current ballot's leader has refilled
  contiguously from there: a repair may have brought back older values under slots the
  leader believes it holds, so it takes no chosen index past that, and refuses an Accept
  that starts past it as a hole (the leader then resends from its chosen prefix).
"""

from __future__ import annotations

from synod.consensus.paxos.membership import Configurations
from synod.consensus.paxos.messages import (
    Accept,
    Accepted,
    Heartbeat,
    HeartbeatAck,
    InstallSnapshot,
    PaxosMessage,
    Prepare,
    Promise,
)
from synod.consensus.paxos.progress import Progress
from synod.consensus.ready_cycle import ReadyCycle
from synod.core.engine import Rng, Role
from synod.core.ids import NO_INDEX, NO_NODE, LogIndex, NodeId, Term
from synod.core.log import Entry, Membership, Snapshot

UNLIMITED = 1 << 62


class Acceptor(ReadyCycle[PaxosMessage]):
    promised: Term
    _rng: Rng
    _configs: Configurations
    _repair_until: LogIndex
    _refilled: LogIndex
    _refilled_ballot: Term
    _run: LogIndex
    _run_ballot: Term
    _seen: Term
    _election_elapsed: int
    _heartbeat_elapsed: int
    _election_timeout: int
    _votes: dict[NodeId, bool]
    _promises: dict[NodeId, Promise]
    _asked: set[NodeId]
    _progress: dict[NodeId, Progress]
    _noop_index: LogIndex
    _transferee: NodeId
    _chosen_untold: bool

    @property
    def membership(self) -> Membership:
        """The configuration after every chosen change (it governs the first unchosen slot)."""
        return self._configs.at(LogIndex(self.log.committed + 1))

    def _is_voter(self) -> bool:
        return self.node_id in self.membership.voters

    # -- the log and its configurations ---------------------------------------------------------

    def _log_append(self, entries: list[Entry]) -> None:
        self.log.append(entries)
        self._configs.record(entries)

    def _log_restore(self, snapshot: Snapshot, kept: list[Entry]) -> None:
        self.log.restore(snapshot)
        self._configs.reset(snapshot.meta.index, snapshot.meta.membership)
        if kept:
            self._log_append(kept)

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
        self._votes, self._promises, self._asked = {}, {}, set()
        self._transferee = NO_NODE
        self._election_elapsed = 0
        self._election_timeout = self._random_election_timeout()

    def _step_down_if_outranked(self, ballot: Term) -> bool:
        """An answer carrying a ballot above ours: someone promised it; stop leading."""
        if ballot > self.promised and self.role is not Role.FOLLOWER:
            self._become_follower(self.promised, NO_NODE)
            return True
        return False

    # -- phase 1 --------------------------------------------------------------------------------

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

    def _ballot_run(self) -> LogIndex:
        """The last slot of the run from the chosen prefix holding values accepted in our
        promised ballot (see the module's rules); remembered per ballot, so each slot is read
        about once. Values of the promised ballot are never replaced while it is promised, and
        a snapshot only moves the chosen prefix, so the remembered run stays true."""
        log = self.log
        end = min(log.last_index(), self._held())
        run = log.committed
        if self._run_ballot == self.promised:
            run = max(run, min(self._run, end))
        while run < end and log.term(LogIndex(run + 1)) == self.promised:
            run = LogIndex(run + 1)
        self._run, self._run_ballot = run, self.promised
        return run

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
        if self.log.first_index() > message.first:
            reply = Promise(self.node_id, message.source, message.term, False, behind=True)
            self._send(reply)
            return
        self._become_follower(message.term, NO_NODE)
        entries = tuple(self.log.entries(message.first, UNLIMITED))
        repairing = self._repairing()  # it may lack values it accepted: the candidate is told
        promise = Promise(
            self.node_id,
            message.source,
            self.promised,
            True,
            self.log.committed,
            entries,
            repairing=repairing,
        )
        self._send(promise)

    # -- phase 2 and learning -------------------------------------------------------------------

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
                self._ballot_run(),
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
            self.node_id,
            message.source,
            self.promised,
            True,
            message.prev,
            last,
            log.committed,
            self._ballot_run(),
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
        self._log_append([*fresh, *kept])

    def _on_install_snapshot(self, message: InstallSnapshot) -> None:
        meta = message.snapshot.meta
        log = self.log
        if meta.index > log.committed:
            kept = log.entries(LogIndex(meta.index + 1), UNLIMITED)
            self._log_restore(message.snapshot, kept)
        reply = Accepted(
            self.node_id,
            message.source,
            self.promised,
            True,
            NO_INDEX,
            meta.index,
            log.committed,
            self._ballot_run(),
        )
        self._send(reply)
