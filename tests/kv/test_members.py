"""The member table: its log commands, replay safety, and how it travels with the keyspace."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synod.kv.commands import CommandDecodeError, encode
from synod.kv.etcd_machine import EtcdMachine
from synod.kv.members import (
    MEMBERS_BUCKET,
    URLS_MAX,
    MemberCommand,
    MemberForget,
    MemberRecord,
    MembersChanged,
    MemberSet,
    MemberTable,
    decode_member_command,
    encode_member_command,
    is_member_command,
)
from synod.kv.mvcc import PutRequest, PutResponse, RangeRequest, RangeResponse
from synod.kv.mvcc.backend import Batch, MemoryBackend
from synod.kv.mvcc.encoding import StateCorrupt

URLS = st.lists(st.sampled_from(["http://a:1", "http://b:2", "http://c:3"]), max_size=2)
COMMANDS = st.one_of(
    st.builds(
        MemberSet,
        st.integers(1, 4),
        st.none() | st.sampled_from(["", "m1", "m2"]),
        st.none() | URLS.map(tuple),
        st.none() | URLS.map(tuple),
    ),
    st.builds(MemberForget, st.integers(1, 4)),
)


@given(COMMANDS)
def test_commands_round_trip_and_are_told_from_keyspace_requests(command: MemberCommand) -> None:
    data = encode_member_command(command)
    assert is_member_command(data)
    assert decode_member_command(data) == command
    assert not is_member_command(encode(PutRequest(b"k", b"v")))


@pytest.mark.parametrize(
    "data",
    [
        b"M",
        b"M\xc1",
        bytes([0x4D]) + b"\x92\x03\x01",  # unknown kind
        bytes([0x4D]) + b"\x92\x02\x00",  # member ID 0
        bytes([0x4D]) + b"\x95\x01\x01\xc0\xc0\x01",  # client URLs not a list
        encode(PutRequest(b"k", b"v")),
    ],
)
def test_malformed_commands_are_refused(data: bytes) -> None:
    with pytest.raises(CommandDecodeError):
        decode_member_command(data)


def test_too_many_urls_are_refused() -> None:
    urls = tuple(f"http://h:{port}" for port in range(URLS_MAX + 1))
    with pytest.raises(CommandDecodeError):
        decode_member_command(encode_member_command(MemberSet(1, None, urls, None)))


def test_a_set_changes_only_the_fields_it_carries() -> None:
    table = MemberTable()
    table.apply(MemberSet(7, "", ("http://a:1",), ()))
    table.apply(MemberSet(7, "m7", None, ("http://c:9",)))
    assert table.rows[7] == MemberRecord("m7", ("http://a:1",), ("http://c:9",))
    table.apply(MemberSet(7, None, ("http://b:2",), None))
    assert table.rows[7] == MemberRecord("m7", ("http://b:2",), ("http://c:9",))
    table.apply(MemberForget(7))
    assert 7 not in table.rows


@given(st.lists(COMMANDS, max_size=12), st.data())
def test_replaying_a_tail_of_the_log_changes_nothing(
    commands: list[MemberCommand], data: st.DataObject
) -> None:
    """After a crash the log tail is applied again over a table that may hold it already."""
    table = MemberTable()
    for command in commands:
        table.apply(command)
    expected = dict(table.rows)
    start = data.draw(st.integers(0, len(commands)))
    for command in commands[start:]:
        table.apply(command)
    assert table.rows == expected


def test_member_commands_leave_the_keyspace_alone() -> None:
    machine = EtcdMachine()
    machine.apply(encode(PutRequest(b"k", b"v")))
    before = machine.store.hash_kv().hash
    result = machine.apply(encode_member_command(MemberSet(3, "m3", ("http://a:1",), ())))
    assert result == MembersChanged(1)
    assert machine.store.revision == 2
    assert machine.store.hash_kv().hash == before
    garbled = machine.apply(bytes([0x4D, 0xC1]))
    assert isinstance(garbled, CommandDecodeError)


def test_snapshot_carries_the_table_and_the_keyspace() -> None:
    machine = EtcdMachine()
    machine.members.seed(99, {1: MemberRecord("m1", ("http://a:1",))})
    machine.apply(encode(PutRequest(b"k", b"v")))
    machine.apply(encode_member_command(MemberSet(1, None, None, ("http://c:1",))))
    copy = EtcdMachine()
    copy.restore(machine.snapshot())
    assert copy.members.rows == machine.members.rows
    assert copy.members.cluster_id == 99
    read = copy.read(encode(RangeRequest(b"k")))
    assert isinstance(read, RangeResponse)
    assert read.kvs[0].value == b"v"


def test_an_empty_table_gives_the_stores_own_snapshot() -> None:
    machine = EtcdMachine()
    machine.apply(encode(PutRequest(b"k", b"v")))
    assert machine.snapshot() == machine.store.snapshot()
    copy = EtcdMachine()
    copy.members.seed(5, {2: MemberRecord("x")})
    copy.restore(machine.snapshot())
    assert copy.members.rows == {}


def test_a_damaged_envelope_is_refused() -> None:
    machine = EtcdMachine()
    machine.members.seed(99, {1: MemberRecord("m1", ("http://a:1",))})
    data = bytearray(machine.snapshot())
    data[14] ^= 0xFF  # inside the member table
    with pytest.raises(StateCorrupt):
        EtcdMachine().restore(bytes(data))
    with pytest.raises(StateCorrupt):
        EtcdMachine().restore(b"SETC\x01")


def test_the_table_is_durable_with_the_keyspace() -> None:
    backend = MemoryBackend()
    machine = EtcdMachine.open(backend)
    machine.members.seed(42, {1: MemberRecord("m1", ("http://a:1",))})
    assert isinstance(machine.apply(encode(PutRequest(b"k", b"v"))), PutResponse)
    machine.apply(encode_member_command(MemberSet(2, "", ("http://b:2",), ())))
    machine.note_applied(3)
    machine.flush()
    reopened = EtcdMachine.open(backend)
    assert reopened.members.rows == machine.members.rows
    assert reopened.members.cluster_id == 42
    assert reopened.applied_index == 3
    machine.apply(encode_member_command(MemberForget(2)))
    machine.note_applied(4)
    machine.flush()
    assert set(EtcdMachine.open(backend).members.rows) == {1}


def test_restoring_over_a_backend_rewrites_the_table_in_the_same_commit() -> None:
    source = EtcdMachine()
    source.members.seed(7, {5: MemberRecord("m5", ("http://e:5",))})
    source.apply(encode(PutRequest(b"k", b"v")))
    backend = MemoryBackend()
    target = EtcdMachine.open(backend)
    target.members.seed(8, {6: MemberRecord("m6")})
    target.flush()
    commits = backend.commits
    target.restore(source.snapshot())
    assert backend.commits == commits + 1
    assert backend.record_count(MEMBERS_BUCKET) == 2  # member 5 and the cluster ID
    reopened = EtcdMachine.open(backend)
    assert reopened.members.rows == {5: MemberRecord("m5", ("http://e:5",))}
    assert reopened.members.cluster_id == 7


class FailingOnceBackend(MemoryBackend):
    def __init__(self) -> None:
        super().__init__()
        self.fail_next = False

    def commit(self, batch: Batch) -> None:
        if self.fail_next:
            self.fail_next = False
            raise OSError("disk full")
        super().commit(batch)


def test_a_failed_commit_leaves_the_table_changes_pending() -> None:
    backend = FailingOnceBackend()
    machine = EtcdMachine.open(backend)
    machine.apply(encode_member_command(MemberSet(3, "m3", ("http://c:3",), ())))
    machine.note_applied(1)
    backend.fail_next = True
    with pytest.raises(OSError, match="disk full"):
        machine.flush()
    machine.flush()
    assert EtcdMachine.open(backend).members.rows == {3: MemberRecord("m3", ("http://c:3",))}
