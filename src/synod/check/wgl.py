"""The Wing & Gong search with Lowe's memoization, run on every partition side by side.

A history is linearizable when its operations can be put in one sequence that the model accepts
and that respects real time: an operation that returned before another was called comes first.
The search walks a doubly linked list of call and return events in time order. At a call it
tries to linearize that operation next (the model must accept it); on success it unlinks the
call and its return ("lift") and starts again from the head. Reaching a return means the
operation it closes should already have been linearized: backtrack ("unlift") the last choice.
A set of (linearized operations as a bitset, state) pairs prunes every configuration seen before:
from the same pair the rest of the search would go the same way.

Operations with an unknown outcome have a call and no return: nothing forces them into the
sequence, so the search succeeds once every operation that did return is linearized. Two
reductions keep them cheap without losing any linearization:

- an unknown operation that would leave the state unchanged is never linearized (doing so only
  grows the bitset: whatever follows could follow without it);
- identical unknown operations (same input) are linearized in call order: any sequence that uses
  the later one first stays valid with the two swapped, as both stay open to the end.
"""

from __future__ import annotations

import enum
import itertools
import math
import time
from collections.abc import Callable, Generator, Hashable, Sequence
from dataclasses import dataclass

from synod.check.history import Operation, validate
from synod.check.models import Keyed, Model

_RETURN = -2
"""``partner`` of a return event (and of the tail sentinel)."""
_OPEN = -1
"""``partner`` of the call of an operation that never returned."""
CACHE_ENTRIES_MAX = 2_000_000
"""Default bound on memo entries (about 0.6 GB for long string states)."""
_BACKTRACKS_PER_SLICE = 512
"""How much one partition searches before the next gets a turn (and the clock is read)."""


class Verdict(enum.Enum):
    """UNKNOWN: the time budget ran out (or the search stopped at another partition's violation)."""

    LINEARIZABLE = "linearizable"
    NOT_LINEARIZABLE = "NOT linearizable"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class PartitionResult:
    """The outcome for one partition (one key), with what the search learnt on the way."""

    key: str
    """The key this partition covers, or its position when the model has no keys."""
    verdict: Verdict
    operations: tuple[Operation, ...]
    linearized: tuple[int, ...]
    """Indices into ``operations`` of the longest linearizable prefix found, in order; a whole
    linearization (of every operation that returned) when the verdict is LINEARIZABLE."""
    state: Hashable
    """The model state after ``linearized``."""
    stuck: tuple[int, ...]
    """Operations none of which can come after ``linearized``: those called before the first
    return still to be ordered. Empty unless the partition is not linearizable."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The whole history's verdict, every partition's, and the model to describe them with."""

    verdict: Verdict
    model: Model
    partitions: tuple[PartitionResult, ...]
    elapsed_s: float

    @property
    def violations(self) -> tuple[PartitionResult, ...]:
        return tuple(p for p in self.partitions if p.verdict is Verdict.NOT_LINEARIZABLE)


def check_operations(
    model: Model,
    operations: Sequence[Operation],
    time_budget_s: float | None = None,
    *,
    stop_at_first_violation: bool = True,
    cache_entries_max: int = CACHE_ENTRIES_MAX,
    clock: Callable[[], float] = time.monotonic,
) -> CheckResult:
    """Decide whether ``operations`` is linearizable with respect to ``model``.

    The partitions are searched side by side, a slice at a time, because one violated partition
    settles the verdict and refuting one can cost far less than refuting another: a search run
    one partition after another could spend minutes on the hardest first. The rest are then left
    UNKNOWN unless ``stop_at_first_violation`` is false. Once ``time_budget_s`` is spent, every
    unfinished partition is UNKNOWN, and so is the whole unless some partition is violated.
    Memory is bounded by ``cache_entries_max`` memo entries over all partitions (see
    ``_bound_cache``); time only by the budget.
    """
    if time_budget_s is not None and not time_budget_s > 0:
        raise ValueError(f"time_budget_s must be positive, got {time_budget_s}")
    if cache_entries_max < 1:
        raise ValueError(f"cache_entries_max must be at least 1, got {cache_entries_max}")
    validate(operations)
    started = clock()
    deadline = math.inf if time_budget_s is None else started + time_budget_s
    parts = model.partition(operations)
    searches = [
        _Search(model, part, _partition_key(model, part, i)) for i, part in enumerate(parts)
    ]
    limits = _Limits(deadline, clock, stop_at_first_violation, cache_entries_max)
    verdicts = _interleave(searches, limits)
    results = tuple(
        search.result(verdicts.get(i, Verdict.UNKNOWN)) for i, search in enumerate(searches)
    )
    return CheckResult(_overall(results), model, results, clock() - started)


