from __future__ import annotations

import random

import pytest

from synod.consensus.storage import MemoryStorage
from synod.core.config import EngineConfig
from synod.core.errors import ConfigError
from synod.core.ids import LogIndex, NodeId, Term
from synod.core.log import (
    ChangeKind,
    Entry,
    EntryKind,
    Membership,
    MembershipChange,
    Snapshot,
    SnapshotMeta,
)
from synod.kv.commands import encode
from synod.kv.etcd_machine import EtcdMachine, EtcdResult
from synod.kv.mvcc import PutRequest, PutResponse, RangeRequest, RangeResponse
from synod.replica import (
    Command,
    CommandError,
    Done,
    MembershipApplied,
    Redirected,
    Refused,
    Replica,
    ReplicaConfig,
    decode_command,
)
from synod.replica import (
    encode_command as encode_envelope,
)
from tests.replica.fake_engine import FakeEngine


def make(threshold: int = 1000, engine: FakeEngine | None = None, storage=None):
    engine = engine or FakeEngine()
    storage = storage or MemoryStorage()
    config = ReplicaConfig(snapshot_entries_threshold=threshold)
    replica: Replica[EtcdResult] = Replica(engine, storage, EtcdMachine(), config)
    return replica, engine, storage


def drive(replica: Replica[EtcdResult]) -> list[object]:
    """Carry out every Ready the contract's way; return all effects."""
    effects: list[object] = []
    for _ in range(100):
        ready = replica.ready()
        if ready is None:
            return effects
        replica.persist(ready)
        effects.extend(replica.finish(ready))
    raise AssertionError("replica never settled")


def put(key: str, value: str) -> bytes:
    return encode(PutRequest(key.encode(), value.encode()))


def get(key: str) -> bytes:
    return encode(RangeRequest(key.encode()))


def shown(result: object) -> str | None:
    """A put's answer as "ok", a range's as the value it found (None: no key)."""
    if isinstance(result, PutResponse):
        return "ok"
    assert isinstance(result, RangeResponse), result
    return result.kvs[0].value.decode() if result.kvs else None


def answers(effects: list[object]) -> list[tuple[bytes, str | None, int]]:
    """Each Done effect as (request id, shown result, index)."""
    return [(e.request_id, shown(e.result), e.index) for e in effects if isinstance(e, Done)]


def value_of(machine: object, key: str) -> str | None:
    assert isinstance(machine, EtcdMachine)
    return shown(machine.read(get(key)))


def test_a_write_is_answered_once_it_applies():
    replica, _, storage = make()
    assert replica.submit(b"r1", put("a", "1")) == []
    effects = drive(replica)
    assert answers(effects) == [(b"r1", "ok", LogIndex(1))]
    assert len(effects) == 1
    assert replica.applied_index == 1
    assert storage.last_index() == 1
    assert storage.hard_state.commit == 1


def test_not_leader_redirects_at_once_with_the_hint():
    replica, engine, _ = make()
    engine.leader = NodeId(3)
    assert replica.submit(b"r1", put("a", "1")) == [Redirected(b"r1", NodeId(3))]
    assert replica.pending_requests == 0


def test_a_dropped_proposal_is_refused():
    replica, engine, _ = make()
    engine.full = True
    [effect] = replica.submit(b"r1", put("a", "1"))
    assert isinstance(effect, Refused)
    assert "too many" in effect.reason


def test_duplicate_request_ids_and_overload_are_refused():
    replica, _, _ = make()
    replica.submit(b"r1", put("a", "1"))
    [duplicate] = replica.submit(b"r1", put("a", "2"))
    assert isinstance(duplicate, Refused)
    small, _, _ = make()
    small.config = ReplicaConfig(pending_requests_max=1)
    small.submit(b"x", put("a", "1"))
    [overload] = small.read(b"y", get("a"))
    assert isinstance(overload, Refused)


def test_reads_wait_for_the_applied_index_to_reach_the_read_point():
    replica, engine, _ = make()
    replica.submit(b"w", put("k", "v"))
    replica.read(b"r", get("k"))
    ready = replica.ready()
    assert ready is not None
    replica.persist(ready)
    effects = replica.finish(ready)
    assert (b"r", "v", LogIndex(1)) in answers(effects)
    assert engine.advanced == [ready]


