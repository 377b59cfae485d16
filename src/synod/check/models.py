"""Sequential specifications the checker compares a concurrent history against.

A model is a pure state machine: ``step(state, input, output)`` says whether ``output`` is what a
single, atomic execution of ``input`` returns in ``state``, and if so which state follows.
Rules every model here keeps, and every new model must keep:

- States are hashable and never ``None``: ``step`` returns ``None`` to say "illegal", so an absent
  value is the ``ABSENT`` sentinel. The checker memoizes on (linearized set, state).
- ``UNKNOWN`` as an output (an operation that never returned) is accepted in every state; the
  returned state is the one the operation leaves if it takes effect. Whether it took effect at all
  is the checker's business, not the model's.
- ``partition`` splits a history into independently checkable parts (one per key). A keyed
  model's ``step`` is defined on one key's value only: the checker always partitions first, which
  keeps states tiny and the search per key.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable, Sequence
from typing import Final, Protocol, runtime_checkable

from synod.check.history import UNKNOWN, HistoryError, Operation


class _Absent(enum.Enum):
    ABSENT = "absent"

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Final = _Absent.ABSENT
"""The state of a key or register that holds no value."""


class Model(Protocol):
    """What the checker needs from a sequential specification."""

    @property
    def init(self) -> Hashable:
        """The state before any operation."""
        ...

    def step(self, state: Hashable, input: Hashable, output: Hashable) -> Hashable | None:
        """The state after ``input`` returned ``output`` in ``state``, or ``None`` if it cannot."""
        ...

    def partition(self, operations: Sequence[Operation]) -> list[list[Operation]]:
        """Independent sub-histories; each is linearizable on its own iff the whole is."""
        ...

    def describe(self, input: Hashable, output: Hashable) -> str:
        """A short human reading of one operation, e.g. ``cas(1, 2) -> ok``."""
        ...


@runtime_checkable
class Keyed(Protocol):
    """A model whose partitions are keys; lets reports name the key rather than a number."""

    def key(self, input: Hashable) -> Hashable:
        """The key an input addresses."""
        ...


def describe_state(state: Hashable) -> str:
    """Render a state for people: ``absent`` rather than an enum repr."""
    return "absent" if state is ABSENT else repr(state)


def _compare_and_swap(
    state: Hashable, expected: Hashable, new: Hashable, output: Hashable
) -> Hashable | None:
    """A cas that reports whether it swapped (True / False), or whose outcome is unknown."""
    return _swap(_visible(state) == expected, state, _stored(new), output)


def _swap(matches: bool, state: Hashable, swapped: Hashable, output: Hashable) -> Hashable | None:
    """The state after a cas whose compare ``matches`` (or not) returned ``output``."""
    if output is UNKNOWN:
        return swapped if matches else state
    if matches:
        return swapped if output is True else None
    return state if output is False else None


def _visible(state: Hashable) -> Hashable:
    """What a read returns in ``state``: ``None`` stands for absent in outputs."""
    return None if state is ABSENT else state


def _stored(value: Hashable) -> Hashable:
    """The state that holds ``value``: writing ``None`` leaves nothing, so it is ``ABSENT``."""
    return ABSENT if value is None else value


def _bad_input(input: Hashable) -> HistoryError:
    return HistoryError(f"operation input {input!r} is not one this model understands")


def _by_key(operations: Sequence[Operation]) -> list[list[Operation]]:
    """Group operations whose input is ``(kind, key, ...)`` by key, in order of first use."""
    groups: dict[Hashable, list[Operation]] = {}
    for operation in operations:
        input = operation.input
        if not isinstance(input, tuple) or len(input) < 2:
            raise _bad_input(input)
        groups.setdefault(input[1], []).append(operation)
    return list(groups.values())


def _outcome(output: Hashable, success: str, failure: str) -> str:
    if output is UNKNOWN:
        return "?"
    return success if output else failure


class RegisterModel:
    """One register: ``("read",)``, ``("write", v)``, ``("cas", old, new)``.

    Outputs: a read returns the value (``None`` when absent), a write ``None``, a cas ``True`` if
    it swapped and ``False`` if it found another value. Jepsen's ``:fail`` (the operation did not
    happen) is not a ``False`` cas: the parser drops such operations before they get here.
    """

    __slots__ = ()

    @property
    def init(self) -> Hashable:
        return ABSENT

    def step(self, state: Hashable, input: Hashable, output: Hashable) -> Hashable | None:
        if not isinstance(input, tuple) or not input:
            raise _bad_input(input)
        kind = input[0]
        if kind == "read":
            return state if output is UNKNOWN or output == _visible(state) else None
        if kind == "write":
            return _stored(input[1])
        if kind == "cas":
            return _compare_and_swap(state, input[1], input[2], output)
        raise _bad_input(input)

    def partition(self, operations: Sequence[Operation]) -> list[list[Operation]]:
        return [list(operations)] if operations else []

    def describe(self, input: Hashable, output: Hashable) -> str:
        if not isinstance(input, tuple) or not input:
            return repr(input)
        match input:
            case ("read",):
                shown = "?" if output is UNKNOWN else ("absent" if output is None else output)
                return f"read() -> {shown}"
            case ("write", value):
                return f"write({value})"
            case ("cas", old, new):
                return f"cas({old}, {new}) -> {_outcome(output, 'ok', 'fail')}"
        return repr(input)


class KvModel:
    """Jepsen's key-value workload: ``("get", k)``, ``("put", k, v)``, ``("append", k, v)``.

    A get returns the key's string (an absent key reads as the empty string), put and append
    return ``None``; append concatenates. The state of one key's partition is its string.
    """

    __slots__ = ()

    @property
    def init(self) -> Hashable:
        return ""

    def key(self, input: Hashable) -> Hashable:
        return input[1] if isinstance(input, tuple) and len(input) >= 2 else None

    def step(self, state: Hashable, input: Hashable, output: Hashable) -> Hashable | None:
        if not isinstance(input, tuple) or len(input) < 2:
            raise _bad_input(input)
        kind = input[0]
        if kind == "get":
            return state if output is UNKNOWN or output == state else None
        if kind == "put":
            value: str = input[2]
            return value
        if kind == "append":
            assert isinstance(state, str), "a kv key's state is its string"
            suffix: str = input[2]
            return state + suffix
        raise _bad_input(input)

    def partition(self, operations: Sequence[Operation]) -> list[list[Operation]]:
        return _by_key(operations)

    def describe(self, input: Hashable, output: Hashable) -> str:
        match input:
            case ("get", key):
                shown = "?" if output is UNKNOWN else repr(output)
                return f"get({key!r}) -> {shown}"
            case ("put" | "append" as kind, key, value):
                return f"{kind}({key!r}, {value!r})"
        return repr(input)


class SimKvModel:
    """The simulator's workload on a map of strings.

    ``("get", k) -> str | None``, ``("put", k, v) -> None``,
    ``("cas", k, expected: str | None, new: str) -> bool`` (``True`` when it swapped; ``None``
    expects the key absent), ``("delete", k) -> bool`` (``True`` when the key existed).
    """

    __slots__ = ()

    @property
    def init(self) -> Hashable:
        return ABSENT

    def key(self, input: Hashable) -> Hashable:
        return input[1] if isinstance(input, tuple) and len(input) >= 2 else None

    def step(self, state: Hashable, input: Hashable, output: Hashable) -> Hashable | None:
        if not isinstance(input, tuple) or len(input) < 2:
            raise _bad_input(input)
        kind = input[0]
        if kind == "get":
            return state if output is UNKNOWN or output == _visible(state) else None
        if kind == "put":
            return _stored(input[2])
        if kind == "cas":
            return _compare_and_swap(state, input[2], input[3], output)
        if kind == "delete":
            if output is UNKNOWN or output is (state is not ABSENT):
                return ABSENT
            return None
        raise _bad_input(input)

    def partition(self, operations: Sequence[Operation]) -> list[list[Operation]]:
        return _by_key(operations)

    def describe(self, input: Hashable, output: Hashable) -> str:
        match input:
            case ("get", key):
                shown = "?" if output is UNKNOWN else ("absent" if output is None else repr(output))
                return f"get({key!r}) -> {shown}"
            case ("put", key, value):
                return f"put({key!r}, {value!r})"
            case ("cas", key, expected, new):
                outcome = _outcome(output, "swapped", "not swapped")
                return f"cas({key!r}, {expected!r}, {new!r}) -> {outcome}"
            case ("delete", key):
                return f"delete({key!r}) -> {_outcome(output, 'existed', 'absent')}"
        return repr(input)


class SimEtcdModel:
    """The simulator's etcd workload on a few keys, where a key may be attached to a lease.

    A key's state is ``ABSENT`` or ``(value, lease)`` (lease 0: none). Inputs and outputs:
    ``("get", k) -> str | None``; ``("put", k, v, lease) -> None`` (attaches ``lease``);
    ``("cas", k, expected: str | None, new) -> bool`` (a txn: compare the value, or absence,
    then put ``new`` with no lease); ``("delete", k) -> bool`` (``True`` when the key existed);
    ``("revoke", k, lease) -> None``: the lease is revoked, which deletes ``k`` if ``k`` is
    still attached to it (a revoke of a lease that only ever held ``k``: the workload uses each
    lease with one key, so the revoke's whole effect is on that key's partition).
    """

    __slots__ = ()

    @property
    def init(self) -> Hashable:
        return ABSENT

    def key(self, input: Hashable) -> Hashable:
        return input[1] if isinstance(input, tuple) and len(input) >= 2 else None

    def step(self, state: Hashable, input: Hashable, output: Hashable) -> Hashable | None:
        if not isinstance(input, tuple) or len(input) < 2:
            raise _bad_input(input)
        value = None if state is ABSENT else state[0]  # type: ignore[index]
        match input:
            case ("get", _):
                return state if output is UNKNOWN or output == value else None
            case ("put", _, new, lease):
                return (new, lease) if output is UNKNOWN or output is None else None
            case ("cas", _, expected, new):
                return _swap(value == expected, state, (new, 0), output)
            case ("delete", _):
                existed = state is not ABSENT
                return ABSENT if output is UNKNOWN or output is existed else None
            case ("revoke", _, lease):
                attached = state is not ABSENT and state[1] == lease  # type: ignore[index]
                after = ABSENT if attached else state
                return after if output is UNKNOWN or output is None else None
        raise _bad_input(input)

    def partition(self, operations: Sequence[Operation]) -> list[list[Operation]]:
        return _by_key(operations)

    def describe(self, input: Hashable, output: Hashable) -> str:
        match input:
            case ("get", key):
                shown = "?" if output is UNKNOWN else ("absent" if output is None else repr(output))
                return f"get({key!r}) -> {shown}"
            case ("put", key, value, lease):
                on_lease = f", lease {lease}" if lease else ""
                return f"put({key!r}, {value!r}{on_lease})"
            case ("cas", key, expected, new):
                outcome = _outcome(output, "swapped", "not swapped")
                return f"cas({key!r}, {expected!r}, {new!r}) -> {outcome}"
            case ("delete", key):
                return f"delete({key!r}) -> {_outcome(output, 'existed', 'absent')}"
            case ("revoke", key, lease):
                return f"revoke(lease {lease} of {key!r})"
        return repr(input)


REGISTER: Final = RegisterModel()
KV: Final = KvModel()
SIM_KV: Final = SimKvModel()
SIM_ETCD: Final = SimEtcdModel()
