"""The member side of a ``Node``: who the members are, changing them, dialing them.

Rules:
- The membership (voters and learners, by ID) is the engine's; each member's name and URLs are
  the replicated member table (``synod.kv.members``, whose docstring gives the design). A
  member the table does not know yet is described from ``--initial-cluster``.
- Changes need an engine that supports them (``synod.server.engines``); with one that does not,
  ``check_membership_changes`` (and so ``change_membership``) raises ``MembershipUnsupported``
  before anything is proposed. An engine may also refuse a new member it cannot run with the
  current ones (Multi-Paxos: two members sharing a ballot owner): ``MemberRefused``, checked
  before the member row is written.
- ``change_membership`` proposes at the leader (a follower forwards it in a ``PeerCall``) and
  returns once the change has applied on this node. The leader refuses to promote a learner
  whose log is not within 10% of its own (etcd's readiness rule).
- Adding a member makes every node fold its log into a snapshot when the change applies
  (``Replica.compact_now``). A newcomer with an empty log is always sent the leader's snapshot
  (the founders' configuration lives only in the bootstrap snapshot at index 1), but until a
  first compaction that snapshot is the bootstrap one, whose state machine is empty: it lacks
  the member table the founders seeded outside the log. The fresh snapshot carries it.
- Peers: after every applied batch the transport is reconciled with the membership: new
  members are dialed, removed ones dropped (after a short grace so that the removal notice
  leaves), members whose peer URLs changed are dialed again at the new address.
- A member that learns it was removed (it applies its removal, or the leader's ``REMOVED``
  notice arrives) sets ``removed``; ``synod serve`` then stops, as etcd does.
- Once started, a member publishes its name and client URLs through the log until the table
  shows them (etcd's attribute publication).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from synod.core.errors import ProposalDropped
from synod.core.ids import NodeId
from synod.core.log import ChangeKind, Membership, MembershipChange, MembershipError
from synod.kv.etcd_machine import EtcdMachine, EtcdResult
from synod.kv.members import MemberCommand, MemberRecord, MemberSet, encode_member_command
from synod.replica import Replica
from synod.server.config import Member, NodeConfig, host_port
from synod.server.engines import EngineKind, ServerEngine
from synod.server.errors import (
    LearnerNotReady,
    MembershipRejected,
    RequestTimeout,
    ServerStopped,
)
from synod.server.peer_calls import CallKind, PeerCall, PeerReply
from synod.server.transport import Transport

logger = logging.getLogger("synod.server")

LEARNER_READY_FRACTION = 0.9
"""etcd promotes a learner only once its log reaches 90% of the leader's."""
REMOVAL_GRACE_S = 2.0
"""How long a removed member stays dialed, so the removal notice reaches it."""
PUBLISH_RETRY_S = 0.5

_NOT_READY = "not ready"
_REJECTED = "rejected: "
_RETRY = "retry: "