def test_a_read_point_past_applied_is_held_until_it_applies():
    replica, engine, _ = make()
    engine.last = LogIndex(1)  # the read index is an entry not handed out yet
    replica.read(b"r", get("k"))
    assert drive(replica) == []
    engine.last = LogIndex(0)
    replica.submit(b"w", put("k", "v"))
    assert answers(drive(replica)) == [(b"w", "ok", LogIndex(1)), (b"r", "v", LogIndex(1))]


def test_refused_reads_are_answered_as_refused():
    replica, engine, _ = make()
    engine.leader = NodeId(2)
    assert replica.read(b"r", get("k")) == []
    [effect] = drive(replica)
    assert isinstance(effect, Refused)
    assert replica.pending_requests == 0


def test_entries_from_other_nodes_apply_without_an_answer():
    replica, engine, _ = make()
    envelope = encode_envelope(Command(NodeId(2), b"theirs", put("a", "1")))
    engine.append(EntryKind.NORMAL, envelope)
    engine.append(EntryKind.NORMAL, b"")  # a leader's no-op
    engine.append(EntryKind.NORMAL, b"\x00")  # malformed: a no-op on every replica
    assert drive(replica) == []
    assert replica.applied_index == 3
    assert value_of(replica.machine, "a") == "1"


def test_membership_entries_are_reported_not_applied_to_the_machine():
    replica, engine, _ = make()
    change = MembershipChange(ChangeKind.ADD_LEARNER, NodeId(4))
    engine.change_membership(change)
    assert drive(replica) == [MembershipApplied(LogIndex(1), change)]


def test_compaction_is_asked_past_the_threshold_and_saved_by_persist():
    replica, _, storage = make(threshold=3)
    for number in range(5):
        replica.submit(f"r{number}".encode(), put("a", str(number)))
        drive(replica)
    assert storage.snapshot().meta.index == 4
    assert storage.first_index() == 5
    assert replica.snapshot_index == 4
    restored = EtcdMachine()
    restored.restore(storage.snapshot().data)
    assert value_of(restored, "a") == "3"
    assert restored.applied_index == 4


def test_compact_now_snapshots_below_the_threshold_and_only_once():
    replica, _, storage = make(threshold=1000)
    replica.compact_now()  # nothing applied yet: nothing to fold
    assert drive(replica) == []
    assert storage.snapshot().meta.index == 0
    for number in range(2):
        replica.submit(f"r{number}".encode(), put("a", str(number)))
        drive(replica)
    replica.compact_now()
    assert replica.compaction_index == 2
    drive(replica)
    assert storage.snapshot().meta.index == 2
    assert replica.compaction_index is None
    restored = EtcdMachine()
    restored.restore(storage.snapshot().data)
    assert value_of(restored, "a") == "1"
    replica.compact_now()  # already folded up to applied
    assert replica.compaction_index is None


def test_a_received_snapshot_is_saved_and_restores_the_machine():
    replica, engine, storage = make()
    source = EtcdMachine()
    source.apply(put("x", "snap"))
    source.note_applied(7)
    meta = SnapshotMeta(LogIndex(7), Term(1), Membership(frozenset({NodeId(1)})))
    engine.incoming_snapshot = Snapshot(meta, source.snapshot())
    engine.last = LogIndex(7)
    drive(replica)
    assert replica.applied_index == 7
    assert storage.snapshot().meta.index == 7
    assert value_of(replica.machine, "x") == "snap"


def test_a_restarted_replica_rebuilds_the_machine_from_the_durable_snapshot():
    replica, _, storage = make(threshold=1)
    for number in range(3):
        replica.submit(f"r{number}".encode(), put("a", str(number)))
        drive(replica)
    restarted, _, _ = make(engine=FakeEngine(last_index=3), storage=storage)
    assert restarted.applied_index == storage.snapshot().meta.index > 0
    assert value_of(restarted.machine, "a") is not None


