"""``LeaseClock``: the leader's deadline for every lease, and the expiries it proposes.

The keyspace knows which leases exist and the TTL each was granted; only the leader knows when
they run out. Time is a tick count (``tick_seconds`` long each); nothing here reads a clock.

Rules (etcd's lessor):
- Only a leader keeps deadlines; ``step_down`` drops them all, a follower keeps none.
- ``promote`` (this node became leader) gives every lease a full TTL from now: the keep-alives
  the previous leader received are unknown here, so none may expire early.
- A lease first seen while leading (``sync``, after a grant applies) gets a full TTL from then;
  a lease gone from the keyspace (revoked, expired) loses its deadline.
- ``keep_alive`` renews a lease to a full TTL from now, unless it has already expired.
- ``tick`` returns each lease whose deadline has passed, once: its expiry is then in flight,
  and a leader's proposal either applies (the lease leaves the keyspace, so ``sync`` drops
  it) or is lost only with the leadership (``step_down`` drops every deadline). So it is not
  proposed again while it waits in the log, however long a slow or lagging quorum makes that:
  re-proposing it on a timer would add entries faster than such a quorum chooses them, and
  every client write would queue behind them. Only a proposal the engine refused outright
  (``refused``) is retried, ``expire_retry_ticks`` later.
- A lease whose expiry is in flight cannot be renewed: ``keep_alive`` answers 0 (etcd's
  answer for an expired lease), as the revocation will apply whatever the client does.
- A TTL of t seconds lasts ceil(t / tick_seconds) ticks, at least one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from synod.core.errors import ConfigError
from synod.kv.commands import LeaseExpireRequest, encode


@dataclass(frozen=True, slots=True)
class LeaseClockConfig:
    tick_seconds: float = 0.1
    """etcd's default heartbeat interval: 100 ms."""
    expire_retry_ticks: int = 20
    """How long after the engine refused an expiry's proposal the clock proposes it again."""

    def __post_init__(self) -> None:
        if not self.tick_seconds > 0:
            raise ConfigError(f"tick_seconds must be > 0 (got {self.tick_seconds})")
        if self.expire_retry_ticks < 1:
            raise ConfigError("expire_retry_ticks must be >= 1")


@dataclass(slots=True)
class _Deadline:
    ttl_seconds: int
    tick: int
    proposed: bool = False
    """Its expiry is in flight: it passed ``tick`` and was returned by ``LeaseClock.tick``."""


class LeaseClock:
    def __init__(self, config: LeaseClockConfig | None = None) -> None:
        self.config = config or LeaseClockConfig()
        self.now_ticks = 0
        self.leading = False
        self._deadlines: dict[int, _Deadline] = {}

    def __len__(self) -> int:
        return len(self._deadlines)

    def ttl_ticks(self, ttl_seconds: int) -> int:
        return max(1, math.ceil(ttl_seconds / self.config.tick_seconds))

    def deadline(self, lease_id: int) -> int | None:
        """The tick at which ``lease_id`` expires (None: not tracked here)."""
        found = self._deadlines.get(lease_id)
        return None if found is None else found.tick

    def promote(self, leases: Mapping[int, int]) -> None:
        """This node became leader: every lease (id -> granted TTL) gets a full TTL."""
        self.leading = True
        self._deadlines = {
            lease_id: self._full(ttl_seconds) for lease_id, ttl_seconds in sorted(leases.items())
        }

    def step_down(self) -> None:
        self.leading = False
        self._deadlines.clear()

    def sync(self, leases: Mapping[int, int]) -> None:
        """Follow the keyspace's leases: new ones get a full TTL, gone ones are dropped."""
        if not self.leading:
            return
        deadlines = self._deadlines
        for lease_id in [lease_id for lease_id in deadlines if lease_id not in leases]:
            del deadlines[lease_id]
        for lease_id, ttl_seconds in sorted(leases.items()):
            if lease_id not in deadlines:
                deadlines[lease_id] = self._full(ttl_seconds)
        assert len(deadlines) == len(leases)

    def keep_alive(self, lease_id: int) -> int | None:
        """Renew ``lease_id``; its granted TTL, 0 when it expired (its expiry is in flight),
        or None when not leading or not known."""
        found = self._deadlines.get(lease_id) if self.leading else None
        if found is None:
            return None
        if found.proposed:
            return 0
        found.tick = self.now_ticks + self.ttl_ticks(found.ttl_seconds)
        return found.ttl_seconds

    def remaining_seconds(self, lease_id: int, granted_ttl_seconds: int) -> int:
        """Seconds left by this leader's clock (rounded up); the full TTL when not tracked."""
        found = self._deadlines.get(lease_id) if self.leading else None
        if found is None:
            return granted_ttl_seconds
        left_ticks = max(0, found.tick - self.now_ticks)
        return min(granted_ttl_seconds, math.ceil(left_ticks * self.config.tick_seconds))

    def tick(self) -> list[int]:
        """Advance one tick; the leases whose deadline just passed, to be proposed expired
        (each once, see the module's rules)."""
        self.now_ticks += 1
        if not self.leading:
            assert not self._deadlines, "a follower keeps no lease deadlines"
            return []
        now = self.now_ticks
        expired = sorted(i for i, d in self._deadlines.items() if not d.proposed and d.tick <= now)
        for lease_id in expired:
            self._deadlines[lease_id].proposed = True
        return expired

    def refused(self, lease_id: int) -> None:
        """The engine refused to propose ``lease_id``'s expiry: propose it again later."""
        found = self._deadlines.get(lease_id)
        if found is not None and found.proposed:
            found.proposed = False
            found.tick = self.now_ticks + self.config.expire_retry_ticks

    def _full(self, ttl_seconds: int) -> _Deadline:
        return _Deadline(ttl_seconds, self.now_ticks + self.ttl_ticks(ttl_seconds))


def expire_command(lease_id: int) -> bytes:
    """The command a leader proposes to expire ``lease_id``."""
    return encode(LeaseExpireRequest(lease_id))
