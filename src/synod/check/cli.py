"""``synod check``: the shell around the checker. Reads files, prints verdicts, writes HTML.

Everything that touches files, processes or the terminal is here (and in ``bench``); the rest of
the package stays pure. Exit status: 0 when every file is linearizable, 1 when any is not (a
violation is the finding that matters most, so it wins), 2 when a file is undecided within the
time budget or cannot be read or parsed.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from synod.check.explain import explain
from synod.check.history import HistoryError, Operation
from synod.check.jepsen import parse_etcd_log, parse_kv_edn, parse_register_edn
from synod.check.models import KV, REGISTER, SIM_KV, Model
from synod.check.visualize import render_html
from synod.check.wgl import CheckResult, Verdict, check_operations

EXIT_LINEARIZABLE = 0
EXIT_VIOLATION = 1
EXIT_UNDECIDED = 2

FORMATS: dict[str, tuple[Model, Callable[[str], list[Operation]], str]] = {
    "register": (REGISTER, parse_etcd_log, "Jepsen etcd register log (INFO jepsen.util - ...)"),
    "kv": (KV, parse_kv_edn, "Jepsen key-value history, one EDN map per line"),
    "registers": (
        SIM_KV,
        parse_register_edn,
        "Jepsen independent registers (read, write, cas on [key value]), EDN, as synod chaos "
        "writes them",
    ),
}


@dataclass(frozen=True, slots=True)
class FileOutcome:
    """What checking one file produced: a result, or a one-line reason it could not be checked."""

    path: Path
    result: CheckResult | None
    error: str | None
    elapsed_s: float


def _positive(kind: type[int] | type[float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    parse.__name__ = f"positive {kind.__name__}"  # argparse says "invalid positive int value"
    return parse


def configure(parser: argparse.ArgumentParser) -> None:
    formats = "; ".join(f"{name}: {about}" for name, (_, _, about) in FORMATS.items())
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "Prints one line per file: linearizable, NOT linearizable (followed by an explanation) "
        "or unknown.\nExit status: 0 if every file is linearizable, 1 if any is not, 2 if any is "
        "undecided\nwithin the time budget or cannot be read or parsed (and none is violated)."
    )
    parser.add_argument("--model", required=True, choices=sorted(FORMATS), help=formats)
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="histories to check")
    parser.add_argument(
        "--time-budget",
        type=_positive(float),
        metavar="SECONDS",
        help="give up on a file after this long and call it unknown (default: no limit)",
    )
    parser.add_argument(
        "--html",
        type=Path,
        metavar="OUT.html",
        help="write a self-contained HTML timeline of each history; with several files, one page "
        "per file named OUT-<file stem>.html",
    )
    parser.add_argument(
        "--jobs",
        type=_positive(int),
        default=1,
        metavar="N",
        help="check up to N files at once in separate processes (default: 1)",
    )


def check_file(path: Path, model_name: str, time_budget_s: float | None) -> FileOutcome:
    """Read, parse and check one file; every expected failure becomes a one-line error."""
    started = time.perf_counter()
    model, parse, _ = FORMATS[model_name]
    try:
        text = path.read_text(encoding="utf-8")
        result = check_operations(model, parse(text), time_budget_s)
    except OSError as error:
        reason = error.strerror or str(error)
        return FileOutcome(path, None, f"cannot read: {reason}", time.perf_counter() - started)
    except UnicodeDecodeError:
        return FileOutcome(path, None, "not a UTF-8 text file", time.perf_counter() - started)
    except HistoryError as error:
        reason = f"not a {model_name} history: {error}"
        return FileOutcome(path, None, reason, time.perf_counter() - started)
    return FileOutcome(path, result, None, time.perf_counter() - started)


def _outcomes(args: argparse.Namespace) -> Iterator[FileOutcome]:
    files: list[Path] = args.files
    budget: float | None = args.time_budget
    if args.jobs == 1 or len(files) == 1:
        for path in files:
            yield check_file(path, args.model, budget)
        return
    with ProcessPoolExecutor(max_workers=min(args.jobs, len(files))) as pool:
        yield from pool.map(check_file, files, [args.model] * len(files), [budget] * len(files))


def _report(outcome: FileOutcome) -> int:
    """Print one file's line (and explanation); return its exit status."""
    if outcome.result is None:
        print(f"{outcome.path}: error: {outcome.error}", file=sys.stderr)
        return EXIT_UNDECIDED
    verdict = outcome.result.verdict
    took = f"({outcome.elapsed_s:.3f} s)"
    if verdict is Verdict.LINEARIZABLE:
        print(f"{outcome.path}: linearizable {took}")
        return EXIT_LINEARIZABLE
    if verdict is Verdict.NOT_LINEARIZABLE:
        print(f"{outcome.path}: NOT linearizable {took}")
        print("  " + explain(outcome.result).replace("\n", "\n  "))
        return EXIT_VIOLATION
    print(f"{outcome.path}: unknown (time budget exceeded) {took}")
    return EXIT_UNDECIDED


def html_paths(out: Path, files: Sequence[Path]) -> list[Path]:
    """Where each file's page goes: ``out`` itself for one file, ``out-<stem>`` for several."""
    if len(files) == 1:
        return [out]
    paths: list[Path] = []
    for path in files:
        candidate = out.with_name(f"{out.stem}-{path.stem}{out.suffix or '.html'}")
        serial = 2
        while candidate in paths:
            candidate = out.with_name(f"{out.stem}-{path.stem}-{serial}{out.suffix or '.html'}")
            serial += 1
        paths.append(candidate)
    return paths


def _write_html(outcome: FileOutcome, target: Path) -> int:
    if outcome.result is None:
        return EXIT_LINEARIZABLE
    try:
        target.write_text(render_html(outcome.result, str(outcome.path)), encoding="utf-8")
    except OSError as error:
        print(f"{target}: error: cannot write: {error.strerror or error}", file=sys.stderr)
        return EXIT_UNDECIDED
    return EXIT_LINEARIZABLE


def run(args: argparse.Namespace) -> int:
    targets = html_paths(args.html, args.files) if args.html is not None else None
    statuses: set[int] = set()
    for index, outcome in enumerate(_outcomes(args)):
        statuses.add(_report(outcome))
        if targets is not None:
            statuses.add(_write_html(outcome, targets[index]))
    if EXIT_VIOLATION in statuses:
        return EXIT_VIOLATION
    return EXIT_UNDECIDED if EXIT_UNDECIDED in statuses else EXIT_LINEARIZABLE
