"""What a run reports: its violations, counters of what happened, and its trace hash."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class SimStats:
    """Counters the world bumps as it runs; read at the end, printed by the CLI."""

    ticks: int = 0
    events: int = 0
    elections: int = 0
    """Terms in which some node became leader."""
    leader_changes: int = 0
    """Times the known leader became a different node."""
    commits: int = 0
    """Highest index known committed."""
    messages_sent: int = 0
    messages_delivered: int = 0
    messages_dropped: int = 0
    messages_duplicated: int = 0
    message_kinds: Counter[str] = field(default_factory=Counter)
    """Messages sent, by type."""
    fsyncs: int = 0
    """Readies that had to reach the disk before their messages could leave."""
    faults: Counter[str] = field(default_factory=Counter)
    crashes: int = 0
    restarts: int = 0
    corrupt_nodes: int = 0
    repaired_nodes: int = 0
    """Nodes whose WAL failed recovery at a restart and were kept down for the rest of the run."""
    nodes_added: int = 0
    """New nodes (fresh ids, empty storage) brought in by membership changes."""
    snapshots_installed: int = 0
    compactions: int = 0
    lease_expiries_proposed: int = 0
    """LeaseExpire commands leaders proposed when a lease's deadline passed."""
    keyspace_hashes_compared: int = 0
    """Keyspace hashes sampled at an applied index another node had sampled first."""
    acked_puts_checked: int = 0
    """(node, acknowledged put) pairs read back at the put's revision."""
    operations_ok: int = 0
    operations_failed: int = 0
    operations_unknown: int = 0
    operations_checked: int = 0
    verdict: str = "not checked"
    wall_time_s: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(slots=True)
class SimResult:
    seed: int
    violations: list[str]
    stats: SimStats
    trace_hash: str

    @property
    def ok(self) -> bool:
        return not self.violations
