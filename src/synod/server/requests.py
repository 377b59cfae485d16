"""The request side of a ``Node``: client writes, reads, leases and leader moves, and the calls
peers make of it.

Rules:
- ``write``: proposed here when leading; otherwise sent to the leader in a ``PeerCall`` whose
  command names this node as origin, so this node answers when the entry applies here (the
  leader replies only to refuse it, and a refused write is tried again). Without a leader, it
  waits for one (bounded by the request timeout).
- ``read``: linearizable through the engine's ReadIndex (a follower asks the leader); or
  serializable, from this node's keyspace as it is.
- Leases: only the leader keeps deadlines; keep-alives and remaining TTLs are asked of it.
- ``move_leader``: only the leader hands leadership over, and only to another voter.
- Every wait is bounded by ``request_timeout_ms``; a request that times out may still apply.
- A request waits on a future kept by its request ID (``_pending``), settled when the Ready loop
  applies or refuses it; a forwarded write's future is also kept by call ID (``_forwards``), and
  the leader's refusal fails it; a question to the leader waits for the reply (``_calls``).
- Peers' calls are answered here: a follower refuses all but ``REMOVED``; the leader proposes a
  forwarded write (replying only to refuse it), answers lease questions by its own clock, and
  leaves membership calls to ``synod.server.membership``.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING

from synod.core.engine import Message
from synod.core.errors import NotLeader as EngineNotLeader
from synod.core.errors import ProposalDropped
from synod.core.ids import NO_NODE, NodeId
from synod.kv import commands
from synod.kv.etcd_machine import EtcdMachine, EtcdResult
from synod.kv.mvcc import RangeRequest
from synod.replica import Replica
from synod.replica.effects import Effect, Redirected, Refused
from synod.replica.leases import LeaseClock
from synod.server.config import NodeConfig
from synod.server.engines import ServerEngine
from synod.server.errors import (
    BadTransferee,
    LeaderChanged,
    NoLeader,
    NotLeader,
    RequestTimeout,
    RequestTooLarge,
    ServerStopped,
    ServingError,
    TooManyRequests,
)
from synod.server.metrics import NodeMetrics
from synod.server.peer_calls import CallKind, PeerCall, PeerReply
from synod.server.transport import Transport


def _expire(future: asyncio.Future[EtcdResult]) -> None:
    if not future.done():
        future.set_exception(RequestTimeout("request timed out"))


class ForwardRefused(Exception):
    """The leader refused a proposal forwarded to it (it did not propose it): try again."""


class ClientRequests:
    """Mixed into ``Node``: the attributes below are the node's."""

    config: NodeConfig
    member_id: NodeId
    machine: EtcdMachine
    leases: LeaseClock
    metrics: NodeMetrics
    transport: Transport
    _pending: dict[bytes, asyncio.Future[EtcdResult]]
    _calls: dict[int, asyncio.Future[PeerReply]]
    _forwards: dict[int, asyncio.Future[EtcdResult]]
    _counter: itertools.count[int]
    _stopping: bool

    _live_replica: Callable[[], Replica[EtcdResult]]
    _live_engine: Callable[[], ServerEngine]
    _request_id: Callable[[], bytes]
    _wake: Callable[[], None]
    answer_membership_call: Callable[[PeerCall], tuple[bool, bytes]]

    if TYPE_CHECKING:  # the node's views

        @property
        def leader(self) -> NodeId: ...

        @property
        def is_leader(self) -> bool: ...

    # -- requests --------------------------------------------------------------------------------

    async def write(self, request: commands.KvRequest) -> EtcdResult:
        """Replicate ``request``; its result once applied here. Raises ``ServingError``."""
        payload = commands.encode(request)
        if len(payload) > self.config.max_request_bytes:
            raise RequestTooLarge("request is too large")
        return await self._replicate(payload)

    async def _replicate(self, payload: bytes) -> EtcdResult:
        replica = self._live_replica()
        request_id = self._request_id()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.request_timeout_ms / 1000
        self.metrics.proposals_pending += 1
        try:
            while True:
                future: asyncio.Future[EtcdResult] = loop.create_future()
                self._pending[request_id] = future
                call_id = await self._propose_or_forward(request_id, payload, future, deadline)
                if call_id is not None:
                    try:
                        return await self._until(future, deadline)
                    except ForwardRefused:
                        replica.abandon(request_id)  # the leader did not propose it
                    finally:
                        self._forwards.pop(call_id, None)
                if loop.time() >= deadline:
                    raise RequestTimeout("request timed out")
                await asyncio.sleep(self.config.heartbeat_ms / 1000)
        except ServingError:
            self.metrics.proposals_failed += 1
            raise
        finally:
            self.metrics.proposals_pending -= 1
            self._pending.pop(request_id, None)
            replica.abandon(request_id)

    async def _propose_or_forward(
        self,
        request_id: bytes,
        payload: bytes,
        future: asyncio.Future[EtcdResult],
        deadline: float,
    ) -> int | None:
        """Propose here (0), or send it to the leader to propose for us (the call's id, > 0);
        None to try again shortly. A forward is not waited for: the leader answers only a
        refusal, which fails ``future`` with ``ForwardRefused``."""
        replica = self._live_replica()
        effects = replica.submit(request_id, payload)
        self._wake()
        if self._first_failure(effects) is None:
            return 0
        leader = await self._leader(deadline)
        if leader == self.member_id:
            return None  # leading already, but refused for now (a transfer under way)
        envelope = replica.expect(request_id, payload)
        call_id = next(self._counter)
        self._forwards[call_id] = future
        self.transport.send(PeerCall(self.member_id, leader, call_id, CallKind.PROPOSE, envelope))
        return call_id

    async def read(self, request: RangeRequest, *, serializable: bool = False) -> EtcdResult:
        """A range, linearizable (ReadIndex) or serializable (this node's keyspace as is).

        A linearizable read the engine refuses (leadership could not be confirmed, say during
        an election) is asked again until the request timeout, as etcd does."""
        query = commands.encode(request)
        if serializable:
            return self.machine.read(query)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.request_timeout_ms / 1000
        while True:
            try:
                return await self._read_once(query, deadline)
            except LeaderChanged:
                if loop.time() >= deadline:
                    raise RequestTimeout("request timed out") from None
                await asyncio.sleep(self.config.heartbeat_ms / 1000)

    async def _read_once(self, query: bytes, deadline: float) -> EtcdResult:
        replica = self._live_replica()
        request_id = self._request_id()
        future: asyncio.Future[EtcdResult] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            while True:
                effects = replica.read(request_id, query)
                self._wake()
                if self._first_failure(effects) is None:
                    break
                await self._leader(deadline)
                await asyncio.sleep(self.config.heartbeat_ms / 1000)
            return await self._until(future, deadline)
        finally:
            self._pending.pop(request_id, None)
            replica.abandon(request_id)

    def _first_failure(self, effects: list[Effect[EtcdResult]]) -> Redirected | Refused | None:
        for effect in effects:
            if isinstance(effect, Refused) and effect.reason == "too many pending requests":
                raise TooManyRequests(effect.reason)
            if isinstance(effect, Redirected | Refused):
                return effect
        return None

    async def keep_alive(self, lease_id: int) -> int:
        """Renew a lease at the leader; its granted TTL, or 0 when it does not exist."""
        return await self._lease_call(CallKind.KEEP_ALIVE, lease_id)

    async def time_to_live(self, lease_id: int) -> int:
        """Seconds left on a lease by the leader's clock; -1 when it does not exist."""
        return await self._lease_call(CallKind.TIME_TO_LIVE, lease_id)

    async def _lease_call(self, kind: CallKind, lease_id: int) -> int:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.request_timeout_ms / 1000
        while True:
            leader = await self._leader(deadline)
            if leader == self.member_id:
                return self._lease_answer(kind, lease_id)
            reply = await self._call(leader, kind, lease_id.to_bytes(8, "big"), deadline)
            if reply.ok:
                return int.from_bytes(reply.payload, "big", signed=True)
            await asyncio.sleep(self.config.heartbeat_ms / 1000)

    def _lease_answer(self, kind: CallKind, lease_id: int) -> int:
        granted = self.machine.leases().get(lease_id)
        if granted is None:
            return 0 if kind is CallKind.KEEP_ALIVE else -1
        if kind is CallKind.KEEP_ALIVE:
            renewed = self.leases.keep_alive(lease_id)
            return granted if renewed is None else renewed
        return self.leases.remaining_seconds(lease_id, granted)

    async def move_leader(self, target: NodeId) -> None:
        engine = self._live_engine()
        if not self.is_leader:
            raise NotLeader("not the leader")
        if target == self.member_id or target not in engine.membership.voters:
            raise BadTransferee("bad leader transferee")
        engine.transfer_leadership(target)
        self._wake()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.request_timeout_ms / 1000
        while loop.time() < deadline:
            if engine.leader == target:
                return
            await asyncio.sleep(self.config.heartbeat_ms / 1000)
        raise RequestTimeout("leadership transfer timed out")

    # -- waiting ---------------------------------------------------------------------------------

    async def _until(self, future: asyncio.Future[EtcdResult], deadline: float) -> EtcdResult:
        """The future's result; ``RequestTimeout`` once ``deadline`` passes. A timer that
        fails the future is cheaper per request than an ``asyncio.timeout`` scope, which
        cancels the whole task when it fires."""
        timer = asyncio.get_running_loop().call_at(deadline, _expire, future)
        try:
            return await future
        finally:
            timer.cancel()

    async def _leader(self, deadline: float) -> NodeId:
        """The leader, once one is known; ``NoLeader`` if none appears before ``deadline``."""
        loop = asyncio.get_running_loop()
        while True:
            if self._stopping:
                raise ServerStopped("the server is stopping")
            leader = self.leader
            if leader != NO_NODE:
                return leader
            if loop.time() >= deadline:
                raise NoLeader("no leader")
            await asyncio.sleep(self.config.heartbeat_ms / 1000)

    async def _call(
        self, leader: NodeId, kind: CallKind, payload: bytes, deadline: float
    ) -> PeerReply:
        call_id = next(self._counter)
        future: asyncio.Future[PeerReply] = asyncio.get_running_loop().create_future()
        self._calls[call_id] = future
        try:
            self.transport.send(PeerCall(self.member_id, leader, call_id, kind, payload))
            remaining = deadline - asyncio.get_running_loop().time()
            async with asyncio.timeout(max(remaining, 0)):
                return await future
        except TimeoutError:
            raise RequestTimeout("request timed out") from None
        finally:
            self._calls.pop(call_id, None)

    # -- calls from peers ------------------------------------------------------------------------

    def _on_message(self, message: Message) -> None:
        if self._stopping:
            return
        match message:
            case PeerReply():
                future = self._calls.get(message.call_id)
                if future is not None and not future.done():
                    future.set_result(message)
                forwarded = self._forwards.pop(message.call_id, None)
                if forwarded is not None and not message.ok and not forwarded.done():
                    forwarded.set_exception(
                        ForwardRefused(message.payload.decode(errors="replace"))
                    )
            case PeerCall():
                self._answer_call(message)
            case _:
                self._live_replica().step(message)
        self._wake()

    def _answer_call(self, call: PeerCall) -> None:
        ok, payload = True, b""
        if call.kind is CallKind.REMOVED:
            ok, payload = self.answer_membership_call(call)
        elif not self.is_leader:
            ok, payload = False, b"not the leader"
        elif call.kind is CallKind.CHANGE_MEMBERSHIP:
            ok, payload = self.answer_membership_call(call)
        elif call.kind is CallKind.PROPOSE:
            try:
                self._live_replica().propose_envelope(call.payload)
            except (EngineNotLeader, ProposalDropped) as error:
                ok, payload = False, str(error).encode()
            if ok:
                return  # proposed: only a refusal is answered (the origin awaits the apply)
        else:
            lease_id = int.from_bytes(call.payload, "big")
            payload = self._lease_answer(call.kind, lease_id).to_bytes(8, "big", signed=True)
        reply = PeerReply(self.member_id, call.source, call.call_id, ok, payload)
        self.transport.send(reply)
