"""A self-contained HTML picture of a checked history: no scripts, no external files.

One timeline per partition (violated ones first), one row per client, one bar per operation
from its call to its return. Time is drawn by rank, not to scale: every distinct call or return
time gets one slot, so a burst of fast operations stays as readable as a slow one. Operations
that never returned run open-ended to the right edge. Colours say what the search learnt: in
the longest linearizable prefix, unable to come after it (the violation), or neither. Hovering a
bar shows the operation, its interval and its place in the prefix.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from synod.check.explain import explain, format_time
from synod.check.models import Model
from synod.check.wgl import CheckResult, PartitionResult, Verdict

SLOT_WIDTH_PX = 16
ROW_HEIGHT_PX = 26
BAR_HEIGHT_PX = 18
LABEL_WIDTH_PX = 96
CHAR_WIDTH_PX = 6.6
"""Roughly one character of the 11px monospace label; used to cut labels to their bar."""

_UNDECIDED = "undecided (out of time, or another partition settled the verdict first)"
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; }
.scroll { overflow-x: auto; border: 1px solid #ddd; margin-bottom: 2em; }
svg text { font: 11px monospace; }
.client { fill: #555; }
.linearized { fill: #bcd7f2; stroke: #4a7fb5; }
.other { fill: #e4e4e4; stroke: #999; }
.stuck { fill: #f4b0b0; stroke: #c0392b; stroke-width: 2; }
.open { stroke-dasharray: 4 3; }
.legend span { display: inline-block; padding: 0.1em 0.6em; margin-right: 0.6em;
               border: 1px solid #999; }
"""


def _legend() -> str:
    return (
        '<p class="legend">'
        '<span style="background:#bcd7f2">in the longest linearizable prefix</span>'
        '<span style="background:#f4b0b0">cannot be ordered after that prefix</span>'
        '<span style="background:#e4e4e4">not reached</span>'
        '<span style="border-style:dashed">dashed, open-ended: outcome unknown</span></p>'
    )


def _bar(model: Model, partition: PartitionResult, index: int, layout: _Layout) -> str:
    operation = partition.operations[index]
    role, placement = layout.role(index)
    x_start = layout.x(operation.call)
    x_end = layout.x(operation.ret)
    y = layout.y(operation.client)
    what = model.describe(operation.input, operation.effective_output)
    interval = f"[{format_time(operation.call)}, {format_time(operation.ret)}]"
    tooltip = f"client {operation.client}: {what} {interval}{placement}"
    label_chars = max(0, int((x_end - x_start - 6) / CHAR_WIDTH_PX))
    label = what if len(what) <= label_chars else what[: max(0, label_chars - 1)] + "~"
    classes = f"{role} open" if operation.unknown else role
    return (
        f"<g><title>{html.escape(tooltip)}</title>"
        f'<rect class="{classes}" x="{x_start:.1f}" y="{y}" width="{x_end - x_start:.1f}" '
        f'height="{BAR_HEIGHT_PX}" rx="3"/>'
        f'<text x="{x_start + 3:.1f}" y="{y + BAR_HEIGHT_PX - 5}">{html.escape(label)}</text></g>'
    )


class _Layout:
    """Where a time or a client lands on the picture, and what each operation's bar says."""

    def __init__(self, partition: PartitionResult) -> None:
        operations = partition.operations
        self.positions = {index: place for place, index in enumerate(partition.linearized, 1)}
        self.stuck = frozenset(partition.stuck)
        times = sorted({t for op in operations for t in (op.call, op.ret) if t != math.inf})
        self.slot = {time: rank for rank, time in enumerate(times)}
        self.rows = {
            client: row for row, client in enumerate(sorted({op.client for op in operations}))
        }
        self.width_px = LABEL_WIDTH_PX + (len(times) + 3) * SLOT_WIDTH_PX
        self.height_px = len(self.rows) * ROW_HEIGHT_PX + 8

    def x(self, time: float) -> float:
        if time == math.inf:
            return float(self.width_px - 4)
        return LABEL_WIDTH_PX + self.slot[time] * SLOT_WIDTH_PX + SLOT_WIDTH_PX / 2

    def y(self, client: int) -> int:
        return self.rows[client] * ROW_HEIGHT_PX + 4

    def role(self, index: int) -> tuple[str, str]:
        """The bar's class, and what its tooltip adds about the search."""
        if index in self.stuck:
            return "stuck", " - cannot be ordered after the longest linearizable prefix"
        if index in self.positions:
            return "linearized", f" - linearized #{self.positions[index]}"
        return "other", ""


def _section(model: Model, partition: PartitionResult) -> str:
    layout = _Layout(partition)
    clients = [
        f'<text class="client" x="4" y="{layout.y(client) + BAR_HEIGHT_PX - 5}">'
        f"client {client}</text>"
        for client in layout.rows
    ]
    bars = [_bar(model, partition, index, layout) for index in range(len(partition.operations))]
    verdict = _UNDECIDED if partition.verdict is Verdict.UNKNOWN else partition.verdict.value
    heading = (
        f"partition {partition.key!r}: {verdict} "
        f"({len(partition.operations)} operations, longest linearizable prefix "
        f"{len(partition.linearized)})"
    )
    return (
        f"<h2>{html.escape(heading)}</h2>\n"
        f'<div class="scroll"><svg xmlns="http://www.w3.org/2000/svg" '
        f'width="{layout.width_px}" height="{layout.height_px}">\n'
        + "\n".join(clients + bars)
        + "\n</svg></div>"
    )


def _ordered(partitions: Sequence[PartitionResult]) -> list[PartitionResult]:
    """Violations first, then undecided, then the rest, each group in the checker's order."""
    rank = {Verdict.NOT_LINEARIZABLE: 0, Verdict.UNKNOWN: 1, Verdict.LINEARIZABLE: 2}
    return sorted(partitions, key=lambda partition: rank[partition.verdict])


def render_html(result: CheckResult, title: str) -> str:
    """The whole page for one checked history."""
    sections = [_section(result.model, partition) for partition in _ordered(result.partitions)]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>\n"
        f"<h1>{html.escape(title)}</h1>\n<pre>{html.escape(explain(result))}</pre>\n"
        f"{_legend()}\n" + "\n".join(sections) + "\n</body></html>\n"
    )
