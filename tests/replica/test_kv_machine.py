from __future__ import annotations

import pytest

from synod.kv import (
    CompareAndSwap,
    Delete,
    Get,
    KvCommand,
    KvCommandError,
    KvMachine,
    Put,
    Rejected,
    decode_command,
    encode_command,
)

# (commands applied in order, expected result of each)
CASES: list[tuple[str, list[KvCommand], list[object]]] = [
    ("get of an absent key", [Get("a")], [None]),
    ("put then get", [Put("a", "1"), Get("a")], [None, "1"]),
    ("cas from absent", [CompareAndSwap("a", None, "1"), Get("a")], [True, "1"]),
    ("cas mismatch", [Put("a", "1"), CompareAndSwap("a", "2", "3"), Get("a")], [None, False, "1"]),
    ("cas match", [Put("a", "1"), CompareAndSwap("a", "1", "3"), Get("a")], [None, True, "3"]),
    ("cas expecting absent fails", [Put("a", "1"), CompareAndSwap("a", None, "2")], [None, False]),
    ("delete existing", [Put("a", "1"), Delete("a"), Get("a")], [None, True, None]),
    ("delete absent", [Delete("a")], [False]),
]


@pytest.mark.parametrize(("name", "commands", "expected"), CASES, ids=[c[0] for c in CASES])
def test_commands_apply_as_specified(name, commands, expected):
    machine = KvMachine()
    results = [machine.apply(encode_command(command)) for command in commands]
    assert results == expected, name


@pytest.mark.parametrize(
    "command",
    [
        Get("k"),
        Put("k", "v"),
        CompareAndSwap("k", None, "v"),
        CompareAndSwap("k", "a", "b"),
        Delete("k"),
    ],
)
def test_commands_round_trip(command):
    assert decode_command(encode_command(command)) == command


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"{}",
        b"[]",
        b'["put","k"]',
        b'["get",1]',
        b'["cas","k",null,null]',
        b'["drop","k"]',
        b"\xff",
    ],
)
def test_malformed_commands_are_rejected_deterministically(data):
    with pytest.raises(KvCommandError):
        decode_command(data)
    assert isinstance(KvMachine().apply(data), Rejected)


def test_reads_only_serve_gets():
    machine = KvMachine()
    machine.apply(encode_command(Put("k", "v")))
    assert machine.read(encode_command(Get("k"))) == "v"
    assert isinstance(machine.read(encode_command(Put("k", "w"))), Rejected)
    assert machine.read(encode_command(Get("k"))) == "v"


def test_snapshots_restore_the_same_state_and_digest():
    machine = KvMachine()
    for number in range(10):
        machine.apply(encode_command(Put(f"k{number % 3}", str(number))))
    copy = KvMachine()
    copy.restore(machine.snapshot())
    assert copy.snapshot() == machine.snapshot()
    assert copy.digest() == machine.digest()
    assert len(copy) == 3
    copy.restore(b"")
    assert len(copy) == 0


@pytest.mark.parametrize("data", [b"[1]", b"nope", b'{"a":1}'])
def test_bad_snapshots_are_errors(data):
    with pytest.raises(KvCommandError):
        KvMachine().restore(data)
