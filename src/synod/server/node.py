"""``Node``: one member of a cluster, run on one asyncio loop over a real disk, network and clock.

Pieces: the engine and ``Replica`` (sans-IO), the WAL (``WalStorage`` on ``OsDisk``), the
keyspace (``EtcdMachine`` over ``MvccStore`` on ``LmdbBackend``), the peer ``Transport``, a tick
timer, and the leader's ``LeaseClock``.

The Ready loop (architecture): early messages out; persist (one WAL write and fdatasync, no
fdatasync when only the commit index moved); the other messages out; apply (committed
entries; then one LMDB transaction for all of them); answer. The loop runs whenever a tick,
a message or a request made work, and hands the event loop back between Readies so the
network and clients are served.

Where things are: this module holds the node's life (construction, ``start``, ``stop``), its
views, the tick loop, the Ready loop and the role and leader hooks; the request path (``write``,
``read``, leases, ``move_leader``, and answering peers' calls) is ``synod.server.requests``; the
membership side is ``synod.server.membership``. Both are mixed into ``Node``.

Restart: the log's commit index may be behind the keyspace's applied index (a commit index
alone is saved without a sync); the commit is raised to the applied index, never applying an
entry twice (``_resume_commit``).

Shutdown (``stop``): no new requests; the Ready in hand is finished (the loop never stops
between persisting and applying one); waiting requests fail with ``ServerStopped``; the
keyspace is flushed and synced, the transport and the LMDB environment closed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from synod.core.config import EngineConfig
from synod.core.engine import Ready, Role
from synod.core.ids import NO_NODE, LogIndex, NodeId
from synod.core.log import Membership
from synod.kv.etcd_machine import EtcdMachine, EtcdResult
from synod.kv.mvcc import MvccLimits
from synod.replica import Replica, ReplicaConfig
from synod.replica.effects import Done, Effect, MembershipApplied, Redirected, Refused
from synod.replica.leases import LeaseClock, LeaseClockConfig, expire_command
from synod.server.config import Member, NodeConfig, host_port
from synod.server.engines import ServerEngine, engine_kind
from synod.server.errors import (
    LeaderChanged,
    LogBehindKeyspace,
    ServerStopped,
)
from synod.server.membership import ClusterMembership
from synod.server.metrics import NodeMetrics
from synod.server.peer_calls import PeerReply, node_codec
from synod.server.requests import ClientRequests
from synod.server.transport import Codec, Transport, TransportConfig
from synod.storage.disk import OsDisk
from synod.storage.kvdb import LmdbBackend
from synod.storage.wal_storage import WalStorage

logger = logging.getLogger("synod.server")

INLINE_PERSIST_S = 0.0005
"""Below this recent average, a Ready is persisted on the loop rather than the disk thread."""
FLUSH_INTERVAL_S = 0.1
"""How often applied changes are committed to LMDB (one transaction for all of them)."""

WAL_DIR = os.path.join("member", "wal")
KV_DIR = os.path.join("member", "kv")


@dataclass(frozen=True, slots=True)
class Status:
    """What Maintenance.Status reports."""

    member_id: NodeId
    leader: NodeId
    term: int
    commit_index: int
    applied_index: int
    revision: int
    db_size_bytes: int
    is_learner: bool


class Node(ClientRequests, ClusterMembership):
    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.member_id = config.node_id
        self.engine_kind = engine_kind(config.engine)
        self.engine_kind.check_members(member.node_id for member in config.members)
        self.removed = asyncio.Event()
        """Set when this member learns it was removed from the cluster (it should stop)."""
        self._dialed: dict[NodeId, tuple[str, int]] = {}
        self._reconciling = False
        self.members: dict[NodeId, Member] = {member.node_id: member for member in config.members}
        self._rng = random.Random()
        self._boot = self._rng.getrandbits(64).to_bytes(8, "big")
        self._counter = itertools.count(1)
        self._pending: dict[bytes, asyncio.Future[EtcdResult]] = {}
        self._calls: dict[int, asyncio.Future[PeerReply]] = {}
        self._forwards: dict[int, asyncio.Future[EtcdResult]] = {}
        """Forwarded proposals by call: the leader replies only to refuse one, and a refusal
        fails that attempt's future (``ForwardRefused``), so the write is tried again."""
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        """Helpers that may be cancelled at any point (publishing, dialing peers)."""
        self._ticker: asyncio.Task[None] | None = None
        self._ready_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._listeners: list[Callable[[], None]] = []
        self._lease_changes_seen = -1
        self._disk = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="disk")
        """One thread for fsyncs and LMDB commits, so they keep their order."""
        self._unflushed = False
        self._flushed_at = 0.0
        self._persist_ewma_s = INLINE_PERSIST_S
        """Recent time to persist a Ready (a moving average over about 16 of them)."""
        self.metrics = NodeMetrics()
        self._leader_seen = NO_NODE
        self.leases = LeaseClock(LeaseClockConfig(tick_seconds=config.heartbeat_ms / 1000))
        founding = Membership(frozenset(member.node_id for member in config.members))
        data_dir = config.data_dir
        self.storage = WalStorage.open(
            OsDisk(os.path.join(data_dir, WAL_DIR)),
            membership=founding if config.new_cluster else None,
        )
        damage = self.storage.wal.damage
        if damage is not None:
            logger.warning("repaired a damaged log (%s); refilling it from peers", damage)
        os.makedirs(os.path.join(data_dir, KV_DIR), exist_ok=True)
        self.backend = LmdbBackend.open(
            os.path.join(data_dir, KV_DIR), map_size_bytes=config.quota_backend_bytes
        )
        limits = MvccLimits()
        self.machine = EtcdMachine.open(self.backend, limits)
        self.engine = self._new_engine()
        self.replica: Replica[EtcdResult] = Replica(
            self.engine,
            self.storage,
            self.machine,
            ReplicaConfig(snapshot_entries_threshold=config.snapshot_entries),
        )
        self.seed_members()  # after the replica may have restored the bootstrap snapshot
        self.transport = Transport(
            self._transport_config(), self._codec(), self._on_message, self._rng
        )

    # -- life ------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Recovery happened at construction: join the cluster's traffic and start ticking."""
        config = self.config
        await self.transport.start()
        self._ticker = asyncio.create_task(self._tick_loop(), name="tick")
        self._ready_task = asyncio.create_task(self._ready_loop(), name="ready")
        self._tasks.append(asyncio.create_task(self.publish_loop(), name="publish"))
        self.reconcile_peers()
        logger.info(
            "member %x (%s) started: engine %s, cluster %x, applied %d, %d members",
            self.member_id,
            config.name,
            self.engine_kind.name,
            self.cluster_id,
            self.replica.applied_index,
            len(self.members),
        )

    def _new_engine(self) -> ServerEngine:
        config = self.config
        engine_config = EngineConfig(
            election_timeout_ticks=config.election_ticks,
            heartbeat_interval_ticks=1,
        )
        applied = self.machine.applied_index
        snapshot_index = self.storage.snapshot().meta.index
        resumed = LogIndex(applied) if applied > snapshot_index else None
        if resumed is not None:
            self._resume_commit(resumed)
        return self.engine_kind.build(
            self.member_id, self.storage, engine_config, self._rng, resumed
        )

    def _resume_commit(self, applied: LogIndex) -> None:
        """Restart rule: commit = max(the log's commit, the keyspace's applied index).

        The log saves a new commit index alone without a sync, so a crash may lose it while
        the keyspace (which records its applied index) kept what applied past it. Those
        entries were committed when they applied, and they are in the log (an entry is synced
        before the keyspace is flushed): the commit is raised to them, and replay starts after
        them, never applying one twice. A repaired log is the exception: its intact prefix
        may hold older copies of entries that were overwritten, committed and applied since,
        so a keyspace past its commit means entries were lost with the damage."""
        storage = self.storage
        committed = storage.initial_state()[0].commit
        if applied <= committed:
            return
        repaired = storage.wal.damage is not None or storage.repair_until() != 0
        if not repaired and applied <= storage.last_index():
            logger.info("the log's commit index %d is behind the keyspace: %d", committed, applied)
            storage.raise_commit(applied)
            return
        raise LogBehindKeyspace(
            f"the keyspace has applied entry {applied}, but the write-ahead log (repaired "
            f"after damage: {storage.wal.damage}) is committed only to entry "
            f"{committed}: the entries between "
            f"were lost with the damaged log; remove this member and add it back with an "
            f"empty data directory"
        )

    def _transport_config(self) -> TransportConfig:
        host, port = host_port(self.config.listen_peer_urls[0], "--listen-peer-urls")
        snapshot_bytes_max = max(64 << 20, 2 * self.config.quota_backend_bytes)
        return TransportConfig(
            node_id=self.member_id,
            cluster_token=self.config.cluster_token.encode(),
            engine=self.engine_kind.name,
            listen_host=host,
            listen_port=port,
            # A snapshot holds the whole keyspace, which may grow to the backend quota.
            streamed_message_bytes_max=snapshot_bytes_max,
            send_queue_bytes_max=snapshot_bytes_max + (64 << 20),
        )

    def _codec(self) -> Codec:
        return node_codec(self.engine_kind.codec)

    async def stop(self) -> None:
        """Finish what is in hand, fail what waits, close files and sockets."""
        if self._stopping:
            return
        self._stopping = True
        for task in [*self._tasks, *([self._ticker] if self._ticker else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._ready_task is not None:
            self._wake()
            await self._ready_task  # finishes the Ready in hand and flushes the keyspace
        waiting: list[asyncio.Future[EtcdResult] | asyncio.Future[PeerReply]] = [
            *self._pending.values(),
            *self._calls.values(),
        ]
        for future in waiting:
            if not future.done():
                future.set_exception(ServerStopped("the server is stopping"))
        await self.transport.close()
        self.storage.wal.sync()  # a commit index saved without a sync
        self.machine.flush()
        self.backend.sync()
        self.backend.close()
        self._disk.shutdown(wait=True)
        logger.info("member %x (%s) stopped", self.member_id, self.config.name)

    # -- views -----------------------------------------------------------------------------------

    @property
    def leader(self) -> NodeId:
        return self.engine.leader

    @property
    def is_leader(self) -> bool:
        return self.engine.role is Role.LEADER

    @property
    def term(self) -> int:
        return int(self.engine.term)

    def status(self) -> Status:
        engine = self.engine
        return Status(
            self.member_id,
            engine.leader,
            int(engine.term),
            int(engine.commit_index),
            int(engine.applied_index),
            self.machine.store.revision,
            self.backend.size_bytes(),
            self.member_id in engine.membership.learners,
        )

    def on_apply(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` after every batch of applied entries; returns the unsubscriber."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # -- the engine's side -----------------------------------------------------------------------

    def _wake(self) -> None:
        self._wakeup.set()

    async def _tick_loop(self) -> None:
        interval = self.config.heartbeat_ms / 1000
        loop = asyncio.get_running_loop()
        next_tick = loop.time() + interval
        while True:
            await asyncio.sleep(max(0.0, next_tick - loop.time()))
            next_tick += interval
            replica = self._live_replica()
            replica.tick()
            for lease_id in self.leases.tick():
                self._propose_expiry(lease_id)
            self._wake()

    def _propose_expiry(self, lease_id: int) -> None:
        """A proposal nobody waits for; if the engine refuses it, the clock retries later."""
        if self._live_replica().submit(self._request_id(), expire_command(lease_id)):
            self.leases.refused(lease_id)

    async def _ready_loop(self) -> None:
        """Carry out Readies until the node stops; never stops in the middle of one."""
        while not self._stopping:
            await self._wakeup.wait()
            self._wakeup.clear()
            while (ready := self.replica.ready()) is not None:
                await self._carry_out(ready)
            if self._flush_due():
                await self._flush()
        await self._flush()

    async def _carry_out(self, ready: Ready) -> None:
        """One Ready: persist, send, apply, answer.

        The fsync runs on the disk thread so the loop keeps serving clients and peers
        meanwhile (proposals made then form the next Ready: group commit). That is safe
        because a Ready's entries stay in the engine's unstable log until ``advance``: the
        engine reads the storage only below them, where ``save`` changes nothing. A Ready that
        installs or takes a snapshot rewrites what the engine reads, so it is saved here."""
        replica = self.replica
        transport = self.transport
        for message in ready.early_messages:
            transport.send(message)
        syncs = self._syncs(ready)
        overlapped = (
            ready.snapshot is None
            and ready.compaction is None
            and syncs  # else nothing to save, or a commit index written without a sync
            and self._persist_ewma_s >= INLINE_PERSIST_S
        )
        early: list[Effect[EtcdResult]] = []
        if overlapped:
            loop = asyncio.get_running_loop()
            persisted = loop.run_in_executor(self._disk, self._persist, ready, syncs)
            early = replica.apply(ready)
            self._after_apply(ready, early)
            await persisted
        else:
            self._persist(ready, syncs)
        for message in ready.messages:
            transport.send(message)
        effects = replica.finish(ready)
        if ready.snapshot is not None:
            await self._flush()
        if ready.soft_state is not None:
            self._on_role(ready.soft_state.role)
            self._on_leader(ready.soft_state.leader)
        if overlapped:
            self._answer(effects)  # applied above; only the engine advanced here
        else:
            self._after_apply(ready, effects)
        # Configuration changes act on the engine (a compaction for a newcomer, say), which
        # must not happen while the Ready is in flight: only now, after advance.
        for effect in [*early, *effects]:
            if isinstance(effect, MembershipApplied):
                self.on_membership_applied(effect.change)

    def _syncs(self, ready: Ready) -> bool:
        """Whether persisting ``ready`` fdatasyncs the log: not for a commit index alone."""
        if ready.compaction is not None:
            return True
        return self.storage.needs_sync(ready.hard_state, ready.entries, ready.snapshot)

    def _persist(self, ready: Ready, syncs: bool) -> None:
        """The Ready's writes, made durable: on the disk thread when persisting is slow
        enough to be worth overlapping, otherwise here (a thread hand-off costs more than a
        fast fdatasync, and every hop is on the commit path). A Ready that only moves the
        commit index is written here without a sync (``synod.storage.wal``)."""
        started_s = time.perf_counter()
        self.replica.persist(ready)
        if syncs:
            took_s = time.perf_counter() - started_s
            self.metrics.wal_fsync_s.observe(took_s)
            self._persist_ewma_s += (took_s - self._persist_ewma_s) / 16

    def _after_apply(self, ready: Ready, effects: list[Effect[EtcdResult]]) -> None:
        self._answer(effects)
        if ready.committed_entries or ready.snapshot is not None:
            self._unflushed = True
            self.reconcile_peers()
            self._sync_leases()
            for listener in list(self._listeners):
                listener()

    def _flush_due(self) -> bool:
        elapsed = asyncio.get_running_loop().time() - self._flushed_at
        return self._unflushed and elapsed >= FLUSH_INTERVAL_S

    async def _flush(self) -> None:
        """Commit what applied since the last flush to LMDB, in one transaction, on the disk
        thread. Only this loop applies entries, and it waits here, so the batch cannot change
        under the commit. The WAL holds everything since the last snapshot, so a flush that a
        crash loses only means a longer replay at restart."""
        if not self._unflushed:
            return
        self._unflushed = False
        loop = asyncio.get_running_loop()
        self._flushed_at = loop.time()
        await loop.run_in_executor(self._disk, self._flush_timed)

    def _flush_timed(self) -> None:
        started_s = time.perf_counter()
        self.machine.flush()
        self.metrics.backend_commit_s.observe(time.perf_counter() - started_s)

    def _on_role(self, role: Role) -> None:
        if role is Role.LEADER and not self.leases.leading:
            self.leases.promote(self.machine.leases())
            logger.info("member %x is the leader of term %d", self.member_id, self.term)
        elif role is not Role.LEADER and self.leases.leading:
            self.leases.step_down()

    def _on_leader(self, leader: NodeId) -> None:
        if leader not in (NO_NODE, self._leader_seen):
            self.metrics.leader_changes_seen += 1
        if leader != NO_NODE:
            self._leader_seen = leader

    def _sync_leases(self) -> None:
        if self.machine.lease_changes != self._lease_changes_seen:
            self._lease_changes_seen = self.machine.lease_changes
            self.leases.sync(self.machine.leases())

    def _answer(self, effects: list[Effect[EtcdResult]]) -> None:
        for effect in effects:
            match effect:
                case Done(request_id, result, _):
                    future = self._pending.get(request_id)
                    if future is not None and not future.done():
                        future.set_result(result)
                case Refused(request_id, reason):
                    future = self._pending.get(request_id)
                    if future is not None and not future.done():
                        future.set_exception(LeaderChanged(reason))
                case MembershipApplied() | Redirected():
                    pass  # membership: after the Ready (``_carry_out``)

    # -- helpers ---------------------------------------------------------------------------------

    def _request_id(self) -> bytes:
        return self._boot + next(self._counter).to_bytes(8, "big")

    def _live_replica(self) -> Replica[EtcdResult]:
        if self._stopping:
            raise ServerStopped("the server is stopping")
        return self.replica

    def _live_engine(self) -> ServerEngine:
        if self._stopping:
            raise ServerStopped("the server is stopping")
        return self.engine
