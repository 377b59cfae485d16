"""Differential checks against a real etcd 3.4: the same requests go to a fresh etcd through the
generated stubs and to a fresh ``MvccStore``; etcd's answers, read back through
``synod.api.convert``, must equal the keyspace's, revisions included, and etcd's errors must
read back (``error_of``) as the very classes the keyspace raises.

This checks the protos against etcd's wire format (a wrong number or type would garble these
messages) and the keyspace and conversions against etcd's behaviour. Skipped when no ``etcd``
binary is on PATH.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import TypeVar, cast

import grpc
import pytest

from synod.api import convert, errors
from synod.api.errors import Status, error_of
from synod.api.gen.authpb import auth_pb2
from synod.api.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from synod.core.errors import SynodError
from synod.kv import mvcc
from tests.api.etcd_process import etcd_binary, running_etcd

pytestmark = pytest.mark.skipif(
    etcd_binary() is None,
    reason="no etcd binary on PATH: `make setup` installs Debian's etcd-server (etcd 3.4)",
)

CALL_SECONDS_MAX = 10.0
T = TypeVar("T")


class Both:
    """One etcd and one MvccStore, fed the same requests."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.store = mvcc.MvccStore()
        self.kv = rpc_pb2_grpc.KVStub(channel)
        self.lease = rpc_pb2_grpc.LeaseStub(channel)
        self.watch = rpc_pb2_grpc.WatchStub(channel)
        self.maintenance = rpc_pb2_grpc.MaintenanceStub(channel)
        self.cluster = rpc_pb2_grpc.ClusterStub(channel)
        self.auth = rpc_pb2_grpc.AuthStub(channel)
        self.refusals: set[type[mvcc.MvccError]] = set()

    def range(self, request: mvcc.RangeRequest) -> mvcc.RangeResponse:
        message = self.kv.Range(convert.range_request_to_pb(request), timeout=CALL_SECONDS_MAX)
        return same(convert.range_response_from_pb(message), self.store.range(request))

    def put(self, request: mvcc.PutRequest) -> mvcc.PutResponse:
        message = self.kv.Put(convert.put_request_to_pb(request), timeout=CALL_SECONDS_MAX)
        return same(convert.put_response_from_pb(message), self.store.put(request))

    def delete(self, request: mvcc.DeleteRangeRequest) -> mvcc.DeleteRangeResponse:
        message = self.kv.DeleteRange(
            convert.delete_range_request_to_pb(request), timeout=CALL_SECONDS_MAX
        )
        return same(
            convert.delete_range_response_from_pb(message), self.store.delete_range(request)
        )

    def txn(self, request: mvcc.TxnRequest) -> mvcc.TxnResponse:
        message = self.kv.Txn(convert.txn_request_to_pb(request), timeout=CALL_SECONDS_MAX)
        return same(convert.txn_response_from_pb(message), self.store.txn(request))

    def compact(self, request: mvcc.CompactionRequest) -> mvcc.CompactionResponse:
        message = self.kv.Compact(
            convert.compaction_request_to_pb(request), timeout=CALL_SECONDS_MAX
        )
        return same(convert.compaction_response_from_pb(message), self.store.compact(request))

    def refused(self, etcd_call: Callable[[], object], store_call: Callable[[], object]) -> Status:
        """Both refuse: etcd's status must read back as the class the keyspace raised."""
        with pytest.raises(grpc.RpcError) as etcd_refusal:
            etcd_call()
        with pytest.raises(mvcc.MvccError) as store_refusal:
            store_call()
        call = cast(grpc.Call, etcd_refusal.value)  # what the stubs raise is both
        status = Status(call.code(), call.details() or "")
        assert type(error_of(status)) is type(store_refusal.value)
        assert status.code.name == store_refusal.value.code
        self.refusals.add(type(store_refusal.value))
        return status


def same(etcd: T, store: T) -> T:
    assert etcd == store
    return etcd


@pytest.fixture
def both(tmp_path: Path) -> Iterator[Both]:
    with running_etcd(tmp_path) as address, grpc.insecure_channel(address) as channel:
        yield Both(channel)


