"""Model-based test: the store against a naive history (key -> list of writes) over put, delete,
txn, range at any revision, compact, lease grant and revoke. A failure prints the steps that
reproduce it."""

from dataclasses import dataclass, field

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from synod.kv.mvcc import (
    Compacted,
    CompactionRequest,
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    DeleteRangeResponse,
    EventType,
    FutureRevision,
    KeyValue,
    LeaseExists,
    LeaseGrantRequest,
    LeaseNotFound,
    LeaseRevokeRequest,
    MvccStore,
    PutRequest,
    RangeRequest,
    RangeResponse,
    RequestOp,
    TxnRequest,
    TxnResponse,
)

KEYS = st.sampled_from([b"a", b"ab", b"b", b"c", b"d"])
RANGE_ENDS = st.sampled_from([b"", b"\x00", b"b", b"c", b"e", b"a"])
VALUES = st.sampled_from([b"", b"x", b"y", b"z"])
LEASES = st.sampled_from([0, 0, 1, 2])


def inside(candidate: bytes, key: bytes, range_end: bytes) -> bool:
    if range_end == b"":
        return candidate == key
    if range_end == b"\x00":
        return candidate >= key
    return key <= candidate < range_end


@dataclass
class Model:
    """Obviously right and slow: every write ever made, per key; nothing is ever dropped."""

    revision: int = 1
    compact_revision: int = -1
    writes: dict[bytes, list[tuple[int, bytes | None, int]]] = field(default_factory=dict)
    leases: set[int] = field(default_factory=set)
    log: list[tuple[int, bytes, bytes | None]] = field(default_factory=list)
    dirty: bool = False

    def kv_at(self, key: bytes, revision: int) -> KeyValue | None:
        current: KeyValue | None = None
        for written_at, value, lease in self.writes.get(key, []):
            if written_at > revision:
                break
            if value is None:
                current = None
            elif current is None:
                current = KeyValue(key, written_at, written_at, 1, value, lease)
            else:
                version = current.version + 1
                current = KeyValue(key, current.create_revision, written_at, version, value, lease)
        return current

    def range_at(self, key: bytes, range_end: bytes, revision: int) -> list[KeyValue]:
        found = []
        for candidate in sorted(self.writes):
            kv = self.kv_at(candidate, revision) if inside(candidate, key, range_end) else None
            if kv is not None:
                found.append(kv)
        return found

    def events(
        self, key: bytes, range_end: bytes, start: int
    ) -> list[tuple[EventType, bytes, int]]:
        """Changes in range at or after ``start`` in write order; a delete made exactly at the
        compact revision is gone from history."""
        found = []
        for written_at, changed, value in self.log:
            if written_at < start or not inside(changed, key, range_end):
                continue
            if value is None and written_at == self.compact_revision:
                continue
            kind = EventType.PUT if value is not None else EventType.DELETE
            found.append((kind, changed, written_at))
        return found

    def write(self, changes: list[tuple[bytes, bytes | None]], lease: int = 0) -> None:
        """Apply one write request's changes at one new revision (none: no new revision)."""
        for key, value in changes:
            self.change(key, value, lease)
        self.commit()

    def change(self, key: bytes, value: bytes | None, lease: int = 0) -> None:
        """Record a change at the next revision; ``commit`` makes it the current one."""
        self.writes.setdefault(key, []).append((self.revision + 1, value, lease))
        self.log.append((self.revision + 1, key, value))
        self.dirty = True

    def commit(self) -> None:
        if self.dirty:
            self.revision += 1
        self.dirty = False

    def view(self) -> int:
        """What reads inside a write see: its own changes once it has made some."""
        return self.revision + 1 if self.dirty else self.revision


@st.composite
def txn_branches(draw: st.DrawFn, depth: int = 1) -> tuple[RequestOp, ...]:
    """Puts, single-key deletes and nested txns on distinct keys (so no duplicate-key errors),
    and reads of the whole keyspace between them."""
    keys = draw(st.lists(KEYS, max_size=3, unique=True))
    ops: list[RequestOp] = []
    for key in keys:
        kind = draw(st.sampled_from(["put", "delete", "read", "txn"] if depth else ["put"]))
        if kind == "put":
            ops.append(PutRequest(key, draw(VALUES)))
        elif kind == "delete":
            ops.append(DeleteRangeRequest(key))
        elif kind == "read":
            ops.append(RangeRequest(b"\x00", b"\x00"))
        else:
            compare = Compare(
                key, CompareTarget.VERSION, CompareResult.EQUAL, draw(st.integers(0, 2))
            )
            ops.append(
                TxnRequest((compare,), (PutRequest(key, b"then"),), (DeleteRangeRequest(key),))
            )
    return tuple(ops)


class StoreMatchesModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.store = MvccStore()
        self.model = Model()

    @rule(key=KEYS, value=VALUES, lease=LEASES)
    def put(self, key: bytes, value: bytes, lease: int) -> None:
        request = PutRequest(key, value, lease=lease, prev_kv=True)
        if lease and lease not in self.model.leases:
            with pytest.raises(LeaseNotFound):
                self.store.put(request)
            return
        previous = self.model.kv_at(key, self.model.revision)
        response = self.store.put(request)
        self.model.write([(key, value)], lease)
        assert response.revision == self.model.revision
        assert response.prev_kv == previous

    @rule(lease=LEASES.filter(bool))
    def grant(self, lease: int) -> None:
        request = LeaseGrantRequest(60, lease)
        if lease in self.model.leases:
            with pytest.raises(LeaseExists):
                self.store.lease_grant(request)
            return
        self.store.lease_grant(request)
        self.model.leases.add(lease)

    @rule(lease=LEASES.filter(bool))
    def revoke(self, lease: int) -> None:
        request = LeaseRevokeRequest(lease)
        if lease not in self.model.leases:
            with pytest.raises(LeaseNotFound):
                self.store.lease_revoke(request)
            return
        live = self.model.range_at(b"\x00", b"\x00", self.model.revision)
        response = self.store.lease_revoke(request)
        self.model.leases.remove(lease)
        self.model.write([(kv.key, None) for kv in live if kv.lease == lease])
        assert response.revision == self.model.revision

    @rule(key=KEYS, range_end=RANGE_ENDS)
    def delete(self, key: bytes, range_end: bytes) -> None:
        live = self.model.range_at(key, range_end, self.model.revision)
        response = self.store.delete_range(DeleteRangeRequest(key, range_end, prev_kv=True))
        self.model.write([(kv.key, None) for kv in live])
        assert response.deleted == len(live)
        assert list(response.prev_kvs) == live
        assert response.revision == self.model.revision

    @rule(key=KEYS, version=st.integers(0, 3), success=txn_branches(), failure=txn_branches())
    def txn(
        self,
        key: bytes,
        version: int,
        success: tuple[RequestOp, ...],
        failure: tuple[RequestOp, ...],
    ) -> None:
        compare = Compare(key, CompareTarget.VERSION, CompareResult.EQUAL, version)
        request = TxnRequest((compare,), success, failure)
        response = self.store.txn(request)
        self._check_txn(request, response, self.model.revision)
        self.model.commit()
        assert response.revision == self.model.revision

    def _check_txn(self, request: TxnRequest, response: TxnResponse, before: int) -> None:
        """Walk the branch taken beside the responses; every compare reads the state ``before``."""
        compare = request.compare[0]
        current = self.model.kv_at(compare.key, before)
        succeeded = (current.version if current else 0) == compare.operand
        assert response.succeeded is succeeded
        branch = request.success if succeeded else request.failure
        assert len(response.responses) == len(branch)
        for op, op_response in zip(branch, response.responses, strict=True):
            if isinstance(op, PutRequest):
                self.model.change(op.key, op.value)
            elif isinstance(op, DeleteRangeRequest):
                live = self.model.kv_at(op.key, self.model.view())
                if live is not None:
                    self.model.change(op.key, None)
                assert isinstance(op_response, DeleteRangeResponse)
                assert op_response.deleted == (live is not None)
            elif isinstance(op, RangeRequest):
                assert isinstance(op_response, RangeResponse)
                expected = self.model.range_at(op.key, op.range_end, self.model.view())
                assert list(op_response.kvs) == expected
            else:
                assert isinstance(op, TxnRequest)
                assert isinstance(op_response, TxnResponse)
                self._check_txn(op, op_response, before)

    @rule(
        key=KEYS,
        range_end=RANGE_ENDS,
        back=st.integers(-1, 12),
        limit=st.integers(0, 3),
    )
    def range(self, key: bytes, range_end: bytes, back: int, limit: int) -> None:
        revision = max(0, self.model.revision - back)
        request = RangeRequest(key, range_end, limit=limit, revision=revision)
        if revision > self.model.revision:
            self._expect_error(FutureRevision, request)
        elif 0 < revision < self.model.compact_revision:
            self._expect_error(Compacted, request)
        else:
            expected = self.model.range_at(key, range_end, revision or self.model.revision)
            response = self.store.range(request)
            shown = expected[:limit] if limit else expected
            assert list(response.kvs) == shown
            assert response.count == len(expected)
            assert response.more is (len(shown) < len(expected))
            assert response.revision == self.model.revision

    @rule(key=KEYS, range_end=RANGE_ENDS, back=st.integers(0, 12))
    def watch_history(self, key: bytes, range_end: bytes, back: int) -> None:
        start = max(1, self.model.revision - back)
        if start < self.model.compact_revision:
            with pytest.raises(Compacted):
                self.store.history(key, range_end, start)
            return
        events = self.store.history(key, range_end, start)
        got = [(event.type, event.kv.key, event.kv.mod_revision) for event in events]
        assert got == self.model.events(key, range_end, start)

    @rule(back=st.integers(-1, 6))
    def compact(self, back: int) -> None:
        revision = self.model.revision - back
        request = CompactionRequest(revision)
        if revision <= self.model.compact_revision:
            self._expect_compact_error(Compacted, request)
        elif revision > self.model.revision:
            self._expect_compact_error(FutureRevision, request)
        else:
            assert self.store.compact(request).revision == self.model.revision
            self.model.compact_revision = revision

    @invariant()
    def same_state(self) -> None:
        assert self.store.revision == self.model.revision
        assert self.store.compact_revision == self.model.compact_revision
        latest = self.store.range(RangeRequest(b"\x00", b"\x00")).kvs
        assert list(latest) == self.model.range_at(b"\x00", b"\x00", self.model.revision)

    def _expect_error(self, error: type[Exception], request: RangeRequest) -> None:
        try:
            self.store.range(request)
        except error:
            return
        raise AssertionError(f"expected {error.__name__} for {request}")

    def _expect_compact_error(self, error: type[Exception], request: CompactionRequest) -> None:
        try:
            self.store.compact(request)
        except error:
            return
        raise AssertionError(f"expected {error.__name__} for {request}")


StoreMatchesModel.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None
)
TestStoreMatchesModel = StoreMatchesModel.TestCase
