"""``Replica``: one engine, its durable log and its state machine, driven one Ready at a time.

Why the split between ``persist`` and ``finish``: a runtime must make the Ready's hard state
and entries durable (fsync) before it sends ``messages`` and before anything is applied. The
simulator puts a delay (and possibly a crash) between the two, so they are separate calls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from synod.core.engine import Engine, Message, ReadState, Ready
from synod.core.errors import ConfigError, NotLeader, ProposalDropped
from synod.core.ids import NO_NODE, LogIndex, NodeId
from synod.core.log import Entry, EntryKind, HardState, MembershipChange, Snapshot
from synod.replica.command import Command, CommandError, decode_command, encode_command
from synod.replica.effects import Done, Effect, MembershipApplied, Redirected, Refused

ResultT = TypeVar("ResultT")
ResultT_co = TypeVar("ResultT_co", covariant=True)


class StateMachine(Protocol[ResultT_co]):
    """What the log is applied to. Deterministic: same commands, same results, same bytes."""

    def apply(self, command: bytes) -> ResultT_co: ...

    def note_applied(self, index: LogIndex) -> None:
        """Called after every entry at ``index`` applies, whatever its kind (command, no-op,
        membership change), so the machine's snapshot names the index it covers."""

    def read(self, query: bytes) -> ResultT_co: ...

    def snapshot(self) -> bytes: ...

    def restore(self, data: bytes) -> None: ...

    @property
    def applied_index(self) -> int:
        """The last index applied (0 when empty): a durable machine resumes from it."""
        ...


class DurableLog(Protocol):
    """The write side of a node's log storage (``MemoryStorage``, ``WalStorage``).

    ``save`` takes all of one Ready's writes at once so that a log on disk makes them durable
    with one fdatasync (group commit), not one per kind of write."""

    def save(
        self,
        hard_state: HardState | None = None,
        entries: Sequence[Entry] = (),
        snapshot: Snapshot | None = None,
    ) -> None: ...

    def compact(self, snapshot: Snapshot) -> None: ...

    def snapshot(self) -> Snapshot: ...


@dataclass(frozen=True, slots=True)
class ReplicaConfig:
    snapshot_entries_threshold: int = 1000
    """Compact once this many entries have applied since the last snapshot."""
    pending_requests_max: int = 10_000
    """Client requests (writes and reads) awaiting an answer before new ones are refused."""

    def __post_init__(self) -> None:
        if self.snapshot_entries_threshold < 1:
            raise ConfigError("snapshot_entries_threshold must be >= 1")
        if self.pending_requests_max < 1:
            raise ConfigError("pending_requests_max must be >= 1")


