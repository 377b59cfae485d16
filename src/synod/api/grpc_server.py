"""gRPC over ``synod.api.http2``: etcd's services served in the node's own event loop.

The generated ``add_*Servicer_to_server`` functions register their methods here as they would
with ``grpc.aio.server()``; the client port's listener hands every HTTP/2 connection to
``GrpcServer.connection()``. No thread, no second socket: a call's request is parsed, its
handler runs as a task of this loop, and its answer is written with the answers of the other
calls that finished in the same pass of the loop.

Rules (gRPC's HTTP/2 protocol):
- A request is ``POST`` with ``content-type: application/grpc[+proto|;...]``; its messages are
  length-prefixed (1 byte compressed flag, 4 bytes length). Compressed messages are refused:
  this server offers no ``grpc-accept-encoding``. A message over ``receive_bytes_max`` ends
  the call with RESOURCE_EXHAUSTED, as grpc-go says it.
- Unary requests start their handler once the request side ended; streaming requests at once,
  reading messages through an async iterator that hands flow-control window back as it goes.
- The status goes in trailers (``grpc-status``, percent-encoded ``grpc-message``), in a
  trailers-only response when nothing was sent before it. ``grpc-timeout`` sets a deadline
  after which the handler is cancelled and the call ends with DEADLINE_EXCEEDED; a stream the
  client resets cancels its handler.
- Every call is counted for ``/metrics`` (``RpcCounters``) with its final code.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, NoReturn

import grpc

from synod.api.call_status import CallFailed, CallStatus
from synod.api.exposition import RpcCounters
from synod.api.gateway import code_name
from synod.api.http2 import Http2Connection, Stream
from synod.api.http2_wire import STATUS_200, literal, status_field

logger = logging.getLogger("synod.api")

_RESPONSE_HEADERS = STATUS_200 + literal(b"content-type", b"application/grpc", 31)
_OK_TRAILERS = literal(b"grpc-status", b"0")
_TIMEOUT = re.compile(r"(\d{1,8})([HMSmun])")
_TIMEOUT_UNITS_S = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}
_END = object()

Handler = Any
"""A ``grpc.RpcMethodHandler`` as the generated code builds it."""


def percent_encode(text: str) -> bytes:
    """``grpc-message``'s encoding: UTF-8, with bytes outside printable ASCII and ``%`` as
    ``%XX``."""
    out = bytearray()
    for byte in text.encode():
        if 0x20 <= byte <= 0x7E and byte != 0x25:
            out.append(byte)
        else:
            out += b"%%%02X" % byte
    return bytes(out)


def status_block(code: grpc.StatusCode, details: str) -> bytes:
    number = code.value[0]
    if number == 0 and not details:
        return _OK_TRAILERS
    block = literal(b"grpc-status", str(number).encode())
    if details:
        block += literal(b"grpc-message", percent_encode(details))
    return block


def parse_timeout(value: str) -> float | None:
    """Seconds of a ``grpc-timeout`` value; None when malformed."""
    match = _TIMEOUT.fullmatch(value)
    if match is None:
        return None
    return int(match.group(1)) * _TIMEOUT_UNITS_S[match.group(2)]


def _metadata(headers: list[tuple[str, str]]) -> tuple[tuple[str, str | bytes], ...]:
    """Custom metadata of a request: every header but pseudo-headers and gRPC's reserved
    ones; ``-bin`` values base64-decoded, as grpc does."""
    out: list[tuple[str, str | bytes]] = []
    for name, value in headers:
        if (
            name.startswith(":")
            or name in ("te", "content-type", "grpc-timeout")
            or (name.startswith("grpc-") and name != "grpc-previous-rpc-attempts")
        ):
            continue
        if name.endswith("-bin"):
            with contextlib.suppress(ValueError):
                out.append((name, base64.b64decode(value + "=" * (-len(value) % 4))))
            continue
        out.append((name, value))
    return tuple(out)


class _Method:
    __slots__ = ("handler", "labels", "streaming_request", "streaming_response")

    def __init__(self, handler: Handler, path: str) -> None:
        self.handler = handler
        service, _, method = path.strip("/").partition("/")
        self.streaming_request = bool(handler.request_streaming)
        self.streaming_response = bool(handler.response_streaming)
        if self.streaming_request:
            kind = "bidi_stream" if self.streaming_response else "client_stream"
        else:
            kind = "server_stream" if self.streaming_response else "unary"
        self.labels = (kind, service, method)


class _Details:
    """What a generic handler is asked with (``grpc.HandlerCallDetails``)."""

    def __init__(self, method: str, invocation_metadata: tuple[tuple[str, Any], ...]) -> None:
        self.method = method
        self.invocation_metadata = invocation_metadata


class GrpcServer:
    def __init__(self, *, receive_bytes_max: int, rpcs: RpcCounters | None = None) -> None:
        self.receive_bytes_max = receive_bytes_max
        self.rpcs = rpcs if rpcs is not None else RpcCounters()
        self._methods: dict[str, _Method] = {}
        self._generic: list[Any] = []
        self._connections: set[Http2Connection] = set()
        self._calls: set[ServerCall] = set()
        self._stopping = False

    # -- registration, as grpc.aio.Server offers it to the generated code ---------------------

    def add(self, add_to_server: Callable[[Any, Any], None], servicer: object) -> None:
        """Register ``servicer`` with a generated ``add_*Servicer_to_server`` function."""
        add_to_server(servicer, self)

    def add_generic_rpc_handlers(self, handlers: Iterable[Any]) -> None:
        self._generic.extend(handlers)

    def add_registered_method_handlers(self, service: str, handlers: Mapping[str, Handler]) -> None:
        for name, handler in handlers.items():
            path = f"/{service}/{name}"
            self._methods[path] = _Method(handler, path)

    def _method(self, path: str) -> _Method | None:
        method = self._methods.get(path)
        if method is None:
            for generic in self._generic:
                handler = generic.service(_Details(path, ()))
                if handler is not None:
                    method = self._methods[path] = _Method(handler, path)
                    break
        return method

    # -- connections ----------------------------------------------------------------------------

    def connection(self) -> Http2Connection:
        """A protocol for one client connection (its preface not read yet)."""
        connection = Http2Connection(self, self._connections.discard)
        self._connections.add(connection)
        if self._stopping:
            connection.go_away()
        return connection

    def open(
        self, stream: Stream, headers: list[tuple[str, str]], end_stream: bool
    ) -> ServerCall | None:
        fields = dict(headers)
        if fields.get(":method") != "POST" or not fields.get("content-type", "").startswith(
            "application/grpc"
        ):
            stream.send_headers(status_field(415), end_stream=True)
            return None
        path = fields.get(":path", "")
        method = self._method(path)
        if method is None:
            service, _, name = path.strip("/").partition("/")
            known = any(key.startswith(f"/{service}/") for key in self._methods)
            text = (
                f"unknown method {name} for service {service}"
                if known
                else (f"unknown service {service}")
            )
            stream.send_headers(_trailers_only(grpc.StatusCode.UNIMPLEMENTED, text), True)
            return None
        encoding = fields.get("grpc-encoding", "identity")
        call = ServerCall(self, stream, method, headers)
        if encoding != "identity":
            call.finish(
                grpc.StatusCode.UNIMPLEMENTED,
                f"grpc: Decompressor is not installed for grpc-encoding {encoding!r}",
            )
            return None
        timeout = fields.get("grpc-timeout")
        if timeout is not None:
            seconds = parse_timeout(timeout)
            if seconds is None:
                call.finish(grpc.StatusCode.INTERNAL, f"malformed grpc-timeout: {timeout}")
                return None
            call.set_deadline(seconds)
        if method.streaming_request:
            call.start()
        return call

    @property
    def running_calls(self) -> int:
        """Calls whose handler runs now."""
        return len(self._calls)

    async def stop(self, grace_s: float) -> None:
        """Refuse new calls, let the running ones finish for ``grace_s``, then cut the rest."""
        self._stopping = True
        for connection in list(self._connections):
            connection.go_away()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        while self._calls and loop.time() < deadline:
            await asyncio.sleep(0.02)
        calls = list(self._calls)
        for call in calls:
            call.cancel()
        for call in calls:
            if call.task is not None:
                with contextlib.suppress(BaseException):
                    await call.task
        for connection in list(self._connections):
            connection.abort()


def _trailers_only(code: grpc.StatusCode, details: str) -> bytes:
    return _RESPONSE_HEADERS + status_block(code, details)


class ServerCall(CallStatus):
    """One call: implements ``http2.Call`` for its stream and ``grpc.aio.ServicerContext``'s
    part that etcd's services use, for its handler."""

    def __init__(
        self, server: GrpcServer, stream: Stream, method: _Method, headers: list[tuple[str, str]]
    ) -> None:
        super().__init__()
        self.server = server
        self.stream = stream
        self.method = method
        self._headers = headers
        self._metadata: tuple[tuple[str, str | bytes], ...] | None = None
        self._buffer = bytearray()
        self._request: bytes | None = None
        self._messages: asyncio.Queue[object] | None = (
            asyncio.Queue() if method.streaming_request else None
        )
        self.task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._deadline: float | None = None
        self._deadline_passed = False
        self._headers_sent = False
        self._finished = False
        self._cancelled = False
        self._trailing: tuple[tuple[str, str | bytes], ...] = ()
        server.rpcs.on_start(*method.labels)

    # -- http2.Call ---------------------------------------------------------------------------

    def data(self, data: bytes, end_stream: bool) -> None:
        if self._finished:
            return
        buffer = self._buffer
        buffer += data
        streaming = self._messages is not None
        if not streaming:
            self.stream.consumed(len(data))
        while len(buffer) >= 5:
            length = int.from_bytes(buffer[1:5], "big")
            if length > self.server.receive_bytes_max:
                self.finish(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"grpc: received message larger than max ({length} vs."
                    f" {self.server.receive_bytes_max})",
                )
                return
            if len(buffer) < 5 + length:
                return
            if buffer[0]:
                self.finish(
                    grpc.StatusCode.INTERNAL,
                    "grpc: compressed flag set with identity or empty encoding",
                )
                return
            message = bytes(buffer[5 : 5 + length])
            del buffer[: 5 + length]
            if self._messages is not None:
                self._messages.put_nowait(message)
            elif self._request is None:
                self._request = message
            else:
                self.finish(grpc.StatusCode.UNIMPLEMENTED, "grpc: more than one request message")
                return

    def end(self) -> None:
        if self._finished:
            return
        if self._buffer:
            self.finish(grpc.StatusCode.INTERNAL, "grpc: the request ended inside a message")
            return
        if self._messages is not None:
            self._messages.put_nowait(_END)
            return
        if self._request is None:
            self.finish(grpc.StatusCode.INTERNAL, "grpc: no request message")
            return
        self.start()

    def reset(self) -> None:
        """The client reset the stream (or the connection went): stop the handler."""
        self._cancelled = True
        if not self._finished:
            self._finished = True
            self._end_call("Canceled")
        if self.task is not None and not self.task.done():
            self.task.cancel()
        elif self._messages is not None:
            self._messages.put_nowait(_END)

    # -- running the handler --------------------------------------------------------------------

    def start(self) -> None:
        self.server._calls.add(self)
        self.task = asyncio.get_running_loop().create_task(self._run())

    def set_deadline(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + seconds
        self._timer = loop.call_later(seconds, self._on_deadline)

    def _on_deadline(self) -> None:
        if self._finished:
            return
        self._deadline_passed = True
        if self.task is not None and not self.task.done():
            self.task.cancel()
        else:
            self.finish(grpc.StatusCode.DEADLINE_EXCEEDED, "context deadline exceeded")

    def cancel(self) -> None:
        """The server is stopping."""
        if self.task is not None and not self.task.done():
            self.task.cancel()

    async def _run(self) -> None:
        method = self.method
        handler = method.handler
        try:
            if method.streaming_request:
                argument: object = self._requests()
            else:
                assert self._request is not None
                try:
                    argument = handler.request_deserializer(self._request)
                except Exception as error:
                    raise CallFailed(
                        grpc.StatusCode.INTERNAL, f"grpc: error unmarshalling request: {error}"
                    ) from None
            result = _behavior(handler)(argument, self)
            if inspect.isasyncgen(result):
                async with contextlib.aclosing(result) as responses:
                    async for response in responses:
                        await self.write(response)
            else:
                response = await result
                if response is not None and not method.streaming_response:
                    self._send_message(handler.response_serializer(response))
            self.finish(self._code or grpc.StatusCode.OK, self._details)
        except CallFailed as failed:
            self.finish(failed.code, failed.message)
        except NotImplementedError:
            unimplemented = self.unimplemented()
            self.finish(unimplemented.code, unimplemented.message)
        except asyncio.CancelledError:
            if self._deadline_passed:
                self.finish(grpc.StatusCode.DEADLINE_EXCEEDED, "context deadline exceeded")
            elif not self._finished:
                self.finish(grpc.StatusCode.CANCELLED, "the server is stopping")
        except ConnectionResetError:
            self.reset()
        except Exception as error:
            logger.exception("gRPC %s failed", "/".join(method.labels[1:]))
            self.finish(grpc.StatusCode.UNKNOWN, str(error))
        finally:
            self.server._calls.discard(self)

    async def _requests(self) -> AsyncIterator[Any]:
        messages = self._messages
        assert messages is not None
        deserialize = self.method.handler.request_deserializer
        while True:
            item = await messages.get()
            if item is _END:
                return
            assert isinstance(item, bytes)
            self.stream.consumed(5 + len(item))
            try:
                request = deserialize(item)
            except Exception as error:
                raise CallFailed(
                    grpc.StatusCode.INTERNAL, f"grpc: error unmarshalling request: {error}"
                ) from None
            yield request

    def _send_message(self, payload: bytes) -> None:
        stream = self.stream
        if not self._headers_sent:
            self._headers_sent = True
            stream.send_headers(_RESPONSE_HEADERS)
        stream.send_data(len(payload).to_bytes(5, "big") + payload)

    def finish(self, code: grpc.StatusCode, details: str) -> None:
        """Send the status (once) and count the call."""
        if self._finished:
            return
        self._finished = True
        if self._timer is not None:
            self._timer.cancel()
        block = status_block(code, details) + self._trailing_block()
        if not self._headers_sent:
            self._headers_sent = True
            block = _RESPONSE_HEADERS + block
        self.stream.send_headers(block, end_stream=True)
        self._end_call(code_name(code))

    def _end_call(self, code: str) -> None:
        self.server.rpcs.on_end(*self.method.labels, code)

    def _trailing_block(self) -> bytes:
        block = b""
        for name, value in self._trailing:
            text = (
                base64.b64encode(value).decode().rstrip("=") if isinstance(value, bytes) else value
            )
            block += literal(name.lower().encode(), text.encode())
        return block

    # -- grpc.aio.ServicerContext, the part the services use ----------------------------------

    async def abort(
        self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = ()
    ) -> NoReturn:
        if trailing_metadata:
            self._trailing = tuple(trailing_metadata)
        raise CallFailed(code, details)

    def set_trailing_metadata(self, trailing_metadata: Any) -> None:
        self._trailing = tuple(trailing_metadata)

    def invocation_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        if self._metadata is None:
            self._metadata = _metadata(self._headers)
        return self._metadata

    async def send_initial_metadata(self, initial_metadata: Any = ()) -> None:
        if not self._headers_sent:
            self._headers_sent = True
            block = _RESPONSE_HEADERS
            for name, value in initial_metadata:
                block += literal(name.lower().encode(), str(value).encode())
            self.stream.send_headers(block)

    async def write(self, message: Any) -> None:
        if self._finished:
            raise ConnectionResetError("the call has ended")
        self._send_message(self.method.handler.response_serializer(message))
        await self.stream.drained()

    def peer(self) -> str:
        transport = self.stream.connection.transport
        name = transport.get_extra_info("peername") if transport is not None else None
        if isinstance(name, tuple) and len(name) >= 2:
            return f"ipv4:{name[0]}:{name[1]}"
        return "unknown"

    def time_remaining(self) -> float | None:
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - asyncio.get_running_loop().time())

    def cancelled(self) -> bool:
        return self._cancelled or self._deadline_passed

    def done(self) -> bool:
        return self._finished


def _behavior(handler: Handler) -> Any:
    for name in ("unary_unary", "unary_stream", "stream_unary", "stream_stream"):
        behavior = getattr(handler, name)
        if behavior is not None:
            return behavior
    raise AssertionError("a method handler without a behavior")
