"""Hand-made histories with known verdicts, including planted bugs and unknown outcomes."""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterator

import pytest

from synod.check import (
    KV,
    REGISTER,
    SIM_KV,
    CheckResult,
    HistoryError,
    Model,
    Operation,
    Verdict,
    check_operations,
    explain,
)

INF = math.inf


def op(client: int, call: float, ret: float, input: Hashable, output: Hashable = None) -> Operation:
    return Operation(client, call, ret, input, output)


def verdict(model: Model, history: list[Operation]) -> Verdict:
    return check_operations(model, history).verdict


def assert_valid_linearization(result: CheckResult) -> None:
    """A LINEARIZABLE result carries a witness: replay it and check real-time order."""
    for partition in result.partitions:
        state = result.model.init
        for position, index in enumerate(partition.linearized):
            operation = partition.operations[index]
            state = result.model.step(state, operation.input, operation.effective_output)
            assert state is not None
            later = partition.linearized[position + 1 :]
            assert all(partition.operations[j].ret >= operation.call for j in later)
        returned = {i for i, o in enumerate(partition.operations) if not o.unknown}
        assert returned <= set(partition.linearized)


def test_an_empty_history_is_linearizable() -> None:
    result = check_operations(REGISTER, [])
    assert result.verdict is Verdict.LINEARIZABLE
    assert result.partitions == ()


def test_sequential_writes_and_reads() -> None:
    history = [
        op(0, 0, 1, ("write", 1)),
        op(1, 2, 3, ("read",), 1),
        op(0, 4, 5, ("cas", 1, 2), True),
        op(1, 6, 7, ("read",), 2),
    ]
    result = check_operations(REGISTER, history)
    assert result.verdict is Verdict.LINEARIZABLE
    assert result.partitions[0].linearized == (0, 1, 2, 3)


@pytest.mark.parametrize("seen", [None, 1])
def test_a_read_concurrent_with_a_write_may_see_either_value(seen: int | None) -> None:
    history = [op(0, 0, 10, ("write", 1)), op(1, 2, 3, ("read",), seen)]
    assert verdict(REGISTER, history) is Verdict.LINEARIZABLE


def test_a_read_overlapping_only_at_an_instant_counts_as_concurrent() -> None:
    # The read is called at the very time the write returns: either order is allowed.
    history = [op(0, 0, 5, ("write", 1)), op(1, 5, 5, ("read",), None)]
    assert verdict(REGISTER, history) is Verdict.LINEARIZABLE


def test_two_reads_may_not_see_a_write_undone() -> None:
    history = [
        op(0, 0, 100, ("write", 1)),
        op(1, 10, 20, ("read",), 1),
        op(2, 30, 40, ("read",), None),
    ]
    assert verdict(REGISTER, history) is Verdict.NOT_LINEARIZABLE


# Planted bugs -------------------------------------------------------------------------------


def test_planted_stale_read_is_flagged_and_explained() -> None:
    history = [
        op(0, 0, 1, ("write", 1)),
        op(0, 2, 3, ("write", 2)),
        op(1, 4, 5, ("read",), 1),  # stale: write(2) completed before this read began
    ]
    result = check_operations(REGISTER, history)
    assert result.verdict is Verdict.NOT_LINEARIZABLE
    (violation,) = result.violations
    assert violation.linearized == (0, 1)
    assert violation.stuck == (2,)
    report = explain(result)
    assert "NOT linearizable" in report
    assert "longest linearizable prefix" in report
    assert "read() -> 1" in report
    assert "[4, 5]" in report
    assert "refused by the model" in report


def test_planted_lost_write_is_flagged() -> None:
    history = [
        op(0, 0, 1, ("append", "k", "a")),
        op(1, 2, 3, ("append", "k", "b")),  # acknowledged, then never visible
        op(2, 4, 5, ("get", "k"), "a"),
    ]
    result = check_operations(KV, history)
    assert result.verdict is Verdict.NOT_LINEARIZABLE
    assert result.violations[0].key == "k"
    assert "get('k') -> 'a'" in explain(result)


def test_planted_lost_put_on_the_simulator_workload_is_flagged() -> None:
    history = [
        op(0, 0, 1, ("put", "k", "a")),
        op(1, 2, 3, ("put", "k", "b")),
        op(2, 4, 5, ("get", "k"), "a"),
    ]
    assert verdict(SIM_KV, history) is Verdict.NOT_LINEARIZABLE


