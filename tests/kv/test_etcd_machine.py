"""EtcdMachine: the keyspace behind the replica's StateMachine protocol."""

from __future__ import annotations

from synod.kv.commands import CommandDecodeError, LeaseExpireRequest, encode
from synod.kv.etcd_machine import EtcdMachine, NotAQuery
from synod.kv.mvcc import (
    Compacted,
    CompactionRequest,
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    DeleteRangeResponse,
    LeaseGrantRequest,
    LeaseGrantResponse,
    LeaseNotFound,
    LeaseRevokeRequest,
    LeaseRevokeResponse,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    TxnRequest,
    TxnResponse,
)


def _value(machine: EtcdMachine, key: bytes, revision: int = 0) -> bytes | None:
    result = machine.read(encode(RangeRequest(key, revision=revision)))
    assert isinstance(result, RangeResponse)
    return result.kvs[0].value if result.kvs else None


def test_writes_apply_and_reads_see_them():
    machine = EtcdMachine()
    put = machine.apply(encode(PutRequest(b"a", b"1")))
    assert isinstance(put, PutResponse)
    assert put.revision == 2
    assert _value(machine, b"a") == b"1"
    deleted = machine.apply(encode(DeleteRangeRequest(b"a")))
    assert isinstance(deleted, DeleteRangeResponse)
    assert deleted.deleted == 1
    assert _value(machine, b"a") is None
    assert _value(machine, b"a", revision=2) == b"1"


def test_a_compare_and_swap_txn_takes_the_branch_its_compare_chooses():
    machine = EtcdMachine()
    machine.apply(encode(PutRequest(b"k", b"old")))

    def cas(expected: bytes, new: bytes) -> TxnResponse:
        compare = Compare(b"k", CompareTarget.VALUE, CompareResult.EQUAL, expected)
        txn = TxnRequest((compare,), (PutRequest(b"k", new),), (RangeRequest(b"k"),))
        result = machine.apply(encode(txn))
        assert isinstance(result, TxnResponse)
        return result

    assert cas(b"nope", b"x").succeeded is False
    assert cas(b"old", b"new").succeeded is True
    assert _value(machine, b"k") == b"new"


def test_refused_requests_are_results_and_change_nothing():
    machine = EtcdMachine()
    before = machine.hash_kv()
    assert isinstance(machine.apply(encode(PutRequest(b"k", b"v", lease=7))), LeaseNotFound)
    assert isinstance(machine.apply(encode(CompactionRequest(5))), Exception)
    assert isinstance(machine.apply(b"\x01garbage"), CommandDecodeError)
    assert machine.hash_kv() == before
    assert machine.store.revision == 1


def test_read_serves_ranges_only():
    machine = EtcdMachine()
    assert isinstance(machine.read(encode(PutRequest(b"k", b"v"))), NotAQuery)
    assert isinstance(machine.read(b"junk"), CommandDecodeError)
    assert machine.store.revision == 1
    machine.apply(encode(PutRequest(b"k", b"v1")))
    machine.apply(encode(PutRequest(b"k", b"v2")))
    machine.apply(encode(CompactionRequest(3)))
    assert isinstance(machine.read(encode(RangeRequest(b"k", revision=2))), Compacted)


def test_revoke_deletes_the_leases_keys_and_expiry_only_acts_on_a_live_lease():
    machine = EtcdMachine()
    granted = machine.apply(encode(LeaseGrantRequest(30)))
    assert isinstance(granted, LeaseGrantResponse)
    lease = granted.id
    assert machine.leases() == {lease: 30}
    machine.apply(encode(PutRequest(b"a", b"1", lease=lease)))
    machine.apply(encode(PutRequest(b"b", b"2", lease=lease)))
    changes = machine.lease_changes
    expired = machine.apply(encode(LeaseExpireRequest(lease)))
    assert isinstance(expired, LeaseRevokeResponse)
    assert machine.lease_changes > changes
    assert _value(machine, b"a") is None
    assert _value(machine, b"b") is None
    assert machine.leases() == {}
    revision = machine.store.revision
    again = machine.apply(encode(LeaseExpireRequest(lease)))
    assert again == LeaseRevokeResponse(revision)  # a second expiry is a no-op
    assert isinstance(machine.apply(encode(LeaseRevokeRequest(lease))), LeaseNotFound)


def test_replicas_applying_the_same_commands_reach_the_same_hash():
    commands = [
        encode(LeaseGrantRequest(10)),
        encode(PutRequest(b"a", b"1", lease=1)),
        encode(PutRequest(b"b", b"2")),
        encode(LeaseRevokeRequest(1)),
        encode(CompactionRequest(3)),
        b"\x01\x00",
    ]
    first, second = EtcdMachine(), EtcdMachine()
    for command in commands:
        first.apply(command)
        second.apply(command)
    assert first.hash_kv() == second.hash_kv()
    second.apply(encode(PutRequest(b"b", b"3")))
    assert first.hash_kv() != second.hash_kv()


def test_a_restored_snapshot_is_the_same_keyspace_leases_and_applied_index():
    machine = EtcdMachine()
    machine.apply(encode(LeaseGrantRequest(30)))
    machine.apply(encode(PutRequest(b"a", b"1", lease=1)))
    machine.apply(encode(PutRequest(b"b", b"2")))
    machine.apply(encode(CompactionRequest(2)))
    machine.note_applied(9)
    copy = EtcdMachine()
    changes = copy.lease_changes
    copy.restore(machine.snapshot())
    assert copy.hash_kv() == machine.hash_kv()
    assert copy.leases() == machine.leases() == {1: 30}
    assert copy.applied_index == 9
    assert copy.lease_changes > changes  # a leader's lease clock resynchronizes
    assert copy.snapshot() == machine.snapshot()
    copy.restore(b"")
    assert copy.store.revision == 1
    assert copy.leases() == {}