class ClusterMembership:
    """Mixed into ``Node``: the attributes below are the node's."""

    config: NodeConfig
    member_id: NodeId
    engine: ServerEngine
    engine_kind: EngineKind
    machine: EtcdMachine
    transport: Transport
    replica: Replica[EtcdResult]
    removed: asyncio.Event
    _dialed: dict[NodeId, tuple[str, int]]
    _reconciling: bool
    _stopping: bool
    _tasks: list[asyncio.Task[None]]

    _leader: Callable[[float], Coroutine[Any, Any, NodeId]]
    _call: Callable[[NodeId, CallKind, bytes, float], Coroutine[Any, Any, PeerReply]]
    _replicate: Callable[[bytes], Coroutine[Any, Any, EtcdResult]]
    _wake: Callable[[], None]

    # -- views -----------------------------------------------------------------------------------

    @property
    def cluster_id(self) -> int:
        return self.machine.members.cluster_id or self.config.cluster_id

    def membership(self) -> Membership:
        """The engine's; before this node has any (a joiner), the one it was started with."""
        membership = self.engine.membership
        if membership.members:
            return membership
        return Membership(frozenset(member.node_id for member in self.config.members))

    def cluster_members(self) -> list[Member]:
        """Every member, sorted by ID, with its name and URLs as the cluster agrees on them."""
        membership = self.membership()
        return [
            self._describe(node, node in membership.learners) for node in sorted(membership.members)
        ]

    def _describe(self, node: NodeId, is_learner: bool) -> Member:
        record = self.machine.members.rows.get(node)
        if record is None:
            record = self._founder_record(node)
        return Member(node, record.name, record.peer_urls, record.client_urls, is_learner)

    def _founder_record(self, node: NodeId) -> MemberRecord:
        for member in self.config.members:
            if member.node_id == node:
                return MemberRecord(member.name, member.peer_urls)
        return MemberRecord()

    def seed_members(self) -> None:
        """A new cluster's founders write the same table from ``--initial-cluster``."""
        if self.config.new_cluster and not self.machine.members.cluster_id:
            founders: dict[int, MemberRecord] = {
                m.node_id: MemberRecord(m.name, m.peer_urls) for m in self.config.members
            }
            self.machine.members.seed(self.config.cluster_id, founders)

    # -- changes ---------------------------------------------------------------------------------

    async def write_member(self, command: MemberCommand) -> None:
        """Log a member table change and wait until it applies here."""
        result = await self._replicate(encode_member_command(command))
        if isinstance(result, BaseException):
            raise result

    def check_membership_changes(self, adding: NodeId | None = None) -> None:
        """Raise ``MembershipUnsupported`` when this cluster's engine cannot change members,
        or ``MemberRefused`` when it cannot run ``adding`` alongside the current members."""
        self.engine_kind.check_change(self.membership().members, adding)

    async def change_membership(self, change: MembershipChange) -> None:
        """Have the leader propose ``change``; return once it applied on this node."""
        self.check_membership_changes()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.request_timeout_ms / 1000
        pause = self.config.heartbeat_ms / 1000
        while not _visible(change, self.engine.membership):
            leader = await self._leader(deadline)
            if leader == self.member_id:
                reason = self.propose_change(change)
            else:
                reply = await self._call(
                    leader, CallKind.CHANGE_MEMBERSHIP, change.encode(), deadline
                )
                reason = "" if reply.ok else reply.payload.decode(errors="replace")
            if reason == _NOT_READY:
                raise LearnerNotReady("learner is not in sync with the leader")
            if reason.startswith(_REJECTED):
                raise MembershipRejected(reason.removeprefix(_REJECTED))
            if reason == "":
                break
            if loop.time() >= deadline:
                raise RequestTimeout("membership change timed out")
            await asyncio.sleep(pause)
        while not _visible(change, self.engine.membership):
            if self._stopping:
                raise ServerStopped("the server is stopping")
            if loop.time() >= deadline:
                raise RequestTimeout("membership change timed out")
            await asyncio.sleep(pause)

    def propose_change(self, change: MembershipChange) -> str:
        """At the leader: propose ``change``; "" once taken, else why not (see the prefixes)."""
        if _visible(change, self.engine.membership):
            return ""
        if change.kind is ChangeKind.PROMOTE_LEARNER and not self._learner_ready(change.node):
            return _NOT_READY
        try:
            self.engine.change_membership(change)
        except MembershipError as error:
            return _REJECTED + str(error)
        except ProposalDropped as error:
            return _RETRY + str(error)
        self._wake()
        return ""

    def _learner_ready(self, node: NodeId) -> bool:
        progress = self.engine.progress(node)
        if progress is None:
            return False
        return progress.match >= LEARNER_READY_FRACTION * self.engine.last_index

    def answer_membership_call(self, call: PeerCall) -> tuple[bool, bytes]:
        """A peer's CHANGE_MEMBERSHIP or REMOVED call: (ok, payload) of the reply."""
        if call.kind is CallKind.REMOVED:
            if call.source in self.engine.membership.members:
                self.on_removed()
            return True, b""
        try:
            change = MembershipChange.decode(call.payload)
        except MembershipError as error:
            return False, (_REJECTED + str(error)).encode()
        reason = self.propose_change(change)
        return reason == "", reason.encode()

    # -- reacting to applied changes -------------------------------------------------------------

    def on_membership_applied(self, change: MembershipChange) -> None:
        if change.kind in (ChangeKind.ADD_VOTER, ChangeKind.ADD_LEARNER):
            self.replica.compact_now()
        if change.kind is ChangeKind.REMOVE and change.node == self.member_id:
            self.on_removed()
        elif change.kind is ChangeKind.REMOVE and change.node in self._dialed:
            self.transport.send(PeerCall(self.member_id, change.node, 0, CallKind.REMOVED, b""))

    def on_removed(self) -> None:
        if not self.removed.is_set():
            logger.warning("member %x was removed from the cluster; stopping", self.member_id)
            self.removed.set()

    def reconcile_peers(self) -> None:
        """Dial the members this node does not dial yet; drop or redial the others."""
        if self._reconciling or self._stopping:
            return
        if self._wanted_peers() != self._dialed:
            self._reconciling = True
            self._tasks.append(asyncio.create_task(self._reconcile(), name="peers"))

    def _wanted_peers(self) -> dict[NodeId, tuple[str, int]]:
        wanted: dict[NodeId, tuple[str, int]] = {}
        for member in self.cluster_members():
            if member.node_id != self.member_id and member.peer_urls:
                wanted[member.node_id] = host_port(member.peer_urls[0], "peer URL")
        return wanted

    async def _reconcile(self) -> None:
        try:
            for _ in range(8):  # bounded: changes arriving meanwhile are picked up again
                wanted = self._wanted_peers()
                if wanted == self._dialed:
                    return
                await self._reconcile_once(wanted)
        finally:
            self._reconciling = False

    async def _reconcile_once(self, wanted: dict[NodeId, tuple[str, int]]) -> None:
        gone = [node for node in self._dialed if node not in wanted]
        moved = [
            node for node in wanted if node in self._dialed and wanted[node] != self._dialed[node]
        ]
        if gone:
            await asyncio.sleep(REMOVAL_GRACE_S)
        for node in [*gone, *moved]:
            with contextlib.suppress(Exception):
                await self.transport.remove_peer(node)
            self._dialed.pop(node, None)
            logger.info("member %x: stopped dialing %x", self.member_id, node)
        for node, (host, port) in self._wanted_peers().items():
            if node not in self._dialed:
                self.transport.add_peer(node, host, port)
                self._dialed[node] = (host, port)
                logger.info("member %x: dialing %x at %s:%d", self.member_id, node, host, port)

    # -- publishing this member's attributes ------------------------------------------------------

    async def publish_loop(self) -> None:
        """Log this member's name and client URLs until the table shows them."""
        wanted = MemberSet(
            self.member_id, self.config.name, None, tuple(self.config.advertise_client_urls)
        )
        while True:
            record = self.machine.members.rows.get(self.member_id)
            published = record is not None and (record.name, record.client_urls) == (
                wanted.name,
                wanted.client_urls,
            )
            if published:
                return
            if self.member_id in self.engine.membership.members:
                try:
                    await self.write_member(wanted)
                except Exception as error:  # retried: the cluster may be electing
                    logger.debug("publishing member attributes failed: %r", error)
            await asyncio.sleep(PUBLISH_RETRY_S)


def _visible(change: MembershipChange, membership: Membership) -> bool:
    """Whether ``membership`` already reflects ``change``."""
    match change.kind:
        case ChangeKind.ADD_VOTER | ChangeKind.PROMOTE_LEARNER:
            return change.node in membership.voters
        case ChangeKind.ADD_LEARNER:
            return change.node in membership.learners
        case ChangeKind.REMOVE:
            return change.node not in membership.members
