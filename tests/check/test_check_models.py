"""Case tables for the sequential specifications: one row per (state, input, output) rule."""

from __future__ import annotations

import math
from collections.abc import Hashable

import pytest

from synod.check import Verdict, check_operations
from synod.check.history import UNKNOWN, HistoryError, Operation
from synod.check.models import (
    ABSENT,
    KV,
    REGISTER,
    SIM_ETCD,
    SIM_KV,
    Keyed,
    Model,
    describe_state,
)

ILLEGAL = None

REGISTER_CASES: list[tuple[Hashable, Hashable, Hashable, Hashable]] = [
    # state, input, output, next state (None: the model refuses)
    (ABSENT, ("read",), None, ABSENT),
    (ABSENT, ("read",), 3, ILLEGAL),
    (3, ("read",), 3, 3),
    (3, ("read",), 4, ILLEGAL),
    (3, ("read",), None, ILLEGAL),
    (3, ("read",), UNKNOWN, 3),
    (ABSENT, ("write", 1), None, 1),
    (1, ("write", 2), UNKNOWN, 2),
    (1, ("write", None), None, ABSENT),
    (1, ("cas", 1, 2), True, 2),
    (1, ("cas", 1, 2), False, ILLEGAL),
    (1, ("cas", 3, 2), False, 1),
    (1, ("cas", 3, 2), True, ILLEGAL),
    (ABSENT, ("cas", None, 5), True, 5),
    (ABSENT, ("cas", 0, 5), False, ABSENT),
    (1, ("cas", 1, 2), UNKNOWN, 2),
    (1, ("cas", 3, 2), UNKNOWN, 1),
]

KV_CASES: list[tuple[Hashable, Hashable, Hashable, Hashable]] = [
    ("", ("get", "k"), "", ""),
    ("", ("get", "k"), "a", ILLEGAL),
    ("ab", ("get", "k"), "ab", "ab"),
    ("ab", ("get", "k"), "a", ILLEGAL),
    ("ab", ("get", "k"), UNKNOWN, "ab"),
    ("ab", ("put", "k", "z"), None, "z"),
    ("ab", ("append", "k", "c"), None, "abc"),
    ("", ("append", "k", "c"), UNKNOWN, "c"),
]

SIM_KV_CASES: list[tuple[Hashable, Hashable, Hashable, Hashable]] = [
    (ABSENT, ("get", "k"), None, ABSENT),
    (ABSENT, ("get", "k"), "v", ILLEGAL),
    ("v", ("get", "k"), "v", "v"),
    ("v", ("get", "k"), None, ILLEGAL),
    ("v", ("put", "k", "w"), None, "w"),
    (ABSENT, ("cas", "k", None, "n"), True, "n"),
    (ABSENT, ("cas", "k", None, "n"), False, ILLEGAL),
    ("v", ("cas", "k", None, "n"), False, "v"),
    ("v", ("cas", "k", "v", "n"), True, "n"),
    ("v", ("cas", "k", "v", "n"), False, ILLEGAL),
    ("v", ("cas", "k", "x", "n"), True, ILLEGAL),
    ("v", ("cas", "k", "v", "n"), UNKNOWN, "n"),
    ("v", ("cas", "k", "x", "n"), UNKNOWN, "v"),
    ("v", ("delete", "k"), True, ABSENT),
    ("v", ("delete", "k"), False, ILLEGAL),
    (ABSENT, ("delete", "k"), False, ABSENT),
    (ABSENT, ("delete", "k"), True, ILLEGAL),
    ("v", ("delete", "k"), UNKNOWN, ABSENT),
]


SIM_ETCD_CASES: list[tuple[Hashable, Hashable, Hashable, Hashable]] = [
    (ABSENT, ("get", "k"), None, ABSENT),
    (ABSENT, ("get", "k"), "v", ILLEGAL),
    (("v", 0), ("get", "k"), "v", ("v", 0)),
    (("v", 5), ("get", "k"), "v", ("v", 5)),
    (("v", 0), ("get", "k"), None, ILLEGAL),
    (("v", 0), ("put", "k", "w", 7), None, ("w", 7)),
    (("v", 0), ("put", "k", "w", 7), UNKNOWN, ("w", 7)),
    (("v", 0), ("put", "k", "w", 7), "error", ILLEGAL),
    (ABSENT, ("cas", "k", None, "n"), True, ("n", 0)),
    (ABSENT, ("cas", "k", None, "n"), False, ILLEGAL),
    (("v", 3), ("cas", "k", None, "n"), False, ("v", 3)),
    (("v", 3), ("cas", "k", "v", "n"), True, ("n", 0)),
    (("v", 3), ("cas", "k", "v", "n"), False, ILLEGAL),
    (("v", 3), ("cas", "k", "x", "n"), True, ILLEGAL),
    (("v", 3), ("cas", "k", "v", "n"), UNKNOWN, ("n", 0)),
    (("v", 3), ("cas", "k", "x", "n"), UNKNOWN, ("v", 3)),
    (("v", 0), ("delete", "k"), True, ABSENT),
    (("v", 0), ("delete", "k"), False, ILLEGAL),
    (ABSENT, ("delete", "k"), False, ABSENT),
    (ABSENT, ("delete", "k"), True, ILLEGAL),
    (("v", 7), ("revoke", "k", 7), None, ABSENT),
    (("v", 7), ("revoke", "k", 8), None, ("v", 7)),
    (("v", 0), ("revoke", "k", 7), None, ("v", 0)),
    (ABSENT, ("revoke", "k", 7), None, ABSENT),
    (("v", 7), ("revoke", "k", 7), UNKNOWN, ABSENT),
    (("v", 7), ("revoke", "k", 7), "error", ILLEGAL),
]


