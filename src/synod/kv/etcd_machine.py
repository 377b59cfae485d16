"""``EtcdMachine``: etcd's MVCC keyspace as the replicated state machine.

Rules:
- ``apply`` decodes one logged request (``synod.kv.commands``) and runs it on the store. A
  request the keyspace refuses gives its ``MvccError`` as the result, and bytes that do not
  decode give the ``CommandDecodeError``: both are results, computed the same way on every
  replica, never a crash. The store checks a request fully before writing, so a refused request
  leaves no trace.
- ``LeaseExpireRequest`` revokes the lease if it still exists and is a no-op otherwise (a lease
  revoked meanwhile, or an expiry proposed twice by two leaders).
- ``read`` serves a ``RangeRequest`` only; it never changes the store.
- ``lease_changes`` counts applied requests that may have changed the set of leases, so a
  leader's lease clock resynchronizes only when it moved.
- Nothing here reads a clock: time lives in the leader's lease clock (``synod.replica.leases``).
- Member commands (``synod.kv.members``, told apart by their first byte) change the member
  table, never the keyspace. The table travels with the keyspace: in the snapshot (a small
  envelope, ``MACHINE_MAGIC``, in front of the store's snapshot; a machine with an empty table
  gives the store's snapshot unchanged) and, over a backend, in its own bucket committed in the
  same transaction as the keyspace and its applied index (``open`` wraps the backend so).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Mapping

from synod.kv.commands import CommandDecodeError, KvRequest, LeaseExpireRequest, decode
from synod.kv.members import (
    MEMBERS_BUCKET,
    MembersChanged,
    MemberTable,
    decode_member_command,
    decode_table,
    encode_table,
    is_member_command,
    table_from_records,
)
from synod.kv.mvcc import (
    CompactionRequest,
    CompactionResponse,
    DeleteRangeRequest,
    DeleteRangeResponse,
    LeaseGrantRequest,
    LeaseGrantResponse,
    LeaseRevokeRequest,
    LeaseRevokeResponse,
    LeaseTimeToLiveRequest,
    MvccError,
    MvccLimits,
    MvccStore,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    TxnRequest,
    TxnResponse,
)
from synod.kv.mvcc.backend import Backend, Batch, Records
from synod.kv.mvcc.encoding import StateCorrupt

EtcdResponse = (
    RangeResponse
    | PutResponse
    | DeleteRangeResponse
    | TxnResponse
    | CompactionResponse
    | LeaseGrantResponse
    | LeaseRevokeResponse
)
EtcdResult = EtcdResponse | MembersChanged | MvccError | CommandDecodeError
"""What ``apply`` and ``read`` return: a response, or the error every replica answers alike."""

MACHINE_MAGIC = b"SETC"
MACHINE_SNAPSHOT_VERSION = 1
_ENVELOPE = struct.Struct(">4sBII")
"""magic, version, member table length, CRC-32 of the member table; the store's snapshot follows."""


class NotAQuery(CommandDecodeError):
    """A read query that decodes, but to a request that writes."""


