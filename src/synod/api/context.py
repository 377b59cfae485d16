"""What every service shares: the node it serves, headers, and turning errors into statuses."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
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

    def identity(self) -> ServerIdentity:
        node = self.node
        return ServerIdentity(node.cluster_id, node.member_id, node.term)

    def expect(self, result: object, kind: type[T]) -> T:
        """The response of the expected kind; an error result is raised to become a status."""
        if isinstance(result, kind):
            return result
        if isinstance(result, BaseException):
            raise result
        raise AssertionError(f"expected a {kind.__name__}, the keyspace gave {result!r}")

    @contextlib.asynccontextmanager
    async def serving(self, context: Context) -> AsyncIterator[None]:
        """Run a handler body; a Synod error aborts the call with etcd's status and text."""
        try:
            yield
        except SynodError as error:
            await abort(context, error)


async def abort(context: Context, error: BaseException) -> NoReturn:
    status = status_of(error)
    if status.code is grpc.StatusCode.UNKNOWN:
        logger.warning("request failed: %r", error)
    await context.abort(status.code, status.message)
    raise AssertionError("unreachable: abort raises")
