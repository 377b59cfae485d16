"""etcd's Cluster service (MemberList, MemberAdd, MemberRemove, MemberUpdate, MemberPromote).

Rules (etcd 3.4, reference section 2.5):
- Members are listed sorted by ID, served from this member's view (as etcd 3.4 does); a member
  added but not started yet has an empty name and no client URLs.
- A new member's ID is computed from its peer URLs and the cluster token as at bootstrap
  (``synod.server.config.member_id``), so the member started with those URLs and
  ``--initial-cluster-state existing`` finds itself under the ID MemberAdd answered.
- Checks before any change, with etcd's texts: URLs must parse as ``http://host:port``
  ("given member URLs are invalid"); a peer URL another member uses ("Peer URLs already
  exists"); an unknown ID ("member not found"); promoting a voter ("can only promote a learner
  member"); a second learner ("too many learner members in cluster"); promoting a learner
  whose log is not within 10% of the leader's ("...which is in sync with leader").
- Quorum protection (etcd's strict reconfiguration check, on the member that takes the call):
  adding a voter while this member is not connected to every other voter, or removing a
  connected voter when the voters left connected would not make a quorum, is refused with
  "unhealthy cluster"; adding a voter when fewer voters have started (published their name)
  than the new quorum is refused with "not enough started members".
- MemberAdd logs the peer URLs into the member table, then the membership change; MemberRemove
  changes the membership, then drops the table row (best effort: a row left behind is never
  listed). Each answers once the membership change applied here.
- Learners serve none of these calls (etcd 3.4's "rpc not supported for learner").
- An engine with a fixed membership refuses MemberAdd, MemberRemove and MemberPromote with
  UNIMPLEMENTED and a text naming the engine (etcd has no such refusal), before anything
  changes; MemberList and MemberUpdate (a table row, not the membership) still work.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from synod.api.context import Context, ServiceBase
from synod.api.convert import header_to_pb
from synod.api.errors import (
    MemberBadUrls,
    MemberExists,
    MemberNotEnoughStarted,
    MemberNotFound,
    MemberNotLearner,
    NotSupportedForLearner,
    PeerUrlExists,
    TooManyLearners,
    Unhealthy,
)
from synod.api.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from synod.api.grpc_server import GrpcServer
from synod.core.errors import ConfigError
from synod.core.ids import NodeId
from synod.core.log import ChangeKind, MembershipChange
from synod.kv.members import URLS_MAX, MemberForget, MemberSet
from synod.server.config import Member, host_port, member_id
from synod.server.errors import MembershipRejected, ServingError

logger = logging.getLogger("synod.api")

LEARNERS_MAX = 1
"""etcd 3.4 allows one learner at a time."""


def member_to_pb(member: Member) -> rpc_pb2.Member:
    return rpc_pb2.Member(
        ID=member.node_id,
        name=member.name,
        peerURLs=list(member.peer_urls),
        clientURLs=list(member.client_urls),
        isLearner=member.is_learner,
    )


def checked_urls(urls: list[str]) -> tuple[str, ...]:
    """The peer URLs of a request, each ``http://host:port``; ``MemberBadUrls`` otherwise."""
    if not urls or len(urls) > URLS_MAX:
        raise MemberBadUrls
    for url in urls:
        try:
            host_port(url, "peer URL")
            path = urlsplit(url).path
        except (ConfigError, ValueError):
            raise MemberBadUrls from None
        if path not in ("", "/"):
            raise MemberBadUrls
    return tuple(urls)


