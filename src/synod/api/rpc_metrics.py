"""Counting gRPC calls for ``/metrics`` (go-grpc-prometheus' ``grpc_server_*`` counters).

A server interceptor wraps each handler so that a call counts as started when it begins and
as handled, with its final code, when it ends. The code of a failed call is the one the
handler set (``abort`` sets it), else Unknown; a call whose task is cancelled is Canceled.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias

import grpc

from synod.api.exposition import RpcCounters
from synod.api.gateway import code_name

Behavior = Callable[..., Any]


Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"


def _kind(handler: Handler) -> str:
    if handler.request_streaming:
        return "bidi_stream" if handler.response_streaming else "client_stream"
    return "server_stream" if handler.response_streaming else "unary"


def _final_code(context: grpc.aio.ServicerContext[Any, Any], error: BaseException | None) -> str:
    code: object = context.code()
    if isinstance(code, grpc.StatusCode):
        return code_name(code)
    if error is None:
        return "OK"
    return "Unknown" if isinstance(error, Exception) else "Canceled"


class RpcCountingInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, rpcs: RpcCounters) -> None:
        self.rpcs = rpcs
        self._counted: dict[str, Handler] = {}
        """The counting handler of each method seen, built once: the services registered at
        start never change, so the same method always finds the same handler."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        name = handler_call_details.method
        counted = self._counted.get(name)
        if counted is not None:
            return counted
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        counted = self._wrap(handler, name)
        self._counted[name] = counted
        return counted

    def _wrap(self, handler: Handler, name: str) -> Handler:
        service, _, method = name.strip("/").partition("/")
        labels = (_kind(handler), service, method)
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(handler.unary_unary, labels),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(handler.unary_stream, labels),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                self._unary(handler.stream_unary, labels),
                handler.request_deserializer,
                handler.response_serializer,
            )
        behavior: Any = handler.stream_stream
        return grpc.stream_stream_rpc_method_handler(
            self._stream(behavior, labels),
            handler.request_deserializer,
            handler.response_serializer,
        )

    def _unary(self, behavior: Behavior, labels: tuple[str, str, str]) -> Behavior:
        rpcs = self.rpcs

        async def counted(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            rpcs.on_start(*labels)
            error: BaseException | None = None
            try:
                return await behavior(request, context)
            except BaseException as failure:
                error = failure
                raise
            finally:
                rpcs.on_end(*labels, _final_code(context, error))

        return counted

    def _stream(self, behavior: Behavior, labels: tuple[str, str, str]) -> Behavior:
        rpcs = self.rpcs

        async def counted(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            rpcs.on_start(*labels)
            error: BaseException | None = None
            try:
                result = behavior(request, context)
                if inspect.isasyncgen(result):
                    async for response in result:
                        yield response
                else:
                    await result
            except BaseException as failure:
                error = failure
                raise
            finally:
                rpcs.on_end(*labels, _final_code(context, error))

        return counted
