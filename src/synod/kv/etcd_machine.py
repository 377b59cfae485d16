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
"""

from __future__ import annotations

from synod.kv.commands import CommandDecodeError, KvRequest, LeaseExpireRequest, decode
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
from synod.kv.mvcc.backend import Backend

EtcdResponse = (
    RangeResponse
    | PutResponse
    | DeleteRangeResponse
    | TxnResponse
    | CompactionResponse
    | LeaseGrantResponse
    | LeaseRevokeResponse
)
EtcdResult = EtcdResponse | MvccError | CommandDecodeError
"""What ``apply`` and ``read`` return: a response, or the error every replica answers alike."""


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
        self.lease_changes = 0
        self.leases_expired = 0
        """Expiries that found their lease and revoked it (this machine's life only)."""

    def apply(self, command: bytes) -> EtcdResult:
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
        """The store's own checksummed snapshot (keyspace, leases, applied index)."""
        return self.store.snapshot()

    def restore(self, data: bytes) -> None:
        """Replace the keyspace with a snapshot's; empty bytes are the empty keyspace."""
        if data:
            self.store = MvccStore.restore(data, self._limits, self._backend)
        elif self._backend is not None:
            self.store = MvccStore.restore(
                MvccStore(self._limits).snapshot(), self._limits, self._backend
            )
        else:
            self.store = MvccStore(self._limits)
        self.lease_changes += 1
