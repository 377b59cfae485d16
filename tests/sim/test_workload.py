"""The etcd workload: every operation is well formed, checked ones speak the model's language,
and each lease on a checked key serves one key and is revoked at most once."""

from __future__ import annotations

import random
from collections import Counter

from synod.check import SIM_ETCD, UNKNOWN
from synod.check.models import ABSENT
from synod.core.ids import LogIndex, NodeId
from synod.kv.commands import decode
from synod.kv.etcd_machine import EtcdMachine
from synod.kv.mvcc import LeaseGrantRequest, LeaseRevokeRequest, PutRequest
from synod.sim.workload import Attempt, Client, History, next_op


def test_operations_apply_cleanly_and_checked_ones_fit_the_model():
    rng = random.Random(5)
    machine = EtcdMachine()
    client = Client(0, 0, NodeId(1), NodeId(1))
    history = History()
    kinds: Counter[str] = Counter()
    lease_keys: dict[int, set[bytes]] = {}
    revoked: Counter[int] = Counter()
    for step in range(1500):
        op = next_op(rng, client, 3, history)
        kinds[op.kind] += 1
        if op.kind == "keepalive":
            continue
        request = decode(op.payload)
        assert request == op.request
        result = machine.read(op.payload) if op.kind == "read" else machine.apply(op.payload)
        history.finish(client, Attempt(op, step), step + 1, result, LogIndex(step + 1))
        if isinstance(request, PutRequest) and request.lease and op.checked is not None:
            lease_keys.setdefault(request.lease, set()).add(request.key)
        if isinstance(request, LeaseRevokeRequest) and op.checked is not None:
            revoked[request.id] += 1
        if op.checked is not None:
            assert SIM_ETCD.step(ABSENT, op.checked, UNKNOWN) is not None
        if isinstance(request, LeaseGrantRequest):
            assert not isinstance(result, Exception)
    assert set(kinds) == {"read", "write", "keepalive"}
    assert all(len(keys) == 1 for keys in lease_keys.values())
    assert lease_keys
    assert max(revoked.values()) == 1
    assert history.acked_puts
    assert all(record.output is not None or record.input[0] != "cas" for record in history.records)
    outputs = [record.output for record in history.records]
    assert not any(
        isinstance(output, str) and output.startswith("unexpected") for output in outputs
    )
