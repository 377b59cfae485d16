"""The watch workload: writers put unique values under one prefix while a watcher per member
streams that prefix, dropping its stream now and then on purpose and resuming it from the
revision after the last event it saw; the check holds every stream to etcd's watch guarantees.

- ordered: a watcher sees revisions in increasing order;
- unique: it never sees the same event (revision, key) twice, resumed or not;
- atomic: the events of one revision (a Txn writes two keys at once) arrive in one response;
- reliable and resumable: from its start revision up to the last revision it saw, a watcher's
  events are exactly the reference stream's, with no gap across reconnects and resumptions;
- and the reference stream itself (one fresh watch from the start revision after healing) holds
  every acknowledged write, with its value, and nothing no writer wrote.

Every watcher is bounded in time: it stops at the deadline or once it reached the final
revision after healing, whichever comes first.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

import grpc
import grpc.aio

from synod.api.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from synod.chaos.checks import ANOMALIES_SHOWN_MAX, Check
from synod.chaos.client import EtcdClient, prefix_end
from synod.chaos.history import Event, History

WATCH_PREFIX = "chaos/w/"
WATCH_KEYS = 8
RESUME_AFTER_S = (1.0, 4.0)
RETRY_S = 0.3
REFERENCE_S_MAX = 20.0
STREAMS_MAX = 100_000
"""A watcher's count bound on streams (each lasts at least a round trip and a retry pause)."""

Note = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Delivery:
    revision: int
    key: str
    value: str
    kind: str
    response: int
    """Which response (counted over the watcher's life) carried it."""


@dataclass(slots=True)
class Watcher:
    number: int
    node: str
    client: EtcdClient
    start_revision: int
    deliveries: list[Delivery] = field(default_factory=list)
    responses: int = 0
    resumptions: int = 0
    errors: int = 0
    cancelled: list[str] = field(default_factory=list)

    @property
    def next_revision(self) -> int:
        return self.deliveries[-1].revision + 1 if self.deliveries else self.start_revision

    async def run(self, rng: random.Random, stop: asyncio.Event, history: History) -> None:
        """Stream until ``stop``; every few seconds the stream is dropped and resumed."""
        for _ in range(STREAMS_MAX):
            if stop.is_set():
                return
            try:
                async with asyncio.timeout(rng.uniform(*RESUME_AFTER_S)):
                    await self.stream(history, stop)
            except TimeoutError:
                self.resumptions += 1
                continue
            except grpc.aio.AioRpcError:
                self.errors += 1
            if not stop.is_set():
                await asyncio.sleep(RETRY_S)

    async def stream(self, history: History, stop: asyncio.Event) -> None:
        start = WATCH_PREFIX.encode()
        create = rpc_pb2.WatchCreateRequest(
            key=start, range_end=prefix_end(start), start_revision=self.next_revision
        )

        async def requests() -> AsyncIterator[rpc_pb2.WatchRequest]:
            yield rpc_pb2.WatchRequest(create_request=create)
            await stop.wait()

        stub = rpc_pb2_grpc.WatchStub(self.client.channel)
        async for response in stub.Watch(requests()):
            if response.canceled:
                self.cancelled.append(response.cancel_reason or "cancelled")
                return
            if not response.events:
                continue
            self.responses += 1
            for event in response.events:
                kind = "delete" if event.type == event.DELETE else "put"
                delivery = Delivery(
                    event.kv.mod_revision,
                    event.kv.key.decode(),
                    event.kv.value.decode(),
                    kind,
                    self.responses,
                )
                self.deliveries.append(delivery)
                history.add(
                    "ok",
                    "watch",
                    [delivery.revision, delivery.key, delivery.value],
                    f"watcher-{self.number}",
                    self.node,
                )
            if stop.is_set():
                return


async def reference(client: EtcdClient, start_revision: int, final_revision: int) -> Watcher:
    """One fresh stream from ``start_revision`` until it reached ``final_revision``."""
    watcher = Watcher(-1, "reference", client, start_revision)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + REFERENCE_S_MAX
    history = History()
    while watcher.next_revision <= final_revision and loop.time() < deadline:
        task = asyncio.create_task(watcher.stream(history, stop))
        while not task.done() and watcher.next_revision <= final_revision:
            if loop.time() >= deadline:
                break
            await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if watcher.next_revision <= final_revision:
            await asyncio.sleep(RETRY_S)
    return watcher