class EtcdMachine:
    """The replicated keyspace. Only ``apply`` (and ``restore``) change it."""

    def __init__(
        self,
        limits: MvccLimits | None = None,
        store: MvccStore | None = None,
        backend: Backend | None = None,
    ) -> None:
        """An empty keyspace in memory; or ``store``, opened over ``backend``, which
        ``restore`` then rewrites (a durable machine)."""
        self._limits = limits
        self._backend = backend
        self.store = store if store is not None else MvccStore(limits)
        self.members = MemberTable()
        self.lease_changes = 0
        self.leases_expired = 0
        """Expiries that found their lease and revoked it (this machine's life only)."""

    @classmethod
    def open(cls, backend: Backend, limits: MvccLimits | None = None) -> EtcdMachine:
        """The durable machine ``backend`` holds: the keyspace and the member table."""
        machine = cls(limits)
        wrapped = _WithMembers(backend, lambda: machine.members)
        machine._backend = wrapped
        machine.store = MvccStore.open(wrapped, limits)
        machine.members = table_from_records(wrapped.member_records)
        return machine

    def flush(self) -> None:
        """Commit what applied since the last flush (keyspace, meta and member table) at once."""
        if not self.store.flush() and (self.members.changed or self.members.cluster_id_changed):
            backend = self._backend
            if isinstance(backend, _WithMembers):
                backend.commit(Batch())

    def apply(self, command: bytes) -> EtcdResult:
        if is_member_command(command):
            try:
                return self.members.apply(decode_member_command(command))
            except CommandDecodeError as error:
                return error
        try:
            request = decode(command)
        except CommandDecodeError as error:
            return error
        try:
            return self.execute(request)
        except MvccError as error:
            return error

    def execute(self, request: KvRequest) -> EtcdResponse:
        """Run one decoded request; raises the store's ``MvccError`` if it refuses it."""
        store = self.store
        match request:
            case RangeRequest():
                return store.range(request)
            case PutRequest():
                return store.put(request)
            case DeleteRangeRequest():
                return store.delete_range(request)
            case TxnRequest():
                return store.txn(request)
            case CompactionRequest():
                return store.compact(request)
        return self._lease(request)

    def _lease(
        self, request: LeaseGrantRequest | LeaseRevokeRequest | LeaseExpireRequest
    ) -> LeaseGrantResponse | LeaseRevokeResponse:
        store = self.store
        self.lease_changes += 1
        match request:
            case LeaseGrantRequest():
                return store.lease_grant(request)
            case LeaseRevokeRequest():
                return store.lease_revoke(request)
            case LeaseExpireRequest(lease_id):
                if lease_id not in store.lease_ids():
                    return LeaseRevokeResponse(store.revision)
                response = store.lease_revoke(LeaseRevokeRequest(lease_id))
                self.leases_expired += 1
                return response

    def read(self, query: bytes) -> EtcdResult:
        """Serve a range; any other query is refused with ``NotAQuery``."""
        try:
            request = decode(query)
        except CommandDecodeError as error:
            return error
        if not isinstance(request, RangeRequest):
            return NotAQuery(f"{type(request).__name__} is not a read")
        try:
            return self.store.range(request)
        except MvccError as error:
            return error

    def leases(self) -> dict[int, int]:
        """Every lease that exists, with the TTL (seconds) it was granted."""
        store = self.store
        return {
            lease_id: store.lease_time_to_live(LeaseTimeToLiveRequest(lease_id)).ttl_seconds
            for lease_id in store.lease_ids()
        }

    def hash_kv(self) -> bytes:
        """The keyspace digest at the current revision (equal on replicas at one index)."""
        return self.store.hash_kv().hash

    def note_applied(self, index: int) -> None:
        """The log entry at ``index`` applied (a command, a no-op or a membership change)."""
        self.store.note_applied(index)

    @property
    def applied_index(self) -> int:
        """The last log index applied; a snapshot restores it with the keyspace."""
        return self.store.applied_index

    def snapshot(self) -> bytes:
        """The store's own checksummed snapshot (keyspace, leases, applied index), behind the
        member table's envelope when the table holds anything."""
        store = self.store.snapshot()
        if not self.members.rows and not self.members.cluster_id:
            return store
        table = encode_table(self.members)
        header = _ENVELOPE.pack(
            MACHINE_MAGIC, MACHINE_SNAPSHOT_VERSION, len(table), zlib.crc32(table)
        )
        return header + table + store

    def restore(self, data: bytes) -> None:
        """Replace the keyspace and member table with a snapshot's; empty bytes are the empty
        keyspace. Raises ``StateCorrupt`` for bytes that are not a snapshot."""
        table, data = _split_envelope(data)
        self.members.replace(table)
        if data:
            self.store = MvccStore.restore(data, self._limits, self._backend)
        elif self._backend is not None:
            self.store = MvccStore.restore(
                MvccStore(self._limits).snapshot(), self._limits, self._backend
            )
        else:
            self.store = MvccStore(self._limits)
        self.lease_changes += 1


def _split_envelope(data: bytes) -> tuple[MemberTable, bytes]:
    """(member table, store snapshot) of a machine snapshot (see the module docstring)."""
    if data[: len(MACHINE_MAGIC)] != MACHINE_MAGIC:
        return MemberTable(), data
    if len(data) < _ENVELOPE.size:
        raise StateCorrupt(f"machine snapshot of {len(data)} bytes, shorter than its header")
    _, version, length, crc = _ENVELOPE.unpack_from(data)
    if version != MACHINE_SNAPSHOT_VERSION:
        raise StateCorrupt(f"machine snapshot version {version}, this build reads 1")
    table = data[_ENVELOPE.size : _ENVELOPE.size + length]
    if len(table) != length or zlib.crc32(table) != crc:
        raise StateCorrupt("machine snapshot's member table is truncated or damaged")
    return decode_table(table), data[_ENVELOPE.size + length :]


class _WithMembers:
    """A backend as the store sees it (without the member bucket), whose every commit also
    writes the member table's changes (all of it when the commit clears the backend)."""

    def __init__(self, backend: Backend, table: Callable[[], MemberTable]) -> None:
        self._backend = backend
        self._table = table
        self.member_records: Records = ()

    def load(self) -> Mapping[bytes, Records]:
        buckets = dict(self._backend.load())
        self.member_records = buckets.pop(MEMBERS_BUCKET, ())
        return buckets

    def commit(self, batch: Batch) -> None:
        table = self._table()
        puts, deletes = table.pending_changes()
        if batch.clear:
            puts, deletes = table.all_records(), []
        merged = Batch(
            tuple(sorted([*batch.puts, *((MEMBERS_BUCKET, key, value) for key, value in puts)])),
            tuple(sorted([*batch.deletes, *((MEMBERS_BUCKET, key) for key in deletes)])),
            batch.clear,
        )
        self._backend.commit(merged)
        table.changes_committed()
