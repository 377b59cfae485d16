"""Client workloads: each worker is one Jepsen process, bound to one member, one call at a time.

- ``register``: independent registers (Jepsen's etcd test). Each worker reads, writes or
  compare-and-swaps (a Txn comparing the value) a key from a small active set; values are
  0-4. A key retires after ``OPS_PER_KEY`` invocations and a fresh one takes its place, so
  each key's history stays small enough to check exhaustively.
- ``append``: Jepsen's key-value appends: each key's value is a string of unique tokens; an
  append reads the value and its mod revision and writes value + token in a Txn that holds
  only if the key did not change (retried up to ``APPEND_TRIES`` times, then ``:fail``); a get
  reads it. Keys rotate as for registers. A lost, duplicated or reordered append shows as a
  get no order of the appends explains.
- ``bank``: ``ACCOUNTS`` accounts holding ``TOTAL`` between them. A transfer reads two
  accounts with their mod revisions and moves an amount in a Txn that holds only if neither
  changed (a refused Txn is ``:fail``); a read takes every account at one revision.

Outcomes: a call refused before it left the client (gRPC could not connect: the member is
down) is ``:fail``; any other failed write is ``:info`` (it may still apply) and its worker
takes a fresh process number; a failed read is ``:fail``. After a failure the worker backs off
(``BACKOFF_S``), so an unavailable cluster does not flood the history. A register key also
retires once ``UNKNOWN_PER_KEY_MAX`` of its writes have unknown outcomes: each one multiplies
the orders the checker must try. Every loop stops at the deadline.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
import grpc.aio

from synod.chaos.client import EtcdClient
from synod.chaos.history import History
from synod.chaos.watch import write_op

OPS_PER_KEY = 120
ACTIVE_KEYS = 4
VALUES = 5
REGISTER_PREFIX = "chaos/r/"
APPEND_PREFIX = "chaos/a/"
APPEND_TRIES = 3
ACCOUNTS = 5
TOTAL = 100
BANK_PREFIX = "chaos/bank/"
PAUSE_S = (0.005, 0.03)
BACKOFF_S = (0.1, 0.3)
UNKNOWN_PER_KEY_MAX = 8

FAILURES = (grpc.aio.AioRpcError, TimeoutError, OSError)

ClientFor = Callable[[int], tuple[EtcdClient, str]]
"""Worker number -> (its client, the member's name)."""


@dataclass(slots=True)
class KeyPool:
    """The active register keys; each retires after ``OPS_PER_KEY`` invocations."""

    rng: random.Random
    next_key: int = ACTIVE_KEYS
    active: list[int] = field(default_factory=lambda: list(range(ACTIVE_KEYS)))
    used: dict[int, int] = field(default_factory=dict)

    unknown: dict[int, int] = field(default_factory=dict)
    tokens: int = 0

    def token(self) -> int:
        """A number no other append has used."""
        self.tokens += 1
        return self.tokens

    def pick(self) -> int:
        slot = self.rng.randrange(len(self.active))
        key = self.active[slot]
        self.used[key] = self.used.get(key, 0) + 1
        if self.used[key] >= OPS_PER_KEY:
            self._retire(key)
        return key

    def note_unknown(self, key: int) -> None:
        self.unknown[key] = self.unknown.get(key, 0) + 1
        if self.unknown[key] >= UNKNOWN_PER_KEY_MAX:
            self._retire(key)

    def _retire(self, key: int) -> None:
        if key in self.active:
            self.active[self.active.index(key)] = self.next_key
            self.next_key += 1

    def used_keys(self) -> list[int]:
        return sorted(self.used)


class Worker:
    """One client slot; its Jepsen process number changes after every unknown outcome."""

    def __init__(self, number: int, workers: int, client_for: ClientFor, history: History) -> None:
        self.number = number
        self.workers = workers
        self.process = number
        self.client_for = client_for
        self.history = history
        self.failed = False
        """Whether the last operation's call failed."""

    def retire(self) -> None:
        self.process += self.workers


async def register_op(worker: Worker, pool: KeyPool, rng: random.Random) -> None:
    client, node = worker.client_for(worker.number)
    key = pool.pick()
    name = f"{REGISTER_PREFIX}{key}"
    history = worker.history
    kind = rng.choice(("read", "read", "write", "cas"))
    process = worker.process
    if kind == "read":
        history.add("invoke", "read", [key, None], process, node)
        try:
            found = await client.get(name)
        except FAILURES as error:
            _failed_read(worker, "read", [key, None], node, error)
            return
        history.add("ok", "read", [key, None if found is None else int(found)], process, node)
        return
    if kind == "write":
        value = rng.randrange(VALUES)
        history.add("invoke", "write", [key, value], process, node)
        try:
            await client.put(name, str(value))
        except FAILURES as error:
            _failed_write(
                worker, f="write", value=[key, value], node=node, error=error, pool=pool, key=key
            )
            return
        history.add("ok", "write", [key, value], process, node)
        return
    old, new = rng.randrange(VALUES), rng.randrange(VALUES)
    history.add("invoke", "cas", [key, [old, new]], process, node)
    try:
        swapped = await client.cas(name, str(old), str(new))
    except FAILURES as error:
        _failed_write(
            worker, f="cas", value=[key, [old, new]], node=node, error=error, pool=pool, key=key
        )
        return
    history.add("ok" if swapped else "fail", "cas", [key, [old, new]], process, node)


async def append_op(worker: Worker, pool: KeyPool, rng: random.Random) -> None:
    client, node = worker.client_for(worker.number)
    key = pool.pick()
    name = f"{APPEND_PREFIX}{key}"
    history, process = worker.history, worker.process
    if rng.random() < 0.5:
        history.add("invoke", "get", None, process, node, key=str(key))
        try:
            found = await client.get(name)
        except FAILURES as error:
            worker.failed = True
            history.add("fail", "get", None, process, node, key=str(key)).error = _why(error)
            return
        history.add("ok", "get", found or "", process, node, key=str(key))
        return
    token = f" {pool.token()}"
    history.add("invoke", "append", token, process, node, key=str(key))
    for _ in range(APPEND_TRIES):
        try:
            current = await client.get_with_revision([name])
        except FAILURES as error:
            worker.failed = True
            history.add("fail", "append", token, process, node, key=str(key)).error = _why(error)
            return
        value, revision = current.get(name, ("", 0))
        try:
            done = await client.put_if_revisions({name: revision}, {name: value + token})
        except FAILURES as error:
            worker.failed = True
            kind = "fail" if never_sent(error) else "info"
            history.add(kind, "append", token, process, node, key=str(key)).error = _why(error)
            if kind == "info":
                worker.retire()
                pool.note_unknown(key)
            return
        if done:
            history.add("ok", "append", token, process, node, key=str(key))
            return
    history.add("fail", "append", token, process, node, key=str(key)).error = "contended"


def account(index: int) -> str:
    return f"{BANK_PREFIX}{index}"


async def bank_setup(client: EtcdClient) -> None:
    share = TOTAL // ACCOUNTS
    balances = {
        account(i): str(share + (TOTAL % ACCOUNTS if i == 0 else 0)) for i in range(ACCOUNTS)
    }
    await client.put_all_if_absent(balances)


async def bank_read(worker: Worker) -> None:
    client, node = worker.client_for(worker.number)
    history = worker.history
    history.add("invoke", "read", None, worker.process, node)
    try:
        values, _ = await client.get_prefix(BANK_PREFIX)
    except FAILURES as error:
        _failed_read(worker, "read", None, node, error)
        return
    balances = {int(key[len(BANK_PREFIX) :]): int(value) for key, value in values.items()}
    history.add("ok", "read", dict(sorted(balances.items())), worker.process, node)


async def bank_transfer(worker: Worker, rng: random.Random) -> None:
    client, node = worker.client_for(worker.number)
    history = worker.history
    source, target = rng.sample(range(ACCOUNTS), 2)
    amount = rng.randint(1, 5)
    value = {"from": source, "to": target, "amount": amount}
    history.add("invoke", "transfer", value, worker.process, node)
    try:
        found = await client.get_with_revision([account(source), account(target)])
    except FAILURES as error:
        _failed_read(worker, "transfer", value, node, error)
        return
    if len(found) != 2 or int(found[account(source)][0]) < amount:
        history.add("fail", "transfer", value, worker.process, node).error = "insufficient"
        return
    revisions = {key: revision for key, (_, revision) in found.items()}
    balances = {
        account(source): str(int(found[account(source)][0]) - amount),
        account(target): str(int(found[account(target)][0]) + amount),
    }
    try:
        done = await client.put_if_revisions(revisions, balances)
    except FAILURES as error:
        _failed_write(worker, f="transfer", value=value, node=node, error=error, pool=None, key=0)
        return
    history.add("ok" if done else "fail", "transfer", value, worker.process, node)


def never_sent(error: BaseException) -> bool:
    """Whether gRPC refused the call before sending it: it certainly had no effect."""
    if not isinstance(error, grpc.aio.AioRpcError):
        return False
    details = error.details() or ""
    return error.code() == grpc.StatusCode.UNAVAILABLE and "failed to connect" in details


def _failed_read(worker: Worker, f: str, value: object, node: str, error: BaseException) -> None:
    worker.failed = True
    worker.history.add("fail", f, value, worker.process, node).error = _why(error)


def _failed_write(
    worker: Worker,
    *,
    f: str,
    value: object,
    node: str,
    error: BaseException,
    pool: KeyPool | None,
    key: int,
) -> None:
    worker.failed = True
    if never_sent(error):
        worker.history.add("fail", f, value, worker.process, node).error = _why(error)
        return
    worker.history.add("info", f, value, worker.process, node).error = _why(error)
    worker.retire()
    if pool is not None:
        pool.note_unknown(key)


def _why(error: BaseException) -> str:
    if isinstance(error, grpc.aio.AioRpcError):
        return f"{error.code().name}: {error.details() or ''}".strip()
    return type(error).__name__


async def run_worker(
    worker: Worker,
    *,
    workload: str,
    rng: random.Random,
    pool: KeyPool,
    deadline: float,
    ops_max: int,
) -> int:
    """Operations until ``deadline`` (loop time) or ``ops_max``; how many were invoked."""
    loop = asyncio.get_running_loop()
    done = 0
    while loop.time() < deadline and done < ops_max:
        worker.failed = False
        if workload == "register":
            await register_op(worker, pool, rng)
        elif workload == "append":
            await append_op(worker, pool, rng)
        elif workload == "watch":
            client, node = worker.client_for(worker.number)
            serial = pool.token()
            if not await write_op(client, node, worker.process, worker.history, rng, serial=serial):
                worker.failed = True
        elif rng.random() < 0.5:
            await bank_read(worker)
        else:
            await bank_transfer(worker, rng)
        done += 1
        await asyncio.sleep(rng.uniform(*(BACKOFF_S if worker.failed else PAUSE_S)))
    return done
