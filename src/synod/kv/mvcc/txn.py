"""Txn checks and compares, in the order etcd makes them.

Before anything is read (etcd's v3rpc/key.go):
  1. the op count: max(len(compare), len(success), len(failure)) <= the limit; a nested txn is
     held to what the outer one left (limit minus the outer max);
  2. every request's own checks (empty key, ignore_* with a value/lease, empty RequestOp);
  3. duplicates, on both branches: a key put twice, or put and covered by a delete, in one branch
     (nested txns included; then and else of one nested txn may put the same key). "Covered"
     is etcd's literal ``[key, range_end)``, so a from-key delete covers no put.
Then (etcd's apply.go) every compare, nested ones included, is evaluated against the state
before the txn, which fixes the path of branches taken before any write is made.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from synod.kv.mvcc.errors import (
    DuplicateKey,
    KeyNotFound,
    KeyNotProvided,
    LeaseProvided,
    TooManyOperations,
    ValueProvided,
)
from synod.kv.mvcc.keyrange import KeyRange, key_range
from synod.kv.mvcc.keyspace import Keyspace
from synod.kv.mvcc.messages import (
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    EmptyOp,
    KeyValue,
    PutRequest,
    RangeRequest,
    RequestOp,
    TxnRequest,
)


def check_put_request(request: PutRequest) -> None:
    if not request.key:
        raise KeyNotProvided
    if request.ignore_value and request.value:
        raise ValueProvided
    if request.ignore_lease and request.lease != 0:
        raise LeaseProvided


def check_key_request(request: RangeRequest | DeleteRangeRequest) -> None:
    if not request.key:
        raise KeyNotProvided


def check_txn_request(request: TxnRequest, txn_ops_max: int) -> None:
    """Steps 1 to 3 above; raises the first error etcd would."""
    _check_shape(request, txn_ops_max)
    _check_intervals(request.success)
    _check_intervals(request.failure)


def _check_shape(request: TxnRequest, txn_ops_max: int) -> None:
    ops = max(len(request.compare), len(request.success), len(request.failure))
    if ops > txn_ops_max:
        raise TooManyOperations
    for compare in request.compare:
        if not compare.key:
            raise KeyNotProvided
    for op in request.success + request.failure:
        _check_op(op, txn_ops_max - ops)


def _check_op(op: RequestOp, txn_ops_max: int) -> None:
    match op:
        case RangeRequest() | DeleteRangeRequest():
            check_key_request(op)
        case PutRequest():
            check_put_request(op)
        case TxnRequest():
            _check_shape(op, txn_ops_max)
        case EmptyOp():
            raise KeyNotFound


@dataclass(slots=True)
class _Writes:
    puts: set[bytes]
    deletes: list[KeyRange]

    def deleted(self, key: bytes) -> bool:
        return any(deleted.contains(key) for deleted in self.deletes)


def _check_intervals(ops: tuple[RequestOp, ...]) -> _Writes:
    """etcd's checkIntervals: this branch's deletes first, then nested txns, then its puts."""
    writes = _Writes(set(), [])
    for op in ops:
        if isinstance(op, DeleteRangeRequest):
            writes.deletes.append(_literal_range(op))
    for op in ops:
        if isinstance(op, TxnRequest):
            _merge_nested(writes, _check_intervals(op.success), _check_intervals(op.failure))
    for op in ops:
        if isinstance(op, PutRequest):
            if op.key in writes.puts or writes.deleted(op.key):
                raise DuplicateKey
            writes.puts.add(op.key)
    return writes


def _literal_range(delete: DeleteRangeRequest) -> KeyRange:
    """The keys etcd's duplicate check takes a delete to cover: ``[key, range_end)`` compared as
    plain bytes. A from-key delete (``range_end`` ``b"\\x00"``) so conflicts with no put, though
    it does delete the put key when applied: etcd 3.4 accepts such a txn, and so does Synod."""
    if not delete.range_end:
        return key_range(delete.key, delete.range_end)
    return KeyRange(delete.key, delete.range_end)


def _merge_nested(writes: _Writes, then: _Writes, otherwise: _Writes) -> None:
    for key in sorted(then.puts):
        if key in writes.puts or writes.deleted(key):
            raise DuplicateKey
        writes.puts.add(key)
    for key in sorted(otherwise.puts):
        if (key in writes.puts and key not in then.puts) or writes.deleted(key):
            raise DuplicateKey
        writes.puts.add(key)
    writes.deletes.extend(then.deletes)
    writes.deletes.extend(otherwise.deletes)


@dataclass(frozen=True, slots=True)
class TxnPath:
    """The branch a txn takes, and the paths of the nested txns in that branch, in op order."""

    succeeded: bool
    nested: tuple[TxnPath, ...]


def choose_path(keyspace: Keyspace, at_main: int, request: TxnRequest) -> TxnPath:
    succeeded = all(evaluate_compare(keyspace, at_main, c) for c in request.compare)
    branch = request.success if succeeded else request.failure
    nested = tuple(
        choose_path(keyspace, at_main, op) for op in branch if isinstance(op, TxnRequest)
    )
    return TxnPath(succeeded, nested)


def ops_on_path(request: TxnRequest, path: TxnPath) -> Iterator[RequestOp]:
    """Every non-txn op the txn will run, in order, descending into nested txns."""
    branch = request.success if path.succeeded else request.failure
    nested = iter(path.nested)
    for op in branch:
        if isinstance(op, TxnRequest):
            yield from ops_on_path(op, next(nested))
        else:
            yield op


_NO_KEY = KeyValue(b"", 0, 0, 0, b"", 0)


def evaluate_compare(keyspace: Keyspace, at_main: int, compare: Compare) -> bool:
    """True when every key in the compare's range satisfies it.

    No key found: a VALUE compare is false; any other compares against an all-zero KeyValue
    (so ``create_revision == 0`` tests absence).
    """
    found = keyspace.read(key_range(compare.key, compare.range_end), at_main)
    if not found:
        return compare.target != CompareTarget.VALUE and _compare_kv(compare, _NO_KEY)
    return all(_compare_kv(compare, kv) for kv in found)


def _compare_kv(compare: Compare, kv: KeyValue) -> bool:
    if compare.target == CompareTarget.VALUE:
        operand = compare.operand if isinstance(compare.operand, bytes) else b""
        return _holds(compare.result, _sign_bytes(kv.value, operand))
    number = compare.operand if isinstance(compare.operand, int) else 0
    actual = {
        CompareTarget.VERSION: kv.version,
        CompareTarget.CREATE: kv.create_revision,
        CompareTarget.MOD: kv.mod_revision,
        CompareTarget.LEASE: kv.lease,
    }[compare.target]
    return _holds(compare.result, (actual > number) - (actual < number))


def _sign_bytes(left: bytes, right: bytes) -> int:
    return (left > right) - (left < right)


def _holds(result: CompareResult, sign: int) -> bool:
    match result:
        case CompareResult.EQUAL:
            return sign == 0
        case CompareResult.NOT_EQUAL:
            return sign != 0
        case CompareResult.GREATER:
            return sign > 0
        case CompareResult.LESS:
            return sign < 0
