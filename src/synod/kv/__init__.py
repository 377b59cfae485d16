"""The replicated state machine: etcd's MVCC keyspace, its log encoding, and the machine.

- ``mvcc``: the keyspace (revisions, history, Range/Put/DeleteRange/Txn/Compact, leases).
- ``commands``: the byte encoding of the requests that travel through the log, and of reads.
- ``etcd_machine``: ``EtcdMachine``, the replica's state machine over an ``MvccStore``.
- ``members``: the cluster's member table (names and URLs), replicated beside the keyspace.

Rules: pure. Import only ``synod.core``, this package, ``msgspec`` and the standard library's
pure parts. No clock, no randomness, no I/O: applying the same commands in the same order gives
the same keyspace, the same results and the same snapshot bytes on every node. A request the
keyspace refuses, or bytes that do not decode, give a typed error as the result, never a crash.
"""

from synod.kv.commands import CommandDecodeError, KvRequest, LeaseExpireRequest, decode, encode
from synod.kv.etcd_machine import EtcdMachine, EtcdResponse, EtcdResult, NotAQuery

__all__ = [
    "CommandDecodeError",
    "EtcdMachine",
    "EtcdResponse",
    "EtcdResult",
    "KvRequest",
    "LeaseExpireRequest",
    "NotAQuery",
    "decode",
    "encode",
]
