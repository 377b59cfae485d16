"""The MVCC store: one revision counter over the keyspace history, and etcd's KV requests.

Rules (etcd's mvcc, section 4 of the reference):
- An empty store is at revision 1. A write request that changes something (a put, a delete
  that matched, a txn with any change) raises the revision by exactly one; its changes take
  sub-revisions 0, 1, 2... in op order. Failed requests and deletes of nothing change nothing.
- Every check runs before the first write, so a refused request leaves no trace.
- ``compact_revision`` starts at -1 (never compacted); reads below it fail, reads at it work.
  Invariant: ``compact_revision <= revision``.
- Leases live in the lessor (no clock); revoking or expiring one deletes its keys at one revision.
- ``applied_index`` is the last log index applied (0 when fresh); ``note_applied`` advances it
  for every applied entry, whether or not it changed anything. It never moves back.

Durability (etcd's backend): reads are served from memory. Over a ``Backend``, every change also
goes into a pending batch, and ``flush`` commits that batch with the meta records (applied
index, revision, compact revision) in one backend transaction, so the applied index on disk
always describes exactly the data on disk. ``open`` rebuilds the store from a backend, after
which only the log entries after ``applied_index`` need replaying. ``snapshot`` and ``restore``
carry the same records as checksummed bytes (see ``snapshot``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass

from synod.core.errors import ConfigError, SynodError
from synod.kv.mvcc.backend import Backend, Batch
from synod.kv.mvcc.encoding import LEASE_BUCKET, META_BUCKET, encode_lease, encode_lease_id
from synod.kv.mvcc.errors import (
    Compacted,
    FutureRevision,
    KeyNotFound,
    KeyNotProvided,
    LeaseNotFound,
)
from synod.kv.mvcc.journal import Journal
from synod.kv.mvcc.keyspace import Keyspace
from synod.kv.mvcc.lessor import LEASE_TTL_SECONDS_MAX, Lessor
from synod.kv.mvcc.messages import (
    CompactionRequest,
    CompactionResponse,
    DeleteRangeRequest,
    DeleteRangeResponse,
    Event,
    HashKvResponse,
    LeaseGrantRequest,
    LeaseGrantResponse,
    LeaseKeepAliveRequest,
    LeaseKeepAliveResponse,
    LeaseRevokeRequest,
    LeaseRevokeResponse,
    LeaseTimeToLiveRequest,
    LeaseTimeToLiveResponse,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    RequestOp,
    ResponseOp,
    TxnRequest,
    TxnResponse,
)
from synod.kv.mvcc.reads import read_range
from synod.kv.mvcc.snapshot import decode_snapshot, encode_snapshot
from synod.kv.mvcc.state import StoreMeta, collector_paused, dump_state, load_state
from synod.kv.mvcc.txn import (
    TxnPath,
    check_key_request,
    check_put_request,
    check_txn_request,
    choose_path,
    ops_on_path,
)
from synod.kv.mvcc.watch import replay_events
from synod.kv.mvcc.writer import Writer

TXN_OPS_MAX_DEFAULT = 128
LEASE_TTL_SECONDS_MIN_DEFAULT = 2  # etcd's ceil(1.5 x election timeout) with its defaults


@dataclass(frozen=True, slots=True)
class MvccLimits:
    txn_ops_max: int = TXN_OPS_MAX_DEFAULT
    lease_ttl_seconds_min: int = LEASE_TTL_SECONDS_MIN_DEFAULT

    def __post_init__(self) -> None:
        if self.txn_ops_max < 1:
            raise ConfigError(f"txn_ops_max must be at least 1, not {self.txn_ops_max}")
        if not 1 <= self.lease_ttl_seconds_min <= LEASE_TTL_SECONDS_MAX:
            raise ConfigError(f"lease_ttl_seconds_min out of range: {self.lease_ttl_seconds_min}")


class AppliedIndexRegressed(SynodError):
    """``note_applied`` with an index below the one already applied."""


class MvccStore:
    def __init__(self, limits: MvccLimits | None = None, backend: Backend | None = None) -> None:
        """A fresh store; over ``backend`` (which must be empty: ``open`` loads one that is not)
        its changes are kept for ``flush``. Without one it lives in memory only."""
        self._limits = limits or MvccLimits()
        self._backend = backend
        self._journal = None if backend is None else Journal()
        self._leases = Lessor(self._limits.lease_ttl_seconds_min)
        self._keyspace = Keyspace(self._journal)
        self._revision = 1
        self._compact_revision = -1
        self._applied_index = 0
        self._flushed_meta: StoreMeta | None = None
        """What the backend's meta bucket holds; None: nothing yet."""

    @classmethod
    def open(cls, backend: Backend, limits: MvccLimits | None = None) -> MvccStore:
        """The store ``backend`` holds (a fresh one if it holds nothing); later changes go to
        it on ``flush``. Raises ``StateCorrupt`` when its records are not a store's."""
        store = cls(limits, backend)
        with collector_paused():
            buckets = backend.load()
            loaded = load_state(buckets, store._limits.lease_ttl_seconds_min, store._journal)
        if loaded is not None:
            store._install(loaded.meta, loaded.keyspace, loaded.leases)
        return store

    @classmethod
    def restore(
        cls, data: bytes, limits: MvccLimits | None = None, backend: Backend | None = None
    ) -> MvccStore:
        """The store ``snapshot`` bytes describe. Raises a ``StateCorrupt`` subclass naming the
        fault for bytes that are not a whole snapshot. With ``backend``, its previous contents
        are replaced by the snapshot's records in one commit before this returns."""
        store = cls(limits, backend)
        with collector_paused():
            buckets = decode_snapshot(data)
            loaded = load_state(buckets, store._limits.lease_ttl_seconds_min, store._journal)
        if loaded is not None:
            store._install(loaded.meta, loaded.keyspace, loaded.leases)
        if backend is not None:
            puts = tuple(
                (bucket, key, value)
                for bucket, records in sorted(dump_state(*store._state()).items())
                for key, value in records
            )
            backend.commit(Batch(puts, clear=True))
        return store

    def snapshot(self) -> bytes:
        """Every retained record, the leases and the meta (applied index included), as
        checksummed bytes; equal stores give equal bytes."""
        with collector_paused():
            return encode_snapshot(dump_state(*self._state()))

    def flush(self) -> bool:
        """Commit the changes since the last flush, with the current meta, in one backend
        transaction (the first flush commits the meta even of a fresh store). Returns whether
        there was anything to commit (False without a backend)."""
        if self._backend is None or self._journal is None:
            return False
        meta = self._meta()
        if not self._journal and meta == self._flushed_meta:
            return False
        meta_puts = [(META_BUCKET, key, value) for key, value in meta.records()]
        self._backend.commit(self._journal.batch(meta_puts))
        self._journal.clear()  # only once committed: a failed commit leaves the batch pending
        self._flushed_meta = meta
        assert not self._journal
        return True

    @property
    def revision(self) -> int:
        return self._revision

    @property
    def compact_revision(self) -> int:
        return self._compact_revision

    @property
    def applied_index(self) -> int:
        return self._applied_index

    def note_applied(self, index: int) -> None:
        """The log entry at ``index`` is applied (whether or not it changed anything)."""
        if index < self._applied_index:
            raise AppliedIndexRegressed(
                f"applied index {index} is below the {self._applied_index} already applied"
            )
        self._applied_index = index

    def range(self, request: RangeRequest) -> RangeResponse:
        check_key_request(request)
        self._check_read_revision(request.revision)
        at_main = request.revision if request.revision > 0 else self._revision
        return read_range(self._keyspace, request, at_main, self._revision)

    def put(self, request: PutRequest) -> PutResponse:
        check_put_request(request)
        self._check_lease(request.lease)
        self._check_ignore_flags(request)
        writer = self._writer()
        response = writer.put(request)
        self._commit(writer)
        return response

    def delete_range(self, request: DeleteRangeRequest) -> DeleteRangeResponse:
        check_key_request(request)
        writer = self._writer()
        response = writer.delete_range(request)
        return dataclasses.replace(response, revision=self._commit(writer))

    def txn(self, request: TxnRequest) -> TxnResponse:
        check_txn_request(request, self._limits.txn_ops_max)
        path = choose_path(self._keyspace, self._revision, request)
        for op in ops_on_path(request, path):
            if isinstance(op, PutRequest):
                self._check_ignore_flags(op)
                self._check_lease(op.lease)
            elif isinstance(op, RangeRequest):
                self._check_read_revision(op.revision)
        writer = self._writer()
        response = _apply_txn(writer, request, path)
        return _txn_with_revision(response, self._commit(writer))

    def compact(self, request: CompactionRequest) -> CompactionResponse:
        if request.revision <= self._compact_revision:
            raise Compacted
        if request.revision > self._revision:
            raise FutureRevision
        self._compact_revision = request.revision
        self._keyspace.compact(request.revision)
        assert self._compact_revision <= self._revision
        return CompactionResponse(self._revision)

    def hash_kv(self, revision: int = 0) -> HashKvResponse:
        """A digest of the retained history up to ``revision`` (0: the current one) and the
        compact revision: replicas that applied the same requests give the same bytes."""
        self._check_read_revision(revision)
        hash_revision = revision if revision > 0 else self._revision
        digest = self._keyspace.digest(hash_revision, self._compact_revision)
        return HashKvResponse(self._revision, digest, hash_revision, self._compact_revision)

    def lease_grant(self, request: LeaseGrantRequest) -> LeaseGrantResponse:
        """Granting makes no revision."""
        lease = self._leases.grant(request.id, request.ttl_seconds)
        if self._journal is not None:
            record = encode_lease(lease.id, lease.granted_ttl_seconds)
            self._journal.put(LEASE_BUCKET, encode_lease_id(lease.id), record)
        return LeaseGrantResponse(self._revision, lease.id, lease.granted_ttl_seconds)

    def lease_revoke(self, request: LeaseRevokeRequest) -> LeaseRevokeResponse:
        """Revoke (or expire) a lease: its keys are deleted, in key order, at one revision."""
        self._leases.remove(request.id)
        if self._journal is not None:
            self._journal.delete(LEASE_BUCKET, encode_lease_id(request.id))
        writer = self._writer()
        for key in self._attached(request.id):
            writer.delete_range(DeleteRangeRequest(key))
        return LeaseRevokeResponse(self._commit(writer))

    def lease_keep_alive(self, request: LeaseKeepAliveRequest) -> LeaseKeepAliveResponse:
        """Renewal resets a deadline only the shell keeps; the keyspace does not change."""
        lease = self._leases.lookup(request.id)
        ttl_seconds = 0 if lease is None else lease.granted_ttl_seconds
        return LeaseKeepAliveResponse(self._revision, request.id, ttl_seconds)

    def lease_time_to_live(self, request: LeaseTimeToLiveRequest) -> LeaseTimeToLiveResponse:
        lease = self._leases.lookup(request.id)
        if lease is None:
            return LeaseTimeToLiveResponse(self._revision, request.id, -1, 0)
        keys = tuple(self._attached(lease.id)) if request.keys else ()
        ttl = lease.granted_ttl_seconds
        return LeaseTimeToLiveResponse(self._revision, lease.id, ttl, ttl, keys)

    def lease_ids(self) -> list[int]:
        return self._leases.ids()

    def history(self, key: bytes, range_end: bytes, start_revision: int) -> list[Event]:
        """The events a watch on the range starting at ``start_revision`` replays first (none
        for 0, which watches only what comes after)."""
        if not key:
            raise KeyNotProvided
        if start_revision <= 0 or start_revision > self._revision:
            return []
        return replay_events(self._keyspace, self._compact_revision, key, range_end, start_revision)

    def _attached(self, lease_id: int) -> list[bytes]:
        return self._keyspace.keys_with_lease(lease_id, self._revision)

    def _meta(self) -> StoreMeta:
        return StoreMeta(
            self._applied_index, self._revision, self._compact_revision, self._leases.id_last
        )

    def _state(self) -> tuple[StoreMeta, Keyspace, Lessor]:
        return self._meta(), self._keyspace, self._leases

    def _install(self, meta: StoreMeta, keyspace: Keyspace, leases: Lessor) -> None:
        """Take a loaded state, which is what the backend (if any) holds."""
        self._applied_index = meta.applied_index
        self._revision = meta.revision
        self._compact_revision = meta.compact_revision
        self._keyspace, self._leases = keyspace, leases
        self._flushed_meta = meta
        assert self._compact_revision <= self._revision

    def _writer(self) -> Writer:
        return Writer(self._keyspace, self._revision)

    def _commit(self, writer: Writer) -> int:
        """Take the writer's revision if it changed anything; return the header revision."""
        if writer.changes > 0:
            assert writer.main == self._revision + 1
            self._revision = writer.main
        assert self._compact_revision <= self._revision
        return self._revision

    def _check_read_revision(self, revision: int) -> None:
        if revision > self._revision:
            raise FutureRevision
        if revision < self._compact_revision and revision > 0:
            raise Compacted

    def _check_lease(self, lease: int) -> None:
        if lease != 0 and lease not in self._leases:
            raise LeaseNotFound

    def _check_ignore_flags(self, request: PutRequest) -> None:
        if not (request.ignore_value or request.ignore_lease):
            return
        if self._keyspace.get(request.key, self._revision) is None:
            raise KeyNotFound


