"""Running totals a node keeps for ``/metrics``: counters, and histograms with etcd's buckets.

Rules:
- Plain numbers updated in place by the node's own loop (one event loop, no locks). Nothing
  here reads a clock: callers measure and pass durations in seconds.
- A histogram keeps one count per bucket (not cumulative) plus the sum and count of all
  observations; the exposition makes the buckets cumulative, as Prometheus expects.
- Bucket bounds are etcd's (``etcd_disk_wal_fsync_duration_seconds`` and
  ``etcd_disk_backend_commit_duration_seconds``: 1 ms doubling 14 times), so dashboards built
  for etcd read Synod's figures the same way.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

DISK_BUCKETS_S: tuple[float, ...] = tuple(0.001 * 2**power for power in range(14))
"""Upper bounds of etcd's disk latency buckets: 0.001 s to 8.192 s."""


@dataclass(slots=True)
class Histogram:
    bounds: tuple[float, ...]
    """Upper bounds, increasing; observations above the last one count only in +Inf."""
    bucket_counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        assert list(self.bounds) == sorted(self.bounds), "bucket bounds must increase"
        if not self.bucket_counts:
            self.bucket_counts = [0] * len(self.bounds)
        assert len(self.bucket_counts) == len(self.bounds)

    def observe(self, value: float) -> None:
        index = bisect.bisect_left(self.bounds, value)
        if index < len(self.bounds):
            self.bucket_counts[index] += 1
        self.total += value
        self.count += 1

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, observations at or below it) per bucket, then (inf, count)."""
        running = 0
        pairs: list[tuple[float, int]] = []
        for bound, counted in zip(self.bounds, self.bucket_counts, strict=True):
            running += counted
            pairs.append((bound, running))
        pairs.append((float("inf"), self.count))
        assert running <= self.count
        return pairs


def disk_histogram() -> Histogram:
    return Histogram(DISK_BUCKETS_S)


@dataclass(slots=True)
class NodeMetrics:
    """What the node counts beyond what its engine, keyspace and transport already show."""

    leader_changes_seen: int = 0
    """Times this node saw a new leader (a change to a known, different leader)."""
    proposals_pending: int = 0
    """Writes proposed or forwarded by this node and not yet answered."""
    proposals_failed: int = 0
    """Writes that ended with a serving error (no leader, timed out, stopped...)."""
    wal_fsync_s: Histogram = field(default_factory=disk_histogram)
    """Duration of each WAL write-and-sync in the Ready loop."""
    backend_commit_s: Histogram = field(default_factory=disk_histogram)
    """Duration of each keyspace commit (one LMDB transaction for a batch of entries)."""
