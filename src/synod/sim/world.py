"""The world: nodes, network, clocks and the scheduler, driven from one seed.

Each node processes one Ready at a time. The Ready's ``early_messages`` leave at once; its
writes sit in the node's unsynced buffer until the simulated fsync completes (a crash before
that loses them; a Ready that only moves the commit index waits for no fsync, as in the
runtime); then ``messages`` are sent, committed entries applied, reads answered and the
engine advanced. Invariants are checked after every step of every node.
"""

from __future__ import annotations

import dataclasses
import random
import time
import traceback
from collections.abc import Callable, Iterable

from synod.consensus.catalog import entry_term_is_ballot, supports_membership_change
from synod.consensus.storage import MemoryStorage
from synod.core.engine import Message, Ready, Role
from synod.core.ids import NO_NODE, LogIndex, NodeId
from synod.core.log import Entry, Membership
from synod.kv.etcd_machine import EtcdMachine, EtcdResult
from synod.replica import Done, Effect, MembershipApplied, Redirected, Refused, Replica
from synod.replica.leases import LeaseClock
from synod.sim.clients import ClientDriver
from synod.sim.config import UNITS_PER_TICK, FaultProfile, SimConfig
from synod.sim.engines import EngineFactory, SimEngine, lookup_engine
from synod.sim.invariants import (
    Invariants,
    check_committed_durable,
    check_durable_hard_state,
    check_monotonic,
    check_restart,
)
from synod.sim.keyspace import KeyspaceDriver
from synod.sim.nemesis import Nemesis
from synod.sim.network import Network
from synod.sim.node import NodeState, SimNode
from synod.sim.result import SimResult, SimStats
from synod.sim.scheduler import Scheduler
from synod.storage.disk import SimDisk, SimulatedCrash
from synod.storage.records import WalCorruption
from synod.storage.wal import needs_sync
from synod.storage.wal_storage import WalStorage

READY_BURST_MAX = 64
"""Readies a node carries out back to back without an fsync before yielding to the world."""
POWER_CUT_OPERATIONS_MAX = 6
"""A power cut during an fsync lets fewer than this many disk operations through first (a
Ready's save takes 2 to 4: a snapshot file, the log write and its sync, segment creation)."""
EVENTS_PER_TICK_MAX = 20_000
"""A bound on the scheduler loop (a healthy 7-node tick takes well under 100 events): a tick
that needs more is a message storm, reported instead of hanging the run."""

Logger = Callable[[str], None]
MachineFactory = Callable[[NodeId], EtcdMachine]
"""Builds a node's state machine on every start (tests plant faulty ones)."""


def _etcd_machine(node_id: NodeId) -> EtcdMachine:
    return EtcdMachine()


