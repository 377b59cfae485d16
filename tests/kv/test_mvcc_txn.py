"""Txn: compares, branches, one revision, nested txns, op limits, duplicate keys (ref. 2.2)."""

import pytest

from synod.core.errors import ConfigError
from synod.kv.mvcc import (
    FROM_KEY,
    Compacted,
    CompactionRequest,
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    DeleteRangeResponse,
    DuplicateKey,
    EmptyOp,
    FutureRevision,
    KeyNotFound,
    KeyNotProvided,
    KeyValue,
    LeaseNotFound,
    MvccError,
    MvccLimits,
    MvccStore,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    RequestOp,
    TooManyOperations,
    TxnRequest,
    TxnResponse,
)
from tests.kv.helpers import with_leases

EQ, GT, LT, NE = (
    CompareResult.EQUAL,
    CompareResult.GREATER,
    CompareResult.LESS,
    CompareResult.NOT_EQUAL,
)
VERSION, CREATE, MOD, VALUE, LEASE = (
    CompareTarget.VERSION,
    CompareTarget.CREATE,
    CompareTarget.MOD,
    CompareTarget.VALUE,
    CompareTarget.LEASE,
)


def sample() -> MvccStore:
    """a=x@2 (lease 7), b=y@3, b=z@4: a v1 c2 m2; b v2 c3 m4."""
    store = with_leases(7)
    store.put(PutRequest(b"a", b"x", lease=7))
    store.put(PutRequest(b"b", b"y"))
    store.put(PutRequest(b"b", b"z"))
    return store


def succeeds(compare: Compare) -> bool:
    return sample().txn(TxnRequest(compare=(compare,))).succeeded


@pytest.mark.parametrize(
    ("compare", "expected"),
    [
        (Compare(b"a", VALUE, EQ, b"x"), True),
        (Compare(b"a", VALUE, NE, b"x"), False),
        (Compare(b"a", VALUE, GT, b"w"), True),
        (Compare(b"a", VALUE, LT, b"w"), False),
        (Compare(b"a", VALUE, LT, b"xa"), True),
        (Compare(b"a", VALUE, EQ, 0), False),  # the wrong oneof member counts as empty bytes
        (Compare(b"b", VERSION, EQ, 2), True),
        (Compare(b"b", VERSION, GT, 1), True),
        (Compare(b"b", VERSION, LT, 2), False),
        (Compare(b"b", VERSION, NE, 2), False),
        (Compare(b"b", CREATE, EQ, 3), True),
        (Compare(b"b", MOD, EQ, 4), True),
        (Compare(b"b", MOD, LT, 4), False),
        (Compare(b"a", LEASE, EQ, 7), True),
        (Compare(b"b", LEASE, EQ, 0), True),
        (Compare(b"a", MOD, EQ, b"2"), False),  # wrong member: compares with 0
        (Compare(b"b", MOD, GT, b"9"), True),
        # A missing key: VALUE is false whatever the operator; other targets see zeros.
        (Compare(b"zz", VALUE, EQ, b""), False),
        (Compare(b"zz", VALUE, NE, b"x"), False),
        (Compare(b"zz", CREATE, EQ, 0), True),
        (Compare(b"zz", VERSION, EQ, 0), True),
        (Compare(b"zz", MOD, EQ, 0), True),
        (Compare(b"zz", LEASE, EQ, 0), True),
        (Compare(b"zz", VERSION, GT, 0), False),
        # Ranges: every key must satisfy; an empty range behaves like a missing key.
        (Compare(b"a", VERSION, GT, 0, range_end=b"c"), True),
        (Compare(b"a", VERSION, EQ, 1, range_end=b"c"), False),
        (Compare(b"a", MOD, LT, 5, range_end=FROM_KEY), True),
        (Compare(b"c", VALUE, EQ, b"", range_end=b"d"), False),
        (Compare(b"c", CREATE, EQ, 0, range_end=b"d"), True),
    ],
)
def test_compare(compare: Compare, expected: bool) -> None:
    assert succeeds(compare) is expected