@pytest.mark.parametrize(("state", "input", "output", "expected"), SIM_ETCD_CASES)
def test_sim_etcd_step(
    state: Hashable, input: Hashable, output: Hashable, expected: Hashable
) -> None:
    assert SIM_ETCD.step(state, input, output) == expected


def test_a_revoke_deletes_only_while_its_key_is_attached() -> None:
    # put with lease 7, then a plain put detaches the key: the revoke leaves it alone.
    history = [
        Operation(0, 0, 1, ("put", "k", "a", 7), None),
        Operation(0, 2, 3, ("put", "k", "b", 0), None),
        Operation(0, 4, 5, ("revoke", "k", 7), None),
        Operation(0, 6, 7, ("get", "k"), "b"),
    ]
    assert check_operations(SIM_ETCD, history).verdict is Verdict.LINEARIZABLE
    gone = [*history[:2], history[2], Operation(0, 6, 7, ("get", "k"), None)]
    assert check_operations(SIM_ETCD, gone).verdict is Verdict.NOT_LINEARIZABLE


@pytest.mark.parametrize(("state", "input", "output", "expected"), REGISTER_CASES)
def test_register_step(
    state: Hashable, input: Hashable, output: Hashable, expected: Hashable
) -> None:
    assert REGISTER.step(state, input, output) == expected


@pytest.mark.parametrize(("state", "input", "output", "expected"), KV_CASES)
def test_kv_step(state: Hashable, input: Hashable, output: Hashable, expected: Hashable) -> None:
    assert KV.step(state, input, output) == expected


@pytest.mark.parametrize(("state", "input", "output", "expected"), SIM_KV_CASES)
def test_sim_kv_step(
    state: Hashable, input: Hashable, output: Hashable, expected: Hashable
) -> None:
    assert SIM_KV.step(state, input, output) == expected


@pytest.mark.parametrize("model", [REGISTER, KV, SIM_KV, SIM_ETCD])
def test_models_start_from_a_non_none_state(model: Model) -> None:
    # None is how step says "illegal", so no state may be None.
    assert model.init is not None


@pytest.mark.parametrize(
    ("model", "input"),
    [
        (REGISTER, ("increment",)),
        (REGISTER, "read"),
        (KV, ("scan", "k")),
        (SIM_KV, ("get",)),
        (SIM_ETCD, ("get",)),
        (SIM_ETCD, ("scan", "k")),
    ],
)
def test_models_reject_inputs_they_do_not_understand(model: Model, input: Hashable) -> None:
    with pytest.raises(HistoryError, match="not one this model understands"):
        model.step(model.init, input, None)


def _op(client: int, input: Hashable, call: float = 0, ret: float = 1) -> Operation:
    return Operation(client, call, ret, input, None)


def test_keyed_models_partition_by_key_in_order_of_first_use() -> None:
    history = [_op(0, ("put", "b", "1")), _op(1, ("get", "a")), _op(2, ("append", "b", "2"))]
    parts = KV.partition(history)
    assert [[op.client for op in part] for part in parts] == [[0, 2], [1]]
    assert isinstance(KV, Keyed)
    assert isinstance(SIM_KV, Keyed)
    assert KV.key(("get", "a")) == "a"


def test_register_is_one_partition() -> None:
    history = [_op(0, ("write", 1)), _op(1, ("read",))]
    assert REGISTER.partition(history) == [history]
    assert REGISTER.partition([]) == []
    assert not isinstance(REGISTER, Keyed)


DESCRIBE_CASES: list[tuple[Model, Hashable, Hashable, str]] = [
    (REGISTER, ("read",), 3, "read() -> 3"),
    (REGISTER, ("read",), None, "read() -> absent"),
    (REGISTER, ("read",), UNKNOWN, "read() -> ?"),
    (REGISTER, ("write", 3), None, "write(3)"),
    (REGISTER, ("cas", 1, 2), True, "cas(1, 2) -> ok"),
    (REGISTER, ("cas", 1, 2), False, "cas(1, 2) -> fail"),
    (REGISTER, ("cas", 1, 2), UNKNOWN, "cas(1, 2) -> ?"),
    (KV, ("get", "k"), "ab", "get('k') -> 'ab'"),
    (KV, ("append", "k", "c"), None, "append('k', 'c')"),
    (SIM_KV, ("get", "k"), None, "get('k') -> absent"),
    (SIM_KV, ("cas", "k", None, "n"), True, "cas('k', None, 'n') -> swapped"),
    (SIM_KV, ("delete", "k"), False, "delete('k') -> absent"),
    (SIM_KV, ("delete", "k"), True, "delete('k') -> existed"),
    (SIM_ETCD, ("put", "k", "v", 0), None, "put('k', 'v')"),
    (SIM_ETCD, ("put", "k", "v", 7), None, "put('k', 'v', lease 7)"),
    (SIM_ETCD, ("revoke", "k", 7), None, "revoke(lease 7 of 'k')"),
    (SIM_ETCD, ("cas", "k", "a", "b"), False, "cas('k', 'a', 'b') -> not swapped"),
]


@pytest.mark.parametrize(("model", "input", "output", "text"), DESCRIBE_CASES)
def test_describe(model: Model, input: Hashable, output: Hashable, text: str) -> None:
    assert model.describe(input, output) == text


def test_describe_state_names_absence() -> None:
    assert describe_state(ABSENT) == "absent"
    assert describe_state("x") == "'x'"


def test_unknown_operations_are_marked_by_an_infinite_return() -> None:
    operation = Operation(0, 1.0, math.inf, ("read",), 5)
    assert operation.unknown
    assert operation.effective_output is UNKNOWN
    assert Operation(0, 1.0, 2.0, ("read",), 5).effective_output == 5