class WatchRun:
    """The watchers of one run: started with the workload, caught up and checked after it."""

    def __init__(self, clients: Sequence[tuple[EtcdClient, str]], start_revision: int) -> None:
        self.start_revision = start_revision
        self.watchers = [
            Watcher(number, name, client, start_revision)
            for number, (client, name) in enumerate(clients)
        ]
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    def start(self, history: History, rng: random.Random) -> None:
        for watcher in self.watchers:
            seed = rng.random()
            self.tasks.append(
                asyncio.create_task(watcher.run(random.Random(seed), self.stop, history))
            )

    async def finish(self, client: EtcdClient, history: History) -> Check:
        """Let every watcher reach the last revision (bounded), stop them, check the streams."""
        final = await client.last_revision(WATCH_PREFIX)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + REFERENCE_S_MAX
        while loop.time() < deadline and any(w.next_revision <= final for w in self.watchers):
            await asyncio.sleep(0.1)
        await self.close()
        ref = await reference(client, self.start_revision, final)
        return check_watch(self.watchers, ref, history.events, final)

    async def close(self) -> None:
        self.stop.set()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def write_op(
    client: EtcdClient,
    node: str,
    process: int,
    history: History,
    rng: random.Random,
    *,
    serial: int,
) -> bool:
    """One put, or a Txn putting two keys at one revision; False when the call failed."""
    keys = rng.sample(range(WATCH_KEYS), 2 if rng.random() < 0.3 else 1)
    values = {f"{WATCH_PREFIX}{k}": f"{process}.{serial}.{i}" for i, k in enumerate(keys)}
    pairs = [[key, value] for key, value in values.items()]
    history.add("invoke", "write", pairs, process, node)
    try:
        if len(values) == 1:
            key, value = next(iter(values.items()))
            await client.put(key, value)
        else:
            await client.put_if_revisions({}, values)
    except (grpc.aio.AioRpcError, TimeoutError, OSError) as error:
        refused = isinstance(error, grpc.aio.AioRpcError) and (
            error.code() == grpc.StatusCode.UNAVAILABLE
            and "failed to connect" in (error.details() or "")
        )
        history.add("fail" if refused else "info", "write", pairs, process, node)
        return False
    history.add("ok", "write", pairs, process, node)
    return True


def check_watch(
    watchers: Sequence[Watcher], ref: Watcher, events: Sequence[Event], final_revision: int
) -> Check:
    anomalies: list[str] = []

    def note(text: str) -> None:
        if len(anomalies) < ANOMALIES_SHOWN_MAX:
            anomalies.append(text)

    expected = [(d.revision, d.key, d.value) for d in ref.deliveries]
    if ref.next_revision <= final_revision:
        note(
            f"the reference watch reached only revision {ref.next_revision - 1} of {final_revision}"
        )
    _check_writes(events, {(k, v) for _, k, v in expected}, note)
    bad = 0
    for watcher in watchers:
        before = len(anomalies)
        _check_stream(watcher, expected, final_revision, note)
        bad += len(anomalies) > before
    delivered = sum(len(w.deliveries) for w in watchers)
    resumed = sum(w.resumptions for w in watchers)
    summary = (
        f"{len(watchers)} watchers, {delivered} events delivered, {resumed} deliberate "
        f"resumptions, {sum(w.errors for w in watchers)} broken streams; reference: "
        f"{len(expected)} events up to revision {final_revision}"
    )
    return Check("watch guarantees", "invalid" if anomalies else "valid", summary, anomalies)


def _check_writes(events: Sequence[Event], seen: set[tuple[str, str]], note: Note) -> None:
    written: set[tuple[str, str]] = set()
    for event in events:
        if event.f != "write" or not event.is_client:
            continue
        pairs = {(key, value) for key, value in event.value}
        written |= pairs
        if event.type == "ok" and not pairs <= seen:
            note(f"acknowledged write {sorted(pairs - seen)} (process {event.process}) is lost")
    phantom = seen - written
    if phantom:
        note(f"the reference watch saw values nobody wrote: {sorted(phantom)[:3]}")


def _check_stream(
    watcher: Watcher, expected: list[tuple[int, str, str]], final: int, note: Note
) -> None:
    name = f"watcher {watcher.number} on {watcher.node}"
    got = [(d.revision, d.key, d.value) for d in watcher.deliveries]
    revisions = [d.revision for d in watcher.deliveries]
    if any(b < a for a, b in itertools.pairwise(revisions)):
        note(f"{name}: revisions out of order")
    if len({(r, k) for r, k, _ in got}) != len(got):
        note(f"{name}: an event delivered twice")
    by_revision: dict[int, set[int]] = {}
    for delivery in watcher.deliveries:
        by_revision.setdefault(delivery.revision, set()).add(delivery.response)
    split = [revision for revision, responses in by_revision.items() if len(responses) > 1]
    if split:
        note(f"{name}: the events of revision {split[0]} came in separate responses")
    last = revisions[-1] if revisions else watcher.start_revision - 1
    window = [e for e in expected if watcher.start_revision <= e[0] <= last]
    if got != window:
        missing = [e for e in window if e not in got]
        extra = [e for e in got if e not in window]
        note(
            f"{name}: its stream differs from the reference up to revision {last}: "
            f"missing {missing[:3]}, unexpected {extra[:3]}"
        )
    if last < final and watcher.cancelled:
        note(f"{name}: cancelled ({watcher.cancelled[-1]}) at revision {last} of {final}")
    elif last < final and expected and expected[-1][0] > last:
        note(f"{name}: stopped at revision {last}; the reference goes on to {expected[-1][0]}")
