"""A deterministic simulator: the real engine, replica and state machine in a seeded world.

Everything that is not protocol code is simulated: a virtual clock (``UNITS_PER_TICK`` units
per engine tick, so message and fsync delays can be fractions of a tick), a network that delays,
loses, duplicates and partitions messages, disks whose writes are lost on a crash until their
fsync completes, and clients whose history is checked for linearizability at the end. One
``random.Random(seed)`` owned by the world decides everything, and one scheduler (a priority
queue keyed by time and sequence number) owns all ordering, so a seed replays byte for byte.

With ``SimConfig.disk="wal"`` each node runs the real WAL (``synod.storage``) on a ``SimDisk``:
a crash loses unsynced writes (maybe tearing the last one), every restart runs recovery, and a
node whose log recovery refuses stays down for the rest of the run.

Rules: may import ``synod.replica``, ``synod.kv``, ``synod.check``, ``synod.storage``,
``synod.consensus`` and ``synod.core``; never ``synod.server`` (a sibling) or ``synod.cli``.
Randomness comes only from the world's RNG (and RNGs derived from it); the wall clock is read
only to report speed.
"""

from synod.sim.config import FaultProfile, SimConfig
from synod.sim.result import SimResult, SimStats
from synod.sim.world import simulate

__all__ = ["FaultProfile", "SimConfig", "SimResult", "SimStats", "simulate"]
