"""Leases without a clock: grant, revoke or expiry of attached keys, keepalive, TTL (ref. 2.4)."""

import pytest

from synod.core.errors import ConfigError
from synod.kv.mvcc import (
    LEASE_TTL_SECONDS_MAX,
    DeleteRangeRequest,
    LeaseExists,
    LeaseGrantRequest,
    LeaseGrantResponse,
    LeaseKeepAliveRequest,
    LeaseKeepAliveResponse,
    LeaseNotFound,
    LeaseRevokeRequest,
    LeaseTimeToLiveRequest,
    LeaseTimeToLiveResponse,
    LeaseTtlTooLarge,
    MvccLimits,
    MvccStore,
    PutRequest,
    RangeRequest,
    TxnRequest,
)
from tests.kv.helpers import keys_of, with_leases


@pytest.mark.parametrize(
    ("ttl", "granted"), [(60, 60), (2, 2), (1, 2), (0, 2), (-5, 2), (LEASE_TTL_SECONDS_MAX,) * 2]
)
def test_grant_raises_short_ttls_to_the_minimum(ttl: int, granted: int) -> None:
    store = MvccStore()
    assert store.lease_grant(LeaseGrantRequest(ttl, 5)) == LeaseGrantResponse(1, 5, granted)
    assert store.revision == 1  # granting makes no revision


def test_grant_errors() -> None:
    store = with_leases(5)
    with pytest.raises(LeaseExists):
        store.lease_grant(LeaseGrantRequest(60, 5))
    with pytest.raises(LeaseTtlTooLarge):
        store.lease_grant(LeaseGrantRequest(LEASE_TTL_SECONDS_MAX + 1, 6))
    assert store.lease_ids() == [5]


def test_picked_ids_are_deterministic_and_fresh() -> None:
    store = with_leases(5)
    assert store.lease_grant(LeaseGrantRequest(60)).id == 6
    assert store.lease_grant(LeaseGrantRequest(60)).id == 7
    store.lease_revoke(LeaseRevokeRequest(7))
    assert store.lease_grant(LeaseGrantRequest(60)).id == 8
    assert store.lease_ids() == [5, 6, 8]


def test_revoke_deletes_attached_keys_at_one_revision() -> None:
    store = with_leases(5, 6)
    for key, lease in [(b"c", 5), (b"a", 5), (b"b", 6), (b"d", 0)]:
        store.put(PutRequest(key, b"v", lease=lease))
    assert store.lease_revoke(LeaseRevokeRequest(5)).revision == 6
    assert keys_of(store, RangeRequest(b"\x00", b"\x00")) == [b"b", b"d"]
    assert keys_of(store, RangeRequest(b"\x00", b"\x00", revision=5)) == [b"a", b"b", b"c", b"d"]
    assert store.lease_ids() == [6]
    with pytest.raises(LeaseNotFound):
        store.lease_revoke(LeaseRevokeRequest(5))
    with pytest.raises(LeaseNotFound):
        store.put(PutRequest(b"e", lease=5))


def test_revoke_of_a_keyless_lease_makes_no_revision() -> None:
    store = with_leases(5)
    store.put(PutRequest(b"a", lease=5))
    store.put(PutRequest(b"a", lease=0))  # detached by a put without the lease
    assert store.lease_revoke(LeaseRevokeRequest(5)).revision == 3
    assert store.revision == 3


def test_deleted_and_reattached_keys_follow_their_newest_lease() -> None:
    store = with_leases(5, 6)
    store.put(PutRequest(b"a", lease=5))
    store.put(PutRequest(b"b", lease=5))
    store.delete_range(DeleteRangeRequest(b"b"))
    store.txn(TxnRequest(success=(PutRequest(b"a", lease=6),)))
    store.lease_revoke(LeaseRevokeRequest(5))
    assert store.revision == 5  # nothing left on lease 5
    store.lease_revoke(LeaseRevokeRequest(6))
    assert (store.revision, keys_of(store, RangeRequest(b"a"))) == (6, [])


def test_keep_alive_and_time_to_live() -> None:
    store = with_leases(5)
    store.put(PutRequest(b"b", lease=5))
    store.put(PutRequest(b"a", lease=5))
    assert store.lease_keep_alive(LeaseKeepAliveRequest(5)) == LeaseKeepAliveResponse(3, 5, 60)
    assert store.lease_keep_alive(LeaseKeepAliveRequest(9)) == LeaseKeepAliveResponse(3, 9, 0)
    assert store.revision == 3
    alive = store.lease_time_to_live(LeaseTimeToLiveRequest(5, keys=True))
    assert alive == LeaseTimeToLiveResponse(3, 5, 60, 60, (b"a", b"b"))
    assert store.lease_time_to_live(LeaseTimeToLiveRequest(5)).keys == ()
    gone = store.lease_time_to_live(LeaseTimeToLiveRequest(9, keys=True))
    assert gone == LeaseTimeToLiveResponse(3, 9, -1, 0)


def test_lease_limits_are_checked() -> None:
    store = MvccStore(MvccLimits(lease_ttl_seconds_min=10))
    assert store.lease_grant(LeaseGrantRequest(3)).ttl_seconds == 10
    with pytest.raises(ConfigError):
        MvccLimits(lease_ttl_seconds_min=0)