class ClusterService(ServiceBase, rpc_pb2_grpc.ClusterServicer):
    def _header(self) -> rpc_pb2.ResponseHeader:
        return header_to_pb(0, self.identity())

    def _members(self) -> list[rpc_pb2.Member]:
        return [member_to_pb(member) for member in self.node.cluster_members()]

    def _refuse_learner(self) -> None:
        if self.node.status().is_learner:
            raise NotSupportedForLearner

    def _member(self, node: int) -> Member:
        for member in self.node.cluster_members():
            if member.node_id == node:
                return member
        raise MemberNotFound

    def _refuse_taken_urls(self, urls: tuple[str, ...], owner: int = 0) -> None:
        for member in self.node.cluster_members():
            if member.node_id != owner and set(urls) & set(member.peer_urls):
                raise PeerUrlExists

    def _connected(self, node: int) -> bool:
        return node == self.node.member_id or self.node.transport.is_connected(NodeId(node))

    def _refuse_unsafe_add(self) -> None:
        members = self.node.cluster_members()
        voters = [member for member in members if not member.is_learner]
        started = sum(1 for member in voters if member.name)
        if started < (len(voters) + 1) // 2 + 1:
            raise MemberNotEnoughStarted
        if not all(self._connected(member.node_id) for member in voters):
            raise Unhealthy

    def _refuse_unsafe_remove(self, removed: Member) -> None:
        if removed.is_learner or not self._connected(removed.node_id):
            return  # a learner or a member that is down is not part of the active quorum
        voters = [m for m in self.node.cluster_members() if not m.is_learner]
        active = sum(1 for member in voters if self._connected(member.node_id))
        if active - 1 < 1 + (len(voters) - 1) // 2:
            raise Unhealthy

    async def _change(self, change: MembershipChange) -> None:
        try:
            await self.node.change_membership(change)
        except MembershipRejected:
            if change.kind in (ChangeKind.ADD_VOTER, ChangeKind.ADD_LEARNER):
                raise MemberExists from None
            raise MemberNotFound from None

    async def MemberList(  # noqa: N802 - gRPC's method names
        self, request: rpc_pb2.MemberListRequest, context: Context
    ) -> rpc_pb2.MemberListResponse:
        async with self.serving(context):
            self._refuse_learner()
            return rpc_pb2.MemberListResponse(header=self._header(), members=self._members())
        raise AssertionError("unreachable: serving() aborts")

    async def MemberAdd(  # noqa: N802
        self, request: rpc_pb2.MemberAddRequest, context: Context
    ) -> rpc_pb2.MemberAddResponse:
        async with self.serving(context):
            self._refuse_learner()
            urls = checked_urls(list(request.peerURLs))
            self._refuse_taken_urls(urls)
            node = member_id(urls, self.node.config.cluster_token)
            membership = self.node.membership()
            if node in membership.members:
                raise MemberExists
            if request.isLearner and len(membership.learners) >= LEARNERS_MAX:
                raise TooManyLearners
            if not request.isLearner:
                self._refuse_unsafe_add()
            self.node.check_membership_changes(node)  # before the member row is written
            await self.node.write_member(MemberSet(node, "", urls, ()))
            kind = ChangeKind.ADD_LEARNER if request.isLearner else ChangeKind.ADD_VOTER
            await self._change(MembershipChange(kind, node))
            added = Member(node, "", urls, (), request.isLearner)
            return rpc_pb2.MemberAddResponse(
                header=self._header(), member=member_to_pb(added), members=self._members()
            )
        raise AssertionError("unreachable: serving() aborts")

    async def MemberRemove(  # noqa: N802
        self, request: rpc_pb2.MemberRemoveRequest, context: Context
    ) -> rpc_pb2.MemberRemoveResponse:
        async with self.serving(context):
            self._refuse_learner()
            removed = self._member(request.ID)
            self._refuse_unsafe_remove(removed)
            node = NodeId(removed.node_id)
            await self._change(MembershipChange(ChangeKind.REMOVE, node))
            if node != self.node.member_id:
                try:
                    await self.node.write_member(MemberForget(node))
                except ServingError as error:
                    logger.warning("member %x removed; its row stays: %s", node, error)
            return rpc_pb2.MemberRemoveResponse(header=self._header(), members=self._members())
        raise AssertionError("unreachable: serving() aborts")

    async def MemberUpdate(  # noqa: N802
        self, request: rpc_pb2.MemberUpdateRequest, context: Context
    ) -> rpc_pb2.MemberUpdateResponse:
        async with self.serving(context):
            self._refuse_learner()
            node = self._member(request.ID).node_id
            urls = checked_urls(list(request.peerURLs))
            self._refuse_taken_urls(urls, owner=node)
            await self.node.write_member(MemberSet(node, None, urls, None))
            return rpc_pb2.MemberUpdateResponse(header=self._header(), members=self._members())
        raise AssertionError("unreachable: serving() aborts")

    async def MemberPromote(  # noqa: N802
        self, request: rpc_pb2.MemberPromoteRequest, context: Context
    ) -> rpc_pb2.MemberPromoteResponse:
        async with self.serving(context):
            self._refuse_learner()
            member = self._member(request.ID)
            if not member.is_learner:
                raise MemberNotLearner
            change = MembershipChange(ChangeKind.PROMOTE_LEARNER, member.node_id)
            await self._change(change)
            return rpc_pb2.MemberPromoteResponse(header=self._header(), members=self._members())
        raise AssertionError("unreachable: serving() aborts")


def register(server: GrpcServer, service: ClusterService) -> None:
    server.add(rpc_pb2_grpc.add_ClusterServicer_to_server, service)
