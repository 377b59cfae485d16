"""etcd's Maintenance service over a ``Node``.

- ``version`` in Status is the etcd API level Synod serves (clients compare it to decide which
  calls they may make), not Synod's own release.
- Hash: etcd answers a CRC-32 over its whole bbolt file. Synod answers the CRC-32 (IEEE) of the
  keyspace's snapshot bytes (``MvccStore.snapshot``: every retained revision, the leases and the
  store's meta, applied index included), so like etcd's it differs between members that have
  applied different indexes and is meant for comparing members at rest.
- HashKV: the store's SHA-256 digest of the history up to the revision (0: current), reduced to
  etcd's uint32 as its first four bytes, big-endian; ``compact_revision`` is the store's. As in
  etcd, a revision at or below the compacted one is refused with the compacted error.
- Snapshot: a consistent compacted copy of the LMDB file (``LmdbBackend.copy_to``), streamed in
  32 KiB blobs with etcd's ``remaining_bytes``, then one last blob holding the SHA-256 of all
  the data (etcdctl 3.4 checks that the file ends with it; LMDB files are page-aligned, which
  the check also needs). The file is LMDB, not bbolt: etcdctl's offline ``snapshot status`` and
  ``snapshot restore`` cannot read it.
- Alarm: Synod raises NOSPACE for this member when its backend file has reached
  ``--quota-backend-bytes`` (the LMDB map size, so the file cannot outgrow it); GET lists it,
  DEACTIVATE acknowledges. Alarms are not replicated, so ACTIVATE is refused (etcd's "not
  capable").
- Defragment: succeeds without doing anything. LMDB reuses freed pages itself; a compacting
  copy would need the keyspace environment reopened under a running member.
- MoveLeader: only the leader hands leadership over (etcd's "not leader" elsewhere).
- Learners answer Status only, as etcd 3.4's do.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import zlib
from collections.abc import AsyncIterator

from synod.api.context import Context, ServiceBase
from synod.api.convert import header_to_pb
from synod.api.errors import NotCapable, NotSupportedForLearner
from synod.api.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from synod.api.grpc_server import GrpcServer
from synod.core.ids import NodeId
from synod.kv import mvcc
from synod.storage.kvdb import DATA_FILE_NAME

ETCD_API_VERSION = "3.4.0"
SNAPSHOT_BLOB_BYTES = 32 * 1024


class MaintenanceService(ServiceBase, rpc_pb2_grpc.MaintenanceServicer):
    async def Status(  # noqa: N802 - gRPC's method names
        self, request: rpc_pb2.StatusRequest, context: Context
    ) -> rpc_pb2.StatusResponse:
        async with self.serving(context):
            status = self.node.status()
            return rpc_pb2.StatusResponse(
                header=header_to_pb(status.revision, self.identity()),
                version=ETCD_API_VERSION,
                dbSize=status.db_size_bytes,
                dbSizeInUse=status.db_size_bytes,
                leader=status.leader,
                raftIndex=status.commit_index,
                raftTerm=status.term,
                raftAppliedIndex=status.applied_index,
                isLearner=status.is_learner,
            )
        raise AssertionError("unreachable: serving() aborts")

    def _refuse_learner(self) -> None:
        if self.node.status().is_learner:
            raise NotSupportedForLearner

    async def Hash(  # noqa: N802
        self, request: rpc_pb2.HashRequest, context: Context
    ) -> rpc_pb2.HashResponse:
        async with self.serving(context):
            self._refuse_learner()
            store = self.node.machine.store
            digest = zlib.crc32(store.snapshot())
            return rpc_pb2.HashResponse(
                header=header_to_pb(store.revision, self.identity()), hash=digest
            )
        raise AssertionError("unreachable: serving() aborts")

    async def HashKV(  # noqa: N802
        self, request: rpc_pb2.HashKVRequest, context: Context
    ) -> rpc_pb2.HashKVResponse:
        async with self.serving(context):
            self._refuse_learner()
            store = self.node.machine.store
            if 0 < request.revision <= store.compact_revision:
                raise mvcc.Compacted
            response = store.hash_kv(request.revision)
            return rpc_pb2.HashKVResponse(
                header=header_to_pb(response.revision, self.identity()),
                hash=kv_hash_u32(response.hash),
                compact_revision=response.compact_revision,
            )
        raise AssertionError("unreachable: serving() aborts")

    async def Snapshot(  # noqa: N802
        self, request: rpc_pb2.SnapshotRequest, context: Context
    ) -> AsyncIterator[rpc_pb2.SnapshotResponse]:
        async with self.serving(context):
            self._refuse_learner()
            data = await self._backend_copy()
        checksum = hashlib.sha256()
        total = len(data)
        for start in range(0, total, SNAPSHOT_BLOB_BYTES):
            blob = data[start : start + SNAPSHOT_BLOB_BYTES]
            checksum.update(blob)
            remaining = total - start - len(blob)
            yield rpc_pb2.SnapshotResponse(remaining_bytes=remaining, blob=blob)
        yield rpc_pb2.SnapshotResponse(remaining_bytes=0, blob=checksum.digest())

    async def _backend_copy(self) -> bytes:
        node = self.node
        parent = os.path.join(node.config.data_dir, "member")
        with tempfile.TemporaryDirectory(prefix="snapshot-", dir=parent) as scratch:
            target = os.path.join(scratch, "copy")
            await asyncio.to_thread(node.backend.copy_to, target)
            with open(os.path.join(target, DATA_FILE_NAME), "rb") as copy:
                return copy.read()

    async def MoveLeader(  # noqa: N802
        self, request: rpc_pb2.MoveLeaderRequest, context: Context
    ) -> rpc_pb2.MoveLeaderResponse:
        async with self.serving(context):
            self._refuse_learner()
            await self.node.move_leader(NodeId(request.targetID))
            revision = self.node.machine.store.revision
            return rpc_pb2.MoveLeaderResponse(header=header_to_pb(revision, self.identity()))
        raise AssertionError("unreachable: serving() aborts")

    async def Alarm(  # noqa: N802
        self, request: rpc_pb2.AlarmRequest, context: Context
    ) -> rpc_pb2.AlarmResponse:
        async with self.serving(context):
            self._refuse_learner()
            if request.action == rpc_pb2.AlarmRequest.ACTIVATE:
                raise NotCapable
            alarms = self._alarms()
            if request.action == rpc_pb2.AlarmRequest.DEACTIVATE:
                return rpc_pb2.AlarmResponse()
            wanted = [
                alarm
                for alarm in alarms
                if request.memberID in (0, alarm.memberID)
                and request.alarm in (rpc_pb2.NONE, alarm.alarm)
            ]
            return rpc_pb2.AlarmResponse(alarms=wanted)
        raise AssertionError("unreachable: serving() aborts")

    def _alarms(self) -> list[rpc_pb2.AlarmMember]:
        node = self.node
        if node.backend.size_bytes() >= node.config.quota_backend_bytes:
            return [rpc_pb2.AlarmMember(memberID=node.member_id, alarm=rpc_pb2.NOSPACE)]
        return []

    async def Defragment(  # noqa: N802
        self, request: rpc_pb2.DefragmentRequest, context: Context
    ) -> rpc_pb2.DefragmentResponse:
        async with self.serving(context):
            self._refuse_learner()
            revision = self.node.machine.store.revision
            return rpc_pb2.DefragmentResponse(header=header_to_pb(revision, self.identity()))
        raise AssertionError("unreachable: serving() aborts")


def kv_hash_u32(digest: bytes) -> int:
    """etcd's HashKV is a uint32: the first four bytes of the store's digest, big-endian."""
    return int.from_bytes(digest[:4], "big")


def register(server: GrpcServer, service: MaintenanceService) -> None:
    server.add(rpc_pb2_grpc.add_MaintenanceServicer_to_server, service)