@dataclass(frozen=True, slots=True)
class _Limits:
    deadline: float
    clock: Callable[[], float]
    stop_at_first_violation: bool
    cache_entries_max: int


def _interleave(searches: Sequence[_Search], limits: _Limits) -> dict[int, Verdict]:
    """Run every search a slice at a time, round robin, until all finish or the time is up."""
    running = {index: search.walk() for index, search in enumerate(searches)}
    verdicts: dict[int, Verdict] = {}
    while running and limits.clock() <= limits.deadline:
        for index, walk in list(running.items()):
            try:
                next(walk)
            except StopIteration as finished:
                verdicts[index] = finished.value
                del running[index]
                searches[index].seen.clear()
                if limits.stop_at_first_violation and finished.value is Verdict.NOT_LINEARIZABLE:
                    return verdicts
        _bound_cache([searches[index] for index in running], limits.cache_entries_max)
    return verdicts


def _bound_cache(searches: Sequence[_Search], entries_max: int) -> None:
    """Keep the memo within ``entries_max`` entries by emptying the largest when it overflows.

    The memo only prunes: a search that forgets it stays sound and still terminates, it may just
    revisit configurations. A hard history (dozens of concurrent appends, each order a distinct
    state) fills it at ~10^6 entries a second, ~300 bytes each: unbounded, it exhausts memory in
    about a minute, long before most time budgets run out.
    """
    while searches and sum(len(search.seen) for search in searches) > entries_max:
        max(searches, key=lambda search: len(search.seen)).seen.clear()


def _partition_key(model: Model, operations: Sequence[Operation], index: int) -> str:
    if isinstance(model, Keyed) and operations:
        return str(model.key(operations[0].input))
    return str(index)


def _overall(results: Sequence[PartitionResult]) -> Verdict:
    verdicts = {result.verdict for result in results}
    for verdict in (Verdict.NOT_LINEARIZABLE, Verdict.UNKNOWN):
        if verdict in verdicts:
            return verdict
    return Verdict.LINEARIZABLE


def _symmetry_gates(operations: Sequence[Operation]) -> list[int]:
    """For each unknown operation, the bit of the previous identical one (0 if none)."""
    gates = [0] * len(operations)
    last: dict[Hashable, int] = {}
    by_call = sorted(range(len(operations)), key=lambda i: (operations[i].call, i))
    for index in by_call:
        operation = operations[index]
        if operation.unknown:
            previous = last.get(operation.input)
            gates[index] = 0 if previous is None else 1 << previous
            last[operation.input] = index
    return gates


def _chain(count: int) -> tuple[list[int], list[int]]:
    """Links of ``count`` events in a row, between a head (``count``) and a tail (``count + 1``)."""
    order = [count, *range(count), count + 1]
    following = [0] * (count + 2)
    preceding = [0] * (count + 2)
    for before, after in itertools.pairwise(order):
        following[before], preceding[after] = after, before
    following[count + 1], preceding[count] = count + 1, count
    return following, preceding


