"""etcd's Watch service: bidirectional streams of watches over this member's keyspace.

Watches are served by the member the client talks to, from its own applied keyspace.

Pieces:
- ``WatchHub`` (one per service) hears every applied batch (``Node.on_apply``) and fans the new
  events out to the watchers that are in sync. History is read once per batch for each
  distinct watched range, not once per watcher.
- ``WatchStream`` (one per gRPC call) holds that call's watchers and the responses queued for
  it, in the order they must be sent.

Rules (etcd 3.4, reference 2.3):
- A create is answered first with ``created``; events of that watch only follow it. Ids chosen
  by the server count up from 0 per stream, skipping ids in use; a given id already in use, or
  an empty range, fails the create (``watch_id`` -1, ``canceled``, the reason), and the stream
  stays open.
- ``start_revision`` 0 watches what comes after the create; a past one replays history from
  it first; a compacted one is cancelled with ``compact_revision`` after the created response.
- Each watcher has a next revision: every event below it has been queued, none at or above.
  It is in sync when its next revision is past the last revision the hub fanned out; only
  then does the hub feed it. A watcher that falls behind (its stream's queue is full) catches
  up from history once the queue drains, and is cancelled as compacted if history is gone.
- Cancelling a known watch answers ``canceled``; an unknown id gets no answer. A progress
  request is answered at once with ``watch_id`` -1 and the current revision.
- Watchers asking for progress notifications get an empty response every interval in which
  they were in sync and were sent nothing.
- The stream ends when the client cancels it; the client closing its side does not end it.
  A stream opened with ``hasleader`` metadata is refused while this member knows no leader,
  and ended with "no leader" once it has known none for three election timeouts.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass

from synod.api.context import Context, ServiceBase, abort
from synod.api.convert import ServerIdentity
from synod.api.convert import watch as convert
from synod.api.errors import NoLeader
from synod.api.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from synod.api.grpc_server import GrpcServer
from synod.api.watch_events import REPLAY_REVISIONS_MAX, batches, by_revision, fragments
from synod.core.errors import ConfigError, SynodError
from synod.core.ids import NO_NODE
from synod.kv.mvcc import Compacted, Event, MvccStore
from synod.server.node import Node

logger = logging.getLogger("synod.api")

PROGRESS_NOTIFY_INTERVAL_S_DEFAULT = 600.0
"""etcd's default progress notification interval: 10 minutes."""
FRAGMENT_OVERHEAD_BYTES = 512 * 1024
"""etcd splits a fragmentable response at --max-request-bytes plus this much."""
STREAM_RESPONSES_QUEUED_MAX = 1024
"""Responses queued on one stream before its watchers stop being fed live and catch up later."""

LEADER_LOST_ELECTIONS_MAX = 3
"""A stream that asked for a leader ends after this many election timeouts without one."""

RANGE_EMPTY = "mvcc: watcher range is empty"
DUPLICATE_ID = "mvcc: duplicate watch ID provided on the WatchStream"


@dataclass(frozen=True, slots=True)
class WatchLimits:
    progress_notify_interval_s: float = PROGRESS_NOTIFY_INTERVAL_S_DEFAULT
    fragment_threshold_bytes: int = 2 * 1024 * 1024
    responses_queued_max: int = STREAM_RESPONSES_QUEUED_MAX

    def __post_init__(self) -> None:
        if not self.progress_notify_interval_s > 0:
            raise ConfigError("progress_notify_interval_s must be > 0")
        if self.fragment_threshold_bytes < 1 or self.responses_queued_max < 1:
            raise ConfigError("watch limits must be positive")


class Watcher:
    """One watch on a stream. Every event below ``next_revision`` has been queued, none at or
    above it; ``synced`` says the hub feeds it (its next revision is past the hub's last)."""

    __slots__ = ("idle", "next_revision", "spec", "synced", "watch_id")

    def __init__(self, watch_id: int, spec: convert.WatchSpec, next_revision: int) -> None:
        self.watch_id = watch_id
        self.spec = spec
        self.next_revision = next_revision
        self.synced = False
        self.idle = True
        """Nothing sent since the last progress tick."""


