"""Range, as etcd 3.4's apply.go answers it (step numbers refer to the reference, section 2.2).

1. With a sort order or a min/max filter, every key in range is read; otherwise with a limit,
   ``limit + 1`` keys (key order) are read, to learn ``more``.
2. ``count`` is the number of keys in range at that revision, before filters and limit.
3. Filters, then sorting (a target other than KEY with order NONE sorts ascending).
4. Truncate to ``limit``; ``more`` says something was cut.
5. keys_only blanks values; count_only returns no kvs and ``more`` false.
Ties in a sort keep key order (etcd leaves them unordered; stable order keeps replicas equal).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from synod.kv.mvcc.keyrange import key_range
from synod.kv.mvcc.keyspace import Keyspace
from synod.kv.mvcc.messages import KeyValue, RangeRequest, RangeResponse, SortOrder, SortTarget

_SORT_KEYS: dict[SortTarget, Callable[[KeyValue], int | bytes]] = {
    SortTarget.KEY: lambda kv: kv.key,
    SortTarget.VERSION: lambda kv: kv.version,
    SortTarget.CREATE: lambda kv: kv.create_revision,
    SortTarget.MOD: lambda kv: kv.mod_revision,
    SortTarget.VALUE: lambda kv: kv.value,
}


def read_range(
    keyspace: Keyspace, request: RangeRequest, at_main: int, header_revision: int
) -> RangeResponse:
    """Answer ``request`` from the state at ``at_main`` (already checked against compaction)."""
    found = keyspace.read(key_range(request.key, request.range_end), at_main)
    count = len(found)
    if request.count_only:
        return RangeResponse(header_revision, (), more=False, count=count)
    if not _reads_everything(request) and request.limit > 0:
        found = found[: request.limit + 1]
    found = [kv for kv in found if _passes_filters(request, kv)]
    found = _sorted(request, found)
    more = False
    if request.limit > 0 and len(found) > request.limit:
        found = found[: request.limit]
        more = True
    if request.keys_only:
        found = [dataclasses.replace(kv, value=b"") for kv in found]
    return RangeResponse(header_revision, tuple(found), more=more, count=count)


def _reads_everything(request: RangeRequest) -> bool:
    return request.sort_order != SortOrder.NONE or any(
        (
            request.min_mod_revision,
            request.max_mod_revision,
            request.min_create_revision,
            request.max_create_revision,
        )
    )


def _passes_filters(request: RangeRequest, kv: KeyValue) -> bool:
    if request.min_mod_revision and kv.mod_revision < request.min_mod_revision:
        return False
    if request.max_mod_revision and kv.mod_revision > request.max_mod_revision:
        return False
    if request.min_create_revision and kv.create_revision < request.min_create_revision:
        return False
    return not (request.max_create_revision and kv.create_revision > request.max_create_revision)


def _sorted(request: RangeRequest, found: list[KeyValue]) -> list[KeyValue]:
    order = request.sort_order
    if request.sort_target != SortTarget.KEY and order == SortOrder.NONE:
        order = SortOrder.ASCEND
    if order == SortOrder.NONE:
        return found
    sort_key = _SORT_KEYS[request.sort_target]
    if order == SortOrder.ASCEND:
        return sorted(found, key=sort_key)
    # Descending with ties in key order: reverse, sort ascending stably, reverse again.
    return sorted(found[::-1], key=sort_key)[::-1]
