"""Verdicts on a finished run, one per check, each with the anomalies it found explained.

- ``linearizable registers``: the register operations, read back from the EDN history with
  ``synod.check.jepsen.parse_register_edn``, checked key by key with the WGL checker against
  ``SIM_KV`` (times are history line numbers, so an explanation points into history.edn);
- ``linearizable appends``: the append workload's gets and appends, read back with
  ``synod.check.jepsen.parse_kv_edn`` and checked key by key against ``KV``;
- ``bank totals``: every successful bank read saw every account, none negative, summing to
  the total (reads are single-revision ranges, so any other sum is a torn or lost transfer);
- ``no crashes``: no member exited unless the nemesis killed or removed it;
- ``disk faults``: every member whose log had bits flipped either started and served on, or
  refused to start with an error message (a Python traceback is not a clear error);
- ``recovered``: once every fault was healed, a write and a linearizable read succeeded in
  time on every member.

A check is ``valid``, ``invalid`` or ``unknown`` (the checker ran out of its time budget).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from synod.chaos.history import Event
from synod.check.explain import explain
from synod.check.history import Operation
from synod.check.jepsen import parse_kv_edn, parse_register_edn
from synod.check.models import KV, SIM_KV, Model
from synod.check.wgl import CheckResult, Verdict, check_operations

ANOMALIES_SHOWN_MAX = 10


@dataclass(slots=True)
class Check:
    name: str
    verdict: str
    """"valid", "invalid" or "unknown"."""
    summary: str
    anomalies: list[str] = field(default_factory=list)
    result: CheckResult | None = None


def check_registers(edn_text: str, time_budget_s: float) -> Check:
    return _linearizable(
        "linearizable registers", SIM_KV, parse_register_edn(edn_text), time_budget_s
    )


def check_appends(edn_text: str, time_budget_s: float) -> Check:
    return _linearizable("linearizable appends", KV, parse_kv_edn(edn_text), time_budget_s)


def _linearizable(
    name: str, model: Model, operations: list[Operation], time_budget_s: float
) -> Check:
    result = check_operations(model, operations, time_budget_s)
    keys = len(result.partitions)
    summary = f"{len(operations)} operations on {keys} keys, checked in {result.elapsed_s:.2f} s"
    if result.verdict is Verdict.LINEARIZABLE:
        return Check(name, "valid", summary, result=result)
    if result.verdict is Verdict.UNKNOWN:
        return Check(name, "unknown", summary + " (budget ran out)")
    times = "times in the explanation are line numbers of history.edn"
    return Check(name, "invalid", f"{summary}; {times}", [explain(result)], result)


def check_bank(events: Sequence[Event], *, accounts: int, total: int) -> Check:
    reads = [e for e in events if e.is_client and e.f == "read" and e.type == "ok"]
    anomalies: list[str] = []
    bad = 0
    for event in reads:
        balances: dict[int, int] = event.value
        found = sum(balances.values())
        problems = []
        if len(balances) != accounts:
            problems.append(f"{len(balances)} accounts instead of {accounts}")
        if found != total:
            problems.append(f"total {found} instead of {total}")
        negative = [a for a, v in balances.items() if v < 0]
        if negative:
            problems.append(f"negative balance in accounts {negative}")
        if problems:
            bad += 1
            if len(anomalies) < ANOMALIES_SHOWN_MAX:
                anomalies.append(
                    f"read by process {event.process} on {event.node} at "
                    f"{event.time_ns / 1e9:.3f} s saw {balances}: {'; '.join(problems)}"
                )
    transfers = sum(1 for e in events if e.is_client and e.f == "transfer" and e.type == "ok")
    summary = f"{len(reads)} reads, {transfers} transfers; {bad} reads broke conservation"
    return Check("bank totals", "invalid" if bad else "valid", summary, anomalies)


def check_crashes(crashes: Sequence[tuple[int, str, int]], logs: dict[str, str]) -> Check:
    anomalies = [
        f"{name} exited with code {code} at {at_ns / 1e9:.3f} s; log tail:\n{logs.get(name, '')}"
        for at_ns, name, code in crashes
    ]
    summary = f"{len(crashes)} unexpected member exits"
    return Check("no crashes", "invalid" if crashes else "valid", summary, anomalies)


def check_recovery(problems: Sequence[str], seconds: float) -> Check:
    if problems:
        return Check(
            "recovered", "invalid", "not every member served after healing", list(problems)
        )
    return Check(
        "recovered",
        "valid",
        f"every member served a write and a read {seconds:.1f} s after healing",
    )


def check_disk(outcomes: Sequence[str]) -> Check:
    unclear = [o for o in outcomes if "CRASHED" in o]
    refused = sum(1 for o in outcomes if "refused" in o or "CRASHED" in o)
    summary = (
        f"{len(outcomes)} corrupted logs: {len(outcomes) - refused} members started and served, "
        f"{refused} refused to start"
    )
    return Check("disk faults", "invalid" if unclear else "valid", summary, list(outcomes))
