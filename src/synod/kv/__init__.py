"""A small deterministic key-value state machine: get, put, compare-and-swap, delete.

Rules: pure. Import only ``synod.core`` and the standard library's pure parts (``json``,
``hashlib``, ``dataclasses``). No clock, no randomness, no I/O: applying the same commands in
the same order gives the same state and the same snapshot bytes on every node. Malformed
commands are answered with a ``Rejected`` result (deterministically), never asserted on.

This is the stand-in the simulator and the replica tests use until etcd's MVCC keyspace lands
here; keep it small.
"""

from synod.kv.machine import (
    CompareAndSwap,
    Delete,
    Get,
    KvCommand,
    KvCommandError,
    KvMachine,
    KvResult,
    Put,
    Rejected,
    decode_command,
    encode_command,
)

__all__ = [
    "CompareAndSwap",
    "Delete",
    "Get",
    "KvCommand",
    "KvCommandError",
    "KvMachine",
    "KvResult",
    "Put",
    "Rejected",
    "decode_command",
    "encode_command",
]
