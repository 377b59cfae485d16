"""One write transaction: the changes of a request, all at revision ``main``, sub-revisions in
op order. Reads through the writer see its earlier changes (etcd's storeTxnWrite).

Requests reach the writer already checked; what it asserts are its own invariants.
"""

from __future__ import annotations

from synod.kv.mvcc.keyrange import key_range
from synod.kv.mvcc.keyspace import Keyspace
from synod.kv.mvcc.messages import (
    DeleteRangeRequest,
    DeleteRangeResponse,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
)
from synod.kv.mvcc.reads import read_range
from synod.kv.mvcc.revision import SUB_MAX, Revision


class Writer:
    def __init__(self, keyspace: Keyspace, begin_revision: int) -> None:
        assert begin_revision >= 1
        self._keyspace = keyspace
        self.begin_revision = begin_revision
        self.main = begin_revision + 1
        self.changes = 0

    def view_revision(self) -> int:
        """The revision reads see: the writer's own once it has changed something."""
        return self.main if self.changes else self.begin_revision

    def range(self, request: RangeRequest) -> RangeResponse:
        at_main = request.revision if request.revision > 0 else self.view_revision()
        return read_range(self._keyspace, request, at_main, self.view_revision())

    def put(self, request: PutRequest) -> PutResponse:
        previous = self._keyspace.get(request.key, self.view_revision())
        value, lease = request.value, request.lease
        if request.ignore_value or request.ignore_lease:
            assert previous is not None, "ignore_* on a missing key passed the checks"
            value = previous.value if request.ignore_value else value
            lease = previous.lease if request.ignore_lease else lease
        self._keyspace.put(request.key, value, lease, self._next_revision())
        prev_kv = previous if request.prev_kv else None
        return PutResponse(self.main, prev_kv)

    def delete_range(self, request: DeleteRangeRequest) -> DeleteRangeResponse:
        found = self._keyspace.read(key_range(request.key, request.range_end), self.view_revision())
        for kv in found:
            self._keyspace.delete(kv.key, self._next_revision())
        prev_kvs = tuple(found) if request.prev_kv else ()
        assert not self._keyspace.read(key_range(request.key, request.range_end), self.main)
        return DeleteRangeResponse(self.view_revision(), len(found), prev_kvs)

    def _next_revision(self) -> Revision:
        revision = Revision(self.main, self.changes)
        assert revision.main >= 1, revision
        assert 0 <= revision.sub <= SUB_MAX, revision
        self.changes += 1
        return revision
