"""The history's EDN, read back by ``synod check``'s register reader, and the run's checks."""

from __future__ import annotations

import math

import pytest

from synod.chaos.checks import check_appends, check_bank, check_registers
from synod.chaos.history import History, edn
from synod.chaos.watch import Delivery, Watcher, check_watch
from synod.chaos.workloads import ACCOUNTS, TOTAL
from synod.check.history import HistoryError
from synod.check.jepsen import Keyword, parse_kv_edn, parse_register_edn, read_edn_map


def test_edn_forms() -> None:
    assert edn(None) == "nil"
    assert edn(True) == "true"
    assert edn([1, [2, None]]) == "[1 [2 nil]]"
    assert edn({"from": 1}) == '{"from" 1}'
    assert edn('say "hi"') == '"say \\"hi\\""'
    assert edn(Keyword("ok")) == ":ok"
    with pytest.raises(TypeError):
        edn(object())


def register_history(stale: bool) -> History:
    history = History()
    history.add("invoke", "write", [7, 1], 0, "n1")
    history.add("ok", "write", [7, 1], 0, "n1")
    history.nemesis("start-partition", "leader: n1")
    history.add("invoke", "write", [7, 2], 0, "n2")
    history.add("ok", "write", [7, 2], 0, "n2")
    history.add("invoke", "read", [7, None], 1, "n1")
    history.add("ok", "read", [7, 1 if stale else 2], 1, "n1")
    history.add("invoke", "cas", [7, [4, 3]], 2, "n3")
    history.add("fail", "cas", [7, [4, 3]], 2, "n3")
    history.add("invoke", "cas", [7, [2, 3]], 3, "n3")
    history.add("info", "cas", [7, [2, 3]], 3, "n3").error = "DEADLINE_EXCEEDED"
    return history


def test_history_lines_are_edn_maps() -> None:
    lines = register_history(stale=False).to_edn().splitlines()
    first = read_edn_map(lines[0])
    assert first[Keyword("type")] == Keyword("invoke")
    assert first[Keyword("value")] == (7, 1)
    assert first[Keyword("node")] == "n1"
    assert read_edn_map(lines[2])[Keyword("process")] == Keyword("nemesis")
    assert read_edn_map(lines[-1])[Keyword("error")] == "DEADLINE_EXCEEDED"


def test_register_reader_skips_nemesis_and_drops_failed_cas() -> None:
    operations = parse_register_edn(register_history(stale=False).to_edn())
    assert [op.input for op in operations] == [
        ("put", 7, 1),
        ("put", 7, 2),
        ("get", 7),
        ("cas", 7, 2, 3),
    ]
    assert operations[2].output == 2
    assert operations[3].ret == math.inf, "an :info cas has an unknown outcome"


def test_register_reader_rejects_a_bad_value() -> None:
    with pytest.raises(HistoryError, match="line 1"):
        parse_register_edn("{:process 0, :type :invoke, :f :read, :value 3}\n")


def test_register_check_finds_the_stale_read() -> None:
    assert check_registers(register_history(stale=False).to_edn(), 10).verdict == "valid"
    check = check_registers(register_history(stale=True).to_edn(), 10)
    assert check.verdict == "invalid"
    assert "NOT linearizable" in check.anomalies[0]
    assert "get(7) -> 1" in check.anomalies[0]


def test_bank_check_flags_a_read_that_breaks_conservation() -> None:
    history = History()
    good = {index: TOTAL // ACCOUNTS for index in range(ACCOUNTS)}
    bad = {**good, 0: good[0] + 3}
    for process, balances in enumerate((good, bad)):
        history.add("invoke", "read", None, process, "n1")
        history.add("ok", "read", balances, process, "n1")
    check = check_bank(history.events, accounts=ACCOUNTS, total=TOTAL)
    assert check.verdict == "invalid"
    assert len(check.anomalies) == 1
    assert f"total {TOTAL + 3}" in check.anomalies[0]
    assert check_bank(history.events[:2], accounts=ACCOUNTS, total=TOTAL).verdict == "valid"


def test_append_history_reads_back_as_jepsen_key_value_events() -> None:
    history = History()
    history.add("invoke", "append", " 1", 0, "n1", key="3")
    history.add("ok", "append", " 1", 0, "n1", key="3")
    history.nemesis("start-kill", "one: n2")
    history.add("invoke", "get", None, 1, "n2", key="3")
    history.add("ok", "get", " 1", 1, "n2", key="3")
    operations = parse_kv_edn(history.to_edn())
    assert [(op.input, op.output) for op in operations] == [
        (("append", "3", " 1"), None),
        (("get", "3"), " 1"),
    ]
    assert check_appends(history.to_edn(), 10).verdict == "valid"
    history.add("invoke", "get", None, 2, "n3", key="3")
    history.add("ok", "get", "", 2, "n3", key="3")
    lost = check_appends(history.to_edn(), 10)
    assert lost.verdict == "invalid", "the append acknowledged before this get is missing"


def stream(number: int, events: list[tuple[int, str, str, int]], start: int = 1) -> Watcher:
    watcher = Watcher(number, f"n{number}", None, start)  # type: ignore[arg-type]
    watcher.deliveries = [
        Delivery(rev, key, value, "put", response) for rev, key, value, response in events
    ]
    return watcher


def test_watch_check_holds_streams_to_the_reference() -> None:
    history = History()
    for value, key in (("a", "w/1"), ("b", "w/2"), ("c", "w/1")):
        history.add("invoke", "write", [[key, value]], 0, "n1")
        history.add("ok", "write", [[key, value]], 0, "n1")
    full = [(2, "w/1", "a", 1), (3, "w/2", "b", 2), (3, "w/1", "c", 2)]
    ref = stream(-1, full)
    assert check_watch([stream(0, full)], ref, history.events, 3).verdict == "valid"
    resumed_later = stream(1, full[1:], start=3)
    assert check_watch([resumed_later], ref, history.events, 3).verdict == "valid"
    cases = {
        "missing": [full[0], full[2]],
        "delivered twice": [full[0], full[0], full[1], full[2]],
        "separate responses": [full[0], full[1], (3, "w/1", "c", 3)],
        "out of order": [full[1], full[0], full[2]],
        "stopped": full[:1],
    }
    for name, events in cases.items():
        check = check_watch([stream(0, events)], ref, history.events, 3)
        assert check.verdict == "invalid", name
    history.add("invoke", "write", [["w/3", "d"]], 1, "n2")
    history.add("ok", "write", [["w/3", "d"]], 1, "n2")
    lost = check_watch([stream(0, full)], ref, history.events, 3)
    assert lost.verdict == "invalid"
    assert "is lost" in lost.anomalies[0]
