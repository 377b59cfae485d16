"""Drives the simulated clients through the world and checks their history at the end."""

from __future__ import annotations

from typing import TYPE_CHECKING

from synod.check import SIM_ETCD, Verdict, check_operations, explain
from synod.core.ids import NO_NODE, NodeId
from synod.kv.etcd_machine import EtcdResult
from synod.kv.mvcc import LeaseKeepAliveResponse
from synod.replica import Done, Redirected, Refused
from synod.sim.config import UNITS_PER_TICK
from synod.sim.node import NodeState
from synod.sim.workload import (
    Attempt,
    Client,
    History,
    next_op,
    redirect_target,
    to_operations,
)

if TYPE_CHECKING:
    from synod.sim.world import World

REDIRECT_DELAY_UNITS = 10
REFUSED_DELAY_UNITS = 100


class ClientDriver:
    def __init__(self, world: World) -> None:
        self._world = world
        self._rng = world.rng
        self.history = History()
        self._by_request: dict[bytes, Client] = {}
        self._history_ids = world.config.clients
        self.liveness_met_units: int | None = None
        members = self._members()
        self.clients = [
            Client(index, index, home, home)
            for index, home in enumerate(self._homes(members, world.config.clients))
        ]
        for client in self.clients:
            self._schedule_next(client)

    def _homes(self, members: list[NodeId], count: int) -> list[NodeId]:
        """Spread clients over the nodes: round robin from a random first node."""
        first = self._rng.randrange(len(members))
        return [members[(first + index) % len(members)] for index in range(count)]

    def _members(self) -> list[NodeId]:
        """The nodes clients talk to: every member but those gone for good (removed, or
        refused for a corrupt log); a client homed on one of those rebinds, as it would
        after an operator took the machine out."""
        nodes = self._world.nodes
        gone = (NodeState.REMOVED, NodeState.CORRUPT)
        return sorted(n for n, node in nodes.items() if node.state not in gone)

    def _schedule_next(self, client: Client) -> None:
        think_ticks = self._world.config.client_think_ticks_max
        delay = self._rng.randint(1, think_ticks * UNITS_PER_TICK + 1)
        self._world.scheduler.after(delay, f"client {client.index} next", self._start, client)

    def _start(self, client: Client) -> None:
        assert client.attempt is None, f"client {client.index} already busy"
        config = self._world.config
        op = next_op(self._rng, client, config.keys, self.history)
        client.attempt = Attempt(op, self._world.scheduler.now)
        members = self._members()
        if client.home not in members:
            client.home = self._rng.choice(members)  # its node is gone for good: rebind
        client.target = client.home
        self._send(client)

    def _send(self, client: Client) -> None:
        attempt = client.attempt
        assert attempt is not None
        world = self._world
        attempt.attempts += 1
        if attempt.attempts > world.config.request_attempts_max:
            self.history.failed += 1  # every attempt failed definitely: it never happened
            client.attempt = None
            self._schedule_next(client)
            return
        request_id = world.new_request_id()
        attempt.request_id = request_id
        self._by_request[request_id] = client
        timeout_units = world.config.request_timeout_ticks * UNITS_PER_TICK
        label = f"client {client.index} timeout"
        world.scheduler.after(timeout_units, label, self._on_timeout, client, request_id)
        world.request(client.target, attempt.op.kind, request_id, attempt.op.payload)

    def on_reply(
        self, effect: Done[EtcdResult] | Done[LeaseKeepAliveResponse] | Redirected | Refused
    ) -> None:
        client = self._by_request.pop(effect.request_id, None)
        if client is None or client.attempt is None:
            return  # answered after its client gave up
        attempt = client.attempt
        if attempt.request_id != effect.request_id:
            return  # an earlier attempt of an operation that has moved on
        world = self._world
        request_id = effect.request_id
        match effect:
            case Done():
                now = world.scheduler.now
                self.history.finish(client, attempt, now, effect.result, effect.index)
                self._note_liveness(attempt)
                client.attempt = None
                self._schedule_next(client)
            case Redirected():
                client.target = redirect_target(
                    self._rng, self._members(), client.target, effect.leader
                )
                label = f"client {client.index} retry"
                world.scheduler.after(REDIRECT_DELAY_UNITS, label, self._retry, client, request_id)
            case Refused():
                client.target = redirect_target(self._rng, self._members(), client.target, NO_NODE)
                label = f"client {client.index} retry"
                world.scheduler.after(REFUSED_DELAY_UNITS, label, self._retry, client, request_id)

    def _retry(self, client: Client, request_id: bytes) -> None:
        """Retry after a definite failure, unless the operation timed out meanwhile."""
        if client.attempt is not None and client.attempt.request_id == request_id:
            self._send(client)

    def _note_liveness(self, attempt: Attempt) -> None:
        world = self._world
        if self.liveness_met_units is not None or attempt.op.kind != "write":
            return
        if world.healing and attempt.call_units >= world.heal_units:
            self.liveness_met_units = world.scheduler.now
            world.log(f"liveness: a write committed {world.now_ticks():.2f} after healing")

    def _on_timeout(self, client: Client, request_id: bytes) -> None:
        attempt = client.attempt
        if attempt is None or attempt.request_id != request_id:
            return
        self._by_request.pop(request_id, None)
        self.history.abandon(client, attempt)
        client.history_id = self._history_ids
        self._history_ids += 1
        client.target = redirect_target(self._rng, self._members(), client.target, NO_NODE)
        client.attempt = None
        self._schedule_next(client)

    def count_operations(self) -> None:
        stats = self._world.stats
        stats.operations_ok = self.history.ok
        stats.operations_failed = self.history.failed
        stats.operations_unknown = self.history.unknown

    def check_history(self) -> None:
        """Check the whole history for linearizability (model SIM_ETCD)."""
        world = self._world
        stats = world.stats
        if not world.config.check_linearizability:
            return
        for client in self.clients:
            if client.attempt is not None:
                # Still in flight when the run ended: it may have happened, like a timeout.
                self.history.abandon(client, client.attempt)
                client.attempt = None
        operations = to_operations(self.history.records)
        stats.operations_checked = len(operations)
        result = check_operations(SIM_ETCD, operations, world.config.checker_budget_s)
        stats.verdict = result.verdict.value
        if result.verdict is Verdict.NOT_LINEARIZABLE:
            world.invariants.report(f"linearizability: {explain(result)}")
