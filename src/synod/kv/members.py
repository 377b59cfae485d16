"""The member table: every member's name, peer URLs and client URLs, kept in the replicated
state machine so that every member agrees on it, through snapshots and restarts.

Design (why it looks like this):
- Who is a member, and whether a voter or a learner, is the consensus engine's membership
  (``synod.core.log.Membership``, IDs only, changed by membership entries). This table only
  holds each member's attributes; a reader joins the two (``MemberList``).
- The attributes change through ordinary log entries (``MemberSet``, ``MemberForget``) that
  ``EtcdMachine.apply`` recognises by their first byte, ``MEMBER_COMMAND_TAG``, which no
  keyspace request starts with. So they apply in log order on every replica, exactly like keys,
  and a snapshot taken at any index holds the table as of that index. They never touch the
  keyspace: no revision is raised (as in etcd, where membership is outside the MVCC store).
- etcd's MemberAdd carries the peer URLs in the configuration change and each member then
  publishes its name and client URLs through the log. Here MemberAdd first logs a ``MemberSet``
  with the peer URLs, then the membership change; a started member logs a ``MemberSet`` with its
  name and client URLs. A ``MemberSet`` updates only the fields it carries, so replaying the
  tail of the log over a table that already holds it gives the same table (restart safety).
- A table row for an ID that is not in the membership (a MemberAdd whose change was refused) is
  inert: it is never listed and the next ``MemberSet`` for that ID overwrites it.
- Founding members are written into the table at bootstrap from ``--initial-cluster`` (the same
  on every founder, as etcd's cluster ID already requires), with the cluster ID.
- Persistence: ``table_records``/``table_from_records`` give the rows as the records of one
  backend bucket (``MEMBERS_BUCKET``), committed in the same backend transaction as the keyspace
  and its applied index (see ``EtcdMachine``); ``encode_table``/``decode_table`` carry it in
  the machine's snapshot.

Decoding never trusts bytes: anything malformed raises ``CommandDecodeError`` (commands) or
``StateCorrupt`` (stored rows), nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import msgspec

from synod.kv.commands import CommandDecodeError
from synod.kv.mvcc.encoding import StateCorrupt

MEMBER_COMMAND_TAG: Final = 0x4D
"""First byte of a member command; keyspace requests start with their format version (1)."""
MEMBERS_BUCKET: Final = b"members"
CLUSTER_ID_KEY: Final = b"cluster_id"
URLS_MAX: Final = 16
_U64_MAX: Final = (1 << 64) - 1
_SET: Final = 1
_FORGET: Final = 2


@dataclass(frozen=True, slots=True)
class MemberRecord:
    name: str = ""
    peer_urls: tuple[str, ...] = ()
    client_urls: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MemberSet:
    """Set the fields given (not None) of member ``node``, creating its row if needed."""

    node: int
    name: str | None = None
    peer_urls: tuple[str, ...] | None = None
    client_urls: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class MemberForget:
    """Drop member ``node``'s row (it was removed from the cluster)."""

    node: int


MemberCommand = MemberSet | MemberForget


@dataclass(frozen=True, slots=True)
class MembersChanged:
    """The result of a member command: the table's rows after it."""

    rows: int


def is_member_command(data: bytes) -> bool:
    return data[:1] == bytes([MEMBER_COMMAND_TAG])


def encode_member_command(command: MemberCommand) -> bytes:
    assert 0 < command.node <= _U64_MAX, f"member ID {command.node} out of range"
    match command:
        case MemberSet(node, name, peer_urls, client_urls):
            fields: list[object] = [_SET, node, name, peer_urls, client_urls]
        case MemberForget(node):
            fields = [_FORGET, node]
    return bytes([MEMBER_COMMAND_TAG]) + msgspec.msgpack.encode(fields)


_SetFields = tuple[int, int, str | None, list[str] | None, list[str] | None]


def decode_member_command(data: bytes) -> MemberCommand:
    if not is_member_command(data):
        raise CommandDecodeError("not a member command")
    try:
        fields = msgspec.msgpack.decode(data[1:], type=list[object])
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise CommandDecodeError(f"malformed member command: {error}") from error
    try:
        if fields[:1] == [_FORGET]:
            _, node = msgspec.convert(fields, tuple[int, int])
            return MemberForget(_node_id(node))
        _, node, name, peer_urls, client_urls = msgspec.convert(fields, _SetFields)
    except msgspec.ValidationError as error:
        raise CommandDecodeError(f"malformed member command: {error}") from error
    if fields[0] != _SET:
        raise CommandDecodeError(f"unknown member command {fields[0]!r}")
    return MemberSet(_node_id(node), name, _urls(peer_urls), _urls(client_urls))


