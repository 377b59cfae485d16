"""Agreement with every verdict of the shared Jepsen histories (../shared/data/linearizability)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from synod.check import KV, REGISTER, Model, Operation, Verdict, check_operations, explain
from synod.check.bench import load_verdicts
from synod.check.jepsen import parse_etcd_log, parse_kv_edn

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "linearizability"
SUITES: dict[str, tuple[Model, Callable[[str], list[Operation]]]] = {
    "jepsen-etcd": (REGISTER, parse_etcd_log),
    "kv": (KV, parse_kv_edn),
}


def cases() -> list[tuple[str, str, bool]]:
    found = []
    for suite in SUITES:
        if (DATA / suite / "verdicts.tsv").is_file():
            found += [(suite, name, ok) for name, ok in sorted(load_verdicts(DATA / suite).items())]
    return found


CASES = cases()


@pytest.mark.skipif(not CASES, reason=f"shared linearizability data not found at {DATA}")
@pytest.mark.parametrize(("suite", "name", "linearizable"), CASES, ids=[c[1] for c in CASES])
def test_verdict_agrees(suite: str, name: str, linearizable: bool) -> None:
    model, parse = SUITES[suite]
    result = check_operations(model, parse((DATA / suite / name).read_text()))
    expected = Verdict.LINEARIZABLE if linearizable else Verdict.NOT_LINEARIZABLE
    assert result.verdict is expected, explain(result)
    if not linearizable:
        assert result.violations[0].stuck, "a violation names the operations that cannot follow"


@pytest.mark.skipif(not CASES, reason=f"shared linearizability data not found at {DATA}")
def test_the_data_is_all_there() -> None:
    suites = {suite for suite, _, _ in CASES}
    assert suites == set(SUITES)
    assert sum(1 for suite, _, _ in CASES if suite == "jepsen-etcd") == 102
    assert sum(1 for suite, _, _ in CASES if suite == "kv") == 6
