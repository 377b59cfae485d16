"""Raft, sans-IO: see ``engine.py`` for the rules it keeps.

Modules: ``engine`` (the state machine), ``log`` (durable + unstable log view), ``progress``
(per-follower flow control), ``reads`` (ReadIndex), ``membership`` (configuration history),
``messages`` (the wire vocabulary and its readable form), ``wire`` (its versioned byte encoding
for the peer transport).
"""

from synod.consensus.raft.engine import RaftEngine

__all__ = ["RaftEngine"]
