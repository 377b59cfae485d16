"""Leases without a clock: which lease IDs exist and the TTL each was granted.

Time never enters here. Expiry is a command (the leader's shell, which owns the clock, proposes
it when a lease's deadline passes), and the remaining TTL a client asks for is the shell's to
compute from its own deadlines; this layer answers with the granted TTL. Keys attached to a
lease are not stored twice: they are the live keys whose ``lease`` field names it.

etcd picks an unset lease ID before raft; here the ID is picked when the grant is applied, as one
more than the largest ID granted so far, so every replica picks the same one.
"""

from __future__ import annotations

from dataclasses import dataclass

from synod.kv.mvcc.errors import LeaseExists, LeaseNotFound, LeaseTtlTooLarge

LEASE_TTL_SECONDS_MAX = 9_000_000_000
LEASE_ID_MAX = (1 << 63) - 1


@dataclass(frozen=True, slots=True)
class Lease:
    id: int
    granted_ttl_seconds: int


class Lessor:
    def __init__(self, ttl_seconds_min: int) -> None:
        assert 1 <= ttl_seconds_min <= LEASE_TTL_SECONDS_MAX
        self._ttl_seconds_min = ttl_seconds_min
        self._leases: dict[int, Lease] = {}
        self._id_last = 0

    @classmethod
    def restored(cls, ttl_seconds_min: int, leases: list[Lease], id_last: int) -> Lessor:
        """The lessor that held ``leases`` after granting IDs up to ``id_last``."""
        lessor = cls(ttl_seconds_min)
        lessor._leases = {lease.id: lease for lease in leases}
        lessor._id_last = id_last
        assert all(lease_id <= id_last for lease_id in lessor._leases), (id_last, leases)
        return lessor

    @property
    def id_last(self) -> int:
        """The largest ID granted so far (revoked or not): the next picked ID is one more."""
        return self._id_last

    def leases(self) -> list[Lease]:
        return [self._leases[lease_id] for lease_id in sorted(self._leases)]

    def __contains__(self, lease_id: object) -> bool:
        return lease_id in self._leases

    def lookup(self, lease_id: int) -> Lease | None:
        return self._leases.get(lease_id)

    def ids(self) -> list[int]:
        return sorted(self._leases)

    def grant(self, lease_id: int, ttl_seconds: int) -> Lease:
        """Grant ``lease_id`` (0 or less: pick one); TTLs below the minimum are raised to it."""
        if ttl_seconds > LEASE_TTL_SECONDS_MAX:
            raise LeaseTtlTooLarge
        if lease_id <= 0:
            lease_id = self._id_last + 1
        if lease_id in self._leases:
            raise LeaseExists
        assert lease_id <= LEASE_ID_MAX, lease_id
        lease = Lease(lease_id, max(ttl_seconds, self._ttl_seconds_min))
        self._leases[lease_id] = lease
        self._id_last = max(self._id_last, lease_id)
        assert lease_id in self
        return lease

    def remove(self, lease_id: int) -> Lease:
        lease = self._leases.pop(lease_id, None)
        if lease is None:
            raise LeaseNotFound
        return lease
