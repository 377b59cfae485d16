"""Sans-IO glue between one consensus engine, its durable log and a state machine.

A ``Replica`` is what a runtime drives: the asyncio server on real disks and sockets, or the
simulator on simulated ones. It turns client requests into proposals and read-index requests,
and a ``Ready`` into state-machine applies and client replies (effects), in the contract's
order::

    ready = replica.ready()                  # one Ready at a time
    send(ready.early_messages)               # may leave before the fsync
    replica.persist(ready); fsync            # hard state, entries, snapshot, compaction
    send(ready.messages)                     # only after the fsync
    effects = replica.finish(ready)          # apply, answer reads, advance, maybe compact

``leases.LeaseClock`` is the leader's lease timer: deadlines in ticks, renewed by keep-alives
and on promotion, turned into ``LeaseExpire`` commands (``synod.kv.commands``) to propose.

Rules: pure. Import only ``synod.core``, ``synod.kv`` (the commands a lease clock proposes) and
the standard library's pure parts (and, in tests, any state machine). No asyncio, time,
random, os, threading or sockets (import-linter enforces it). Client input is checked and
answered with typed effects; internal invariants (applied never passes committed, entries
apply in order exactly once) are asserted.
"""

from synod.replica.command import Command, CommandError, decode_command, encode_command
from synod.replica.effects import Done, Effect, MembershipApplied, Redirected, Refused
from synod.replica.replica import DurableLog, Replica, ReplicaConfig, StateMachine

__all__ = [
    "Command",
    "CommandError",
    "Done",
    "DurableLog",
    "Effect",
    "MembershipApplied",
    "Redirected",
    "Refused",
    "Replica",
    "ReplicaConfig",
    "StateMachine",
    "decode_command",
    "encode_command",
]
