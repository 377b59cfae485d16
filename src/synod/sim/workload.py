"""Simulated etcd clients: what they ask, and the history the checker reads.

Checked keys ``k0..k{n-1}``: range (a linearizable read through the replica's read path), put,
a compare-and-swap txn (compare the value, or absence, then put; else range), delete, and puts
attached to a lease that the client later revokes. Each such lease belongs to one client and
one key, is revoked at most once, and has a TTL far longer than any run, so it never expires:
its revoke is checkable as "delete the key if it is still attached" (model ``SIM_ETCD``).

Unchecked: ephemeral keys ``e0..e{n-1}`` on short leases (a few seconds) with keep-alives that
stop at some point, so leases expire by the leader's command and delete keys at times no client
chose (no register model expresses that, so no checked client reads these keys); compaction a
few revisions behind the newest revision any client has seen.

Each client runs one operation at a time. A definite failure (redirected, refused) never took
effect: the client retries the same operation elsewhere and records nothing for that attempt.
A timeout is ambiguous: a checked write is recorded with an unknown outcome (``ret = inf``) and
the client carries on under a fresh history id (as a Jepsen process that crashed); a read that
timed out had no effect and is dropped. Every written value is unique.
"""

from __future__ import annotations

import math
import random
from collections.abc import Hashable
from dataclasses import dataclass, field

from synod.check import Operation
from synod.core.ids import NO_NODE, LogIndex, NodeId
from synod.kv.commands import KvRequest, encode
from synod.kv.etcd_machine import EtcdResult
from synod.kv.mvcc import (
    CompactionRequest,
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    DeleteRangeResponse,
    LeaseGrantRequest,
    LeaseGrantResponse,
    LeaseKeepAliveResponse,
    LeaseRevokeRequest,
    LeaseRevokeResponse,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    TxnRequest,
    TxnResponse,
)
from synod.sim.config import UNITS_PER_TICK
from synod.sim.invariants import AckedPut

LONG_LEASE_TTL_SECONDS = 10_000_000
"""Leases on checked keys: far longer than any run, so they end only by revoke."""
SHORT_LEASE_TTL_SECONDS = (2, 6)
"""Leases on ephemeral keys (etcd's minimum TTL is 2 s; a tick is 0.1 s)."""
LEASE_USES = (2, 8)
"""Operations a client makes with a lease before it revokes it or stops renewing it."""
COMPACTION_LAG_REVISIONS = 20

Reply = EtcdResult | LeaseKeepAliveResponse
"""What a client gets back: the machine's result, or a keep-alive's answer."""


@dataclass(frozen=True, slots=True)
class Op:
    """One client operation. ``kind`` is how it reaches a node: ``read`` (the read index
    path), ``write`` (through the log) or ``keepalive`` (to the leader's lease clock)."""

    kind: str
    payload: bytes
    request: KvRequest | None = None
    checked: tuple[Hashable, ...] | None = None
    """The checker's input (model ``SIM_ETCD``); None for unchecked operations."""
    grant_for: str = ""
    """For a lease grant: the key the client will use the lease with."""


@dataclass(slots=True)
class HeldLease:
    id: int
    key: str
    uses_left: int


@dataclass(frozen=True, slots=True)
class Record:
    """One finished (or abandoned) checked operation, as the checker will see it."""

    client: int
    call: float
    ret: float
    input: tuple[Hashable, ...]
    output: Hashable


@dataclass(slots=True)
class Attempt:
    """The operation a client is working on, across its retries."""

    op: Op
    call_units: int
    request_id: bytes = b""
    attempts: int = 0


@dataclass(slots=True)
class Client:
    index: int
    """Stable index of this client slot (its RNG-free identity in the trace)."""
    history_id: int
    """The client id recorded in the history; renewed after a timeout."""
    home: NodeId
    """The node each new operation starts at, as a Jepsen client is bound to one node: reads
    then reach every node, deposed leaders included, not only whoever leads now."""
    target: NodeId
    """Where the current attempt goes (the home node, or where redirects led)."""
    attempt: Attempt | None = None
    counter: int = 0
    lease: HeldLease | None = None
    """A long lease for puts on one checked key."""
    ephemeral: HeldLease | None = None
    """A short lease for puts on one ephemeral key."""


@dataclass(slots=True)
class History:
    records: list[Record] = field(default_factory=list)
    acked_puts: list[AckedPut] = field(default_factory=list)
    ok: int = 0
    failed: int = 0
    unknown: int = 0
    last_written: dict[str, str] = field(default_factory=dict)
    """Per key, a value some write left there (to give cas a chance of succeeding)."""
    revision_seen: int = 1
    """The newest revision any response carried (compaction aims a little below it)."""

    def finish(
        self, client: Client, attempt: Attempt, now_units: int, result: Reply, index: LogIndex
    ) -> None:
        """A reply came: ``result``, applied (or read) at ``index``."""
        self.ok += 1
        op = attempt.op
        revision = getattr(result, "revision", 0)
        self.revision_seen = max(self.revision_seen, revision)
        note_result(client, op, result)
        self._note_puts(op, result, index)
        if op.checked is None:
            return
        call = attempt.call_units / UNITS_PER_TICK
        output = model_output(op.checked, result)
        self.records.append(
            Record(client.history_id, call, now_units / UNITS_PER_TICK, op.checked, output)
        )

    def _note_puts(self, op: Op, result: Reply, index: LogIndex) -> None:
        put = _put_of(op.request, result)
        if put is None:
            return
        assert isinstance(result, PutResponse | TxnResponse)
        self.acked_puts.append(AckedPut(put.key, put.value, result.revision, index))
        self.last_written[put.key.decode()] = put.value.decode()

    def abandon(self, client: Client, attempt: Attempt) -> None:
        """A timed-out write may or may not have happened: recorded with ret = inf."""
        self.unknown += 1
        checked = attempt.op.checked
        if checked is None or attempt.op.kind == "read":
            return  # unchecked, or a read (which has no effect): nothing to record
        call = attempt.call_units / UNITS_PER_TICK
        self.records.append(Record(client.history_id, call, math.inf, checked, None))