def test_branches_and_responses() -> None:
    store = sample()
    then = (PutRequest(b"c", b"1"), RangeRequest(b"c"))
    otherwise = (DeleteRangeRequest(b"a", prev_kv=True),)
    taken = store.txn(TxnRequest((Compare(b"a", VALUE, EQ, b"x"),), then, otherwise))
    assert taken.succeeded
    assert taken.revision == 5
    put, read = taken.responses
    assert put == PutResponse(5)
    assert isinstance(read, RangeResponse)
    assert read.kvs == (KeyValue(b"c", 5, 5, 1, b"1"),)  # reads see earlier writes
    assert read.revision == 5
    other = store.txn(TxnRequest((Compare(b"a", VALUE, EQ, b"nope"),), then, otherwise))
    assert not other.succeeded
    assert other.responses == (DeleteRangeResponse(6, 1, (KeyValue(b"a", 2, 2, 1, b"x", 7),)),)


def test_one_revision_for_every_write() -> None:
    store = sample()
    ops: tuple[RequestOp, ...] = (
        PutRequest(b"c", b"1"),
        DeleteRangeRequest(b"a"),
        PutRequest(b"b", b"again"),
        PutRequest(b"d", b"2"),
    )
    response = store.txn(TxnRequest(success=ops))
    assert response.revision == store.revision == 5
    kvs = store.range(RangeRequest(FROM_KEY, FROM_KEY)).kvs
    assert [(kv.key, kv.create_revision, kv.mod_revision, kv.version) for kv in kvs] == [
        (b"b", 3, 5, 3),
        (b"c", 5, 5, 1),
        (b"d", 5, 5, 1),
    ]
    assert store.range(RangeRequest(b"a", revision=4)).count == 1


def test_read_only_and_no_change_txns_keep_the_revision() -> None:
    store = sample()
    assert store.txn(TxnRequest()).revision == 4
    assert store.txn(TxnRequest(success=(RangeRequest(b"a"),))).revision == 4
    nothing = store.txn(TxnRequest(success=(DeleteRangeRequest(b"zz"),)))
    assert nothing.revision == store.revision == 4
    assert nothing.responses == (DeleteRangeResponse(4, 0),)


def test_nested_txn_and_revisions_inside() -> None:
    store = sample()
    inner = TxnRequest((Compare(b"b", VERSION, EQ, 2),), (PutRequest(b"e", b"1"),), ())
    outer = TxnRequest(success=(RangeRequest(b"a"), inner, PutRequest(b"f", b"2")))
    response = store.txn(outer)
    assert response.revision == 5
    read, nested, put = response.responses
    assert isinstance(read, RangeResponse)
    assert read.revision == 4  # read before the txn's first write, as etcd 3.4 reports it
    assert isinstance(nested, TxnResponse)
    assert nested.succeeded
    assert nested.revision == 5
    assert nested.responses == (PutResponse(5),)
    assert put == PutResponse(5)


def test_nested_compares_see_the_state_before_the_txn() -> None:
    store = sample()
    inner = TxnRequest((Compare(b"c", VERSION, EQ, 0),), (PutRequest(b"d", b"c was absent"),), ())
    store.txn(TxnRequest(success=(PutRequest(b"c", b"1"), inner)))
    assert store.range(RangeRequest(b"d")).kvs[0].value == b"c was absent"


def test_ignore_flags_in_txn() -> None:
    store = sample()
    store.txn(TxnRequest(success=(PutRequest(b"a", b"", ignore_value=True, ignore_lease=True),)))
    assert store.range(RangeRequest(b"a")).kvs[0] == KeyValue(b"a", 2, 5, 2, b"x", 7)


def ops(count: int, key: bytes = b"k") -> tuple[RequestOp, ...]:
    return tuple(RangeRequest(key) for _ in range(count))