def _node_id(node: int) -> int:
    if not 0 < node <= _U64_MAX:
        raise CommandDecodeError(f"member ID {node} out of range")
    return node


def _urls(urls: list[str] | None) -> tuple[str, ...] | None:
    if urls is None:
        return None
    if len(urls) > URLS_MAX:
        raise CommandDecodeError(f"{len(urls)} URLs, more than {URLS_MAX}")
    return tuple(urls)


@dataclass(slots=True)
class MemberTable:
    """Rows by member ID, the cluster ID (0 until bootstrap or a snapshot sets it), and the
    IDs changed since the last backend commit (what the next one must write)."""

    rows: dict[int, MemberRecord] = field(default_factory=dict)
    cluster_id: int = 0
    changed: set[int] = field(default_factory=set)
    cluster_id_changed: bool = False

    def apply(self, command: MemberCommand) -> MembersChanged:
        match command:
            case MemberSet(node, name, peer_urls, client_urls):
                old = self.rows.get(node, MemberRecord())
                self.rows[node] = MemberRecord(
                    old.name if name is None else name,
                    old.peer_urls if peer_urls is None else peer_urls,
                    old.client_urls if client_urls is None else client_urls,
                )
                self.changed.add(command.node)
            case MemberForget(node):
                if self.rows.pop(node, None) is not None:
                    self.changed.add(node)
        return MembersChanged(len(self.rows))

    def seed(self, cluster_id: int, rows: dict[int, MemberRecord]) -> None:
        """Bootstrap a new cluster's table (every founder seeds the same)."""
        self.cluster_id = cluster_id
        self.cluster_id_changed = True
        for node, record in rows.items():
            self.rows[node] = record
            self.changed.add(node)

    def replace(self, other: MemberTable) -> None:
        """Take ``other``'s rows (a snapshot was installed); every row is rewritten."""
        self.rows = dict(other.rows)
        self.cluster_id = other.cluster_id
        self.changed = set(self.rows)
        self.cluster_id_changed = True

    def all_records(self) -> list[tuple[bytes, bytes]]:
        """The whole table as bucket records, in key order."""
        records = [(_key(node), _encode_record(record)) for node, record in self.rows.items()]
        if self.cluster_id:
            records.append((CLUSTER_ID_KEY, self.cluster_id.to_bytes(8, "big")))
        return sorted(records)

    def pending_changes(self) -> tuple[list[tuple[bytes, bytes]], list[bytes]]:
        """(puts, deletes) of bucket records not yet committed, each in key order."""
        puts: list[tuple[bytes, bytes]] = []
        deletes: list[bytes] = []
        for node in self.changed:
            record = self.rows.get(node)
            if record is None:
                deletes.append(_key(node))
            else:
                puts.append((_key(node), _encode_record(record)))
        if self.cluster_id_changed and self.cluster_id:
            puts.append((CLUSTER_ID_KEY, self.cluster_id.to_bytes(8, "big")))
        return sorted(puts), sorted(deletes)

    def changes_committed(self) -> None:
        """The backend committed ``pending_changes`` (a failed commit leaves them pending)."""
        self.changed = set()
        self.cluster_id_changed = False


def _key(node: int) -> bytes:
    return node.to_bytes(8, "big")


def _encode_record(record: MemberRecord) -> bytes:
    return msgspec.msgpack.encode([record.name, record.peer_urls, record.client_urls])


def table_from_records(records: Sequence[tuple[bytes, bytes]]) -> MemberTable:
    table = MemberTable()
    for key, value in records:
        if key == CLUSTER_ID_KEY:
            if len(value) != 8:
                raise StateCorrupt(f"member table cluster ID of {len(value)} bytes")
            table.cluster_id = int.from_bytes(value, "big")
            continue
        if len(key) != 8:
            raise StateCorrupt(f"member table key {key!r} is not a member ID")
        try:
            name, peers, clients = msgspec.msgpack.decode(
                value, type=tuple[str, list[str], list[str]]
            )
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            raise StateCorrupt(f"member row {key.hex()}: {error}") from error
        table.rows[int.from_bytes(key, "big")] = MemberRecord(name, tuple(peers), tuple(clients))
    return table


def encode_table(table: MemberTable) -> bytes:
    return msgspec.msgpack.encode(table.all_records())


def decode_table(data: bytes) -> MemberTable:
    try:
        records = msgspec.msgpack.decode(data, type=list[tuple[bytes, bytes]])
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise StateCorrupt(f"member table in a snapshot: {error}") from error
    return table_from_records(records)