class WatchStream:
    """One gRPC call's watchers and the responses queued for it, in sending order."""

    def __init__(
        self,
        store: Callable[[], MvccStore],
        identity: Callable[[], ServerIdentity],
        limits: WatchLimits,
    ) -> None:
        self._store = store
        self._identity = identity
        self._limits = limits
        self.watchers: dict[int, Watcher] = {}
        self._next_id = 0
        self._queue: collections.deque[rpc_pb2.WatchResponse] = collections.deque()
        self._ready = asyncio.Event()
        self._behind = False
        self._failure: SynodError | None = None

    # -- requests --------------------------------------------------------------------------------

    def on_request(self, request: rpc_pb2.WatchRequest) -> None:
        match request.WhichOneof("request_union"):
            case "create_request":
                self.on_create(convert.watch_spec_from_pb(request.create_request))
            case "cancel_request":
                self.on_cancel(request.cancel_request.watch_id)
            case "progress_request":
                revision, identity = self._revision(), self._identity()
                self._push(convert.events_to_pb(convert.NO_WATCH_ID, revision, [], identity))
            case _:
                pass  # etcd ignores a request it does not know, and so does this stream

    def on_create(self, spec: convert.WatchSpec) -> None:
        revision = self._revision()
        failure = self._refusal(spec)
        if failure is not None:
            self._push(convert.create_failed_to_pb(failure, revision, self._identity()))
            return
        watch_id = spec.watch_id if spec.watch_id != 0 else self._free_id()
        start = spec.start_revision if spec.start_revision > 0 else revision + 1
        watcher = Watcher(watch_id, spec, start)
        self.watchers[watch_id] = watcher
        self._push(convert.created_to_pb(watch_id, revision, self._identity()))
        if start <= revision:
            self._catch_up(watcher)
        else:
            watcher.synced = True

    def _refusal(self, spec: convert.WatchSpec) -> str | None:
        if spec.range_is_empty:
            return RANGE_EMPTY
        if spec.watch_id != 0 and spec.watch_id in self.watchers:
            return DUPLICATE_ID
        return None

    def _free_id(self) -> int:
        while self._next_id in self.watchers:
            self._next_id += 1
        chosen = self._next_id
        self._next_id += 1
        return chosen

    def on_cancel(self, watch_id: int) -> None:
        if self.watchers.pop(watch_id, None) is not None:
            self._push(convert.canceled_to_pb(watch_id, self._revision(), self._identity()))

    # -- events ----------------------------------------------------------------------------------

    def deliver(self, watcher: Watcher, events: list[Event], revision: int) -> None:
        """Live events (every event on the watcher's range up to ``revision``, from its next
        revision on): one response per revision, or catch up later if the queue is full."""
        assert watcher.synced
        assert watcher.next_revision <= revision
        if len(self._queue) >= self._limits.responses_queued_max:
            watcher.synced = False
            self._behind = True
            self._ready.set()
            return
        chosen = [e for e in events if e.kv.mod_revision >= watcher.next_revision]
        for group in by_revision(watcher.spec.filter.select(chosen)):
            self._send_events(watcher, group, revision)
        watcher.next_revision = revision + 1

    def compacted(self, watcher: Watcher, compact_revision: int) -> None:
        """History the watcher still needs is gone: cancel it as etcd does."""
        if self.watchers.pop(watcher.watch_id, None) is not None:
            identity = self._identity()
            self._push(convert.compacted_to_pb(watcher.watch_id, compact_revision, identity))

    def _catch_up(self, watcher: Watcher) -> None:
        """Queue every event the watcher is missing, from history; it is in sync after."""
        store = self._store()
        spec = watcher.spec
        try:
            events = store.history(spec.key, spec.range_end, watcher.next_revision)
        except Compacted:
            self.compacted(watcher, store.compact_revision)
            return
        revision = store.revision
        groups = by_revision(spec.filter.select(events))
        for batch in batches(groups, REPLAY_REVISIONS_MAX):
            self._send_events(watcher, batch, revision)
        watcher.next_revision = max(watcher.next_revision, revision + 1)
        watcher.synced = True

    def _send_events(self, watcher: Watcher, events: list[Event], revision: int) -> None:
        response = convert.events_to_pb(watcher.watch_id, revision, events, self._identity())
        watcher.idle = False
        if not watcher.spec.fragment:
            self._push(response)
            return
        for part in fragments(response, self._limits.fragment_threshold_bytes):
            self._push(part)

    def on_progress_tick(self) -> None:
        revision = self._revision()
        for watcher in self.watchers.values():
            if watcher.spec.progress_notify and watcher.synced and watcher.idle:
                self._push(convert.events_to_pb(watcher.watch_id, revision, [], self._identity()))
            watcher.idle = True

    # -- sending ---------------------------------------------------------------------------------

    def fail(self, error: SynodError) -> None:
        """End the stream with ``error`` (a request that could not be read)."""
        self._failure = error
        self._ready.set()

    def _push(self, response: rpc_pb2.WatchResponse) -> None:
        self._queue.append(response)
        self._ready.set()

    def take(self) -> list[rpc_pb2.WatchResponse]:
        """The responses queued so far, in order; once none are left, watchers that fell
        behind catch up first. Raises the error that ended the stream, if one did."""
        if self._failure is not None:
            raise self._failure
        if not self._queue and self._behind:
            self._behind = False
            for watcher in [w for w in self.watchers.values() if not w.synced]:
                self._catch_up(watcher)
        taken = list(self._queue)
        self._queue.clear()
        return taken

    async def responses(self) -> AsyncIterator[rpc_pb2.WatchResponse]:
        """Queued responses, in order, for as long as the stream lives."""
        while True:
            await self._ready.wait()
            self._ready.clear()
            for response in self.take():
                yield response
            if self._behind:
                self._ready.set()

    def _revision(self) -> int:
        return self._store().revision


