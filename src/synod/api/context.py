"""What every service shares: the node it serves, headers, and turning errors into statuses."""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any, NoReturn, TypeVar

import grpc

from synod.api.convert import ServerIdentity
from synod.api.errors import status_of
from synod.core.errors import SynodError
from synod.server.node import Node

logger = logging.getLogger("synod.api")

Context = grpc.aio.ServicerContext[Any, Any]
T = TypeVar("T")


class ServiceBase:
    def __init__(self, node: Node) -> None:
        self.node = node
        self._identity: ServerIdentity | None = None

    def identity(self) -> ServerIdentity:
        """This member's header fields now; the object is reused while they stay the same
        (every response asks, and they change only with the term or the cluster's ID)."""
        node = self.node
        cluster_id, term = node.cluster_id, node.term
        identity = self._identity
        if identity is None or identity.raft_term != term or identity.cluster_id != cluster_id:
            identity = ServerIdentity(cluster_id, node.member_id, term)
            self._identity = identity
        return identity

    def expect(self, result: object, kind: type[T]) -> T:
        """The response of the expected kind; an error result is raised to become a status."""
        if isinstance(result, kind):
            return result
        if isinstance(result, BaseException):
            raise result
        raise AssertionError(f"expected a {kind.__name__}, the keyspace gave {result!r}")

    def serving(self, context: Context) -> Serving:
        """Run a handler body; a Synod error aborts the call with etcd's status and text."""
        return Serving(context)


class Serving:
    """``async with`` scope of one handler body (a class, not a generator: every call
    enters one)."""

    __slots__ = ("context",)

    def __init__(self, context: Context) -> None:
        self.context = context

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        if isinstance(error, SynodError):
            await abort(self.context, error)
        return False


async def abort(context: Context, error: BaseException) -> NoReturn:
    status = status_of(error)
    if status.code is grpc.StatusCode.UNKNOWN:
        logger.warning("request failed: %r", error)
    await context.abort(status.code, status.message)
    raise AssertionError("unreachable: abort raises")
