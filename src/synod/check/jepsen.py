"""Readers for the two Jepsen history formats in the shared test data; text in, operations out.

Both formats are a list of events: a process ``:invoke``s an operation, then it completes with
``:ok`` (returned), ``:fail`` (returned, and certainly did not take effect) or ``:info`` (the
outcome is unknown; the process is never reused). Here ``:fail`` operations are dropped, as if
never issued, and ``:info`` ones, or invocations still open at the end, become operations that
return at infinity. Times are line numbers: only their order matters.

- ``parse_etcd_log``: the register log of Jepsen's etcd test, ``INFO  jepsen.util - 3 :invoke
  :cas [1 4]`` (tab or space separated). Lines of any other shape are log noise and skipped.
- ``parse_kv_edn``: one EDN map per line, ``{:process 0, :type :ok, :f :get, :key "4", :value
  "x 0 1 y"}``. Every non-blank line must be such a map; events of a keyword process
  (``:process :nemesis``) are skipped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable
from dataclasses import dataclass

from synod.check.history import HistoryError, Operation

_ETCD_LINE = re.compile(
    r"^INFO\s+jepsen\.util\s+-\s+(\d+)\s+:(invoke|ok|fail|info)\s+:(read|write|cas)\s+(.*?)\s*$"
)
_CAS_VALUE = re.compile(r"^\[\s*(-?\d+)\s+(-?\d+)\s*\]$")
_INT_VALUE = re.compile(r"^-?\d+$")


class _Events:
    """Pairs invocations with completions per process and builds the operations."""

    def __init__(self) -> None:
        self.open: dict[int, tuple[float, str, Hashable]] = {}
        self.operations: list[Operation] = []

    def invoke(self, process: int, time: float, f: str, input: Hashable) -> None:
        if process in self.open:
            raise HistoryError(f"process {process} invokes while its last operation is open")
        self.open[process] = (time, f, input)

    def complete(self, process: int, time: float, outcome: str, f: str, output: Hashable) -> None:
        if process not in self.open:
            raise HistoryError(f"process {process} completes an operation it never invoked")
        call, invoked_f, input = self.open.pop(process)
        if invoked_f != f:
            raise HistoryError(f"process {process} invoked :{invoked_f} but completed :{f}")
        if outcome == "ok":
            self.operations.append(Operation(process, call, time, input, output))
        elif outcome == "info":
            self.operations.append(Operation(process, call, math.inf, input, None))

    def finish(self) -> list[Operation]:
        """Open invocations never returned: their outcome is unknown."""
        for process, (call, _, input) in self.open.items():
            self.operations.append(Operation(process, call, math.inf, input, None))
        self.open.clear()
        return sorted(self.operations, key=lambda operation: (operation.call, operation.client))


def _etcd_int(text: str) -> int:
    if not _INT_VALUE.match(text):
        raise HistoryError(f"expected an integer, found {text!r}")
    return int(text)


def _etcd_input(f: str, value: str) -> Hashable:
    if f == "read":
        return ("read",)
    if f == "write":
        return ("write", _etcd_int(value))
    match = _CAS_VALUE.match(value)
    if match is None:
        raise HistoryError(f"expected [from to], found {value!r}")
    return ("cas", int(match.group(1)), int(match.group(2)))


def _etcd_output(f: str, value: str) -> Hashable:
    if f == "read":
        return None if value == "nil" else _etcd_int(value)
    return True if f == "cas" else None


def parse_etcd_log(text: str) -> list[Operation]:
    """Operations of a single-register Jepsen etcd log, for ``models.REGISTER``."""
    events = _Events()
    matched = 0
    for line_number, line in enumerate(text.splitlines(), start=1):
        match = _ETCD_LINE.match(line)
        if match is None:
            continue
        matched += 1
        process, kind, f, value = int(match.group(1)), match.group(2), match.group(3), match[4]
        try:
            if kind == "invoke":
                events.invoke(process, line_number, f, _etcd_input(f, value))
            else:
                output = _etcd_output(f, value) if kind == "ok" else None
                events.complete(process, line_number, kind, f, output)
        except HistoryError as error:
            raise HistoryError(f"line {line_number}: {error}") from None
    if not matched and text.strip():
        raise HistoryError("no Jepsen etcd log lines found")
    return events.finish()


@dataclass(frozen=True, slots=True)
class Keyword:
    """An EDN keyword such as ``:ok``, kept apart from the string ``":ok"``."""

    name: str


_EDN_TOKEN = re.compile(
    r"""\s*(?:
        (?P<punct>[{}\[\]])
      | (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<keyword>:[^\s,{}\[\]"]+)
      | (?P<number>-?\d+)(?![^\s,{}\[\]])
      | (?P<symbol>nil|true|false)(?![^\s,{}\[\]])
    )[\s,]*""",
    re.VERBOSE,
)
_EDN_SEPARATORS = re.compile(r"[\s,]*")
_EDN_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
_EDN_SYMBOLS: dict[str, Hashable] = {"nil": None, "true": True, "false": False}


def _edn_string(token: str) -> str:
    return re.sub(r"\\(.)", lambda m: _EDN_ESCAPES.get(m.group(1), m.group(1)), token[1:-1])


class _EdnReader:
    """Just enough EDN for a history line: maps, vectors, strings, keywords, integers, nil."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0

    def value(self) -> Hashable:
        match = _EDN_TOKEN.match(self.text, self.position)
        if match is None:
            raise HistoryError(f"unreadable EDN at column {self.position + 1}")
        self.position = match.end()
        kind, token = match.lastgroup, match.group(match.lastgroup or 0)
        if kind == "punct":
            return self._collection(token)
        if kind == "string":
            return _edn_string(token)
        if kind == "keyword":
            return Keyword(token[1:])
        if kind == "number":
            return int(token)
        return _EDN_SYMBOLS[token]

    def _collection(self, token: str) -> Hashable:
        if token not in "{[":
            raise HistoryError(f"unexpected {token!r} at column {self.position}")
        close = "}" if token == "{" else "]"
        items: list[Hashable] = []
        while not self.text.startswith(close, self.position):
            if self.position >= len(self.text):
                raise HistoryError(f"missing {close!r}")
            items.append(self.value())
        separators = _EDN_SEPARATORS.match(self.text, self.position + 1)
        assert separators is not None, "a pattern that may match nothing always matches"
        self.position = separators.end()
        if close == "]":
            return tuple(items)
        if len(items) % 2:
            raise HistoryError("a map with an odd number of forms")
        return tuple(zip(items[::2], items[1::2], strict=True))

    def done(self) -> bool:
        return self.position >= len(self.text.rstrip())


_KV_PLAIN_LINE = re.compile(
    r'^\{:process (\d+), :type :(\w+), :f :(\w+), :key "([^"\\]*)", :value (?:nil|"([^"\\]*)")\}$'
)
"""The shape Jepsen writes nearly every key-value event in: read without the general reader."""


def _read_kv_line(line: str) -> dict[Hashable, Hashable]:
    """A key-value event line as a map; the plain shape by regex, anything else by the reader."""
    match = _KV_PLAIN_LINE.match(line.strip())
    if match is None:
        return read_edn_map(line)
    process, kind, f, key, value = match.groups()
    return {
        Keyword("process"): int(process),
        Keyword("type"): Keyword(kind),
        Keyword("f"): Keyword(f),
        Keyword("key"): key,
        Keyword("value"): value,
    }


def read_edn_map(line: str) -> dict[Hashable, Hashable]:
    """One EDN map from one line of text."""
    reader = _EdnReader(line.strip())
    if not line.strip().startswith("{"):
        raise HistoryError("expected an EDN map")
    pairs = reader.value()
    if not reader.done():
        raise HistoryError(f"unexpected text after the map at column {reader.position + 1}")
    assert isinstance(pairs, tuple), "a map reads as a tuple of pairs"
    return dict(pairs)


def _field(event: dict[Hashable, Hashable], name: str) -> Hashable:
    if Keyword(name) not in event:
        raise HistoryError(f"no :{name}")
    return event[Keyword(name)]


def _keyword(event: dict[Hashable, Hashable], name: str, allowed: tuple[str, ...]) -> str:
    value = _field(event, name)
    if not isinstance(value, Keyword) or value.name not in allowed:
        raise HistoryError(f":{name} must be one of {', '.join(':' + a for a in allowed)}")
    return value.name


def _kv_event(events: _Events, event: dict[Hashable, Hashable], time: float) -> None:
    process = _field(event, "process")
    if isinstance(process, Keyword):
        return  # the nemesis (or another non-client process): not an operation
    if not isinstance(process, int) or isinstance(process, bool):
        raise HistoryError(":process must be an integer")
    kind = _keyword(event, "type", ("invoke", "ok", "fail", "info"))
    f = _keyword(event, "f", ("get", "put", "append"))
    key, value = _field(event, "key"), event.get(Keyword("value"))
    if f != "get" and not isinstance(value, str):
        raise HistoryError(f":{f} needs a string :value")
    if kind == "invoke":
        events.invoke(process, time, f, ("get", key) if f == "get" else (f, key, value))
        return
    output = ("" if value is None else value) if f == "get" else None
    events.complete(process, time, kind, f, output)


def parse_kv_edn(text: str) -> list[Operation]:
    """Operations of a Jepsen key-value history (EDN, one event per line), for ``models.KV``."""
    events = _Events()
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            _kv_event(events, _read_kv_line(line), line_number)
        except HistoryError as error:
            raise HistoryError(f"line {line_number}: {error}") from None
    return events.finish()


_REGISTER_FS = ("read", "write", "cas")


def _register_event(events: _Events, event: dict[Hashable, Hashable], time: float) -> None:
    """One event of an independent-register history; others (nemesis, other workloads) skip."""
    process = event.get(Keyword("process"))
    f = event.get(Keyword("f"))
    if not isinstance(process, int) or isinstance(process, bool):
        return
    if not isinstance(f, Keyword) or f.name not in _REGISTER_FS:
        return
    kind = _keyword(event, "type", ("invoke", "ok", "fail", "info"))
    value = _field(event, "value")
    if not isinstance(value, tuple) or len(value) != 2:
        raise HistoryError(":value must be [key value]")
    key, argument = value
    if kind != "invoke":
        output: Hashable = argument if f.name == "read" else (True if f.name == "cas" else None)
        events.complete(process, time, kind, f.name, output if kind == "ok" else None)
        return
    if f.name == "read":
        events.invoke(process, time, "read", ("get", key))
    elif f.name == "write":
        events.invoke(process, time, "write", ("put", key, argument))
    elif not isinstance(argument, tuple) or len(argument) != 2:
        raise HistoryError(":cas needs [key [old new]]")
    else:
        events.invoke(process, time, "cas", ("cas", key, argument[0], argument[1]))


def parse_register_edn(text: str) -> list[Operation]:
    """Operations of a Jepsen independent-register history, for ``models.SIM_KV``.

    One EDN map a line; ``:f`` is ``:read``, ``:write`` or ``:cas``, ``:value`` is ``[key v]``
    (a read's ``v`` is nil on invoke and the value read, nil when absent, on ``:ok``; a cas's is
    ``[old new]``, and a cas that found another value completes ``:fail``). Lines of other
    processes (``:nemesis``) or other operations are skipped, so a chaos run's whole history
    can be read as it is.
    """
    events = _Events()
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            _register_event(events, read_edn_map(line), line_number)
        except HistoryError as error:
            raise HistoryError(f"line {line_number}: {error}") from None
    return events.finish()