class Replica(Generic[ResultT]):
    """Client requests in, engine driven, effects out. Holds at most one Ready in flight."""

    def __init__(
        self,
        engine: Engine,
        storage: DurableLog,
        machine: StateMachine[ResultT],
        config: ReplicaConfig | None = None,
        on_applied: Callable[[LogIndex], None] | None = None,
    ) -> None:
        """``on_applied(index)`` is called after each entry applies (any kind), in order: a
        runtime's hook to observe the machine at exact log positions."""
        self.engine = engine
        self._on_applied = on_applied
        self.storage = storage
        self.machine = machine
        self.config = config or ReplicaConfig()
        snapshot = storage.snapshot()
        applied = LogIndex(machine.applied_index)
        if snapshot.meta.index > applied:
            # The machine is behind the log's snapshot (a memory machine after a restart, or a
            # durable one that lost its last commits): load the snapshot. Otherwise a durable
            # machine resumes where it stands and only the log after it is applied again.
            if snapshot.meta.index > 0:
                machine.restore(snapshot.data)
            applied = snapshot.meta.index
        self._applied = applied
        self._snapshot_index = snapshot.meta.index
        self._compaction_index: LogIndex | None = None
        self._writes: set[bytes] = set()
        self._reads: dict[bytes, bytes] = {}
        self._read_points: list[ReadState] = []
        self._in_flight: Ready | None = None
        self._applied_ready: Ready | None = None

    @property
    def node_id(self) -> NodeId:
        return self.engine.node_id

    @property
    def applied_index(self) -> LogIndex:
        return self._applied

    @property
    def snapshot_index(self) -> LogIndex:
        return self._snapshot_index

    @property
    def compaction_index(self) -> LogIndex | None:
        """The index of a compaction asked of the engine and not yet saved, if any."""
        return self._compaction_index

    @property
    def pending_requests(self) -> int:
        return len(self._writes) + len(self._reads)

    # -- client requests ----------------------------------------------------------------------

    def submit(self, request_id: bytes, payload: bytes) -> list[Effect[ResultT]]:
        """Propose a write; answered by ``finish`` once it applies, or at once if refused."""
        if refusal := self._refuse_request(request_id):
            return [refusal]
        command = encode_command(Command(self.node_id, request_id, payload))
        try:
            self.engine.propose(command)
        except NotLeader as error:
            return [Redirected(request_id, error.leader or NO_NODE)]
        except ProposalDropped as error:
            return [Refused(request_id, error.reason)]
        self._writes.add(request_id)
        return []

    def read(self, request_id: bytes, query: bytes) -> list[Effect[ResultT]]:
        """Ask for a linearizable read; served once applied reaches the engine's read index."""
        if refusal := self._refuse_request(request_id):
            return [refusal]
        try:
            self.engine.read_index(request_id)
        except NotLeader as error:
            return [Redirected(request_id, error.leader or NO_NODE)]
        except ProposalDropped as error:
            return [Refused(request_id, error.reason)]
        self._reads[request_id] = query
        return []

    def expect(self, request_id: bytes, payload: bytes) -> bytes:
        """A write the leader will propose for this node (forwarded there): answered by
        ``finish`` when it applies here, like ``submit``'s. Returns the envelope to send."""
        self._writes.add(request_id)
        return encode_command(Command(self.node_id, request_id, payload))

    def propose_envelope(self, envelope: bytes) -> None:
        """Propose a follower's forwarded envelope as is (its origin answers its client).
        Raises ``CommandError`` for bytes that are not an envelope, and the engine's
        ``NotLeader`` or ``ProposalDropped``."""
        decode_command(envelope)
        self.engine.propose(envelope)

    def abandon(self, request_id: bytes) -> None:
        """Stop waiting for a request (its client gave up); it may still apply."""
        self._writes.discard(request_id)
        self._reads.pop(request_id, None)

    def _refuse_request(self, request_id: bytes) -> Refused | None:
        if request_id in self._writes or request_id in self._reads:
            return Refused(request_id, "duplicate request id")
        if self.pending_requests >= self.config.pending_requests_max:
            return Refused(request_id, "too many pending requests")
        return None

    # -- engine driving -----------------------------------------------------------------------

    def tick(self) -> None:
        self.engine.tick()

    def step(self, message: Message) -> None:
        self.engine.step(message)

    def has_ready(self) -> bool:
        return self._in_flight is None and self.engine.has_ready()

    def ready(self) -> Ready | None:
        """The next Ready to carry out, or None (also while one is still in flight)."""
        if not self.has_ready():
            return None
        ready = self.engine.ready()
        if ready is None or ready.is_empty():
            return None
        self._in_flight = ready
        return ready

    def persist(self, ready: Ready) -> None:
        """Write what the Ready asks to make durable; the runtime fsyncs after this."""
        assert ready is self._in_flight, "persisting a Ready that is not in flight"
        storage = self.storage
        if ready.snapshot is not None or ready.entries or ready.hard_state is not None:
            storage.save(ready.hard_state, ready.entries, ready.snapshot)
        if ready.compaction is not None:
            storage.compact(ready.compaction)
            self._snapshot_index = max(self._snapshot_index, ready.compaction.meta.index)
            self._compaction_index = None
        assert storage.snapshot().meta.index >= self._snapshot_index

    def apply(self, ready: Ready) -> list[Effect[ResultT]]:
        """Apply the Ready's committed entries and answer what they settle, possibly while its
        own writes are still being persisted: committed entries are durable on a quorum
        already, so applying them need not wait for this node's fsync (etcd overlaps the two
        the same way). ``finish`` then only advances. A Ready carrying a snapshot is applied
        by ``finish``, after its fsync."""
        assert ready is self._in_flight, "applying a Ready that is not in flight"
        if ready.snapshot is not None or self._applied_ready is ready:
            return []
        self._applied_ready = ready
        return self._apply_ready(ready)

    def finish(self, ready: Ready) -> list[Effect[ResultT]]:
        """After the fsync (and after sending ``messages``): apply (unless ``apply`` did),
        answer, advance."""
        assert ready is self._in_flight, "finishing a Ready that is not in flight"
        effects: list[Effect[ResultT]] = []
        if self._applied_ready is not ready:
            if ready.snapshot is not None:
                self._restore(ready.snapshot)
            effects = self._apply_ready(ready)
        self._applied_ready = None
        self._in_flight = None
        self.engine.advance(ready)
        self._maybe_compact()
        return effects

    def _apply_ready(self, ready: Ready) -> list[Effect[ResultT]]:
        effects: list[Effect[ResultT]] = []
        for entry in ready.committed_entries:
            self._apply(entry, effects)
            self.machine.note_applied(entry.index)
            if self._on_applied is not None:
                self._on_applied(entry.index)
        self._read_points.extend(ready.read_states)
        self._answer_reads(effects)
        self._refuse_reads(ready.refused_reads, effects)
        return effects

    # -- applying -----------------------------------------------------------------------------

    def _restore(self, snapshot: Snapshot) -> None:
        index = snapshot.meta.index
        assert index > self._applied, f"snapshot at {index} does not pass applied {self._applied}"
        self.machine.restore(snapshot.data)
        self._applied = index
        self._snapshot_index = max(self._snapshot_index, index)

    def _apply(self, entry: Entry, effects: list[Effect[ResultT]]) -> None:
        assert entry.index == self._applied + 1, (
            f"node {self.node_id} applying index {entry.index} after {self._applied}"
        )
        self._applied = entry.index
        if entry.kind == EntryKind.MEMBERSHIP:
            effects.append(MembershipApplied(entry.index, MembershipChange.decode(entry.data)))
            return
        if not entry.data:
            return  # a new leader's no-op
        try:
            command = decode_command(entry.data)
        except CommandError:
            return  # applied as a no-op on every replica alike
        result = self.machine.apply(command.payload)
        if command.origin == self.node_id and command.request_id in self._writes:
            self._writes.discard(command.request_id)
            effects.append(Done(command.request_id, result, entry.index))

    def _answer_reads(self, effects: list[Effect[ResultT]]) -> None:
        waiting: list[ReadState] = []
        for point in self._read_points:
            query = self._reads.get(point.request_id)
            if query is None:
                continue  # from a previous life, or answered already
            if point.index > self._applied:
                waiting.append(point)
                continue
            del self._reads[point.request_id]
            effects.append(Done(point.request_id, self.machine.read(query), self._applied))
        self._read_points = waiting

    def _refuse_reads(self, refused: tuple[bytes, ...], effects: list[Effect[ResultT]]) -> None:
        for request_id in refused:
            if self._reads.pop(request_id, None) is not None:
                effects.append(Refused(request_id, "read refused: leadership not confirmed"))

    def compact_now(self) -> None:
        """Fold the applied prefix into a snapshot now, whatever the threshold. A runtime asks
        for it when a member is added, so that the newcomer is sent a snapshot (which names the
        configuration) rather than the log from its first entry."""
        if self._compaction_index is not None or self._applied <= self._snapshot_index:
            return
        self._compaction_index = self._applied
        self.engine.compact(self._applied, self.machine.snapshot())

    def _maybe_compact(self) -> None:
        """Fold the applied prefix into a snapshot once enough entries have piled up."""
        if self._compaction_index is not None:
            return
        if self._applied - self._snapshot_index <= self.config.snapshot_entries_threshold:
            return
        self._compaction_index = self._applied
        self.engine.compact(self._applied, self.machine.snapshot())
