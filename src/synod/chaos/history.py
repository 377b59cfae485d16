"""The run's history: client operations and nemesis events, in Jepsen's EDN, one map a line.

Every event is ``{:type T, :f F, :value V, :process P, :time NS}`` with ``T`` one of
``:invoke``, ``:ok``, ``:fail`` (certainly did not happen) and ``:info`` (unknown outcome, the
process is then retired), ``:time`` nanoseconds since the run began, and ``:node`` the member
the client spoke to. Register operations use Jepsen's independent-key form, ``:value [key v]``
(a cas's ``v`` is ``[old new]``); append operations use Jepsen's key-value form, ``:f
:append`` or ``:get`` with ``:key "k"`` and a string ``:value``. The nemesis's process is
``:nemesis``, and a leader change is an ``:info`` event with ``:f :leader``.

Rules: events are appended in the order they happen (one event loop), so line order is real
time order; values are ints, strings, nil, booleans, keywords, vectors and maps only.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from synod.check.jepsen import Keyword


@dataclass(slots=True)
class Event:
    type: str
    f: str
    value: Any
    process: int | str
    time_ns: int
    node: str = ""
    error: str = ""
    key: str | None = None

    @property
    def is_client(self) -> bool:
        return isinstance(self.process, int)


def edn(value: Any) -> str:
    """EDN text for the values a history holds."""
    if value is None or isinstance(value, bool):
        return {None: "nil", True: "true", False: "false"}[value]
    if isinstance(value, Keyword):
        return f":{value.name}"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{edn(k)} {edn(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Sequence):
        return "[" + " ".join(edn(item) for item in value) + "]"
    raise TypeError(f"no EDN form for {value!r}")


@dataclass(slots=True)
class History:
    started_ns: int = field(default_factory=time.monotonic_ns)
    events: list[Event] = field(default_factory=list)

    def now_ns(self) -> int:
        return time.monotonic_ns() - self.started_ns

    def add(
        self,
        type: str,
        f: str,
        value: Any,
        process: int | str,
        node: str = "",
        *,
        key: str | None = None,
    ) -> Event:
        event = Event(type, f, value, process, self.now_ns(), node, key=key)
        self.events.append(event)
        return event

    def nemesis(self, f: str, value: Any) -> Event:
        return self.add("info", f, value, "nemesis")

    def to_edn(self) -> str:
        lines = []
        for event in self.events:
            process: Hashable = (
                event.process if isinstance(event.process, int) else Keyword(event.process)
            )
            pairs: list[tuple[str, Any]] = [
                ("type", Keyword(event.type)),
                ("f", Keyword(event.f)),
                *([("key", event.key)] if event.key is not None else []),
                ("value", event.value),
                ("process", process),
                ("time", event.time_ns),
            ]
            if event.node:
                pairs.append(("node", event.node))
            if event.error:
                pairs.append(("error", event.error))
            lines.append("{" + ", ".join(f":{name} {edn(value)}" for name, value in pairs) + "}")
        return "\n".join(lines) + "\n"
