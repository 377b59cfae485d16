"""``python -m synod.check.bench``: check every shared Jepsen history, timed, against its verdict.

Single process, one file after another, no time budget, so the numbers compare from run to run
and machine to machine. Exits 1 if any verdict disagrees with ``verdicts.tsv``, 2 if the data
is missing: the bench doubles as the checker's acceptance test.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from synod.check.history import Operation
from synod.check.jepsen import parse_etcd_log, parse_kv_edn
from synod.check.models import KV, REGISTER, Model
from synod.check.wgl import Verdict, check_operations

DATA_DEFAULT = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "linearizability"
SUITES: tuple[tuple[str, Model, Callable[[str], list[Operation]]], ...] = (
    ("jepsen-etcd", REGISTER, parse_etcd_log),
    ("kv", KV, parse_kv_edn),
)
SLOWEST_SHOWN = 3


@dataclass(slots=True)
class SuiteReport:
    name: str
    histories: int = 0
    parse_s: float = 0.0
    check_s: float = 0.0
    disagreements: list[str] = field(default_factory=list)
    timings: list[tuple[float, str]] = field(default_factory=list)

    @property
    def total_s(self) -> float:
        return self.parse_s + self.check_s


def load_verdicts(directory: Path) -> dict[str, bool]:
    """``verdicts.tsv``: a header, then ``file <TAB> true|false`` (true: linearizable)."""
    verdicts: dict[str, bool] = {}
    for line in (directory / "verdicts.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        if line.strip():
            name, linearizable = line.split("\t")
            verdicts[name] = linearizable.strip() == "true"
    return verdicts


def bench_suite(
    directory: Path, model: Model, parse: Callable[[str], list[Operation]]
) -> SuiteReport:
    report = SuiteReport(directory.name)
    for name, expected in sorted(load_verdicts(directory).items()):
        started = time.perf_counter()
        operations = parse((directory / name).read_text(encoding="utf-8"))
        parsed = time.perf_counter()
        verdict = check_operations(model, operations).verdict
        checked = time.perf_counter()
        report.histories += 1
        report.parse_s += parsed - started
        report.check_s += checked - parsed
        report.timings.append((checked - started, name))
        wanted = Verdict.LINEARIZABLE if expected else Verdict.NOT_LINEARIZABLE
        if verdict is not wanted:
            report.disagreements.append(f"{name}: expected {wanted.value}, got {verdict.value}")
    return report


def _print(report: SuiteReport) -> None:
    agree = report.histories - len(report.disagreements)
    print(
        f"{report.name:<12} {report.histories:>4} histories  {agree:>4} agree  "
        f"{report.total_s:7.2f} s (parse {report.parse_s:.2f} s, check {report.check_s:.2f} s)"
    )
    slowest = sorted(report.timings, reverse=True)[:SLOWEST_SHOWN]
    print("             slowest: " + ", ".join(f"{name} {took:.2f} s" for took, name in slowest))
    for line in report.disagreements:
        print(f"  DISAGREES {line}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m synod.check.bench", description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA_DEFAULT, help="linearizability data")
    args = parser.parse_args(argv)
    data: Path = args.data
    missing = [name for name, _, _ in SUITES if not (data / name / "verdicts.tsv").is_file()]
    if missing:
        print(f"error: no {', '.join(missing)} data under {data}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    reports = [bench_suite(data / name, model, parse) for name, model, parse in SUITES]
    elapsed_s = time.perf_counter() - started
    for report in reports:
        _print(report)
    histories = sum(report.histories for report in reports)
    disagreements = sum(len(report.disagreements) for report in reports)
    print(
        f"{'overall':<12} {histories:>4} histories  {disagreements} disagreement(s)  "
        f"{elapsed_s:7.2f} s"
    )
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
