"""Durable storage: the write-ahead log and snapshots, behind a ``Disk`` seam.

Rules: every file access goes through ``Disk`` (the OS implementation, or the simulator's,
which loses unsynced writes on a crash and can tear, flip and misdirect them). Imports only
``synod.core`` and the standard library, plus the CRC32C package.

Modules: ``disk`` (the seam, ``OsDisk``, ``SimDisk``), ``records`` (the record format),
``recovery`` (replay, and the decision table for damaged logs), ``wal`` (segments, group
commit, compaction), ``snapshot_file`` (atomic snapshot files) and ``wal_storage`` (the
engine's ``LogStorage`` and the replica's ``DurableLog`` on all of the above).
"""