def test_planted_cas_on_a_value_that_was_not_current_is_flagged() -> None:
    history = [
        op(0, 0, 1, ("write", 1)),
        op(0, 2, 3, ("write", 2)),
        op(1, 4, 5, ("cas", 1, 3), True),
    ]
    assert verdict(REGISTER, history) is Verdict.NOT_LINEARIZABLE
    sim = [
        op(0, 0, 1, ("put", "k", "1")),
        op(0, 2, 3, ("put", "k", "2")),
        op(1, 4, 5, ("cas", "k", "1", "3"), True),
    ]
    assert verdict(SIM_KV, sim) is Verdict.NOT_LINEARIZABLE


def test_a_delete_that_reports_a_missing_key_after_a_put_is_flagged() -> None:
    history = [op(0, 0, 1, ("put", "k", "v")), op(1, 2, 3, ("delete", "k"), False)]
    assert verdict(SIM_KV, history) is Verdict.NOT_LINEARIZABLE


# Unknown outcomes ---------------------------------------------------------------------------


def test_an_unknown_write_that_must_have_taken_effect() -> None:
    history = [op(0, 0, INF, ("write", 1)), op(1, 5, 6, ("read",), 1)]
    result = check_operations(REGISTER, history)
    assert result.verdict is Verdict.LINEARIZABLE
    assert_valid_linearization(result)


def test_an_unknown_write_that_must_not_have_taken_effect() -> None:
    history = [
        op(0, 0, 1, ("write", 1)),
        op(1, 2, INF, ("write", 2)),
        op(2, 3, 4, ("read",), 1),
        op(2, 5, 6, ("read",), 1),
    ]
    result = check_operations(REGISTER, history)
    assert result.verdict is Verdict.LINEARIZABLE
    assert 1 not in result.partitions[0].linearized


def test_an_unknown_write_may_take_effect_long_after_its_call() -> None:
    history = [
        op(0, 0, 1, ("write", 1)),
        op(1, 2, INF, ("write", 2)),
        op(2, 3, 4, ("read",), 1),
        op(2, 50, 60, ("read",), 2),
    ]
    assert verdict(REGISTER, history) is Verdict.LINEARIZABLE


def test_an_unknown_write_cannot_take_effect_before_its_call() -> None:
    history = [op(2, 0, 1, ("read",), 2), op(1, 2, INF, ("write", 2))]
    assert verdict(REGISTER, history) is Verdict.NOT_LINEARIZABLE


def test_an_unknown_write_takes_effect_once_and_stays() -> None:
    history = [
        op(0, 0, 1, ("write", 1)),
        op(1, 2, INF, ("write", 2)),
        op(2, 3, 4, ("read",), 2),
        op(2, 5, 6, ("read",), 1),
    ]
    assert verdict(REGISTER, history) is Verdict.NOT_LINEARIZABLE


def test_an_unknown_cas_may_or_may_not_have_swapped() -> None:
    base = [op(0, 0, 1, ("write", 1)), op(1, 2, INF, ("cas", 1, 2), "ignored")]
    swapped = [*base, op(2, 3, 4, ("read",), 2)]
    not_swapped = [*base, op(2, 3, 4, ("read",), 1)]
    assert verdict(REGISTER, swapped) is Verdict.LINEARIZABLE
    assert verdict(REGISTER, not_swapped) is Verdict.LINEARIZABLE
    impossible = [*base, op(2, 3, 4, ("read",), 3)]
    assert verdict(REGISTER, impossible) is Verdict.NOT_LINEARIZABLE


@pytest.mark.parametrize(
    ("seen", "expected"), [("", True), ("x", True), ("xx", True), ("xxx", False)]
)
def test_identical_unknown_appends_each_count_at_most_once(seen: str, expected: bool) -> None:
    history = [
        op(0, 0, INF, ("append", "k", "x")),
        op(1, 1, INF, ("append", "k", "x")),
        op(2, 5, 6, ("get", "k"), seen),
    ]
    wanted = Verdict.LINEARIZABLE if expected else Verdict.NOT_LINEARIZABLE
    assert verdict(KV, history) is wanted


