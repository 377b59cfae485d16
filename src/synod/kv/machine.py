"""Commands, their byte encoding, and the map they act on.

A command is a JSON array whose first element names the operation::

    ["get", key]                    -> value or None
    ["put", key, value]             -> None
    ["cas", key, expected, new]     -> True when the value was ``expected`` and is now ``new``
                                       (``expected`` None means "the key is absent")
    ["delete", key]                 -> True when the key existed

JSON keeps the log readable in traces and is deterministic for these shapes. A snapshot is the
map as a JSON object with sorted keys, so equal states give equal bytes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from synod.core.errors import SynodError

KEY_BYTES_MAX = 4096
VALUE_BYTES_MAX = 1 << 20


class KvCommandError(SynodError):
    """Bytes that do not decode to a well-formed command (or a snapshot that does not load)."""


@dataclass(frozen=True, slots=True)
class Get:
    key: str


@dataclass(frozen=True, slots=True)
class Put:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class CompareAndSwap:
    key: str
    expected: str | None
    new: str


@dataclass(frozen=True, slots=True)
class Delete:
    key: str


KvCommand = Get | Put | CompareAndSwap | Delete


@dataclass(frozen=True, slots=True)
class Rejected:
    """A command that could not be applied; every replica rejects it the same way."""

    reason: str


KvResult = str | bool | None | Rejected


def encode_command(command: KvCommand) -> bytes:
    match command:
        case Get(key):
            fields: list[str | None] = ["get", key]
        case Put(key, value):
            fields = ["put", key, value]
        case CompareAndSwap(key, expected, new):
            fields = ["cas", key, expected, new]
        case Delete(key):
            fields = ["delete", key]
    return json.dumps(fields, separators=(",", ":")).encode()


_ARITY = {"get": 2, "put": 3, "cas": 4, "delete": 2}


def decode_command(data: bytes) -> KvCommand:
    """The command ``data`` encodes; raises KvCommandError on anything malformed."""
    try:
        fields = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise KvCommandError(f"command is not JSON: {data[:40]!r}") from error
    if not isinstance(fields, list) or not fields or _ARITY.get(fields[0]) != len(fields):
        raise KvCommandError(f"command has the wrong shape: {data[:40]!r}")
    _check_strings(fields)
    match fields:
        case ["get", key]:
            return Get(key)
        case ["put", key, value]:
            return Put(key, value)
        case ["cas", key, expected, new]:
            return CompareAndSwap(key, expected, new)
        case ["delete", key]:
            return Delete(key)
    raise KvCommandError(f"unknown command: {data[:40]!r}")  # pragma: no cover


def _check_strings(fields: list[object]) -> None:
    """Keys and new values are strings within limits; only cas's ``expected`` may be null."""
    for position, field in enumerate(fields[1:], start=1):
        nullable = fields[0] == "cas" and position == 2
        if field is None and nullable:
            continue
        if not isinstance(field, str):
            raise KvCommandError(f"field {position} of {fields[0]} must be a string")
        limit = KEY_BYTES_MAX if position == 1 else VALUE_BYTES_MAX
        if len(field) > limit:
            raise KvCommandError(f"field {position} of {fields[0]} exceeds {limit} characters")


class KvMachine:
    """The replicated map. Only ``apply`` changes it, and only with decoded commands."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._values)

    def apply(self, command: bytes) -> KvResult:
        """Apply one committed command; malformed bytes give ``Rejected``, never an error."""
        try:
            decoded = decode_command(command)
        except KvCommandError as error:
            return Rejected(str(error))
        return self.execute(decoded)

    def read(self, query: bytes) -> KvResult:
        """Answer a read-only command without changing anything (linearizable reads)."""
        try:
            decoded = decode_command(query)
        except KvCommandError as error:
            return Rejected(str(error))
        if not isinstance(decoded, Get):
            return Rejected("only get may be served as a read")
        return self._values.get(decoded.key)

    def execute(self, command: KvCommand) -> KvResult:
        values = self._values
        match command:
            case Get(key):
                return values.get(key)
            case Put(key, value):
                values[key] = value
                return None
            case CompareAndSwap(key, expected, new):
                if values.get(key) != expected:
                    return False
                values[key] = new
                return True
            case Delete(key):
                return values.pop(key, None) is not None

    def snapshot(self) -> bytes:
        return json.dumps(self._values, sort_keys=True, separators=(",", ":")).encode()

    def restore(self, data: bytes) -> None:
        """Replace the whole map with a snapshot; an empty snapshot is the empty map."""
        if not data:
            self._values = {}
            return
        try:
            loaded = json.loads(data)
        except (ValueError, UnicodeDecodeError) as error:
            raise KvCommandError("snapshot is not JSON") from error
        if not isinstance(loaded, dict) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in loaded.items()
        ):
            raise KvCommandError("snapshot must map strings to strings")
        self._values = dict(loaded)
        assert len(self._values) == len(loaded)

    def digest(self) -> str:
        """A short fingerprint of the state, equal on replicas that applied the same log."""
        return hashlib.sha256(self.snapshot()).hexdigest()[:16]