def test_puts_deletes_and_ranges_match_the_keyspace(both: Both) -> None:
    for key, value in [(b"b", b"2"), (b"a", b"3"), (b"c", b"1"), (b"a", b"4"), (b"d", b"0")]:
        both.put(mvcc.PutRequest(key, value, prev_kv=True))
    first = both.range(mvcc.RangeRequest(b"a"))
    assert first.kvs[0].version == 2
    assert first.revision == 6
    both.range(mvcc.RangeRequest(b"\x00", b"\x00"))
    both.range(mvcc.RangeRequest(b"a", b"d", limit=2))
    both.range(mvcc.RangeRequest(b"a", b"\x00", sort_order=mvcc.SortOrder.DESCEND))
    both.range(
        mvcc.RangeRequest(
            b"a", b"\x00", sort_order=mvcc.SortOrder.ASCEND, sort_target=mvcc.SortTarget.VALUE
        )
    )
    both.range(mvcc.RangeRequest(b"a", b"\x00", keys_only=True, revision=3))
    both.range(mvcc.RangeRequest(b"a", b"\x00", count_only=True))
    both.range(mvcc.RangeRequest(b"a", b"\x00", min_mod_revision=4, max_create_revision=5))
    deleted = both.delete(mvcc.DeleteRangeRequest(b"b", b"d", prev_kv=True))
    assert deleted.deleted == 2
    both.delete(mvcc.DeleteRangeRequest(b"zz"))
    both.range(mvcc.RangeRequest(b"a", b"\x00", revision=5))
    both.put(mvcc.PutRequest(b"a", ignore_value=True, prev_kv=True))


def test_txns_match_the_keyspace(both: Both) -> None:
    both.put(mvcc.PutRequest(b"k", b"v"))
    missing = mvcc.Compare(b"new", mvcc.CompareTarget.CREATE, mvcc.CompareResult.EQUAL, 0)
    value_is_v = mvcc.Compare(b"k", mvcc.CompareTarget.VALUE, mvcc.CompareResult.EQUAL, b"v")
    nested = mvcc.TxnRequest(
        compare=(value_is_v,),
        success=(mvcc.PutRequest(b"n1", b"x"), mvcc.RangeRequest(b"k")),
        failure=(mvcc.PutRequest(b"n2", b"y"),),
    )
    done = both.txn(
        mvcc.TxnRequest(
            compare=(missing, value_is_v),
            success=(mvcc.PutRequest(b"new", b"1", prev_kv=True), nested),
            failure=(mvcc.RangeRequest(b"k"),),
        )
    )
    assert done.succeeded
    again = both.txn(
        mvcc.TxnRequest(
            compare=(missing,),
            success=(mvcc.PutRequest(b"new", b"2"),),
            failure=(mvcc.DeleteRangeRequest(b"n", b"o", prev_kv=True), mvcc.RangeRequest(b"new")),
        )
    )
    assert not again.succeeded
    raw = both.kv.Txn(convert.txn_request_to_pb(mvcc.TxnRequest(success=(nested,))))
    nested_header = raw.responses[0].response_txn.header
    assert raw.responses[0].response_txn.HasField("header")
    assert nested_header == rpc_pb2.ResponseHeader()  # empty, while the ops inside it:
    assert raw.responses[0].response_txn.responses[0].response_put.header.revision == 5
    assert both.store.txn(mvcc.TxnRequest(success=(nested,))).revision == raw.header.revision == 5
    greater = mvcc.Compare(b"a", mvcc.CompareTarget.MOD, mvcc.CompareResult.GREATER, 1, b"\x00")
    both.txn(mvcc.TxnRequest(compare=(greater,), success=(mvcc.RangeRequest(b"a", b"\x00"),)))
    both.txn(mvcc.TxnRequest())


READ_THEN_WRITE = mvcc.TxnRequest(
    success=(mvcc.RangeRequest(b"k"), mvcc.PutRequest(b"k", b"w"), mvcc.RangeRequest(b"k"))
)


def test_a_range_in_a_txn_reports_the_revision_it_read_at(both: Both) -> None:
    """etcd 3.4: a range before the txn's first write says the revision before the txn."""
    both.put(mvcc.PutRequest(b"k", b"v"))
    raw = both.kv.Txn(convert.txn_request_to_pb(READ_THEN_WRITE), timeout=CALL_SECONDS_MAX)
    revisions = [
        raw.responses[0].response_range.header.revision,
        raw.responses[1].response_put.header.revision,
        raw.responses[2].response_range.header.revision,
    ]
    assert (raw.header.revision, revisions) == (3, [2, 3, 3])


def test_the_keyspace_reports_etcds_revisions_for_ranges_in_a_txn(both: Both) -> None:
    both.put(mvcc.PutRequest(b"k", b"v"))
    both.txn(READ_THEN_WRITE)


