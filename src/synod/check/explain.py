"""Plain-text reports of a check: the verdict, and for a violation, where the search got stuck.

A violation is shown the way one debugs it by hand: the longest prefix of the partition that does
have a linearization (its tail, and the state it leaves), then every operation that could come
next by real time, each with why it cannot: the model refuses it in that state, or it is allowed
but nothing linearizable follows it.
"""

from __future__ import annotations

import math

from synod.check.history import Operation
from synod.check.models import Model, describe_state
from synod.check.wgl import CheckResult, PartitionResult, Verdict

PREFIX_TAIL_SHOWN = 5
"""How many of the last linearized operations a report repeats before the stuck ones."""
STATE_CHARS_MAX = 120


def format_time(time: float) -> str:
    """Times as people write them: ``12`` rather than ``12.0``, ``inf`` for never."""
    if time == math.inf:
        return "inf"
    return str(int(time)) if float(time).is_integer() else f"{time:.6g}"


def shorten(text: str, chars_max: int = STATE_CHARS_MAX) -> str:
    """Keep a long state or value readable: its head and tail around an ellipsis."""
    if len(text) <= chars_max:
        return text
    half = (chars_max - 5) // 2
    return f"{text[:half]} ... {text[-half:]}"


def describe_operation(model: Model, operation: Operation) -> str:
    """One line per operation: client, interval and what it did."""
    interval = f"[{format_time(operation.call)}, {format_time(operation.ret)}]"
    what = shorten(model.describe(operation.input, operation.effective_output))
    return f"client {operation.client:<4} {interval:<16} {what}"


def why_stuck(model: Model, partition: PartitionResult, index: int) -> str:
    """Why operation ``index`` cannot come right after the partition's longest prefix."""
    operation = partition.operations[index]
    after = model.step(partition.state, operation.input, operation.effective_output)
    if after is None:
        return "refused by the model in that state"
    if operation.unknown and after == partition.state:
        return "would change nothing, so it cannot help"
    return "allowed, but no linearization of the rest follows it"


def _headline(result: CheckResult) -> str:
    operations = sum(len(partition.operations) for partition in result.partitions)
    size = f"{len(result.partitions)} partition(s), {operations} operation(s)"
    if result.verdict is Verdict.LINEARIZABLE:
        return f"linearizable: {size}, checked in {result.elapsed_s:.2f} s"
    if result.verdict is Verdict.NOT_LINEARIZABLE:
        keys = ", ".join(repr(partition.key) for partition in result.violations)
        return f"NOT linearizable: partition(s) {keys} of {size}"
    undecided = sum(1 for p in result.partitions if p.verdict is Verdict.UNKNOWN)
    return f"unknown: time budget exhausted with {undecided} of {size} undecided"


def explain_partition(model: Model, partition: PartitionResult) -> list[str]:
    """The lines describing one violated partition."""
    prefix = partition.linearized
    lines = [
        f"partition {partition.key!r} ({len(partition.operations)} operations):",
        f"  the longest linearizable prefix found has {len(prefix)} operation(s) and leaves "
        f"the state {shorten(describe_state(partition.state))}",
    ]
    if prefix:
        shown = prefix[-PREFIX_TAIL_SHOWN:]
        lines.append(f"  its last {len(shown)}, in linearization order:")
        first = len(prefix) - len(shown) + 1
        for position, index in enumerate(shown, start=first):
            lines.append(
                f"    #{position:<5} {describe_operation(model, partition.operations[index])}"
            )
    lines.append("  none of these operations can be ordered after it:")
    for index in partition.stuck:
        described = describe_operation(model, partition.operations[index])
        lines.append(f"    {described}  <- {why_stuck(model, partition, index)}")
    return lines


def explain(result: CheckResult) -> str:
    """A report for people: one headline, then each violated partition in detail."""
    lines = [_headline(result)]
    for partition in result.violations:
        lines.extend(explain_partition(result.model, partition))
    return "\n".join(lines)
