"""The run's report: a text summary and a self-contained HTML timeline (no scripts, no links).

The text gives the verdict per check with each anomaly explained, operation counts and
latencies, the fault windows and the leader changes. The HTML draws one row per client slot
(a bar per operation from invocation to completion: green ok, grey fail, orange unknown),
the fault windows shaded across every row, the leader changes as vertical lines, and a
latency plot of the successful operations, followed by the same checks as the text.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from synod.chaos.history import Event
from synod.chaos.runner import FINAL_PROCESS, RunResult

WIDTH = 1200
ROW = 14
LEFT = 70
COLORS = {"ok": "#3a3", "fail": "#999", "info": "#e80"}
FAULT_COLORS = {
    "kill": "#f66",
    "pause": "#69f",
    "partition": "#c6f",
    "member": "#fc3",
}


@dataclass(frozen=True, slots=True)
class Op:
    process: int
    f: str
    type: str
    start_ns: int
    end_ns: int
    node: str
    value: object
    error: str


def pair_operations(events: Sequence[Event]) -> list[Op]:
    """Client invocations with their completions (open ones end at the last event)."""
    open_: dict[int, Event] = {}
    ops: list[Op] = []
    last = events[-1].time_ns if events else 0
    for event in events:
        if not isinstance(event.process, int):
            continue
        if event.type == "invoke":
            open_[event.process] = event
            continue
        call = open_.pop(event.process, None)
        if call is None:
            continue
        ops.append(
            Op(
                event.process,
                event.f,
                event.type,
                call.time_ns,
                event.time_ns,
                event.node,
                event.value,
                event.error,
            )
        )
    for process, call in open_.items():
        ops.append(Op(process, call.f, "info", call.time_ns, last, call.node, call.value, "open"))
    return ops


def _percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def latency_line(ops: Sequence[Op]) -> str:
    latencies = [(op.end_ns - op.start_ns) / 1e6 for op in ops if op.type == "ok"]
    if not latencies:
        return "latency: no successful operations"
    return (
        f"latency of ok operations (ms): p50 {_percentile(latencies, 0.5):.1f}, "
        f"p99 {_percentile(latencies, 0.99):.1f}, max {max(latencies):.1f}"
    )


def text_report(result: RunResult) -> str:
    config = result.config
    target = (
        ",".join(config.endpoints) if config.endpoints else f"{config.nodes} {config.target} nodes"
    )
    engine = (
        f", engine {config.engine}" if config.target == "synod" and not config.endpoints else ""
    )
    lines = [
        f"synod chaos: {target}{engine}, workload {config.workload}, nemesis "
        f"{','.join(config.nemesis) or 'none'}, seed {config.seed}, {config.time_s:g} s",
    ]
    if result.network[0]:
        lines.append(f"network: {result.network[0]} ({result.network[1]})")
    if result.interrupted:
        lines.append("verdict: INTERRUPTED (no verdict; everything was stopped)")
    else:
        failed = [c for c in result.checks if c.verdict != "valid"]
        verdict = (
            "VALID"
            if not failed
            else "INVALID"
            if any(c.verdict == "invalid" for c in failed)
            else "UNKNOWN"
        )
        passed = len(result.checks) - len(failed)
        lines.append(f"verdict: {verdict} ({passed} of {len(result.checks)} checks passed)")
    for check in result.checks:
        lines.append(f"  [{check.verdict}] {check.name}: {check.summary}")
        for anomaly in check.anomalies:
            lines.append("      " + anomaly.replace("\n", "\n      "))
    ops = pair_operations(result.history.events)
    counts = Counter(op.type for op in ops)
    by_f = Counter(f"{op.f}:{op.type}" for op in ops)
    lines.append(
        f"operations: {len(ops)} (ok {counts['ok']}, fail {counts['fail']}, "
        f"unknown {counts['info']}); " + ", ".join(f"{k} {v}" for k, v in sorted(by_f.items()))
    )
    lines.append(latency_line(ops))
    lines.append(f"faults: {len(result.windows)}")
    for window in result.windows:
        end = f"{window.end_ns / 1e9:7.2f}" if window.end_ns >= 0 else "   open"
        lines.append(f"  {window.start_ns / 1e9:7.2f} - {end} s  {window.kind}: {window.detail}")
    lines.append(f"leader changes: {len(result.leader_changes)}")
    for at_ns, name in result.leader_changes:
        lines.append(f"  {at_ns / 1e9:7.2f} s  {name or '(none)'}")
    lines.append(f"took {result.elapsed_s:.1f} s; history: {config.out / 'history.edn'}")
    return "\n".join(lines) + "\n"


def _x(time_ns: int, span_ns: int) -> float:
    return LEFT + (WIDTH - LEFT - 10) * time_ns / max(1, span_ns)


def html_report(result: RunResult) -> str:
    ops = pair_operations(result.history.events)
    span = max([op.end_ns for op in ops] + [w.end_ns for w in result.windows] + [1])
    slots = sorted({op.process % FINAL_PROCESS if op.process < FINAL_PROCESS else -1 for op in ops})
    workers = max(1, result.config.clients_per_node * max(1, len(result.members)))
    rows = sorted({(op.process % workers if op.process < FINAL_PROCESS else workers) for op in ops})
    row_of = {slot: index for index, slot in enumerate(rows)}
    del slots
    top = 30
    height = top + ROW * len(rows) + 20
    parts: list[str] = [
        f'<svg width="{WIDTH}" height="{height}" font-size="10" font-family="monospace">'
    ]
    for window in result.windows:
        x0, x1 = _x(window.start_ns, span), _x(window.end_ns if window.end_ns >= 0 else span, span)
        color = FAULT_COLORS.get(window.kind, "#ccc")
        parts.append(
            f'<rect x="{x0:.1f}" y="{top - 12}" width="{max(1.0, x1 - x0):.1f}" '
            f'height="{height - top + 12}" fill="{color}" opacity="0.25">'
            f"<title>{html.escape(window.kind + ': ' + window.detail)}</title></rect>"
            f'<text x="{x0 + 2:.1f}" y="{top - 3}">{html.escape(window.kind)}</text>'
        )
    for at_ns, name in result.leader_changes:
        x = _x(at_ns, span)
        parts.append(
            f'<line x1="{x:.1f}" y1="10" x2="{x:.1f}" y2="{height}" stroke="#000" '
            f'stroke-dasharray="2,2"><title>leader: {html.escape(name or "none")}</title></line>'
            f'<text x="{x + 2:.1f}" y="12">{html.escape(name or "-")}</text>'
        )
    for slot, index in row_of.items():
        label = "final" if slot == workers else f"c{slot}"
        parts.append(f'<text x="2" y="{top + ROW * index + 10}">{label}</text>')
    for op in ops:
        slot = op.process % workers if op.process < FINAL_PROCESS else workers
        y = top + ROW * row_of[slot]
        x0, x1 = _x(op.start_ns, span), _x(op.end_ns, span)
        tip = (
            f"process {op.process} on {op.node}: {op.f} {op.value!r} -> {op.type} "
            f"({(op.end_ns - op.start_ns) / 1e6:.1f} ms){' ' + op.error if op.error else ''}"
        )
        parts.append(
            f'<rect x="{x0:.1f}" y="{y}" width="{max(1.0, x1 - x0):.1f}" height="{ROW - 3}" '
            f'fill="{COLORS.get(op.type, "#000")}"><title>{html.escape(tip)}</title></rect>'
        )
    parts.append("</svg>")
    timeline = "".join(parts)
    latency = _latency_svg(ops, span)
    checks = "".join(
        f"<h3 class='{c.verdict}'>[{c.verdict}] {html.escape(c.name)}</h3>"
        f"<p>{html.escape(c.summary)}</p>"
        + "".join(f"<pre>{html.escape(a)}</pre>" for a in c.anomalies)
        for c in result.checks
    )
    text = html.escape(text_report(result))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>synod chaos report</title>"
        "<style>body{font-family:sans-serif;margin:1em}.valid{color:#292}.invalid{color:#c22}"
        ".unknown{color:#c80}pre{background:#f4f4f4;padding:.5em;overflow:auto}</style>"
        "</head><body>"
        f"<h1>synod chaos</h1><h2>Checks</h2>{checks}"
        "<h2>Timeline</h2><p>One row per client slot; bars from invocation to completion "
        "(green ok, grey fail, orange unknown); shaded: fault windows; dashed: leader changes. "
        "Hover for "
        f"details.</p>{timeline}<h2>Latency</h2>{latency}"
        f"<h2>Summary</h2><pre>{text}</pre>"
        "</body></html>"
    )


def _latency_svg(ops: Sequence[Op], span: int) -> str:
    good = [op for op in ops if op.type == "ok"]
    height = 160
    if not good:
        return "<p>no successful operations</p>"
    top_ms = max(1.0, _percentile([(op.end_ns - op.start_ns) / 1e6 for op in good], 0.999))
    parts = [f'<svg width="{WIDTH}" height="{height + 20}" font-size="10" font-family="monospace">']
    parts.append(f'<text x="2" y="12">{top_ms:.0f} ms</text><text x="2" y="{height}">0</text>')
    for op in good:
        latency = min(top_ms, (op.end_ns - op.start_ns) / 1e6)
        y = height - (height - 10) * latency / top_ms
        parts.append(f'<circle cx="{_x(op.start_ns, span):.1f}" cy="{y:.1f}" r="1.5" fill="#36c"/>')
    parts.append("</svg>")
    return "".join(parts)
