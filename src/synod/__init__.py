"""Synod: a replicated key-value and coordination service with pluggable consensus.

Layers point down only (enforced by import-linter in ``make check``)::

    cli
    sim                 deterministic world driving replicas over simulated network and disk
    replica             sans-IO glue: engine + log storage + state machine -> effects
    kv | check          state machines | linearizability checker
    consensus           sans-IO engines (raft/) and shared quorum math
    core                ids, entries, the engine contract, limits, errors
"""

__version__ = "0.1.0"