def test_entries_out_of_order_are_an_invariant_violation():
    replica, engine, _ = make()
    engine.last = LogIndex(5)
    replica.submit(b"w", put("a", "1"))
    ready = replica.ready()
    assert ready is not None
    with pytest.raises(AssertionError, match="applying index 6 after 0"):
        replica.finish(ready)


def test_only_the_ready_in_flight_can_be_finished():
    replica, _, _ = make()
    replica.submit(b"w", put("a", "1"))
    ready = replica.ready()
    assert ready is not None
    assert replica.ready() is None  # one Ready at a time
    with pytest.raises(AssertionError, match="not in flight"):
        replica.finish(ready.__class__())


def test_the_command_envelope_round_trips_and_rejects_garbage():
    command = Command(NodeId(3), b"id", b"payload")
    assert decode_command(encode_envelope(command)) == command
    with pytest.raises(CommandError):
        decode_command(b"short")
    with pytest.raises(CommandError):
        decode_command(bytes(8) + (300).to_bytes(2, "big") + b"x")


def test_config_limits_are_validated():
    with pytest.raises(ConfigError):
        ReplicaConfig(snapshot_entries_threshold=0)
    with pytest.raises(ConfigError):
        ReplicaConfig(pending_requests_max=0)


def test_the_real_raft_engine_serves_a_write_and_a_read_on_one_node():
    raft = pytest.importorskip("synod.consensus.raft")

    storage = MemoryStorage(Membership(frozenset({NodeId(1)})))
    engine = raft.RaftEngine(NodeId(1), storage, EngineConfig(), random.Random(1))
    replica: Replica[EtcdResult] = Replica(engine, storage, EtcdMachine())
    for _ in range(30):
        replica.tick()
        drive(replica)
    assert replica.submit(b"w", put("k", "v")) == []
    effects = drive(replica)
    assert any(isinstance(e, Done) and e.request_id == b"w" for e in effects)
    assert replica.read(b"r", get("k")) == []
    effects = drive(replica)
    assert answers(effects) == [(b"r", "v", replica.applied_index)]
    assert storage.all_entries()[-1].index == replica.applied_index
    assert isinstance(storage.all_entries()[0], Entry)


class CountingStorage(MemoryStorage):
    """Counts the durable writes a runtime would fsync."""

    def __init__(self) -> None:
        super().__init__()
        self.saves = 0

    def save(self, hard_state=None, entries=(), snapshot=None) -> None:
        self.saves += 1
        super().save(hard_state, entries, snapshot)


def test_one_ready_is_one_save_so_a_wal_fsyncs_once():
    storage = CountingStorage()
    replica, _, _ = make(storage=storage)
    replica.submit(b"r1", put("a", "1"))
    ready = replica.ready()
    assert ready is not None
    assert ready.entries
    assert ready.hard_state is not None
    replica.persist(ready)
    assert storage.saves == 1
    assert storage.last_index() == 1


def test_apply_before_the_fsync_answers_and_finish_only_advances():
    replica, engine, _ = make()
    replica.submit(b"w", put("k", "v"))
    ready = replica.ready()
    assert ready is not None
    early = replica.apply(ready)  # the runtime persists this Ready meanwhile
    assert answers(early) == [(b"w", "ok", LogIndex(1))]
    assert replica.apply(ready) == [], "a Ready applies once"
    assert engine.advanced == []
    replica.persist(ready)
    assert replica.finish(ready) == []
    assert engine.advanced == [ready]
    assert value_of(replica.machine, "k") == "v"
    assert replica.applied_index == 1


def test_a_ready_with_a_snapshot_waits_for_finish_to_apply():
    replica, engine, _ = make()
    state = EtcdMachine()
    state.apply(put("s", "1"))
    engine.incoming_snapshot = Snapshot(
        SnapshotMeta(LogIndex(5), Term(1), Membership(frozenset({NodeId(1)}))), state.snapshot()
    )
    ready = replica.ready()
    assert ready is not None
    assert ready.snapshot is not None
    assert replica.apply(ready) == []
    assert value_of(replica.machine, "s") is None
    replica.persist(ready)
    replica.finish(ready)
    assert value_of(replica.machine, "s") == "1"
