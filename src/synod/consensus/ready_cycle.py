"""The Ready cycle both engines share: effects batched into a ``Ready``, and reads answered.

An engine turns ticks and messages into effects it keeps (messages in ``_outbox``, read points,
refused reads, a compaction request) and hands them out together in one ``Ready``; the driver
persists, sends and applies them, then calls ``advance``. Each engine supplies the hooks below
(what its hard state is, which of its messages may leave early, what a durable write or a
compaction changes); the cycle itself is the same for Raft and Multi-Paxos. Rules:

- One Ready at a time: none is handed out until the previous one is advanced.
- ``_flush`` runs before each Ready: work deferred so that one Ready batches it (a broadcast
  of new entries, a read round).
- Messages that promise nothing about this node's disk (``_is_early``) may leave before the
  Ready's entries and hard state are durable; the rest leave after.
- Soft and hard state are in a Ready only when they changed since the last one.
- Committed entries are handed out from the first unapplied one, at most ``apply_bytes_max``
  at a time, and none while a received snapshot is pending (it replaces the log).
- A leader starts read rounds only once its own first entry is committed (``_serves_reads``):
  before that its commit index may lag what earlier leaders committed. A read is answered with
  the read point of a round a quorum confirmed: to the leader itself as a ``ReadState``, or to
  the follower that forwarded it. A refusal carries index 0 (``NO_INDEX``); the caller asks
  again.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Generic, TypeVar

from synod.consensus.reads import PendingRead, ReadQueue
from synod.core.config import EngineConfig
from synod.core.engine import Message, ReadState, Ready, Role, SoftState
from synod.core.ids import NO_INDEX, LogIndex, NodeId
from synod.core.log import Entry, HardState, Membership, Snapshot

if TYPE_CHECKING:
    from synod.consensus.raft.log import RaftLog

M = TypeVar("M", bound=Message)


class ReadyCycle(ABC, Generic[M]):
    node_id: NodeId
    config: EngineConfig
    log: RaftLog
    role: Role
    leader: NodeId
    _reads: ReadQueue
    _outbox: list[M]
    _read_states: list[ReadState]
    _refused_reads: list[bytes]
    _compaction: Snapshot | None
    _broadcast_pending: bool
    _soft_state: SoftState
    _hard_state: HardState
    _in_flight: Ready | None

    def _start_ready_cycle(self, hard_state: HardState) -> None:
        """Initial state: nothing pending, and ``hard_state`` as the last one handed out."""
        self._reads = ReadQueue(self.config.pending_reads_max)
        self._outbox = []
        self._read_states = []
        self._refused_reads = []
        self._compaction = None
        self._broadcast_pending = False
        self._soft_state = SoftState()
        self._hard_state = hard_state
        self._in_flight = None

    # -- what each engine supplies --------------------------------------------------------------

    @property
    @abstractmethod
    def membership(self) -> Membership: ...

    @abstractmethod
    def _current_hard_state(self) -> HardState: ...

    @abstractmethod
    def _is_early(self, message: M) -> bool:
        """May ``message`` leave before this Ready is durable?"""

    @abstractmethod
    def _flush(self) -> None:
        """Work deferred so that one Ready batches it."""

    @abstractmethod
    def _serves_reads(self) -> bool:
        """This leader's commit index is current: its own first entry is committed."""

    @abstractmethod
    def _on_entries_durable(self, entries: tuple[Entry, ...]) -> None:
        """The Ready's ``entries`` are on disk."""

    def _on_applying(self, entries: tuple[Entry, ...]) -> None:
        """The Ready's committed ``entries`` are being applied (before ``applied`` moves)."""

    @abstractmethod
    def _on_compacted(self, index: LogIndex) -> None:
        """The log up to ``index`` is folded into a snapshot."""

    @abstractmethod
    def _leader_read(self, read: PendingRead) -> None: ...

    @abstractmethod
    def _read_response(self, target: NodeId, request_id: bytes, index: LogIndex) -> M: ...

    def _send(self, message: M) -> None:
        self._outbox.append(message)

    # -- the cycle ------------------------------------------------------------------------------

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
            self._on_entries_durable(ready.entries)
        if ready.committed_entries:
            self._on_applying(ready.committed_entries)
            self.log.applied_to(max(self.log.applied, ready.committed_entries[-1].index))
        if ready.compaction is not None:
            self._on_compacted(ready.compaction.meta.index)
        assert self.log.applied <= self.log.committed <= self.log.last_index()

    def _current_soft_state(self) -> SoftState:
        return SoftState(self.leader, self.role)

    def _committed_to_apply(self) -> list[Entry]:
        log = self.log
        if log.unstable_snapshot is not None or log.committed <= log.applied:
            return []
        low = LogIndex(log.applied + 1)
        return log.entries(low, self.config.apply_bytes_max, LogIndex(log.committed + 1))

    # -- reads ----------------------------------------------------------------------------------

    def _reads_waiting_round(self) -> bool:
        leading = self.role is Role.LEADER
        return leading and self._reads.has_unstarted() and self._serves_reads()

    def _on_read_index_request(self, request_id: bytes, origin: NodeId) -> None:
        read = PendingRead(request_id, origin)
        if self.role is Role.LEADER:
            self._leader_read(read)
        else:
            self._refuse_read(read)

    def _on_read_index_response(self, request_id: bytes, index: LogIndex) -> None:
        if index == NO_INDEX:
            self._refused_reads.append(request_id)
        else:
            self._read_states.append(ReadState(index, request_id))

    def _release_reads(self) -> None:
        for read in self._reads.release(self.membership.voters, self.node_id):
            self._answer_read(read, read.index)

    def _refuse_read(self, read: PendingRead) -> None:
        self._answer_read(read, NO_INDEX)

    def _drop_reads(self) -> None:
        for read in self._reads.drain():
            self._refuse_read(read)

    def _answer_read(self, read: PendingRead, index: LogIndex) -> None:
        if read.origin == self.node_id:
            self._on_read_index_response(read.request_id, index)
        else:
            self._send(self._read_response(read.origin, read.request_id, index))