def test_a_compare_member_that_does_not_match_its_target_counts_as_zero(both: Both) -> None:
    """Sent raw to etcd; read through convert for the keyspace."""
    both.put(mvcc.PutRequest(b"k", b"v"))
    for member_value, version in [(1, 1), (0, 1)]:
        compare = rpc_pb2.Compare(
            key=b"k", target=rpc_pb2.Compare.VERSION, mod_revision=member_value
        )
        raw = rpc_pb2.TxnRequest(compare=[compare])
        etcd = convert.txn_response_from_pb(both.kv.Txn(raw, timeout=CALL_SECONDS_MAX))
        store = both.store.txn(convert.txn_request_from_pb(raw))
        assert etcd == store
        assert etcd.succeeded == (version == 0)


def test_errors_read_back_as_the_keyspaces_errors(both: Both) -> None:
    both.put(mvcc.PutRequest(b"k", b"v"))
    both.put(mvcc.PutRequest(b"k", b"w"))
    future = mvcc.RangeRequest(b"k", revision=10)
    status = both.refused(
        lambda: both.kv.Range(convert.range_request_to_pb(future)),
        lambda: both.store.range(future),
    )
    assert status == Status(
        grpc.StatusCode.OUT_OF_RANGE, "etcdserver: mvcc: required revision is a future revision"
    )
    both.compact(mvcc.CompactionRequest(3))
    old = mvcc.RangeRequest(b"k", revision=2)
    status = both.refused(
        lambda: both.kv.Range(convert.range_request_to_pb(old)),
        lambda: both.store.range(old),
    )
    assert status.message == "etcdserver: mvcc: required revision has been compacted"
    both.range(mvcc.RangeRequest(b"k", revision=3))
    requests: list[mvcc.PutRequest | mvcc.RangeRequest | mvcc.TxnRequest] = [
        mvcc.PutRequest(b"k", b"v", lease=99),
        mvcc.PutRequest(b""),
        mvcc.PutRequest(b"k", b"v", ignore_value=True),
        mvcc.PutRequest(b"nope", ignore_lease=True),
        mvcc.RangeRequest(b""),
        mvcc.TxnRequest(success=(mvcc.PutRequest(b"x"), mvcc.DeleteRangeRequest(b"w", b"y"))),
        mvcc.TxnRequest(success=(mvcc.EmptyOp(),)),
        mvcc.TxnRequest(success=tuple(mvcc.RangeRequest(b"k") for _ in range(129))),
    ]
    for request in requests:
        both.refused(partial(send, both, request), partial(apply, both.store, request))
    compact_again = mvcc.CompactionRequest(3)
    both.refused(
        lambda: both.kv.Compact(convert.compaction_request_to_pb(compact_again)),
        lambda: both.store.compact(compact_again),
    )
    grant = mvcc.LeaseGrantRequest(60, 1000)
    both.lease.LeaseGrant(convert.lease_grant_request_to_pb(grant), timeout=CALL_SECONDS_MAX)
    both.store.lease_grant(grant)
    for lease_request in [grant, mvcc.LeaseGrantRequest(9_000_000_001)]:
        both.refused(
            partial(both.lease.LeaseGrant, convert.lease_grant_request_to_pb(lease_request)),
            partial(both.store.lease_grant, lease_request),
        )
    with_lease = mvcc.PutRequest(b"k", lease=1000, ignore_lease=True)
    both.refused(partial(send, both, with_lease), partial(apply, both.store, with_lease))
    assert both.refusals == set(errors.MVCC_ERRORS)  # every keyspace error, checked on etcd


def send(both: Both, request: mvcc.PutRequest | mvcc.RangeRequest | mvcc.TxnRequest) -> object:
    match request:
        case mvcc.PutRequest():
            return both.kv.Put(convert.put_request_to_pb(request), timeout=CALL_SECONDS_MAX)
        case mvcc.RangeRequest():
            return both.kv.Range(convert.range_request_to_pb(request), timeout=CALL_SECONDS_MAX)
        case mvcc.TxnRequest():
            return both.kv.Txn(convert.txn_request_to_pb(request), timeout=CALL_SECONDS_MAX)


def apply(
    store: mvcc.MvccStore, request: mvcc.PutRequest | mvcc.RangeRequest | mvcc.TxnRequest
) -> object:
    match request:
        case mvcc.PutRequest():
            return store.put(request)
        case mvcc.RangeRequest():
            return store.range(request)
        case mvcc.TxnRequest():
            return store.txn(request)