def _put_of(request: KvRequest | None, result: Reply) -> PutRequest | None:
    """The put an acknowledged request made, if it made one."""
    if isinstance(request, PutRequest) and isinstance(result, PutResponse):
        return request
    if isinstance(request, TxnRequest) and isinstance(result, TxnResponse) and result.succeeded:
        [put] = request.success
        assert isinstance(put, PutRequest)
        return put
    return None


def model_output(checked: tuple[Hashable, ...], result: Reply) -> Hashable:
    """The checker's spelling of a result; an error never matches what the model expects."""
    match result:
        case RangeResponse(kvs=kvs):
            return kvs[0].value.decode() if kvs else None
        case TxnResponse(succeeded=succeeded):
            return succeeded
        case DeleteRangeResponse(deleted=deleted):
            return deleted > 0
        case PutResponse() | LeaseRevokeResponse():
            return None
    return f"unexpected {type(result).__name__} for {checked[0]}: {result}"


def note_result(client: Client, op: Op, result: Reply) -> None:
    """A granted lease becomes the client's to use."""
    if not isinstance(result, LeaseGrantResponse) or not op.grant_for:
        return
    held = HeldLease(result.id, op.grant_for, uses_left=0)  # uses are drawn at first use
    if op.grant_for.startswith("k"):
        client.lease = held
    else:
        client.ephemeral = held


def next_op(rng: random.Random, client: Client, keys: int, history: History) -> Op:
    """A random operation; writes carry values no other write uses."""
    key = f"k{rng.randrange(keys)}"
    client.counter += 1
    value = f"c{client.index}.{client.counter}"
    roll = rng.random()
    if roll < 0.22:
        return _op("read", RangeRequest(key.encode()), ("get", key))
    if roll < 0.42:
        return _put(key, value, 0)
    if roll < 0.60:
        expected = history.last_written.get(key) if rng.random() < 0.7 else None
        return _cas(key, expected, value)
    if roll < 0.68:
        return _op("write", DeleteRangeRequest(key.encode()), ("delete", key))
    if roll < 0.80:
        return _checked_lease_op(rng, client, key, value)
    if roll < 0.96:
        return _ephemeral_op(rng, client, keys, value)
    target = history.revision_seen - COMPACTION_LAG_REVISIONS
    if target < 2:
        return _op("read", RangeRequest(key.encode()), ("get", key))
    return _op("write", CompactionRequest(target), None)


def _op(kind: str, request: KvRequest, checked: tuple[Hashable, ...] | None, grant: str = "") -> Op:
    return Op(kind, encode(request), request, checked, grant)


def _put(key: str, value: str, lease: int) -> Op:
    request = PutRequest(key.encode(), value.encode(), lease=lease)
    return _op("write", request, ("put", key, value, lease) if key.startswith("k") else None)


def _cas(key: str, expected: str | None, new: str) -> Op:
    """etcd's compare-and-swap: a value compare (a create-revision compare for absence)."""
    encoded = key.encode()
    if expected is None:
        compare = Compare(encoded, CompareTarget.CREATE, CompareResult.EQUAL, 0)
    else:
        compare = Compare(encoded, CompareTarget.VALUE, CompareResult.EQUAL, expected.encode())
    txn = TxnRequest((compare,), (PutRequest(encoded, new.encode()),), (RangeRequest(encoded),))
    return _op("write", txn, ("cas", key, expected, new))


def _checked_lease_op(rng: random.Random, client: Client, key: str, value: str) -> Op:
    """Grant a long lease for ``key``, put with it a few times, then revoke it."""
    held = client.lease
    if held is None:
        return _op("write", LeaseGrantRequest(LONG_LEASE_TTL_SECONDS), None, key)
    if held.uses_left <= 0:
        held.uses_left = rng.randint(*LEASE_USES)
    held.uses_left -= 1
    if held.uses_left > 0:
        return _put(held.key, value, held.id)
    client.lease = None
    return _op("write", LeaseRevokeRequest(held.id), ("revoke", held.key, held.id))


def _ephemeral_op(rng: random.Random, client: Client, keys: int, value: str) -> Op:
    """Grant a short lease, put and keep alive a few times, then revoke it or let it expire."""
    held = client.ephemeral
    if held is None:
        key = f"e{rng.randrange(keys)}"
        return _op("write", LeaseGrantRequest(rng.randint(*SHORT_LEASE_TTL_SECONDS)), None, key)
    if held.uses_left <= 0:
        held.uses_left = rng.randint(*LEASE_USES)
    held.uses_left -= 1
    if held.uses_left <= 0:
        client.ephemeral = None  # stop renewing: the leader will expire it
        if rng.random() < 0.3:
            return _op("write", LeaseRevokeRequest(held.id), None)
        return _put(held.key, value, held.id)
    if rng.random() < 0.5:
        return Op("keepalive", held.id.to_bytes(8, "big"))
    return _put(held.key, value, held.id)


def redirect_target(
    rng: random.Random, members: list[NodeId], current: NodeId, hint: NodeId
) -> NodeId:
    """Where to retry: the hinted leader if it is known, else another node at random."""
    if hint != NO_NODE and hint in members:
        return hint
    others = [node for node in members if node != current] or members
    return rng.choice(others)


def to_operations(records: list[Record]) -> list[Operation]:
    """The records as the checker's operations."""
    return [Operation(r.client, r.call, r.ret, r.input, r.output) for r in records]
