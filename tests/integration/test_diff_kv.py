"""etcd 3.4 and Synod answer the same KV requests identically (raw gRPC, protobuf compared field
by field, ids normalized; see tests/differential.py).

Both clusters start fresh for this module and see exactly the same requests in the same order,
so their revisions must stay equal. The module runs twice, Synod on Raft then on Multi-Paxos,
each time beside a fresh etcd. Tests use disjoint key prefixes; the compaction tests come
last in the file because a compaction changes what every later historical read answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from synod.api.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from tests.cluster import etcd_command, running
from tests.differential import Answer, Pair, Step, Workload, show

pytestmark = pytest.mark.skipif(etcd_command() is None, reason="etcd is not installed")

RangeRequest = rpc_pb2.RangeRequest
Compare = rpc_pb2.Compare
RequestOp = rpc_pb2.RequestOp
WORKLOAD_SEEDS = (20261127, 7, 4242)
WORKLOAD_STEPS = 300


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory, engine: str) -> Iterator[list[Pair]]:
    """One ``Pair`` per member number: the n-th etcd member with the n-th Synod member."""
    base = Path(tmp_path_factory.mktemp("diffkv"))
    with running("etcd", 3, base) as etcd, running("synod", 3, base, engine=engine) as synod:
        channels = [
            grpc.insecure_channel(member.endpoint) for member in (*etcd.members, *synod.members)
        ]
        stubs = [rpc_pb2_grpc.KVStub(channel) for channel in channels]
        try:
            yield [Pair(stubs[n], stubs[n + len(etcd.members)]) for n in range(len(etcd.members))]
        finally:
            for channel in channels:
                channel.close()


@pytest.fixture(scope="module")
def pair(pairs: list[Pair]) -> Pair:
    return pairs[0]


def response(answer: Answer) -> rpc_pb2.RangeResponse:
    assert not isinstance(answer, tuple), show(answer)
    assert isinstance(answer, rpc_pb2.RangeResponse)
    return answer


def error(answer: Answer) -> tuple[str, str]:
    assert isinstance(answer, tuple), f"expected an error, got {show(answer)}"
    return answer


def put_op(key: bytes, value: bytes = b"v", **fields: object) -> RequestOp:
    return RequestOp(request_put=rpc_pb2.PutRequest(key=key, value=value, **fields))  # type: ignore[arg-type]


def range_op(key: bytes, **fields: object) -> RequestOp:
    return RequestOp(request_range=RangeRequest(key=key, **fields))  # type: ignore[arg-type]


def delete_op(key: bytes, **fields: object) -> RequestOp:
    return RequestOp(request_delete_range=rpc_pb2.DeleteRangeRequest(key=key, **fields))  # type: ignore[arg-type]


# ---- Put.


def test_put_prev_kv_and_versions(pair: Pair) -> None:
    pair.put(b"p/a", b"1")
    pair.put(b"p/a", b"2", prev_kv=True)
    pair.put(b"p/a", b"3", prev_kv=True, lease=0)
    pair.put(b"p/new", b"x", prev_kv=True)
    got = response(pair.range(b"p/a"))
    assert got.kvs[0].version == 3
    assert got.kvs[0].value == b"3"


def test_put_ignore_flags(pair: Pair) -> None:
    pair.put(b"p/ign", b"orig")
    pair.put(b"p/ign", b"", ignore_value=True, prev_kv=True)
    assert response(pair.range(b"p/ign")).kvs[0].value == b"orig"
    pair.put(b"p/ign", b"new", ignore_lease=True)
    error(pair.put(b"p/absent", b"", ignore_value=True))
    error(pair.put(b"p/absent", b"x", ignore_lease=True))
    error(pair.put(b"p/ign", b"x", ignore_value=True))
    error(pair.put(b"p/ign", b"x", ignore_lease=True, lease=12345))


def test_put_bad_requests(pair: Pair) -> None:
    assert error(pair.put(b"", b"x"))[0] == "INVALID_ARGUMENT"
    error(pair.put(b"", b"x", ignore_value=True))
    error(pair.put(b"p/lease", b"x", lease=987654321))
    error(pair.put(b"p/large", b"x" * (1024 * 1024 + 600 * 1024)))
    pair.put(b"p/big", b"x" * (1024 * 1024))


# ---- Range.


@pytest.fixture(scope="module")
def ranged(pair: Pair) -> Pair:
    """Keys r/a..r/e with different create and mod revisions and versions."""
    for key, value in ((b"r/c", b"3"), (b"r/a", b"1"), (b"r/e", b"5"), (b"r/b", b"2")):
        pair.put(key, value)
    pair.put(b"r/d", b"4")
    pair.put(b"r/a", b"11")
    pair.put(b"r/c", b"33")
    pair.put(b"r/a", b"111")
    pair.put(b"r0", b"after the prefix")
    return pair


def test_range_single_range_end_prefix_from_key(ranged: Pair) -> None:
    assert len(response(ranged.range(b"r/b")).kvs) == 1
    ranged.range(b"r/missing")
    assert len(response(ranged.range(b"r/b", range_end=b"r/d")).kvs) == 2
    assert response(ranged.range(b"r/", range_end=b"r0")).count == 5
    assert response(ranged.range(b"r/d", range_end=b"\0")).count >= 3
    ranged.range(b"\0", range_end=b"\0")
    ranged.range(b"r/d", range_end=b"r/b")


def test_range_limit_more_and_count(ranged: Pair) -> None:
    for limit in (0, 1, 2, 4, 5, 6):
        got = response(ranged.range(b"r/", range_end=b"r0", limit=limit))
        assert got.count == 5
        assert got.more == (0 < limit < 5)
    ranged.range(b"r/", range_end=b"r0", limit=-1)


def test_range_historical_revisions(ranged: Pair) -> None:
    now = response(ranged.range(b"r/a")).header.revision
    for revision in range(max(1, now - 12), now + 1):
        ranged.range(b"r/", range_end=b"r0", revision=revision)
    error(ranged.range(b"r/a", revision=now + 1))
    error(ranged.range(b"r/a", revision=now + 100))
    ranged.range(b"r/a", revision=-1)


@pytest.mark.parametrize("target", RangeRequest.SortTarget.values())
@pytest.mark.parametrize("order", RangeRequest.SortOrder.values())
def test_range_sort_combinations(ranged: Pair, target: int, order: int) -> None:
    ranged.range(b"r/", range_end=b"r0", sort_order=order, sort_target=target)
    ranged.range(b"r/", range_end=b"r0", sort_order=order, sort_target=target, limit=2)


def test_range_keys_only_count_only(ranged: Pair) -> None:
    got = response(ranged.range(b"r/", range_end=b"r0", keys_only=True))
    assert all(kv.value == b"" for kv in got.kvs)
    got = response(ranged.range(b"r/", range_end=b"r0", count_only=True))
    assert not got.kvs
    ranged.range(b"r/", range_end=b"r0", count_only=True, keys_only=True, limit=1)


def test_range_revision_filters(ranged: Pair) -> None:
    now = response(ranged.range(b"r/a")).header.revision
    for revision in range(now - 10, now + 2):
        for name in ("min_mod_revision", "max_mod_revision"):
            ranged.range(b"r/", range_end=b"r0", **{name: revision})
        for name in ("min_create_revision", "max_create_revision"):
            ranged.range(b"r/", range_end=b"r0", **{name: revision})
    ranged.range(b"r/", range_end=b"r0", min_mod_revision=now - 5, max_create_revision=now - 6)
    ranged.range(b"r/", range_end=b"r0", min_mod_revision=now - 5, limit=1)
    ranged.range(b"r/", range_end=b"r0", max_mod_revision=now - 3, count_only=True)


def test_range_serializable_answers_the_same(ranged: Pair) -> None:
    ranged.range(b"r/", range_end=b"r0", serializable=True)


def test_range_bad_requests(pair: Pair) -> None:
    assert error(pair.range(b""))[0] == "INVALID_ARGUMENT"
    error(pair.range(b"", range_end=b"z"))
    error(pair.range(b"", range_end=b"\0"))


# ---- DeleteRange.


def test_delete_range(pair: Pair) -> None:
    for key in (b"d/a", b"d/b", b"d/c", b"d/d", b"d0"):
        pair.put(key, key + b"!")
    pair.same("DeleteRange", rpc_pb2.DeleteRangeRequest(key=b"d/a", prev_kv=True))
    pair.same("DeleteRange", rpc_pb2.DeleteRangeRequest(key=b"d/a", prev_kv=True))
    pair.same("DeleteRange", rpc_pb2.DeleteRangeRequest(key=b"d/b", range_end=b"d/d"))
    pair.same("DeleteRange", rpc_pb2.DeleteRangeRequest(key=b"d/", range_end=b"d0", prev_kv=True))
    pair.same("DeleteRange", rpc_pb2.DeleteRangeRequest(key=b"d0", range_end=b"\0", prev_kv=True))
    pair.same("DeleteRange", rpc_pb2.DeleteRangeRequest(key=b"d/z", range_end=b"d/a"))
    error(pair.same("DeleteRange", rpc_pb2.DeleteRangeRequest(key=b"")))
    pair.range(b"d", range_end=b"e")


# ---- Txn.


@pytest.fixture(scope="module")
def txn_keys(pair: Pair) -> Pair:
    pair.put(b"t/a", b"alpha")
    pair.put(b"t/b", b"beta")
    pair.put(b"t/b", b"beta2")
    return pair


def txn(
    pair: Pair, compare: list[Compare], success: list[RequestOp], failure: list[RequestOp]
) -> Answer:
    return pair.same("Txn", rpc_pb2.TxnRequest(compare=compare, success=success, failure=failure))


def comparisons(key: bytes, revision: int) -> Iterator[Compare]:
    for result in Compare.CompareResult.values():
        yield Compare(key=key, target=Compare.VALUE, result=result, value=b"beta")
        yield Compare(key=key, target=Compare.VALUE, result=result, value=b"beta2")
        for version in (0, 1, 2, 3):
            yield Compare(key=key, target=Compare.VERSION, result=result, version=version)
        for number in (0, revision - 1, revision, revision + 1):
            yield Compare(key=key, target=Compare.CREATE, result=result, create_revision=number)
            yield Compare(key=key, target=Compare.MOD, result=result, mod_revision=number)
        yield Compare(key=key, target=Compare.LEASE, result=result, lease=0)
        yield Compare(key=key, target=Compare.LEASE, result=result, lease=1)


def test_txn_every_compare_target_and_result(txn_keys: Pair) -> None:
    revision = response(txn_keys.range(b"t/b")).kvs[0].mod_revision
    outcomes = set()
    for key in (b"t/b", b"t/missing"):
        for compare in comparisons(key, revision):
            answer = txn(txn_keys, [compare], [range_op(b"t/a")], [range_op(b"t/b")])
            assert isinstance(answer, rpc_pb2.TxnResponse), show(answer)
            outcomes.add(answer.succeeded)
    assert outcomes == {True, False}


def test_txn_compare_over_a_range(txn_keys: Pair) -> None:
    for result in Compare.CompareResult.values():
        compare = Compare(
            key=b"t/", range_end=b"t0", target=Compare.VERSION, result=result, version=1
        )
        txn(txn_keys, [compare], [range_op(b"t/", range_end=b"t0")], [])


def test_txn_branches_with_every_operation(txn_keys: Pair) -> None:
    yes = Compare(key=b"t/a", target=Compare.VALUE, result=Compare.EQUAL, value=b"alpha")
    no = Compare(key=b"t/a", target=Compare.VALUE, result=Compare.EQUAL, value=b"nope")
    branch = [
        put_op(b"t/c", b"c1", prev_kv=True),
        range_op(b"t/", range_end=b"t0"),
        delete_op(b"t/d", prev_kv=True),
    ]
    txn(txn_keys, [yes], branch, [put_op(b"t/f")])
    txn(txn_keys, [no], [put_op(b"t/f")], branch)
    txn(txn_keys, [yes, no], [put_op(b"t/x")], [put_op(b"t/y"), range_op(b"t/y")])
    txn(txn_keys, [], [put_op(b"t/e", b"e"), delete_op(b"t/c", prev_kv=True)], [])
    txn(txn_keys, [], [], [])
    txn(txn_keys, [yes], [range_op(b"t/a", revision=2)], [])


def test_txn_nested(txn_keys: Pair) -> None:
    inner = rpc_pb2.TxnRequest(
        compare=[Compare(key=b"t/e", target=Compare.VERSION, result=Compare.GREATER, version=0)],
        success=[put_op(b"t/n1", b"inner"), range_op(b"t/n1")],
        failure=[delete_op(b"t/e")],
    )
    txn(txn_keys, [], [RequestOp(request_txn=inner), range_op(b"t/", range_end=b"t0")], [])
    quiet_first = rpc_pb2.TxnRequest(
        success=[delete_op(b"t/none"), range_op(b"t/e"), put_op(b"t/n2"), delete_op(b"t/none")]
    )
    txn(txn_keys, [], [delete_op(b"t/none2"), RequestOp(request_txn=quiet_first)], [])
    txn(txn_keys, [], [delete_op(b"t/none"), put_op(b"t/n3"), delete_op(b"t/none2")], [])
    twice = rpc_pb2.TxnRequest(success=[RequestOp(request_txn=inner)])
    txn(txn_keys, [], [RequestOp(request_txn=twice)], [])


def test_txn_errors(txn_keys: Pair) -> None:
    error(txn(txn_keys, [], [put_op(b"t/dup"), put_op(b"t/dup")], []))
    error(txn(txn_keys, [], [put_op(b"t/dup"), delete_op(b"t/dup")], []))
    error(txn(txn_keys, [], [put_op(b"t/c"), delete_op(b"t/", range_end=b"t0")], []))
    txn(txn_keys, [], [delete_op(b"t/dup"), delete_op(b"t/dup")], [])
    txn(txn_keys, [], [put_op(b"t/dup"), delete_op(b"t/", range_end=b"\0", prev_kv=True)], [])
    txn(txn_keys, [], [put_op(b"t/dup"), delete_op(b"t/z", range_end=b"t/a")], [])
    txn(txn_keys, [], [put_op(b"t/dup"), range_op(b"t/dup")], [])
    inner = rpc_pb2.TxnRequest(success=[put_op(b"t/dup2")])
    error(txn(txn_keys, [], [put_op(b"t/dup2"), RequestOp(request_txn=inner)], []))
    many = [put_op(b"t/many%d" % index) for index in range(129)]
    error(txn(txn_keys, [], many, []))
    error(txn(txn_keys, [], [], many))
    txn(txn_keys, [], many[:128], [])
    compares = [Compare(key=b"t/a", target=Compare.VERSION, version=1)] * 129
    error(txn(txn_keys, compares, [], []))
    error(txn(txn_keys, [], [put_op(b"")], []))
    error(txn(txn_keys, [], [range_op(b"t/a", revision=10**6)], []))
    error(txn(txn_keys, [], [RequestOp()], []))
    error(txn(txn_keys, [Compare(key=b"", target=Compare.VERSION, version=1)], [], []))
    error(txn(txn_keys, [], [delete_op(b"")], []))
    txn(txn_keys, [Compare(key=b"t/a", target=Compare.VALUE)], [range_op(b"t/a")], [])
    txn(txn_keys, [Compare(key=b"t/a", target=Compare.MOD)], [range_op(b"t/a")], [])


def test_txn_failing_a_range_check_fails_on_every_synod_member(pairs: list[Pair]) -> None:
    """A write txn whose range names a compacted or future revision fails as a whole. etcd 3.4
    fails it only on the member the client talks to and applies it on the others
    (etcd-io/etcd#18667), so etcd is not asked here; Synod must fail it everywhere."""
    through = [pair.synod for pair in pairs]
    put = pairs[0].put(b"f/a", b"1")
    assert isinstance(put, rpc_pb2.PutResponse), show(put)
    revision = put.header.revision
    bad = rpc_pb2.TxnRequest(
        success=[delete_op(b"f/a"), range_op(b"f/a", revision=revision + 1000)]
    )
    for stub in through:
        with pytest.raises(grpc.RpcError) as refused:
            stub.Txn(bad, timeout=10)
        assert "future revision" in str(refused.value.details())
    for stub in through:
        seen = stub.Range(RangeRequest(key=b"f/a"), timeout=10)
        assert [(kv.value, kv.mod_revision) for kv in seen.kvs] == [(b"1", revision)]
        assert seen.header.revision == revision


# ---- A seeded random workload.


@pytest.mark.parametrize("seed", WORKLOAD_SEEDS)
def test_random_workload(pairs: list[Pair], seed: int) -> None:
    """Each request goes to a random member of each cluster (the same member number on both),
    so followers forwarding writes and serving linearizable reads are compared too."""
    workload = Workload(seed, response(pairs[0].range(b"w/")).header.revision)
    steps: list[Step] = []
    for _ in range(WORKLOAD_STEPS):
        step = workload.step()
        steps.append(step)
        pair = workload.rng.choice(pairs)
        answer = pair.same(step.method, step.request)
        workload.observe(step, answer)
    methods = {step.method for step in steps}
    assert methods == {"Put", "Range", "DeleteRange", "Txn", "Compact"}
    for pair in pairs:
        pair.range(b"w/", range_end=b"w0")


# ---- Compaction (last: it changes every later historical read).


def test_compaction(pair: Pair) -> None:
    pair.put(b"c/a", b"1")
    pair.put(b"c/a", b"2")
    now = response(pair.range(b"c/a")).header.revision
    error(pair.same("Compact", rpc_pb2.CompactionRequest(revision=now + 1)))
    pair.same("Compact", rpc_pb2.CompactionRequest(revision=-1))
    pair.same("Compact", rpc_pb2.CompactionRequest(revision=0))
    pair.same("Compact", rpc_pb2.CompactionRequest(revision=now - 1, physical=True))
    error(pair.same("Compact", rpc_pb2.CompactionRequest(revision=now - 1)))
    error(pair.same("Compact", rpc_pb2.CompactionRequest(revision=now - 2)))
    error(pair.range(b"c/a", revision=now - 2))
    error(pair.range(b"c/a", revision=1))
    pair.range(b"c/a", revision=now - 1)
    pair.range(b"c/a", revision=now)
    pair.range(b"c/a", revision=0)
    error(txn(pair, [], [range_op(b"c/a", revision=now - 3)], []))
    pair.same("Compact", rpc_pb2.CompactionRequest(revision=now))
    pair.put(b"c/a", b"3")
    pair.range(b"c/", range_end=b"c0")