def test_leases_match_the_keyspace(both: Both) -> None:
    grant = mvcc.LeaseGrantRequest(ttl_seconds=1, id=1000)
    granted = convert.lease_grant_response_from_pb(
        both.lease.LeaseGrant(convert.lease_grant_request_to_pb(grant), timeout=CALL_SECONDS_MAX)
    )
    assert granted == both.store.lease_grant(grant)
    assert granted.ttl_seconds == 2  # raised to the minimum, by both
    both.put(mvcc.PutRequest(b"b", b"1", lease=1000))
    both.put(mvcc.PutRequest(b"a", b"2", lease=1000))

    ask = mvcc.LeaseTimeToLiveRequest(1000, keys=True)
    etcd_ttl = convert.lease_time_to_live_response_from_pb(
        both.lease.LeaseTimeToLive(
            convert.lease_time_to_live_request_to_pb(ask), timeout=CALL_SECONDS_MAX
        )
    )
    store_ttl = both.store.lease_time_to_live(ask)
    # etcd counts the remaining seconds down; the keyspace has no clock and says the granted TTL.
    assert 0 <= etcd_ttl.ttl_seconds <= store_ttl.ttl_seconds
    assert (etcd_ttl.granted_ttl_seconds, sorted(etcd_ttl.keys)) == (2, [b"a", b"b"])
    assert (etcd_ttl.revision, etcd_ttl.id) == (store_ttl.revision, store_ttl.id)
    assert sorted(store_ttl.keys) == [b"a", b"b"]

    keep = mvcc.LeaseKeepAliveRequest(1000)
    stream = both.lease.LeaseKeepAlive(
        iter([convert.lease_keep_alive_request_to_pb(keep)]), timeout=CALL_SECONDS_MAX
    )
    kept = [convert.lease_keep_alive_response_from_pb(message) for message in stream]
    assert kept == [both.store.lease_keep_alive(keep)]

    leases = convert.lease_leases_response_from_pb(
        both.lease.LeaseLeases(rpc_pb2.LeaseLeasesRequest(), timeout=CALL_SECONDS_MAX)
    )
    assert leases == convert.LeaseLeasesResponse(both.store.revision, (1000,))

    revoke = mvcc.LeaseRevokeRequest(1000)
    revoked = convert.lease_revoke_response_from_pb(
        both.lease.LeaseRevoke(convert.lease_revoke_request_to_pb(revoke), timeout=CALL_SECONDS_MAX)
    )
    assert revoked == both.store.lease_revoke(revoke)
    both.range(mvcc.RangeRequest(b"\x00", b"\x00"))
    gone = mvcc.LeaseTimeToLiveRequest(1000)
    assert convert.lease_time_to_live_response_from_pb(
        both.lease.LeaseTimeToLive(
            convert.lease_time_to_live_request_to_pb(gone), timeout=CALL_SECONDS_MAX
        )
    ) == both.store.lease_time_to_live(gone)
    both.refused(
        lambda: both.lease.LeaseRevoke(convert.lease_revoke_request_to_pb(revoke)),
        lambda: both.store.lease_revoke(revoke),
    )


def test_watch_replays_the_keyspaces_history(both: Both) -> None:
    both.store.lease_grant(mvcc.LeaseGrantRequest(60, 7))
    both.lease.LeaseGrant(rpc_pb2.LeaseGrantRequest(TTL=60, ID=7), timeout=CALL_SECONDS_MAX)
    both.put(mvcc.PutRequest(b"w/a", b"1"))
    both.put(mvcc.PutRequest(b"w/b", b"2", lease=7))
    both.put(mvcc.PutRequest(b"other", b"3"))
    both.txn(
        mvcc.TxnRequest(success=(mvcc.PutRequest(b"w/a", b"4"), mvcc.DeleteRangeRequest(b"w/b")))
    )
    expected = both.store.history(b"w/", b"w0", 2)
    assert len(expected) == 4

    requests: queue.Queue[rpc_pb2.WatchRequest | None] = queue.Queue()
    create = rpc_pb2.WatchCreateRequest(key=b"w/", range_end=b"w0", start_revision=2, prev_kv=True)
    requests.put(rpc_pb2.WatchRequest(create_request=create))
    responses = both.watch.Watch(iter(requests.get, None), timeout=CALL_SECONDS_MAX)
    try:
        created = next(responses)
        assert (created.created, created.watch_id, created.header.revision) == (True, 0, 5)
        events: list[mvcc.Event] = []
        for _ in range(len(expected)):  # at most one response per revision
            if len(events) >= len(expected):
                break
            events.extend(convert.event_from_pb(event) for event in next(responses).events)
    finally:
        requests.put(None)
        responses.cancel()
    assert events == expected