class World:
    def __init__(
        self,
        config: SimConfig,
        factory: EngineFactory,
        log: Logger | None = None,
        machine_factory: MachineFactory | None = None,
    ) -> None:
        if not supports_membership_change(factory) and config.faults.membership_probability:
            # An engine with a fixed configuration: no membership nemesis, on purpose.
            faults = dataclasses.replace(config.faults, membership_probability=0.0)
            config = dataclasses.replace(config, faults=faults)
        self.config = config
        self.rng = random.Random(config.seed)
        self.stats = SimStats()
        self.scheduler = Scheduler()
        self.network = Network(self.rng, config.faults, self.stats)
        self.invariants = Invariants(by_value=entry_term_is_ballot(factory))
        self._factory = factory
        self._machine_factory = machine_factory or _etcd_machine
        self.keyspace = KeyspaceDriver(self)
        self._log = log
        self.engines: dict[NodeId, SimEngine] = {}
        self.healing = False
        self.heal_units = config.heal_tick * UNITS_PER_TICK
        self._request_counter = 0
        self._last_leader = NO_NODE
        voters = frozenset(NodeId(n) for n in range(1, config.nodes + 1))
        self.nodes = {n: self.new_node(n, Membership(voters)) for n in sorted(voters)}
        self.nemesis = Nemesis(self)
        for node in self.nodes.values():
            self.start(node)
        self.clients = ClientDriver(self)

    # -- running ------------------------------------------------------------------------------

    def run(self) -> SimResult:
        started = time.perf_counter()
        self.scheduler.at(UNITS_PER_TICK, "tick 1", self._on_tick, 1)
        try:
            self._run_ticks()
        except Exception as error:  # an engine or replica assertion: a bug to report
            self.invariants.report(f"crash at t={self.now_ticks():.2f}: {describe(error)}")
        if not self.invariants.violations:
            self._final_checks()
        self.clients.count_operations()
        self.stats.events = self.scheduler.executed
        self.stats.wall_time_s = time.perf_counter() - started
        return SimResult(
            self.config.seed,
            list(self.invariants.violations),
            self.stats,
            self.scheduler.trace_hash(),
        )

    def _run_ticks(self) -> None:
        """Run tick by tick so that a message storm is caught within the tick it starts in."""
        scheduler = self.scheduler
        for tick in range(1, self.config.ticks + 1):
            if not scheduler.run_until(tick * UNITS_PER_TICK, EVENTS_PER_TICK_MAX, self._stopped):
                self.invariants.report(
                    f"runaway: more than {EVENTS_PER_TICK_MAX} events within tick {tick} "
                    f"({len(scheduler)} pending: a message storm?)"
                )
            if self.invariants.violations:
                return

    def _stopped(self) -> bool:
        return bool(self.invariants.violations)

    def _final_checks(self) -> None:
        self._check_liveness()
        self.keyspace.check_replicas_agree()
        for node in self.nodes.values():
            self.keyspace.check_acked_puts(node)
        self.clients.check_history()

    def _check_liveness(self) -> None:
        """After healing the cluster must have a leader and commit a new client write."""
        leader = self.current_leader()
        if self.config.clients == 0:
            if leader is None:
                self.invariants.report("liveness: no leader at the end of the heal phase")
            return
        if self.clients.liveness_met_units is None:
            window = self.config.ticks - self.config.heal_tick
            self.invariants.report(
                f"liveness: no client write committed within {window} ticks after healing"
                f" at tick {self.config.heal_tick}"
                f" (leader at the end: {leader.node_id if leader else 'none'})"
            )

    def now_ticks(self) -> float:
        return self.scheduler.now / UNITS_PER_TICK

    def log(self, text: str) -> None:
        if self._log is not None:
            self._log(f"[{self.now_ticks():10.2f}] {text}")

    def _on_tick(self, tick: int) -> None:
        self.stats.ticks = tick
        if tick == self.config.heal_tick:
            self.heal()
        self.nemesis.on_tick(tick)
        for node in self.nodes.values():
            if node.running:
                assert node.replica is not None
                node.replica.tick()
                self.keyspace.tick_leases(node)
                self.pump(node)
                self.observe(node)
        if tick < self.config.ticks:
            self.scheduler.after(UNITS_PER_TICK, f"tick {tick + 1}", self._on_tick, tick + 1)

    def heal(self) -> None:
        """Start the liveness phase: a reliable network, every node back, no new faults."""
        self.healing = True
        self.log("heal: partitions removed, paused nodes resumed, crashed nodes restarted")
        if self.config.heal_network:
            self.network.heal()
            self.network.profile = FaultProfile.reliable()
        for node in self.nodes.values():
            if node.state is NodeState.PAUSED:
                self.resume(node)
            elif node.state is NodeState.CRASHED:
                self.start(node)

    # -- node lifecycle -----------------------------------------------------------------------

    def new_node(self, node_id: NodeId, membership: Membership | None) -> SimNode:
        """A node with an empty disk (bootstrapped with ``membership`` for a founding member).

        With ``disk="wal"`` the disk is a ``SimDisk`` with its own RNG derived from the world's
        (drawn only then, so memory-disk runs replay as before)."""
        if self.config.disk == "memory":
            return SimNode(node_id, MemoryStorage(membership))
        disk = SimDisk(random.Random(self.rng.getrandbits(64)))
        storage = WalStorage.open(disk, self.config.wal_config(), membership)
        return SimNode(node_id, storage, disk)

    def _reopen(self, node: SimNode) -> bool:
        """Recover a WAL node's storage from its disk; False (and the node kept down for good)
        when recovery finds the log damaged: it must not vote or acknowledge with it."""
        if node.disk is None or node.life == 0:
            return True
        try:
            node.storage = WalStorage.open(node.disk, self.config.wal_config())
            damage = node.storage.wal.damage
            if damage is not None:
                self.stats.repaired_nodes += 1
                self.scheduler.note(f"repair {node.node_id}")
                self.log(
                    f"node {node.node_id} repairs its log ({damage}); it will not vote until "
                    f"its log reaches index {node.storage.repair_until()}"
                )
        except WalCorruption as error:
            node.state = NodeState.CORRUPT
            self.stats.corrupt_nodes += 1
            self.scheduler.note(f"corrupt {node.node_id}")
            self.log(f"node {node.node_id} refused: its log is corrupt ({error})")
            return False
        return True

    def start(self, node: SimNode) -> None:
        """(Re)start a node over its durable storage, with a fresh RNG derived from the world."""
        if not self._reopen(node):
            return
        rng = random.Random(self.rng.getrandbits(64))
        engine = self._factory(node.node_id, node.storage, self.config.engine_config, rng)
        machine = self._machine_factory(node.node_id)
        replica: Replica[EtcdResult] = Replica(
            engine,
            node.storage,
            machine,
            self.config.replica_config,
            on_applied=lambda index: self.keyspace.on_applied(node, machine, index),
        )
        restarted = node.life > 0
        node.start(replica, machine, LeaseClock(self.config.lease_clock_config))
        self.engines[node.node_id] = engine
        if restarted:
            self.stats.restarts += 1
            self.log(f"node {node.node_id} restarts (life {node.life})")
        durable = node.storage.hard_state
        snapshot_index = node.storage.snapshot().meta.index
        self.invariants.report(
            check_restart(
                node.node_id, durable, snapshot_index, engine.commit_index, engine.applied_index
            )
        )
        node.seen_commit = engine.commit_index
        if restarted:
            self.keyspace.check_acked_puts(node)
        self.pump(node)

    def crash(self, node: SimNode, state: NodeState = NodeState.CRASHED) -> None:
        assert node.up, f"crashing {node}"
        if node.disk is not None and state is NodeState.CRASHED:
            self._maybe_cut_power_during_fsync(node, node.disk)
        node.stop(state)
        if node.disk is not None:
            node.disk.crash(tear=self.rng.random() < 0.5)
        self.engines.pop(node.node_id, None)
        if state is NodeState.CRASHED:
            self.stats.crashes += 1
        self.log(f"node {node.node_id} {'crashes' if state is NodeState.CRASHED else 'removed'}")

    def _maybe_cut_power_during_fsync(self, node: SimNode, disk: SimDisk) -> None:
        """Half the crashes of a WAL node whose Ready is unsynced strike in the middle of its
        write: the disk takes a few of the Ready's operations, then the power goes (and the
        crash that follows may tear the last write). Recovery must cope with whatever is left;
        nothing of that Ready was sent, so losing any of it is allowed."""
        ready = node.in_flight
        if ready is None or node.synced or node.replica is None or self.rng.random() >= 0.5:
            return
        disk.operations_max = disk.operations + self.rng.randrange(POWER_CUT_OPERATIONS_MAX)
        try:
            node.replica.persist(ready)
        except SimulatedCrash:
            self.stats.faults["power_cut_in_fsync"] += 1
            self.scheduler.note(f"power cut in fsync {node.node_id}")
            self.log(f"node {node.node_id}: the power goes in the middle of its fsync")

    def pause(self, node: SimNode) -> None:
        assert node.running, f"pausing {node}"
        node.state = NodeState.PAUSED
        self.log(f"node {node.node_id} pauses")

    def resume(self, node: SimNode) -> None:
        assert node.state is NodeState.PAUSED, f"resuming {node}"
        node.state = NodeState.RUNNING
        self.log(f"node {node.node_id} resumes ({len(node.inbox)} queued)")
        if node.synced and node.in_flight is not None:
            self._after_sync(node, node.in_flight)
        for _ in range(len(node.inbox)):
            if not node.running:
                return
            item = node.inbox.popleft()
            if isinstance(item, tuple):
                self._handle_request(node, *item)
            else:
                self._step(node, item)
        self.pump(node)
        self.observe(node)

    # -- the Ready loop -----------------------------------------------------------------------

    def pump(self, node: SimNode) -> None:
        """Carry out Readies until one needs an fsync (then wait for it) or none is left."""
        replica = node.replica
        for _ in range(READY_BURST_MAX):
            if replica is None or node.in_flight is not None or not node.running:
                return
            ready = replica.ready()
            if ready is None:
                return
            self._take(node, ready)

    def _take(self, node: SimNode, ready: Ready) -> None:
        node.in_flight = ready
        node.synced = False
        if ready.entries:
            engine = self.engines[node.node_id]
            self.invariants.on_entries(node.node_id, ready.entries, engine.log_term)
        self.send(ready.early_messages)
        if self._syncs(node, ready):
            self.stats.fsyncs += 1
            faults = self.config.faults
            delay = self.rng.randint(faults.fsync_units_min, faults.fsync_units_max)
            label = f"fsync {node.node_id}"
            self.scheduler.after(delay, label, self._on_fsync, node, node.life)
            return
        self._sync(node, ready)
        self._after_sync(node, ready)

    def _syncs(self, node: SimNode, ready: Ready) -> bool:
        """Whether the Ready waits for an fsync: as in the runtime, not one that only moves the
        commit index (``synod.storage.wal.needs_sync``). That one is saved at once: on a WAL
        node it is written unsynced to the simulated disk, which a crash may lose or tear."""
        if ready.compaction is not None:
            return True
        durable = node.storage.hard_state
        return needs_sync(durable, ready.hard_state, bool(ready.entries), bool(ready.snapshot))

    def _on_fsync(self, node: SimNode, life: int) -> None:
        if node.life != life or not node.up or node.in_flight is None:
            return  # the node crashed before its write reached the disk
        self._sync(node, node.in_flight)
        if node.running:
            self._after_sync(node, node.in_flight)
            self.pump(node)
            self.observe(node)

    def _sync(self, node: SimNode, ready: Ready) -> None:
        """The fsync completed: the Ready's writes are now durable in the node's storage."""
        assert node.replica is not None
        before = node.storage.hard_state
        node.replica.persist(ready)
        node.synced = True
        if ready.hard_state is not None:
            after = node.storage.hard_state
            self.invariants.report(check_durable_hard_state(node.node_id, before, after))

    def _after_sync(self, node: SimNode, ready: Ready) -> None:
        assert node.replica is not None
        assert node.synced, f"node {node.node_id} acting on a Ready before its fsync"
        self.send(ready.messages)
        node.note_voters(self.engines[node.node_id].membership.voters)
        effects = node.replica.finish(ready)
        node.in_flight = None
        node.synced = False
        if ready.committed_entries:
            node.note_voters(self.engines[node.node_id].membership.voters)
            self._check_durable(node, ready.committed_entries)
            term = self.engines[node.node_id].term
            self.invariants.on_applied(node.node_id, ready.committed_entries, term)
            self.stats.commits = max(self.stats.commits, ready.committed_entries[-1].index)
        if ready.snapshot is not None:
            self.stats.snapshots_installed += 1
        if ready.compaction is not None:
            self.stats.compactions += 1
        self.route(node, effects)

    def _check_durable(self, node: SimNode, entries: tuple[Entry, ...]) -> None:
        """Entries seen committed for the first time must be on disk at a quorum of voters.

        The leader that committed them counted under a configuration this node has seen
        recently (changes take effect on apply, one at a time, and a leader may apply later
        than this node), so count holders among those and ask for the smallest quorum."""
        recent = [voters for voters in node.recent_voters if voters]
        if not recent:
            return
        voters = frozenset().union(*recent)
        quorum = min(len(voters) // 2 + 1 for voters in recent)
        for entry in entries:
            if entry.index in self.invariants.applied:
                continue
            holders = sum(self._holds_durably(v, entry) for v in voters if v in self.nodes)
            self.invariants.report(check_committed_durable(node.node_id, entry, holders, quorum))

    def _holds_durably(self, node_id: NodeId, entry: Entry) -> bool:
        """Held, or owed: a node repairing a damaged log keeps its promise for what it had
        acknowledged by not voting until a leader has refilled it."""
        storage = self.nodes[node_id].storage
        if entry.index <= storage.snapshot().meta.index:
            return True
        if storage.last_index() < entry.index <= storage.repair_until():
            return True
        if entry.index > storage.last_index():
            return False
        if self.invariants.by_value:
            held = storage.entries(entry.index, LogIndex(entry.index + 1), 1 << 62)[0]
            return (held.kind, held.data) == (entry.kind, entry.data)
        return storage.term(entry.index) == entry.term

    def route(self, node: SimNode, effects: Iterable[Effect[EtcdResult]]) -> None:
        for effect in effects:
            match effect:
                case Done() | Redirected() | Refused():
                    self.clients.on_reply(effect)
                case MembershipApplied():
                    self.log(f"node {node.node_id} applies {effect.change} at {effect.index}")

    # -- messages and requests ----------------------------------------------------------------

    def send(self, messages: Iterable[Message]) -> None:
        scheduler = self.scheduler
        kinds = self.stats.message_kinds
        for message in messages:
            kind = type(message).__name__
            kinds[kind] += 1
            for delay in self.network.delivery_delays():
                label = f"deliver {message.source}>{message.target} {kind}"
                scheduler.after(delay, label, self._deliver, message)

    def _deliver(self, message: Message) -> None:
        node = self.nodes.get(message.target)
        if node is None or not node.up or not self.network.allows(message.source, node.node_id):
            self.stats.messages_dropped += 1
            return
        self.stats.messages_delivered += 1
        if node.state is NodeState.PAUSED:
            self._enqueue(node, message)
            return
        self._step(node, message)
        self.pump(node)
        self.observe(node)

    def _step(self, node: SimNode, message: Message) -> None:
        assert node.replica is not None
        node.replica.step(message)

    def _enqueue(self, node: SimNode, item: Message | tuple[str, bytes, bytes]) -> None:
        if len(node.inbox) >= self.config.inbox_messages_max:
            node.inbox.popleft()
            self.stats.messages_dropped += 1
        node.inbox.append(item)

    def new_request_id(self) -> bytes:
        self._request_counter += 1
        return self._request_counter.to_bytes(8, "big")

    def request(self, node_id: NodeId, kind: str, request_id: bytes, payload: bytes) -> None:
        """A client request arrives at a node; a down node never answers (the client times out)."""
        node = self.nodes[node_id]
        if not node.up:
            return
        if node.state is NodeState.PAUSED:
            self._enqueue(node, (kind, request_id, payload))
            return
        self._handle_request(node, kind, request_id, payload)
        self.pump(node)
        self.observe(node)

    def _handle_request(self, node: SimNode, kind: str, request_id: bytes, payload: bytes) -> None:
        assert node.replica is not None
        if kind == "keepalive":
            self.keyspace.keep_alive(node, request_id, int.from_bytes(payload, "big"))
            return
        if kind == "read":
            effects = node.replica.read(request_id, payload)
        else:
            effects = node.replica.submit(request_id, payload)
        self.route(node, effects)

    # -- observation --------------------------------------------------------------------------

    def observe(self, node: SimNode) -> None:
        """Check the per-node invariants after a step: leadership, commit, applied."""
        engine = self.engines.get(node.node_id)
        if engine is None or node.replica is None:
            return
        role, term = engine.role, engine.term
        if role is Role.LEADER and (node.seen_role is not Role.LEADER or node.seen_term != term):
            self._on_leader(node, engine)
        elif role is not Role.LEADER and node.leases.leading:
            node.leases.step_down()
        node.seen_role, node.seen_term = role, term
        commit, applied = engine.commit_index, node.replica.applied_index
        report = self.invariants.report
        if commit < node.seen_commit:
            report(check_monotonic(node.node_id, "commit index", node.seen_commit, commit))
        elif commit > node.seen_commit:
            self.invariants.on_commit(
                node.node_id, LogIndex(node.seen_commit), commit, term, engine.log_term
            )
        if applied < node.seen_applied:
            report(check_monotonic(node.node_id, "applied index", node.seen_applied, applied))
        node.seen_commit, node.seen_applied = commit, applied

    def _on_leader(self, node: SimNode, engine: SimEngine) -> None:
        term = engine.term
        if term not in self.invariants.leaders:
            self.stats.elections += 1
        if self._last_leader != node.node_id:
            self.stats.leader_changes += 1
            self._last_leader = node.node_id
        self.log(f"node {node.node_id} becomes leader of term {term}")
        log_entry = getattr(engine, "log_entry", None)
        self.invariants.on_leader(
            node.node_id, term, engine.log_term, node.covered_index(), log_entry
        )
        node.leases.promote(node.machine.leases())
        node.lease_changes_seen = node.machine.lease_changes
        self.nemesis.on_new_leader(node)

    def current_leader(self) -> SimNode | None:
        """The running node that leads the highest term, if any."""
        best: SimNode | None = None
        for node_id, engine in self.engines.items():
            node = self.nodes[node_id]
            if not node.running or engine.role is not Role.LEADER:
                continue
            if best is None or engine.term > self.engines[best.node_id].term:
                best = node
        return best

    def leader_id(self) -> NodeId:
        leader = self.current_leader()
        return leader.node_id if leader else NO_NODE


def describe(error: BaseException) -> str:
    """The error and where it was raised (file:line), so a one-line report is actionable."""
    frames = traceback.extract_tb(error.__traceback__)
    where = f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else ""
    text = f": {error}" if str(error) else ""
    return f"{type(error).__name__}{text}{where}"


def simulate(
    config: SimConfig,
    engine_factory: EngineFactory | None = None,
    *,
    log: Logger | None = None,
    machine_factory: MachineFactory | None = None,
) -> SimResult:
    """Run one seed to the end (or the first violation) and report what happened.

    ``engine_factory(node_id, storage, config, rng)`` builds each node's engine (on every
    start and restart); tests pass deliberately broken variants. The default is Raft."""
    factory = engine_factory or lookup_engine("raft")
    return World(config, factory, log, machine_factory).run()
