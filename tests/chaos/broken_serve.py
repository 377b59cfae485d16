"""A planted bug for the chaos runner to catch: ``synod serve`` whose linearizable reads are
served from the member's own keyspace, with no ReadIndex round, so a deposed or partitioned
leader (or a lagging follower) answers with stale data.

Test-only: it patches ``Node.read`` in this process and then runs the normal serve main; the
product is untouched. Started by the runner's ``--server-cmd`` testing hook.
"""

from __future__ import annotations

import sys

from synod.cli import serve
from synod.kv.etcd_machine import EtcdResult
from synod.kv.mvcc import RangeRequest
from synod.server.node import Node
from synod.server.requests import ClientRequests

_original_read = Node.read


async def _local_read(
    self: ClientRequests, request: RangeRequest, *, serializable: bool = False
) -> EtcdResult:
    del serializable
    return await _original_read(self, request, serializable=True)


if __name__ == "__main__":
    Node.read = _local_read  # type: ignore[method-assign]
    sys.exit(serve.main(sys.argv[1:]))