def test_status_decodes(both: Both) -> None:
    status = both.maintenance.Status(rpc_pb2.StatusRequest(), timeout=CALL_SECONDS_MAX)
    assert status.version.startswith("3.4.")
    assert status.leader == status.header.member_id != 0
    assert status.header.cluster_id != 0
    assert status.header.revision == 1
    assert status.raftTerm == status.header.raft_term >= 1
    assert status.raftIndex >= status.raftAppliedIndex > 0
    assert status.dbSize >= status.dbSizeInUse > 0
    assert not status.isLearner
    assert list(status.errors) == []


def test_an_unknown_enum_value_is_refused_before_it_reaches_the_keyspace(both: Both) -> None:
    """etcd 3.4 keeps an unknown sort order (and sorts nothing); Synod refuses it instead."""
    raw = rpc_pb2.RangeRequest(key=b"a", sort_order=rpc_pb2.RangeRequest.SortOrder.ValueType(7))
    assert both.kv.Range(raw, timeout=CALL_SECONDS_MAX).count == 0
    with pytest.raises(SynodError, match=r"unknown value 7 for RangeRequest\.sort_order"):
        convert.range_request_from_pb(raw)


def test_cluster_and_maintenance_messages_decode(both: Both) -> None:
    members = both.cluster.MemberList(rpc_pb2.MemberListRequest(), timeout=CALL_SECONDS_MAX)
    assert [member.name for member in members.members] == ["probe"]
    member = members.members[0]
    assert members.header.member_id == member.ID
    assert member.peerURLs[0].startswith("http://127.0.0.1:")
    assert member.clientURLs[0].startswith("http://127.0.0.1:")
    assert members.header.revision == 0  # cluster headers carry no revision

    alarms = both.maintenance.Alarm(rpc_pb2.AlarmRequest(), timeout=CALL_SECONDS_MAX)
    assert alarms == rpc_pb2.AlarmResponse()  # no alarms and, in 3.4, no header at all

    both.put(mvcc.PutRequest(b"k", b"v"))
    hashed = both.maintenance.HashKV(rpc_pb2.HashKVRequest(), timeout=CALL_SECONDS_MAX)
    assert hashed.hash != 0
    assert hashed.header.revision == 2

    chunks = list(both.maintenance.Snapshot(rpc_pb2.SnapshotRequest(), timeout=CALL_SECONDS_MAX))
    size = sum(len(chunk.blob) for chunk in chunks)
    assert size % 512 == 32  # the database pages, then a 32-byte SHA-256
    assert chunks[-1].remaining_bytes == 0
    assert len(chunks[-1].blob) == 32
    assert not any(chunk.HasField("header") for chunk in chunks)


def test_auth_messages_decode(both: Both) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        both.auth.Authenticate(
            rpc_pb2.AuthenticateRequest(name="root", password="pw"), timeout=CALL_SECONDS_MAX
        )
    call = cast(grpc.Call, refused.value)
    assert type(error_of(Status(call.code(), call.details() or ""))) is errors.AuthNotEnabled
    both.auth.RoleAdd(rpc_pb2.AuthRoleAddRequest(name="reader"), timeout=CALL_SECONDS_MAX)
    permission = auth_pb2.Permission(
        permType=auth_pb2.Permission.READWRITE, key=b"a", range_end=b"b"
    )
    both.auth.RoleGrantPermission(
        rpc_pb2.AuthRoleGrantPermissionRequest(name="reader", perm=permission),
        timeout=CALL_SECONDS_MAX,
    )
    role = both.auth.RoleGet(rpc_pb2.AuthRoleGetRequest(role="reader"), timeout=CALL_SECONDS_MAX)
    assert list(role.perm) == [permission]
    both.auth.UserAdd(
        rpc_pb2.AuthUserAddRequest(name="ann", password="pw"), timeout=CALL_SECONDS_MAX
    )
    both.auth.UserGrantRole(
        rpc_pb2.AuthUserGrantRoleRequest(user="ann", role="reader"), timeout=CALL_SECONDS_MAX
    )
    user = both.auth.UserGet(rpc_pb2.AuthUserGetRequest(name="ann"), timeout=CALL_SECONDS_MAX)
    assert list(user.roles) == ["reader"]
    users = both.auth.UserList(rpc_pb2.AuthUserListRequest(), timeout=CALL_SECONDS_MAX)
    assert list(users.users) == ["ann"]