class WatchHub:
    """Hears applied batches and feeds every in-sync watcher of every stream."""

    def __init__(self, store: Callable[[], MvccStore]) -> None:
        self._store = store
        self.streams: set[WatchStream] = set()
        self.last_revision = store().revision

    def on_apply(self) -> None:
        """Called inside the member's apply step: a fault here is logged, never raised into it."""
        try:
            self._fan_out()
        except Exception:
            logger.exception("watch fan-out failed")

    def _fan_out(self) -> None:
        store = self._store()
        revision = store.revision
        last = self.last_revision
        self.last_revision = revision
        if revision <= last or not self.streams:
            return
        due: dict[tuple[bytes, bytes], list[tuple[WatchStream, Watcher]]] = {}
        for stream in self.streams:
            for watcher in stream.watchers.values():
                if watcher.synced and watcher.next_revision <= revision:
                    spec = watcher.spec
                    due.setdefault((spec.key, spec.range_end), []).append((stream, watcher))
        for (key, range_end), targets in due.items():
            self._feed(store, key, range_end, last + 1, targets)

    def _feed(
        self,
        store: MvccStore,
        key: bytes,
        range_end: bytes,
        start: int,
        targets: Iterable[tuple[WatchStream, Watcher]],
    ) -> None:
        try:
            events = store.history(key, range_end, start)
        except Compacted:
            for stream, watcher in targets:
                stream.compacted(watcher, store.compact_revision)
            return
        for stream, watcher in targets:
            stream.deliver(watcher, events, store.revision)


class WatchService(ServiceBase, rpc_pb2_grpc.WatchServicer):
    def __init__(self, node: Node, limits: WatchLimits | None = None) -> None:
        super().__init__(node)
        fragment_threshold_bytes = node.config.max_request_bytes + FRAGMENT_OVERHEAD_BYTES
        self.limits = limits or WatchLimits(fragment_threshold_bytes=fragment_threshold_bytes)
        self.hub = WatchHub(self._current_store)
        node.on_apply(self.hub.on_apply)

    def _current_store(self) -> MvccStore:
        return self.node.machine.store  # a snapshot install replaces the store

    async def Watch(  # noqa: N802 - gRPC's method names
        self, request_iterator: AsyncIterator[rpc_pb2.WatchRequest], context: Context
    ) -> AsyncIterator[rpc_pb2.WatchResponse]:
        wants_leader = _wants_leader(context)
        if wants_leader and self.node.leader == NO_NODE:
            await abort(context, NoLeader())
        stream = WatchStream(self._current_store, self.identity, self.limits)
        reader = asyncio.create_task(self._read(request_iterator, stream))
        ticker = asyncio.create_task(self._tick_progress(stream))
        tasks = [reader, ticker]
        if wants_leader:
            tasks.append(asyncio.create_task(self._watch_leader(stream)))
        self.hub.streams.add(stream)
        failure: SynodError | None = None
        try:
            async for response in stream.responses():
                yield response
        except SynodError as error:
            failure = error
        finally:
            self.hub.streams.discard(stream)
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if failure is not None:
            await abort(context, failure)

    async def _read(
        self, requests: AsyncIterator[rpc_pb2.WatchRequest], stream: WatchStream
    ) -> None:
        try:
            async for request in requests:
                stream.on_request(request)
        except SynodError as error:
            stream.fail(error)

    async def _tick_progress(self, stream: WatchStream) -> None:
        while True:
            await asyncio.sleep(self.limits.progress_notify_interval_s)
            stream.on_progress_tick()

    async def _watch_leader(self, stream: WatchStream) -> None:
        """End the stream once this member has seen no leader for the time etcd allows."""
        config = self.node.config
        lost_s_max = LEADER_LOST_ELECTIONS_MAX * config.election_ms / 1000
        loop = asyncio.get_running_loop()
        lost_at: float | None = None
        while True:
            await asyncio.sleep(config.heartbeat_ms / 1000)
            if self.node.leader != NO_NODE:
                lost_at = None
                continue
            lost_at = loop.time() if lost_at is None else lost_at
            if loop.time() - lost_at >= lost_s_max:
                stream.fail(NoLeader())
                return


def _wants_leader(context: Context) -> bool:
    metadata = context.invocation_metadata() or ()
    return any(key == "hasleader" and value == "true" for key, value in metadata)


def register(server: GrpcServer, service: WatchService) -> None:
    server.add(rpc_pb2_grpc.add_WatchServicer_to_server, service)
