"""Hypothesis: histories of a real register are linearizable; mutated ones match brute force.

The oracle tries every order of the operations that real time allows (and every subset of the
operations whose outcome is unknown), so it is obviously right and only usable on small inputs.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from synod.check import REGISTER, SIM_KV, Model, Operation, Verdict, check_operations

VALUES = st.integers(min_value=0, max_value=2)
REGISTER_INPUTS = st.one_of(
    st.just(("read",)),
    st.tuples(st.just("write"), VALUES),
    st.tuples(st.just("cas"), VALUES, VALUES),
)
SIM_INPUTS = st.one_of(
    st.just(("get", "k")),
    st.tuples(st.just("put"), st.just("k"), st.sampled_from(["a", "b"])),
    st.tuples(st.just("cas"), st.just("k"), st.sampled_from([None, "a", "b"]), st.just("b")),
    st.just(("delete", "k")),
)


def brute_force(model: Model, operations: Sequence[Operation]) -> bool:
    """Is there an order, allowed by real time, that the model accepts?"""
    must = frozenset(i for i, operation in enumerate(operations) if not operation.unknown)

    def ready(done: frozenset[int], j: int) -> bool:
        call = operations[j].call
        return all(i in done or operations[i].ret >= call for i in must)

    def search(done: frozenset[int], state: Hashable) -> bool:
        if must <= done:
            return True
        for j, operation in enumerate(operations):
            if j in done or not ready(done, j):
                continue
            after = model.step(state, operation.input, operation.effective_output)
            if after is not None and search(done | {j}, after):
                return True
        return False

    return search(frozenset(), model.init)


@st.composite
def real_histories(
    draw: st.DrawFn, inputs: st.SearchStrategy[Hashable], model: Model
) -> list[Operation]:
    """Operations run atomically, one at a time, each at a point inside its interval.

    Some never return (unknown): they may have taken effect at their point, or not at all.
    """
    count = draw(st.integers(min_value=0, max_value=7))
    points = draw(st.permutations(range(0, 10 * count, 10)))
    state = model.init
    operations = []
    for client, point in enumerate(sorted(points)):
        input = draw(inputs)
        call = point - draw(st.integers(min_value=0, max_value=25))
        ret = point + draw(st.integers(min_value=0, max_value=25))
        unknown = draw(st.booleans()) and draw(st.booleans())
        applied = not unknown or draw(st.booleans())
        output = _output_of(model, state, input)
        if applied:
            after = model.step(state, input, output)
            assert after is not None
            state = after
        operations.append(Operation(client, call, math.inf if unknown else ret, input, output))
    return draw(st.permutations(operations))


def _output_of(model: Model, state: Hashable, input: Hashable) -> Hashable:
    """What a real object returns: the one output the model accepts (tried in turn)."""
    for output in (None, True, False, 0, 1, 2, "a", "b"):
        if model.step(state, input, output) is not None:
            return output
    raise AssertionError(f"no output accepted for {input!r}")


@settings(max_examples=300, deadline=None)
@given(real_histories(REGISTER_INPUTS, REGISTER))
def test_a_real_register_is_linearizable(history: list[Operation]) -> None:
    result = check_operations(REGISTER, history)
    assert result.verdict is Verdict.LINEARIZABLE


@settings(max_examples=200, deadline=None)
@given(real_histories(SIM_INPUTS, SIM_KV))
def test_a_real_map_is_linearizable(history: list[Operation]) -> None:
    assert check_operations(SIM_KV, history).verdict is Verdict.LINEARIZABLE


@st.composite
def mutated(draw: st.DrawFn, inputs: st.SearchStrategy[Hashable], model: Model) -> list[Operation]:
    """A real history with one or two outputs changed: sometimes still linearizable, often not."""
    history = draw(real_histories(inputs, model))
    for _ in range(draw(st.integers(min_value=1, max_value=2))):
        if not history:
            break
        index = draw(st.integers(min_value=0, max_value=len(history) - 1))
        output = draw(st.sampled_from([None, True, False, 0, 1, 2, "a", "b"]))
        history[index] = replace(history[index], output=output)
    return history


@settings(max_examples=400, deadline=None)
@given(mutated(REGISTER_INPUTS, REGISTER))
def test_mutated_register_histories_agree_with_brute_force(history: list[Operation]) -> None:
    expected = brute_force(REGISTER, history)
    verdict = check_operations(REGISTER, history).verdict
    assert verdict is (Verdict.LINEARIZABLE if expected else Verdict.NOT_LINEARIZABLE)


@settings(max_examples=300, deadline=None)
@given(mutated(SIM_INPUTS, SIM_KV))
def test_mutated_map_histories_agree_with_brute_force(history: list[Operation]) -> None:
    expected = brute_force(SIM_KV, history)
    verdict = check_operations(SIM_KV, history).verdict
    assert verdict is (Verdict.LINEARIZABLE if expected else Verdict.NOT_LINEARIZABLE)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(REGISTER_INPUTS, VALUES | st.none() | st.booleans()), max_size=8))
def test_sequential_histories_are_judged_by_running_them(
    steps: list[tuple[Hashable, Hashable]],
) -> None:
    """One client, no overlap: linearizable exactly when the model accepts the steps in order."""
    history = [
        Operation(0, 2 * i, 2 * i + 1, input, output) for i, (input, output) in enumerate(steps)
    ]
    state: Hashable | None = REGISTER.init
    for operation in history:
        state = None if state is None else REGISTER.step(state, operation.input, operation.output)
    verdict = check_operations(REGISTER, history).verdict
    assert verdict is (Verdict.NOT_LINEARIZABLE if state is None else Verdict.LINEARIZABLE)
