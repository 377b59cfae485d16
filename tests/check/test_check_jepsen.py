"""The Jepsen readers: pairing events into operations, :fail and :info, noise and bad input."""

from __future__ import annotations

import math

import pytest

from synod.check.history import HistoryError, Operation
from synod.check.jepsen import Keyword, parse_etcd_log, parse_kv_edn, read_edn_map

PREFIX = "INFO  jepsen.util - "


def etcd(*lines: str) -> str:
    return "\n".join(PREFIX + line.replace(" ", "\t") for line in lines) + "\n"


def test_etcd_pairs_invocations_with_completions() -> None:
    text = etcd("0 :invoke :write 3", "1 :invoke :read nil", "0 :ok :write 3", "1 :ok :read 3")
    assert parse_etcd_log(text) == [
        Operation(0, 1, 3, ("write", 3), None),
        Operation(1, 2, 4, ("read",), 3),
    ]


def test_etcd_reads_nil_as_absent_and_cas_as_a_pair() -> None:
    text = etcd(
        "0 :invoke :read nil", "0 :ok :read nil", "0 :invoke :cas [1 2]", "0 :ok :cas [1 2]"
    )
    assert [(o.input, o.output) for o in parse_etcd_log(text)] == [
        (("read",), None),
        (("cas", 1, 2), True),
    ]


def test_etcd_drops_failed_operations() -> None:
    text = etcd(
        "0 :invoke :cas [1 2]",
        "0 :fail :cas [1 2]",
        "1 :invoke :read nil",
        "1 :fail :read :timed-out",
    )
    assert parse_etcd_log(text) == []


def test_etcd_info_and_unfinished_invocations_have_unknown_outcomes() -> None:
    text = etcd(
        "0 :invoke :write 1",
        "0 :info :write :timed-out",
        "5 :invoke :cas [1 2]",
        "1 :invoke :write 4",
    )
    operations = parse_etcd_log(text)
    assert [(o.client, o.input, o.ret) for o in operations] == [
        (0, ("write", 1), math.inf),
        (5, ("cas", 1, 2), math.inf),
        (1, ("write", 4), math.inf),
    ]
    assert all(o.unknown for o in operations)


def test_etcd_accepts_space_separated_lines_and_skips_noise() -> None:
    text = (
        "2016-01-01 INFO some.other.logger - starting\n"
        "INFO  jepsen.util - 3   :invoke :write  2\n"
        "\n"
        "INFO  jepsen.util - 3   :ok     :write  2\n"
        "INFO  jepsen.core - Run complete, writing\n"
    )
    assert parse_etcd_log(text) == [Operation(3, 2, 4, ("write", 2), None)]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (("0 :ok :write 1",), "line 1: process 0 completes an operation it never invoked"),
        (("0 :invoke :write 1", "0 :invoke :write 2"), "line 2: process 0 invokes while"),
        (("0 :invoke :write 1", "0 :ok :read 1"), "line 2: process 0 invoked :write but"),
        (("0 :invoke :write x1",), "line 1: expected an integer"),
        (("0 :invoke :cas [1]",), "line 1: expected \\[from to\\]"),
    ],
)
def test_etcd_inconsistent_logs_are_errors(lines: tuple[str, ...], message: str) -> None:
    with pytest.raises(HistoryError, match=message):
        parse_etcd_log(etcd(*lines))


def test_etcd_text_without_any_log_line_is_an_error() -> None:
    with pytest.raises(HistoryError, match="no Jepsen etcd log lines"):
        parse_etcd_log('{:process 0, :type :invoke, :f :get, :key "1", :value nil}\n')
    assert parse_etcd_log("") == []


def kv_line(process: int, kind: str, f: str, key: str, value: str) -> str:
    return f'{{:process {process}, :type :{kind}, :f :{f}, :key "{key}", :value {value}}}'


def test_kv_pairs_events_into_get_put_append() -> None:
    text = "\n".join(
        [
            kv_line(0, "invoke", "append", "4", '"x 0 1 y"'),
            kv_line(1, "invoke", "get", "4", "nil"),
            kv_line(0, "ok", "append", "4", '"x 0 1 y"'),
            kv_line(1, "ok", "get", "4", '"x 0 1 y"'),
            kv_line(2, "invoke", "put", "5", '"v"'),
            kv_line(2, "ok", "put", "5", '"v"'),
        ]
    )
    assert parse_kv_edn(text) == [
        Operation(0, 1, 3, ("append", "4", "x 0 1 y"), None),
        Operation(1, 2, 4, ("get", "4"), "x 0 1 y"),
        Operation(2, 5, 6, ("put", "5", "v"), None),
    ]


def test_kv_nil_read_is_the_empty_string_and_info_is_unknown() -> None:
    text = "\n".join(
        [
            kv_line(0, "invoke", "get", "1", "nil"),
            kv_line(0, "ok", "get", "1", "nil"),
            kv_line(1, "invoke", "append", "1", '"a"'),
            kv_line(1, "info", "append", "1", '"a"'),
            kv_line(2, "invoke", "append", "1", '"b"'),
            kv_line(2, "fail", "append", "1", '"b"'),
        ]
    )
    operations = parse_kv_edn(text)
    assert operations[0].output == ""
    assert operations[1].unknown
    assert len(operations) == 2


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not edn at all", "line 1: expected an EDN map"),
        ('{:process 0, :type :invoke, :f :get, :key "1"', "line 1: missing"),
        ('{:process 0, :type :invoke, :f :get, :key "1", :value nil} extra', "after the map"),
        ('{:process 0, :type :invoke, :f :get, :key "1", :value}', "odd number"),
        ('{:process "0", :type :invoke, :f :get, :key "1", :value nil}', ":process must be"),
        ('{:process 0, :type :begin, :f :get, :key "1", :value nil}', ":type must be one of"),
        ('{:process 0, :type :invoke, :f :scan, :key "1", :value nil}', ":f must be one of"),
        ('{:process 0, :type :invoke, :f :put, :key "1", :value 3}', "needs a string :value"),
        ("{:type :invoke, :f :get}", "no :process"),
    ],
)
def test_kv_bad_lines_name_the_line(line: str, message: str) -> None:
    with pytest.raises(HistoryError, match=message):
        parse_kv_edn(line)


def test_edn_reader_handles_escapes_vectors_and_symbols() -> None:
    event = read_edn_map(r'{:a "q\"uo\\te\n", :b [1 -2 :k], :c true, :d nil, :e false}')
    assert event == {
        Keyword("a"): 'q"uo\\te\n',
        Keyword("b"): (1, -2, Keyword("k")),
        Keyword("c"): True,
        Keyword("d"): None,
        Keyword("e"): False,
    }


def test_kv_lines_in_other_shapes_go_through_the_full_reader() -> None:
    text = "\n".join(
        [
            '{:type :invoke, :process 3, :f :put, :key "k", :value "say \\"hi\\"", :time 12}',
            '{:process 3 :type :ok :f :put :key "k" :value "say \\"hi\\""}',
        ]
    )
    assert parse_kv_edn(text) == [Operation(3, 1, 2, ("put", "k", 'say "hi"'), None)]
