"""Client workloads: each worker is one Jepsen process, bound to one member, one call at a time.

- ``register``: independent registers (Jepsen's etcd test). Each worker reads, writes or
  compare-and-swaps (a Txn comparing the value) a key from a small active set; values are
  0-4. A key retires after ``OPS_PER_KEY`` invocations and a fresh one takes its place, so
  each key's history stays small enough to check exhaustively.
- ``bank``: ``ACCOUNTS`` accounts holding ``TOTAL`` between them. A transfer reads two
  accounts with their mod revisions and moves an amount in a Txn that holds only if neither
  changed (a refused Txn is ``:fail``); a read takes every account at one revision.

Outcomes: a write whose call failed is ``:info`` (it may still apply) and its worker takes a
fresh process number; a read whose call failed is ``:fail``. Every loop stops at the deadline.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc.aio

from synod.chaos.client import EtcdClient
from synod.chaos.history import History

OPS_PER_KEY = 120
ACTIVE_KEYS = 4
VALUES = 5
REGISTER_PREFIX = "chaos/r/"
ACCOUNTS = 5
TOTAL = 100
BANK_PREFIX = "chaos/bank/"
PAUSE_S = (0.005, 0.03)

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

    def pick(self) -> int:
        slot = self.rng.randrange(len(self.active))
        key = self.active[slot]
        self.used[key] = self.used.get(key, 0) + 1
        if self.used[key] >= OPS_PER_KEY:
            self.active[slot] = self.next_key
            self.next_key += 1
        return key

    def keys(self) -> list[int]:
        return sorted(self.used)


class Worker:
    """One client slot; its Jepsen process number changes after every unknown outcome."""

    def __init__(self, number: int, workers: int, client_for: ClientFor, history: History):
        self.number = number
        self.workers = workers
        self.process = number
        self.client_for = client_for
        self.history = history

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
            history.add("fail", "read", [key, None], process, node).error = _why(error)
            return
        history.add("ok", "read", [key, None if found is None else int(found)], process, node)
        return
    if kind == "write":
        value = rng.randrange(VALUES)
        history.add("invoke", "write", [key, value], process, node)
        try:
            await client.put(name, str(value))
        except FAILURES as error:
            history.add("info", "write", [key, value], process, node).error = _why(error)
            worker.retire()
            return
        history.add("ok", "write", [key, value], process, node)
        return
    old, new = rng.randrange(VALUES), rng.randrange(VALUES)
    history.add("invoke", "cas", [key, [old, new]], process, node)
    try:
        swapped = await client.cas(name, str(old), str(new))
    except FAILURES as error:
        history.add("info", "cas", [key, [old, new]], process, node).error = _why(error)
        worker.retire()
        return
    history.add("ok" if swapped else "fail", "cas", [key, [old, new]], process, node)


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
        history.add("fail", "read", None, worker.process, node).error = _why(error)
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
        history.add("fail", "transfer", value, worker.process, node).error = _why(error)
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
        history.add("info", "transfer", value, worker.process, node).error = _why(error)
        worker.retire()
        return
    history.add("ok" if done else "fail", "transfer", value, worker.process, node)


def _why(error: BaseException) -> str:
    if isinstance(error, grpc.aio.AioRpcError):
        return f"{error.code().name}: {error.details() or ''}".strip()
    return type(error).__name__


async def run_worker(
    worker: Worker,
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
        if workload == "register":
            await register_op(worker, pool, rng)
        elif rng.random() < 0.5:
            await bank_read(worker)
        else:
            await bank_transfer(worker, rng)
        done += 1
        await asyncio.sleep(rng.uniform(*PAUSE_S))
    return done
