"""Calling a gRPC servicer method from the JSON gateway, as the gRPC server would.

``GatewayContext`` stands in for ``grpc.aio.ServicerContext`` (its status part is
``synod.api.call_status``, shared with the gRPC server): ``abort`` raises ``CallFailed``
with the code and text (as grpc does, the abort does not return), ``set_code`` /
``set_details`` are recorded, ``write`` queues a streamed response, and
``invocation_metadata`` carries what the gateway forwards from HTTP headers (etcd's rules:
``Authorization`` → ``authorization``, ``Grpc-Metadata-<k>`` → ``<k>``).

``call`` runs one method, unary or streaming, and yields its responses; any failure ends the
iteration with ``CallFailed``. A servicer that does not override a method (the generated base
class raises ``NotImplementedError`` after setting UNIMPLEMENTED) fails as Unimplemented.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any, NoReturn

import grpc
from google.protobuf.message import Message

from synod.api.call_status import CallFailed, CallStatus

logger = logging.getLogger("synod.api")

_DONE = object()


class GatewayContext(CallStatus):
    """The part of ``grpc.aio.ServicerContext`` that etcd's services use."""

    def __init__(self, metadata: tuple[tuple[str, str], ...]) -> None:
        super().__init__()
        self._metadata = metadata
        self.written: asyncio.Queue[object] = asyncio.Queue()
        self._cancelled = False

    async def abort(self, code: grpc.StatusCode, details: str = "", *_: object) -> NoReturn:
        self._code, self._details = code, details
        raise CallFailed(code, details)

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata

    async def write(self, message: Message) -> None:
        await self.written.put(message)

    async def send_initial_metadata(self, *_: object) -> None:
        return None

    def set_trailing_metadata(self, *_: object) -> None:
        return None

    def peer(self) -> str:
        return "gateway"

    def time_remaining(self) -> float | None:
        return None

    def cancelled(self) -> bool:
        return self._cancelled

    def done(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        self._cancelled = True


def metadata_of(headers: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """gRPC metadata from HTTP headers (lower-case names), as grpc-gateway forwards them."""
    forwarded: list[tuple[str, str]] = []
    for name, value in headers.items():
        if name == "authorization":
            forwarded.append(("authorization", value))
        elif name.startswith("grpc-metadata-"):
            forwarded.append((name.removeprefix("grpc-metadata-"), value))
    return tuple(forwarded)


async def _requests(messages: list[Message]) -> AsyncIterator[Message]:
    for message in messages:
        yield message


async def call(
    servicer: object,
    method: str,
    requests: list[Message],
    client_streaming: bool,
    context: GatewayContext,
) -> AsyncIterator[Message]:
    """Run ``servicer.<method>``; its responses in order, or ``CallFailed``."""
    handler: Any = getattr(servicer, method)
    argument: object = _requests(requests) if client_streaming else requests[0]
    try:
        result = handler(argument, context)
    except NotImplementedError:
        raise context.unimplemented() from None
    try:
        if inspect.isasyncgen(result):
            async for response in result:
                assert isinstance(response, Message)
                yield response
        elif inspect.isawaitable(result):
            async for response in _awaited_with_writes(result, context):
                yield response
        else:
            raise CallFailed(grpc.StatusCode.INTERNAL, f"{method} gave {result!r}")
    except CallFailed:
        raise
    except NotImplementedError:
        raise context.unimplemented() from None
    except Exception as error:
        logger.warning("gateway call %s failed: %r", method, error)
        raise CallFailed(grpc.StatusCode.UNKNOWN, str(error)) from error


async def _awaited_with_writes(work: Any, context: GatewayContext) -> AsyncIterator[Message]:
    """A coroutine handler: what it ``write``s while it runs, then what it returns."""
    task: asyncio.Task[Any] = asyncio.ensure_future(work)
    task.add_done_callback(lambda _: context.written.put_nowait(_DONE))
    try:
        while (item := await context.written.get()) is not _DONE:
            assert isinstance(item, Message)
            yield item
        result = task.result()
        if isinstance(result, Message):
            yield result
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