def _apply_txn(writer: Writer, request: TxnRequest, path: TxnPath) -> TxnResponse:
    branch = request.success if path.succeeded else request.failure
    nested = iter(path.nested)
    responses: list[ResponseOp] = []
    for op in branch:
        responses.append(_apply_op(writer, op, nested))
    return TxnResponse(0, path.succeeded, tuple(responses))


def _apply_op(writer: Writer, op: RequestOp, nested: Iterator[TxnPath]) -> ResponseOp:
    match op:
        case RangeRequest():
            return writer.range(op)
        case PutRequest():
            return writer.put(op)
        case DeleteRangeRequest():
            return writer.delete_range(op)
        case TxnRequest():
            return _apply_txn(writer, op, next(nested))
    raise AssertionError(f"checked before applying: {op!r}")


def _txn_with_revision(response: TxnResponse, revision: int) -> TxnResponse:
    """etcd gives a put inside a txn the txn's header revision; a range keeps the revision it
    read at, and a delete the one it answered with: both are the revision before the txn until
    the txn's first change (a delete of nothing ahead of any write reports the old revision)."""
    inner = tuple(_with_revision(nested, revision) for nested in response.responses)
    return dataclasses.replace(response, revision=revision, responses=inner)


def _with_revision(response: ResponseOp, revision: int) -> ResponseOp:
    if isinstance(response, TxnResponse):
        return _txn_with_revision(response, revision)
    if isinstance(response, RangeResponse | DeleteRangeResponse):
        return response
    return dataclasses.replace(response, revision=revision)
