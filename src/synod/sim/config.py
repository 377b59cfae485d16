"""What a simulation run is made of: its size, its length and the faults it injects.

Probabilities are per engine tick (for faults that start) or per message. Delays are in virtual
clock units (``UNITS_PER_TICK`` per tick). ``FaultProfile.swarm`` derives a random subset of
fault kinds with random intensities from a seed (swarm testing: a sweep covers many different
mixes instead of one average that hides rare interleavings).
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field

from synod.core.config import EngineConfig
from synod.core.errors import ConfigError
from synod.replica import ReplicaConfig
from synod.replica.leases import LeaseClockConfig
from synod.storage.wal import WalConfig

UNITS_PER_TICK = 100

FAULT_KINDS = (
    "loss",
    "duplicate",
    "delay_tail",
    "partition",
    "crash",
    "pause",
    "membership",
    "leader_crash",
)
"""Fault kinds a swarm profile picks from (all of them work on any disk)."""

DISK_FAULT_KINDS = ("disk_corruption",)
"""Faults only a WAL on a simulated disk can suffer; drawn from their own RNG in a swarm so the
memory-disk profiles of existing seeds stay as they were."""

DISK_KINDS = ("memory", "wal")
"""``memory``: ``MemoryStorage`` as the durable disk. ``wal``: the real ``WalStorage`` on a
``SimDisk`` that loses unsynced writes on a crash and whose recovery runs on every restart."""


@dataclass(frozen=True, slots=True)
class FaultProfile:
    delay_units_min: int = 5
    delay_units_max: int = 60
    delay_tail_probability: float = 0.01
    """A message takes the long tail: up to ``delay_tail_units_max`` instead."""
    delay_tail_units_max: int = 1500
    loss_probability: float = 0.02
    duplicate_probability: float = 0.01
    partition_probability: float = 0.004
    partition_ticks_max: int = 300
    crash_probability: float = 0.002
    restart_ticks_max: int = 200
    pause_probability: float = 0.002
    pause_ticks_max: int = 150
    membership_probability: float = 0.002
    leader_crash_probability: float = 0.05
    """A newly elected leader is crashed within ``leader_crash_ticks_max`` ticks."""
    leader_crash_ticks_max: int = 5
    disk_corruption_probability: float = 0.05
    """Per restart of a crashed node (WAL disks only): a bit flips in one of its segments."""
    fsync_units_min: int = 5
    fsync_units_max: int = 80
    down_nodes_max: int | None = None
    """Nodes crashed or paused at once; None means a minority of the cluster."""

    def validate(self) -> None:
        probabilities = [
            self.delay_tail_probability,
            self.loss_probability,
            self.duplicate_probability,
            self.partition_probability,
            self.crash_probability,
            self.pause_probability,
            self.membership_probability,
            self.leader_crash_probability,
            self.disk_corruption_probability,
        ]
        if not all(0.0 <= p <= 1.0 for p in probabilities):
            raise ConfigError("fault probabilities must lie in [0, 1]")
        if not 0 <= self.delay_units_min <= self.delay_units_max <= self.delay_tail_units_max:
            raise ConfigError("need 0 <= delay_units_min <= delay_units_max <= tail max")
        if not 0 <= self.fsync_units_min <= self.fsync_units_max:
            raise ConfigError("need 0 <= fsync_units_min <= fsync_units_max")
        if self.leader_crash_ticks_max < 0:
            raise ConfigError("leader_crash_ticks_max must be >= 0")
        if min(self.partition_ticks_max, self.restart_ticks_max, self.pause_ticks_max) < 1:
            raise ConfigError("fault durations must be at least one tick")

    @classmethod
    def reliable(cls) -> FaultProfile:
        """No faults at all: small delays and fsyncs only."""
        return cls(
            delay_tail_probability=0.0,
            loss_probability=0.0,
            duplicate_probability=0.0,
            partition_probability=0.0,
            crash_probability=0.0,
            pause_probability=0.0,
            membership_probability=0.0,
            leader_crash_probability=0.0,
            disk_corruption_probability=0.0,
        )

    @classmethod
    def swarm(cls, seed: int) -> FaultProfile:
        """A random subset of fault kinds at random intensities, derived from ``seed`` alone."""
        rng = random.Random(f"swarm:{seed}")
        enabled = {kind for kind in FAULT_KINDS if rng.random() < 0.6}
        base = cls.reliable()

        def pick(kind: str, low: float, high: float) -> float:
            return rng.uniform(low, high) if kind in enabled else 0.0

        return dataclasses.replace(
            base,
            delay_units_max=rng.choice((20, 60, 150)),
            delay_tail_probability=pick("delay_tail", 0.001, 0.05),
            loss_probability=pick("loss", 0.001, 0.2),
            duplicate_probability=pick("duplicate", 0.001, 0.1),
            partition_probability=pick("partition", 0.001, 0.02),
            partition_ticks_max=rng.choice((30, 100, 400)),
            crash_probability=pick("crash", 0.0005, 0.01),
            restart_ticks_max=rng.choice((20, 100, 400)),
            pause_probability=pick("pause", 0.0005, 0.01),
            pause_ticks_max=rng.choice((20, 100, 300)),
            membership_probability=pick("membership", 0.001, 0.01),
            leader_crash_probability=pick("leader_crash", 0.05, 0.5),
            fsync_units_max=rng.choice((10, 80, 300)),
            disk_corruption_probability=_swarm_disk_corruption(seed),
        )


def _swarm_disk_corruption(seed: int) -> float:
    rng = random.Random(f"swarm-disk:{seed}")
    return rng.uniform(0.01, 0.2) if rng.random() < 0.6 else 0.0


def _sim_engine_config() -> EngineConfig:
    """etcd's election timeout; heartbeats every other tick halve the idle message load (and
    the simulator's run time) while keeping a follower's timeout at five heartbeats or more."""
    return EngineConfig(election_timeout_ticks=10, heartbeat_interval_ticks=2)


def swarm_engine_config(seed: int) -> EngineConfig:
    """Engine knobs derived from ``seed`` alone, for sweeps: one-entry messages and a window
    of one keep followers lagging (the ground for commit-rule bugs), and PreVote and
    CheckQuorum are sometimes off, since safety must not rest on either."""
    rng = random.Random(f"swarm-engine:{seed}")
    return dataclasses.replace(
        _sim_engine_config(),
        message_bytes_max=rng.choice((1, 512, 1 << 20)),
        inflight_messages_max=rng.choice((1, 4, 64)),
        pre_vote=rng.random() < 0.75,
        check_quorum=rng.random() < 0.75,
    )


@dataclass(frozen=True, slots=True)
class SimConfig:
    seed: int = 0
    nodes: int = 5
    ticks: int = 4000
    faults: FaultProfile = field(default_factory=FaultProfile)
    heal_ticks: int | None = None
    """Length of the final healed phase (the liveness deadline); None picks ticks // 5."""
    heal_network: bool = True
    """False keeps the faulty network through the heal phase (to test the liveness check)."""
    clients: int = 4
    keys: int = 3
    request_timeout_ticks: int = 40
    client_think_ticks_max: int = 5
    request_attempts_max: int = 8
    engine_config: EngineConfig = field(default_factory=_sim_engine_config)
    replica_config: ReplicaConfig = field(
        default_factory=lambda: ReplicaConfig(snapshot_entries_threshold=200)
    )
    lease_clock_config: LeaseClockConfig = field(default_factory=LeaseClockConfig)
    """A tick is 0.1 s of lease time (etcd's heartbeat interval)."""
    check_linearizability: bool = True
    checker_budget_s: float = 20.0
    inbox_messages_max: int = 10_000
    """Messages (and requests) a paused node queues before dropping the oldest."""
    disk: str = "memory"
    """One of ``DISK_KINDS``: what each node's durable storage is."""
    wal_segment_bytes_max: int = 16 << 10
    """Small segments (for ``disk="wal"``), so runs roll and compact them, and a sync (which
    copies the file's image on a ``SimDisk``) stays cheap."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if self.nodes < 1:
            raise ConfigError(f"nodes must be at least 1 (got {self.nodes})")
        if self.ticks <= 0:
            raise ConfigError(f"ticks must be > 0 (got {self.ticks})")
        if self.heal_ticks is not None and not 0 < self.heal_ticks <= self.ticks:
            raise ConfigError("heal_ticks must lie in (0, ticks]")
        if self.clients < 0 or self.keys < 1:
            raise ConfigError("need clients >= 0 and keys >= 1")
        if self.request_timeout_ticks < 1 or self.request_attempts_max < 1:
            raise ConfigError("request_timeout_ticks and request_attempts_max must be >= 1")
        if self.client_think_ticks_max < 0:
            raise ConfigError("client_think_ticks_max must be >= 0")
        if self.disk not in DISK_KINDS:
            raise ConfigError(f"disk must be one of {', '.join(DISK_KINDS)} (got {self.disk!r})")
        self.wal_config()  # raises ConfigError for a segment size the WAL refuses
        self.faults.validate()

    def wal_config(self) -> WalConfig:
        return WalConfig(segment_bytes_max=self.wal_segment_bytes_max)

    @property
    def heal_tick(self) -> int:
        """The tick at which every fault is healed and the liveness deadline starts."""
        window = self.heal_ticks if self.heal_ticks is not None else max(1, self.ticks // 5)
        return self.ticks - window

    @property
    def down_nodes_max(self) -> int:
        limit = self.faults.down_nodes_max
        return (self.nodes - 1) // 2 if limit is None else limit
