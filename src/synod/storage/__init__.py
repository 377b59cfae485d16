"""Durable storage: the write-ahead log and snapshots behind a ``Disk`` seam, and the
keyspace's LMDB backend.

Rules: every file access of the log and snapshots goes through ``Disk`` (the OS
implementation, or the simulator's, which loses unsynced writes on a crash and can tear, flip
and misdirect them). Imports only ``synod.core`` and the standard library, plus the CRC32C
package and, in ``kvdb`` alone, LMDB. ``kvdb`` is the one module that reaches files directly:
LMDB maps its file itself, so the keyspace backend cannot run on ``Disk``; runs without real
files (tests, simulations) use ``synod.kv.mvcc.MemoryBackend`` in its place.

Modules: ``disk`` (the seam, ``OsDisk``, ``SimDisk``), ``records`` (the record format),
``recovery`` (replay, and the decision table for damaged logs), ``wal`` (segments, group
commit, compaction), ``snapshot_file`` (atomic snapshot files) and ``wal_storage`` (the
engine's ``LogStorage`` and the replica's ``DurableLog`` on all of the above), ``kvdb`` (the
MVCC keyspace's backend on LMDB; it does not import ``synod.kv``).
"""