class _Search:
    """One partition's search: the event list as parallel arrays, and the deepest prefix seen."""

    def __init__(self, model: Model, operations: Sequence[Operation], key: str) -> None:
        self.model = model
        self.operations = tuple(operations)
        self.key = key
        events = sorted(
            [(op.call, 0, i) for i, op in enumerate(operations)]
            + [(op.ret, 1, i) for i, op in enumerate(operations) if not op.unknown]
        )
        count = len(events)
        self.head = count
        self.event_op = [i for _, _, i in events] + [-1, -1]
        returns_at = {i: node for node, (_, kind, i) in enumerate(events) if kind == 1}
        self.partner = [
            (returns_at.get(i, _OPEN) if kind == 0 else _RETURN) for _, kind, i in events
        ] + [_RETURN, _RETURN]
        self.next, self.prev = _chain(count)
        assert len(self.partner) == len(self.event_op) == len(self.next) == count + 2
        self.best: tuple[tuple[int, ...], Hashable, tuple[int, ...]] = ((), model.init, ())
        self.best_depth = -1
        self.seen: set[tuple[int, Hashable]] = set()
        """Every (linearized bitset, state) pair reached so far: the memo that makes WGL fast."""

    def result(self, verdict: Verdict) -> PartitionResult:
        prefix, state, stuck = self.best
        if verdict is not Verdict.NOT_LINEARIZABLE:
            stuck = ()
        return PartitionResult(self.key, verdict, self.operations, prefix, state, stuck)

    def _record_dead_end(self, stack: list[tuple[int, Hashable]], state: Hashable, at: int) -> None:
        """Keep the deepest prefix, and the calls that were candidates to follow it."""
        self.best_depth = len(stack)
        stuck = []
        node = self.next[self.head]
        while node != at:
            assert self.partner[node] != _RETURN, "the scan stops at the first return"
            stuck.append(self.event_op[node])
            node = self.next[node]
        prefix = tuple(self.event_op[call] for call, _ in stack)
        self.best = (prefix, state, tuple(sorted(stuck)))

    def walk(self) -> Generator[None, None, Verdict]:
        """The search proper, yielding now and then so partitions can share the time.

        Locals and inlined list surgery on purpose: this loop is the checker's whole cost.
        """
        step = self.model.step
        operations = self.operations
        inputs = [op.input for op in operations]
        outputs = [op.effective_output for op in operations]
        bits = [1 << i for i in range(len(operations))]
        gates = _symmetry_gates(operations)
        nxt, prv, partner_of, event_op = self.next, self.prev, self.partner, self.event_op
        head = self.head
        remaining = sum(1 for op in operations if not op.unknown)
        state, linearized = self.model.init, 0
        seen = self.seen
        stack: list[tuple[int, Hashable]] = []
        backtracks = 0
        node = nxt[head]
        while remaining:
            partner = partner_of[node]
            if partner != _RETURN:
                op = event_op[node]
                gate = gates[op]
                if partner >= 0 or linearized & gate == gate:
                    after = step(state, inputs[op], outputs[op])
                    if after is not None and (partner >= 0 or after != state):
                        entry = (linearized | bits[op], after)
                        if entry not in seen:
                            seen.add(entry)
                            stack.append((node, state))
                            linearized, state = entry
                            nxt[prv[node]] = nxt[node]
                            prv[nxt[node]] = prv[node]
                            if partner >= 0:
                                nxt[prv[partner]] = nxt[partner]
                                prv[nxt[partner]] = prv[partner]
                                remaining -= 1
                            node = nxt[head]
                            continue
                node = nxt[node]
                continue
            if len(stack) > self.best_depth:
                self._record_dead_end(stack, state, node)
            if not stack:
                return Verdict.NOT_LINEARIZABLE
            backtracks += 1
            if backtracks % _BACKTRACKS_PER_SLICE == 0:
                yield
            node, state = stack.pop()
            linearized ^= bits[event_op[node]]
            partner = partner_of[node]
            if partner >= 0:
                nxt[prv[partner]] = partner
                prv[nxt[partner]] = partner
                remaining += 1
            nxt[prv[node]] = node
            prv[nxt[node]] = node
            node = nxt[node]
        self.best = (tuple(event_op[call] for call, _ in stack), state, ())
        assert self._only_open_calls_left(), "every operation that returned is linearized"
        return Verdict.LINEARIZABLE

    def _only_open_calls_left(self) -> bool:
        node = self.next[self.head]
        while node != self.head + 1:
            if self.partner[node] != _OPEN:
                return False
            node = self.next[node]
        return True
