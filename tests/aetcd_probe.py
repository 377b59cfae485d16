"""Drive one etcd-compatible endpoint with aetcd and print what it saw, as one JSON object.

Run as ``python -m tests.aetcd_probe HOST:PORT PART`` with PART ``kv`` or ``lease``. It runs in a
process of its own because aetcd brings generated etcd protobuf modules whose symbols clash
with Synod's. Each step records either its result (ids and raft terms left out, revisions
kept) or the error class name, so two servers can be compared by comparing the outputs.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import aetcd  # type: ignore[import-untyped]

PROBE_SECONDS_MAX = 20

Step = Callable[[Any], Awaitable[object]]


HEADER_IDS = ("cluster_id", "member_id", "raft_term")


def plain(value: object) -> object:
    """A JSON-able picture of an aetcd result; headers keep only the revision."""
    if value is None or isinstance(value, bool | int | str | float):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return _fields(value)


def _fields(value: object) -> object:
    """An object's fields by name, whatever kind of object aetcd returned."""
    found: dict[str, object]
    if isinstance(value, dict):
        found = {str(name): item for name, item in value.items()}
    elif hasattr(value, "__slots__"):
        found = {name: getattr(value, name, None) for name in value.__slots__}
    elif hasattr(value, "kvs") and hasattr(value, "count"):
        ranged: Any = value  # aetcd's result types are untyped
        found = {"kvs": list(ranged.kvs), "count": ranged.count, "more": ranged.more}
    elif hasattr(value, "ListFields"):
        found = {field.name: item for field, item in value.ListFields()}
    elif hasattr(value, "__dict__"):
        found = {name: item for name, item in vars(value).items() if name[0] != "_"}
    else:
        return repr(value)
    return {name: plain(item) for name, item in found.items() if name not in HEADER_IDS}


async def kv_steps(client: Any) -> dict[str, object]:
    txns = client.transactions
    steps: dict[str, Step] = {
        "put": lambda c: c.put(b"a/one", b"1"),
        "put_prev": lambda c: c.put(b"a/one", b"11", prev_kv=True),
        "put_two": lambda c: c.put(b"a/two", b"2"),
        "get": lambda c: c.get(b"a/one"),
        "get_missing": lambda c: c.get(b"a/none"),
        "get_serializable": lambda c: c.get(b"a/two", serializable=True),
        "get_prefix": lambda c: c.get_prefix(b"a/"),
        "get_range": lambda c: c.get_range(b"a/one", b"a/zzz"),
        "get_all": lambda c: c.get_all(),
        "txn_true": lambda c: c.transaction(
            compare=[txns.value(b"a/one") == b"11", txns.version(b"a/two") > 0],
            success=[txns.put(b"a/three", b"3"), txns.get(b"a/one")],
            failure=[txns.delete(b"a/one")],
        ),
        "txn_false": lambda c: c.transaction(
            compare=[txns.mod(b"a/one") < 1],
            success=[txns.put(b"a/four", b"4")],
            failure=[txns.get(b"a/three"), txns.delete(b"a/two")],
        ),
        "replace": lambda c: c.replace(b"a/three", b"3", b"33"),
        "delete": lambda c: c.delete(b"a/one", prev_kv=True),
        "delete_missing": lambda c: c.delete(b"a/one"),
        "delete_prefix": lambda c: c.delete_prefix(b"a/"),
        "get_after": lambda c: c.get_prefix(b"a/"),
        "empty_key": lambda c: c.put(b"", b"x"),
    }
    return await run_steps(client, steps)


async def lease_steps(client: Any) -> dict[str, object]:
    async def granted(c: Any) -> object:
        lease = await c.lease(60)
        await c.put(b"l/key", b"v", lease=lease)
        kv = await c.get(b"l/key")
        ttl = await lease.granted_ttl()
        await lease.revoke()
        gone = await c.get(b"l/key")
        return {"ttl": ttl, "has_lease": kv.lease == lease.id, "gone": gone is None}

    steps: dict[str, Step] = {"lease": granted}
    return await run_steps(client, steps)


async def run_steps(client: Any, steps: dict[str, Step]) -> dict[str, object]:
    seen: dict[str, object] = {}
    for name, step in steps.items():
        try:
            seen[name] = plain(await step(client))
        except aetcd.ClientError as error:
            seen[name] = {"error": type(error).__name__, "message": str(error)}
    return seen


async def main(endpoint: str, part: str) -> None:
    host, port = endpoint.rsplit(":", 1)
    async with aetcd.Client(host=host, port=int(port), timeout=5) as client:
        steps = kv_steps if part == "kv" else lease_steps
        seen = await asyncio.wait_for(steps(client), PROBE_SECONDS_MAX)
    print(json.dumps(seen, sort_keys=True))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