@pytest.mark.parametrize(
    ("request_", "error"),
    [
        (TxnRequest(success=ops(129)), TooManyOperations),
        (TxnRequest(failure=ops(129)), TooManyOperations),
        (
            TxnRequest(compare=tuple(Compare(b"a", VERSION, EQ, 0) for _ in range(129))),
            TooManyOperations,
        ),
        (TxnRequest(success=(*ops(100), TxnRequest(success=ops(29)))), TooManyOperations),
        (TxnRequest(compare=(Compare(b"", VERSION, EQ, 0),)), KeyNotProvided),
        (TxnRequest(success=(RangeRequest(b""),)), KeyNotProvided),
        (TxnRequest(failure=(DeleteRangeRequest(b""),)), KeyNotProvided),
        (TxnRequest(success=(EmptyOp(),)), KeyNotFound),
        (TxnRequest(success=(PutRequest(b"k"), PutRequest(b"k"))), DuplicateKey),
        (TxnRequest(failure=(PutRequest(b"k"), PutRequest(b"k"))), DuplicateKey),  # untaken branch
        (TxnRequest(success=(PutRequest(b"k"), DeleteRangeRequest(b"k"))), DuplicateKey),
        (TxnRequest(success=(DeleteRangeRequest(b"a", b"z"), PutRequest(b"k"))), DuplicateKey),
        (
            TxnRequest(success=(PutRequest(b"k"), TxnRequest(failure=(PutRequest(b"k"),)))),
            DuplicateKey,
        ),
        (
            TxnRequest(success=(PutRequest(b"k"), TxnRequest(success=(DeleteRangeRequest(b"k"),)))),
            DuplicateKey,
        ),
        (
            TxnRequest(success=(DeleteRangeRequest(b"k"), TxnRequest(success=(PutRequest(b"k"),)))),
            DuplicateKey,
        ),
        (
            TxnRequest(
                success=(
                    TxnRequest(success=(PutRequest(b"k"),)),
                    TxnRequest(failure=(PutRequest(b"k"),)),
                )
            ),
            DuplicateKey,
        ),
        (TxnRequest(success=(PutRequest(b"k", lease=99),)), LeaseNotFound),
        (TxnRequest(success=(PutRequest(b"zz", ignore_value=True),)), KeyNotFound),
        (TxnRequest(success=(RangeRequest(b"a", revision=5),)), FutureRevision),
    ],
)
def test_txn_errors_write_nothing(request_: TxnRequest, error: type[MvccError]) -> None:
    store = sample()
    with pytest.raises(error):
        store.txn(request_)
    assert store.revision == 4


@pytest.mark.parametrize(
    "request_",
    [
        TxnRequest(
            compare=tuple(Compare(b"a", VERSION, EQ, 1) for _ in range(128)),
            success=ops(128),
            failure=ops(128),
        ),
        TxnRequest(success=(*ops(99), TxnRequest(success=ops(28)))),
        TxnRequest(success=(DeleteRangeRequest(b"a", b"z"), DeleteRangeRequest(b"b"))),
        TxnRequest(success=(TxnRequest(success=(PutRequest(b"k"),), failure=(PutRequest(b"k"),)),)),
        TxnRequest(success=(PutRequest(b"k"),), failure=(PutRequest(b"k"),)),
        TxnRequest(failure=(PutRequest(b"k", lease=99),)),  # unknown lease in the untaken branch
    ],
)
def test_txns_that_are_allowed(request_: TxnRequest) -> None:
    sample().txn(request_)


def test_a_from_key_delete_never_conflicts_with_a_put() -> None:
    """etcd 3.4 compares a delete's range_end as plain bytes in its duplicate check, so a
    from-key delete covers no put; the delete runs, then the put (observed on 3.4.23)."""
    store = sample()
    store.txn(TxnRequest(success=(DeleteRangeRequest(b"a", FROM_KEY), PutRequest(b"k", b"v"))))
    kvs = store.range(RangeRequest(FROM_KEY, FROM_KEY)).kvs
    assert [(kv.key, kv.value) for kv in kvs] == [(b"k", b"v")]
    store.txn(TxnRequest(success=(PutRequest(b"a"), DeleteRangeRequest(b"a", FROM_KEY))))
    assert store.range(RangeRequest(FROM_KEY, FROM_KEY)).kvs == ()


def test_a_delete_of_nothing_before_any_write_reports_the_old_revision() -> None:
    """etcd 3.4's DeleteRange answers the txn's begin revision until something has changed."""
    store = sample()
    response = store.txn(
        TxnRequest(
            success=(
                DeleteRangeRequest(b"none"),
                PutRequest(b"k"),
                DeleteRangeRequest(b"none"),
                DeleteRangeRequest(b"b"),
            )
        )
    )
    assert response.revision == 5
    assert [r.revision for r in response.responses] == [4, 5, 5, 5]
    assert [getattr(r, "deleted", None) for r in response.responses] == [0, None, 0, 1]


def test_txn_ops_limit_is_configurable() -> None:
    store = MvccStore(MvccLimits(txn_ops_max=2))
    store.txn(TxnRequest(success=ops(2)))
    with pytest.raises(TooManyOperations):
        store.txn(TxnRequest(success=ops(3)))
    with pytest.raises(ConfigError):
        MvccLimits(txn_ops_max=0)


def test_txn_range_at_a_compacted_revision() -> None:
    store = sample()
    store.compact(CompactionRequest(3))
    with pytest.raises(Compacted):
        store.txn(TxnRequest(success=(RangeRequest(b"a", revision=2), PutRequest(b"c"))))
    assert store.revision == 4