def test_identical_unknown_operations_take_effect_in_any_order_of_need() -> None:
    # Two unknown writes of 1: one lands before the first read, the other after the write of 2.
    history = [
        op(0, 0, INF, ("write", 1)),
        op(1, 1, INF, ("write", 1)),
        op(2, 2, 3, ("read",), 1),
        op(2, 4, 5, ("write", 2)),
        op(2, 6, 7, ("read",), 1),
    ]
    result = check_operations(REGISTER, history)
    assert result.verdict is Verdict.LINEARIZABLE
    assert_valid_linearization(result)


def test_an_unknown_delete_may_explain_a_missing_key() -> None:
    history = [
        op(0, 0, 1, ("put", "k", "v")),
        op(1, 2, INF, ("delete", "k")),
        op(2, 3, 4, ("get", "k"), None),
    ]
    assert verdict(SIM_KV, history) is Verdict.LINEARIZABLE


# Partitions, budget, input checks ----------------------------------------------------------


def test_one_violated_key_makes_the_history_not_linearizable() -> None:
    history = [
        op(0, 0, 1, ("put", "a", "1")),
        op(0, 2, 3, ("get", "a"), "1"),
        op(1, 0, 1, ("put", "b", "1")),
        op(1, 2, 3, ("get", "b"), "2"),
    ]
    result = check_operations(SIM_KV, history, stop_at_first_violation=False)
    assert result.verdict is Verdict.NOT_LINEARIZABLE
    by_key = {partition.key: partition.verdict for partition in result.partitions}
    assert by_key == {"a": Verdict.LINEARIZABLE, "b": Verdict.NOT_LINEARIZABLE}
    assert "partition 'b'" in explain(result)


def hard_violation(appends: int) -> list[Operation]:
    """Concurrent appends then an impossible read: refuting it tries every order of appends."""
    writes = [op(i, 0, 10, ("append", "k", f"<{i}>")) for i in range(appends)]
    return [*writes, op(appends, 11, 12, ("get", "k"), "impossible")]


def ticking_clock(step_s: float) -> Iterator[float]:
    now = 0.0
    while True:
        yield now
        now += step_s


def test_a_spent_time_budget_gives_unknown() -> None:
    clock = ticking_clock(1.0)
    result = check_operations(KV, hard_violation(8), 0.5, clock=lambda: next(clock))
    assert result.verdict is Verdict.UNKNOWN
    assert "unknown" in explain(result)


def test_a_violation_found_before_the_budget_runs_out() -> None:
    result = check_operations(KV, hard_violation(5), time_budget_s=60)
    assert result.verdict is Verdict.NOT_LINEARIZABLE
    assert len(result.violations[0].linearized) == 5


def test_the_easiest_violated_partition_settles_the_verdict() -> None:
    hard = hard_violation(9)
    easy = [op(0, 0, 1, ("put", "z", "1")), op(1, 2, 3, ("get", "z"), "0")]
    result = check_operations(KV, [*hard, *easy], time_budget_s=30)
    assert result.verdict is Verdict.NOT_LINEARIZABLE
    assert [p.key for p in result.violations] == ["z"]


@pytest.mark.parametrize(
    ("call", "ret"), [(5.0, 4.0), (INF, INF), (math.nan, 1.0), (0.0, math.nan)]
)
def test_impossible_times_are_rejected(call: float, ret: float) -> None:
    with pytest.raises(HistoryError):
        check_operations(REGISTER, [op(0, call, ret, ("read",), None)])


def test_a_time_budget_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        check_operations(REGISTER, [], time_budget_s=0)


@pytest.mark.parametrize("entries_max", [1, 50, 10_000])
def test_a_bounded_memo_changes_no_verdict(entries_max: int) -> None:
    violated = check_operations(KV, hard_violation(6), cache_entries_max=entries_max)
    assert violated.verdict is Verdict.NOT_LINEARIZABLE
    writes = [op(i, 0, 10, ("append", "k", f"<{i}>")) for i in range(6)]
    seen = "".join(f"<{i}>" for i in (3, 1, 5, 0, 4, 2))
    fine = check_operations(
        KV, [*writes, op(9, 11, 12, ("get", "k"), seen)], cache_entries_max=entries_max
    )
    assert fine.verdict is Verdict.LINEARIZABLE
    assert_valid_linearization(fine)


def test_a_memo_bound_must_be_positive() -> None:
    with pytest.raises(ValueError, match="cache_entries_max"):
        check_operations(REGISTER, [], cache_entries_max=0)
