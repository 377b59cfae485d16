"""Simulated clients: concurrent get / put / cas / delete on a few keys, and their history.

Each client runs one operation at a time against one node. A definite failure (NotLeader, a
refused request) never took effect: the client retries the same operation at the hinted leader
(or another node) and records nothing for the failed attempt. A timeout is ambiguous: a write
is recorded with an unknown outcome (``ret = inf``) and the client carries on under a fresh
client id (as a Jepsen process that crashed); a read that timed out had no effect and is
dropped. Every written value is unique, so the checker can tell writes apart.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from synod.check import Operation
from synod.core.ids import NO_NODE, NodeId
from synod.kv import CompareAndSwap, Delete, Get, KvCommand, KvResult, Put, Rejected
from synod.sim.config import UNITS_PER_TICK


@dataclass(frozen=True, slots=True)
class Record:
    """One finished (or abandoned) operation, as the linearizability checker will see it."""

    client: int
    call: float
    ret: float
    input: tuple[str | None, ...]
    output: str | bool | None


def model_input(command: KvCommand) -> tuple[str | None, ...]:
    """The checker's (SIM_KV) spelling of a command."""
    match command:
        case Get(key):
            return ("get", key)
        case Put(key, value):
            return ("put", key, value)
        case CompareAndSwap(key, expected, new):
            return ("cas", key, expected, new)
        case Delete(key):
            return ("delete", key)


@dataclass(slots=True)
class Attempt:
    """The operation a client is working on, across its retries."""

    command: KvCommand
    call_units: int
    request_id: bytes = b""
    attempts: int = 0


@dataclass(slots=True)
class Client:
    index: int
    """Stable index of this client slot (its RNG-free identity in the trace)."""
    history_id: int
    """The client id recorded in the history; renewed after a timeout."""
    home: NodeId
    """The node each new operation starts at, as a Jepsen client is bound to one node: reads
    then reach every node, deposed leaders included, not only whoever leads now."""
    target: NodeId
    """Where the current attempt goes (the home node, or where redirects led)."""
    attempt: Attempt | None = None
    counter: int = 0


@dataclass(slots=True)
class History:
    records: list[Record] = field(default_factory=list)
    ok: int = 0
    failed: int = 0
    unknown: int = 0
    last_written: dict[str, str] = field(default_factory=dict)
    """Per key, a value some write left there (to give cas a chance of succeeding)."""

    def finish(self, client: Client, attempt: Attempt, now_units: int, result: KvResult) -> None:
        assert not isinstance(result, Rejected), f"the state machine rejected {attempt.command}"
        self.ok += 1
        self.records.append(
            Record(
                client.history_id,
                attempt.call_units / UNITS_PER_TICK,
                now_units / UNITS_PER_TICK,
                model_input(attempt.command),
                result,
            )
        )
        command = attempt.command
        if isinstance(command, Put) or (isinstance(command, CompareAndSwap) and result is True):
            value = command.value if isinstance(command, Put) else command.new
            self.last_written[command.key] = value

    def abandon(self, client: Client, attempt: Attempt) -> None:
        """A timed-out write may or may not have happened: recorded with ret = inf."""
        self.unknown += 1
        if isinstance(attempt.command, Get):
            return  # a read has no effect: nothing to record
        self.records.append(
            Record(
                client.history_id,
                attempt.call_units / UNITS_PER_TICK,
                math.inf,
                model_input(attempt.command),
                None,
            )
        )


def next_command(
    rng: random.Random, client: Client, keys: int, last_written: dict[str, str]
) -> KvCommand:
    """A random operation on a random key; writes carry values no other write uses."""
    key = f"k{rng.randrange(keys)}"
    client.counter += 1
    value = f"c{client.index}.{client.counter}"
    roll = rng.random()
    if roll < 0.3:
        return Get(key)
    if roll < 0.6:
        return Put(key, value)
    if roll < 0.85:
        expected = last_written.get(key) if rng.random() < 0.7 else None
        return CompareAndSwap(key, expected, value)
    return Delete(key)


def redirect_target(
    rng: random.Random, members: list[NodeId], current: NodeId, hint: NodeId
) -> NodeId:
    """Where to retry: the hinted leader if it is known, else another node at random."""
    if hint != NO_NODE and hint in members:
        return hint
    others = [node for node in members if node != current] or members
    return rng.choice(others)


def to_operations(records: list[Record]) -> list[Operation]:
    """The records as the checker's operations."""
    return [Operation(r.client, r.call, r.ret, r.input, r.output) for r in records]
