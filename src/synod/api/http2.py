"""HTTP/2 (RFC 9113), server side, as much of it as gRPC needs, on an ``asyncio.Protocol``.

One ``Http2Connection`` per client connection. It parses frames, keeps the connection's and
each stream's flow-control windows in both directions, answers SETTINGS and PING, and hands
each stream's request headers and data to an ``Application`` (the gRPC layer,
``synod.api.grpc_server``), which answers through ``send_headers`` / ``send_data``.

Rules:
- Header blocks are decoded with HPACK (``hpack``, through ``synod.api.header_blocks``, which
  remembers the blocks a client repeats); responses are encoded here as literals that never
  enter the dynamic table, so no encoder state exists to keep in step.
- Receive windows: the connection's is handed back as data arrives; a stream's when the
  application says it consumed the data (``consumed``), so a slow reader of a streaming call
  stops its sender without stalling the connection's other streams.
- Send windows: a stream's data goes out as far as both windows and the peer's frame size
  allow; the rest waits in the stream, in order with its trailers, until WINDOW_UPDATE.
- Everything written during one pass of the event loop leaves in one ``writelines``: the
  answers of many calls completed together cost one system call.
- A protocol violation closes the connection with GOAWAY and the error code; one stream's
  trouble resets only that stream. Limits (streams, header list, frame size) are advertised
  in SETTINGS and enforced.

The wire format itself (frames, codes, HPACK literals) is ``synod.api.http2_wire``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Protocol, cast

import hpack

from synod.api.header_blocks import HeaderDecoder
from synod.api.http2_wire import (
    ACK,
    DEFAULT_FRAME_BYTES,
    DEFAULT_WINDOW,
    END_HEADERS,
    END_STREAM,
    FRAME_BYTES_MAX,
    PADDED,
    PREFACE,
    PRIORITY_FLAG,
    WINDOW_MAX,
    ErrorCode,
    FrameType,
    ProtocolViolation,
    Setting,
    error_code,
    frame,
    settings_payload,
    unpad,
)

logger = logging.getLogger("synod.api")

STREAMS_MAX = 1024
"""Concurrent streams a client may open on one connection (advertised)."""
STREAM_WINDOW = 1 << 20
"""Receive window of each stream (advertised as SETTINGS_INITIAL_WINDOW_SIZE)."""
CONNECTION_WINDOW = 16 << 20
"""Receive window of the connection, raised to this at start."""
HEADER_LIST_BYTES_MAX = 64 * 1024
"""Decoded size of one request's header list (advertised)."""
SEND_BUFFER_BYTES_HIGH = 1 << 20
"""A stream's sender waits (``drained``) while more than this waits for window."""


# -- streams -----------------------------------------------------------------------------------


class Call(Protocol):
    """What the application keeps per stream."""

    def data(self, data: bytes, end_stream: bool) -> None: ...

    def end(self) -> None:
        """The request side ended (END_STREAM on trailers or on the last DATA)."""

    def reset(self) -> None:
        """The stream is gone (RST_STREAM, or the connection closed)."""


class Application(Protocol):
    def open(self, stream: Stream, headers: list[tuple[str, str]], end_stream: bool) -> Call | None:
        """A new request; None when the application answered it already (an error)."""


class Stream:
    __slots__ = (
        "_drained",
        "call",
        "connection",
        "local_closed",
        "pending",
        "pending_bytes",
        "remote_closed",
        "send_window",
        "stream_id",
        "unacked",
    )

    def __init__(self, stream_id: int, connection: Http2Connection, send_window: int) -> None:
        self.stream_id = stream_id
        self.connection = connection
        self.call: Call | None = None
        self.send_window = send_window
        self.unacked = 0
        """Bytes received and consumed, not yet handed back in a WINDOW_UPDATE."""
        self.pending: deque[tuple[bool, bytes, bool]] = deque()
        """(is headers, bytes, end stream) waiting for send window, in order."""
        self.pending_bytes = 0
        self.remote_closed = False
        self.local_closed = False
        self._drained: asyncio.Future[None] | None = None

    def send_headers(self, block: bytes, end_stream: bool = False) -> None:
        self.connection.send_headers(self, block, end_stream)

    def send_data(self, data: bytes, end_stream: bool = False) -> None:
        self.connection.send_data(self, data, end_stream)

    def consumed(self, size: int) -> None:
        """The application took ``size`` bytes of this stream's data: open the window again."""
        self.connection.consumed(self, size)

    def reset(self, code: ErrorCode = ErrorCode.CANCEL) -> None:
        self.connection.reset_stream(self, code)

    async def drained(self) -> None:
        """Wait until this stream's unsent data is below the high-water mark and the socket
        takes writes; raises ``ConnectionResetError`` once the stream is gone."""
        while True:
            if self.local_closed and self.connection.stream(self.stream_id) is not self:
                raise ConnectionResetError("stream closed")
            if self.connection.closed:
                raise ConnectionResetError("connection closed")
            if self.pending_bytes <= SEND_BUFFER_BYTES_HIGH and not self.connection.paused:
                return
            if self._drained is None or self._drained.done():
                self._drained = asyncio.get_running_loop().create_future()
            await self._drained

    def wake(self) -> None:
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)


class Http2Connection(asyncio.Protocol):
    """The server side of one HTTP/2 connection."""

    def __init__(
        self, application: Application, on_close: Callable[[Http2Connection], None]
    ) -> None:
        self.application = application
        self._on_close = on_close
        self.transport: asyncio.Transport | None = None
        self._buffer = b""
        self._preface_seen = False
        self._decoder = HeaderDecoder(max_header_list_size=HEADER_LIST_BYTES_MAX)
        self._streams: dict[int, Stream] = {}
        self._last_stream_id = 0
        self._headers_open: tuple[int, int, bytearray] | None = None
        """(stream id, flags of the HEADERS frame, block so far) while CONTINUATIONs are due."""
        self._peer_window = DEFAULT_WINDOW
        self._peer_stream_window = DEFAULT_WINDOW
        self._peer_frame_bytes = DEFAULT_FRAME_BYTES
        self._unacked = 0
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self._going_away = False
        self.closed = False
        self.paused = False
        self._handlers: dict[int, Callable[[int, int, bytes], None]] = {
            FrameType.DATA: self._on_data,
            FrameType.HEADERS: self._on_headers,
            FrameType.CONTINUATION: self._on_continuation,
            FrameType.SETTINGS: self._on_settings,
            FrameType.PING: self._on_ping,
            FrameType.WINDOW_UPDATE: self._on_window_update,
            FrameType.RST_STREAM: self._on_rst_stream,
            FrameType.GOAWAY: self._on_goaway,
            FrameType.PRIORITY: self._on_priority,
            FrameType.PUSH_PROMISE: self._on_push_promise,
        }

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        ours = {
            Setting.MAX_CONCURRENT_STREAMS: STREAMS_MAX,
            Setting.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
            Setting.MAX_HEADER_LIST_SIZE: HEADER_LIST_BYTES_MAX,
            Setting.ENABLE_PUSH: 0,
        }
        self._write(
            frame(FrameType.SETTINGS, 0, 0, settings_payload(ours)),
            frame(
                FrameType.WINDOW_UPDATE,
                0,
                0,
                (CONNECTION_WINDOW - DEFAULT_WINDOW).to_bytes(4, "big"),
            ),
        )

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            self._receive(data)
        except ProtocolViolation as error:
            self.go_away(error.code, str(error))
        except hpack.HPACKError as error:
            self.go_away(ErrorCode.COMPRESSION_ERROR, f"bad header block: {error}")

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        streams = list(self._streams.values())
        self._streams.clear()
        for stream in streams:
            stream.local_closed = stream.remote_closed = True
            stream.wake()
            if stream.call is not None:
                stream.call.reset()
        self._on_close(self)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        for stream in list(self._streams.values()):
            stream.wake()

    # -- reading -----------------------------------------------------------------------------

    def _receive(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        position = 0
        if not self._preface_seen:
            if len(buffer) < len(PREFACE):
                if not PREFACE.startswith(buffer):
                    raise ProtocolViolation(ErrorCode.PROTOCOL_ERROR, "not an HTTP/2 preface")
                self._buffer = buffer
                return
            if buffer[: len(PREFACE)] != PREFACE:
                raise ProtocolViolation(ErrorCode.PROTOCOL_ERROR, "not an HTTP/2 preface")
            position = len(PREFACE)
            self._preface_seen = True
        size = len(buffer)
        while size - position >= 9 and not self.closed:
            length = buffer[position] << 16 | buffer[position + 1] << 8 | buffer[position + 2]
            if length > DEFAULT_FRAME_BYTES:
                raise ProtocolViolation(ErrorCode.FRAME_SIZE_ERROR, f"a frame of {length} bytes")
            end = position + 9 + length
            if end > size:
                break
            kind = buffer[position + 3]
            flags = buffer[position + 4]
            stream_id = int.from_bytes(buffer[position + 5 : position + 9], "big") & 0x7FFFFFFF
            payload = buffer[position + 9 : end]
            position = end
            self._on_frame(kind, flags, stream_id, payload)
        self._buffer = buffer[position:]
        if self._unacked >= CONNECTION_WINDOW // 4:
            self._write(frame(FrameType.WINDOW_UPDATE, 0, 0, self._unacked.to_bytes(4, "big")))
            self._unacked = 0

    def _on_frame(self, kind: int, flags: int, stream_id: int, payload: bytes) -> None:
        if self._headers_open is not None and kind != FrameType.CONTINUATION:
            raise ProtocolViolation(ErrorCode.PROTOCOL_ERROR, "a header block was interrupted")
        handler = self._handlers.get(kind)
        if handler is not None:  # unknown frame types are ignored (RFC 9113 §4.1)
            handler(flags, stream_id, payload)

    def _on_ping(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id != 0 or len(payload) != 8:
            raise ProtocolViolation(ErrorCode.PROTOCOL_ERROR, "malformed PING")
        if not flags & ACK:
            self._write(frame(FrameType.PING, ACK, 0, payload))

    def _on_rst_stream(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id == 0 or len(payload) != 4:
            raise ProtocolViolation(ErrorCode.PROTOCOL_ERROR, "malformed RST_STREAM")
        stream = self._streams.pop(stream_id, None)
        if stream is not None:
            stream.local_closed = stream.remote_closed = True
            stream.wake()
            if stream.call is not None:
                stream.call.reset()

    def _on_goaway(self, flags: int, stream_id: int, payload: bytes) -> None:
        self._going_away = True
        if not self._streams:
            self._close()

    def _on_priority(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id == 0 or len(payload) != 5:
            raise ProtocolViolation(ErrorCode.PROTOCOL_ERROR, "malformed PRIORITY")

    def _on_push_promise(self, flags: int, stream_id: int, payload: bytes) -> None:
        raise ProtocolViolation(ErrorCode.PROTOCOL_ERROR, "a client may not push")

    def _on_data(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id == 0:
            raise ProtocolViolation(ErrorCode.PROTOCOL_ERROR, "DATA on stream 0")
        self._unacked += len(payload)
        data = unpad(payload) if flags & PADDED else payload
        stream = self._streams.get(stream_id)
        if stream is not None and len(data) < len(payload):
            self.consumed(stream, len(payload) - len(data))  # padding is never the call's
        if stream is None or stream.remote_closed:
            if stream_id > self._last_stream_id:
                raise ProtocolViolation(ErrorCode.PROTOCOL_ERROR, "DATA on an idle stream")
            return  # a stream we reset or finished: counted against the connection only
        end_stream = bool(flags & END_STREAM)
        if end_stream:
            stream.remote_closed = True
        if stream.call is not None:
            if data:
                stream.call.data(data, end_stream)
            if end_stream:
                stream.call.end()
        self._maybe_forget(stream)

    def _on_headers(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id == 0:
            raise ProtocolViolation(ErrorCode.PROTOCOL_ERROR, "HEADERS on stream 0")
        block = unpad(payload) if flags & PADDED else payload
        if flags & PRIORITY_FLAG:
            block = block[5:]
        if flags & END_HEADERS:
            self._on_header_block(flags, stream_id, block)
        else:
            self._headers_open = (stream_id, flags, bytearray(block))

    def _on_continuation(self, flags: int, stream_id: int, payload: bytes) -> None:
        opened = self._headers_open
        if opened is None or opened[0] != stream_id:
            raise ProtocolViolation(ErrorCode.PROTOCOL_ERROR, "CONTINUATION out of place")
        opened[2].extend(payload)
        if len(opened[2]) > HEADER_LIST_BYTES_MAX:
            raise ProtocolViolation(ErrorCode.PROTOCOL_ERROR, "header block too large")
        if flags & END_HEADERS:
            self._headers_open = None
            self._on_header_block(opened[1], stream_id, bytes(opened[2]))

    def _on_header_block(self, flags: int, stream_id: int, block: bytes) -> None:
        headers = self._decoder.decode(block)
        end_stream = bool(flags & END_STREAM)
        stream = self._streams.get(stream_id)
        if stream is not None:  # trailers of a request
            if not end_stream:
                raise ProtocolViolation(ErrorCode.PROTOCOL_ERROR, "trailers without END_STREAM")
            stream.remote_closed = True
            if stream.call is not None:
                stream.call.end()
            self._maybe_forget(stream)
            return
        if stream_id % 2 == 0 or stream_id <= self._last_stream_id:
            raise ProtocolViolation(ErrorCode.PROTOCOL_ERROR, f"stream {stream_id} cannot open")
        self._last_stream_id = stream_id
        if self._going_away:
            self._write(
                frame(FrameType.RST_STREAM, 0, stream_id, error_code(ErrorCode.REFUSED_STREAM))
            )
            return
        if len(self._streams) >= STREAMS_MAX:
            self._write(
                frame(FrameType.RST_STREAM, 0, stream_id, error_code(ErrorCode.REFUSED_STREAM))
            )
            return
        stream = Stream(stream_id, self, self._peer_stream_window)
        stream.remote_closed = end_stream
        self._streams[stream_id] = stream
        stream.call = self.application.open(stream, headers, end_stream)
        if stream.call is not None and end_stream:
            stream.call.end()
        self._maybe_forget(stream)

    def _on_settings(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id != 0:
            raise ProtocolViolation(ErrorCode.PROTOCOL_ERROR, "SETTINGS on a stream")
        if flags & ACK:
            return
        if len(payload) % 6:
            raise ProtocolViolation(ErrorCode.FRAME_SIZE_ERROR, "malformed SETTINGS")
        for offset in range(0, len(payload), 6):
            key = int.from_bytes(payload[offset : offset + 2], "big")
            value = int.from_bytes(payload[offset + 2 : offset + 6], "big")
            if key == Setting.INITIAL_WINDOW_SIZE:
                if value > WINDOW_MAX:
                    raise ProtocolViolation(ErrorCode.FLOW_CONTROL_ERROR, "window too large")
                delta = value - self._peer_stream_window
                self._peer_stream_window = value
                for stream in self._streams.values():
                    stream.send_window += delta
            elif key == Setting.MAX_FRAME_SIZE:
                if not DEFAULT_FRAME_BYTES <= value <= FRAME_BYTES_MAX:
                    raise ProtocolViolation(ErrorCode.PROTOCOL_ERROR, "bad MAX_FRAME_SIZE")
                self._peer_frame_bytes = value
        self._write(frame(FrameType.SETTINGS, ACK, 0))
        self._send_pending()

    def _on_window_update(self, flags: int, stream_id: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise ProtocolViolation(ErrorCode.FRAME_SIZE_ERROR, "malformed WINDOW_UPDATE")
        increment = int.from_bytes(payload, "big") & 0x7FFFFFFF
        if stream_id == 0:
            if increment == 0:
                raise ProtocolViolation(ErrorCode.PROTOCOL_ERROR, "zero WINDOW_UPDATE")
            self._peer_window += increment
            if self._peer_window > WINDOW_MAX:
                raise ProtocolViolation(ErrorCode.FLOW_CONTROL_ERROR, "window overflow")
            self._send_pending()
            return
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        if increment == 0:
            self.reset_stream(stream, ErrorCode.PROTOCOL_ERROR)
            return
        stream.send_window += increment
        if stream.send_window > WINDOW_MAX:
            self.reset_stream(stream, ErrorCode.FLOW_CONTROL_ERROR)
            return
        self._send_stream(stream)

    # -- writing -----------------------------------------------------------------------------

    def stream(self, stream_id: int) -> Stream | None:
        return self._streams.get(stream_id)

    def send_headers(self, stream: Stream, block: bytes, end_stream: bool) -> None:
        if stream.local_closed:
            return
        if stream.pending:
            stream.pending.append((True, block, end_stream))
        else:
            self._write_headers(stream, block, end_stream)

    def _write_headers(self, stream: Stream, block: bytes, end_stream: bool) -> None:
        flags = END_HEADERS | (END_STREAM if end_stream else 0)
        limit = self._peer_frame_bytes
        if len(block) <= limit:
            self._write(frame(FrameType.HEADERS, flags, stream.stream_id, block))
        else:
            first = END_STREAM if end_stream else 0
            parts = [block[start : start + limit] for start in range(0, len(block), limit)]
            self._write(frame(FrameType.HEADERS, first, stream.stream_id, parts[0]))
            for index, part in enumerate(parts[1:], 2):
                last = END_HEADERS if index == len(parts) else 0
                self._write(frame(FrameType.CONTINUATION, last, stream.stream_id, part))
        if end_stream:
            self._finish_local(stream)

    def send_data(self, stream: Stream, data: bytes, end_stream: bool) -> None:
        if stream.local_closed:
            return
        stream.pending.append((False, data, end_stream))
        stream.pending_bytes += len(data)
        self._send_stream(stream)

    def _send_stream(self, stream: Stream) -> None:
        pending = stream.pending
        while pending and not stream.local_closed:
            is_headers, data, end_stream = pending[0]
            if is_headers:
                pending.popleft()
                self._write_headers(stream, data, end_stream)
                continue
            allowed = min(stream.send_window, self._peer_window)
            if allowed <= 0 and data:
                break
            limit = self._peer_frame_bytes
            if len(data) <= allowed and len(data) <= limit:
                pending.popleft()
                stream.pending_bytes -= len(data)
                self._take_window(stream, len(data))
                self._write(
                    frame(FrameType.DATA, END_STREAM if end_stream else 0, stream.stream_id, data)
                )
                if end_stream:
                    self._finish_local(stream)
                continue
            size = min(allowed, limit)
            pending[0] = (False, data[size:], end_stream)
            stream.pending_bytes -= size
            self._take_window(stream, size)
            self._write(frame(FrameType.DATA, 0, stream.stream_id, data[:size]))
        if stream.pending_bytes <= SEND_BUFFER_BYTES_HIGH:
            stream.wake()

    def _take_window(self, stream: Stream, size: int) -> None:
        stream.send_window -= size
        self._peer_window -= size

    def _send_pending(self) -> None:
        for stream in list(self._streams.values()):
            if stream.pending:
                self._send_stream(stream)
                if self._peer_window <= 0:
                    return

    def consumed(self, stream: Stream, size: int) -> None:
        if stream.remote_closed or stream.local_closed:
            return
        stream.unacked += size
        if stream.unacked >= STREAM_WINDOW // 4:
            self._write(
                frame(
                    FrameType.WINDOW_UPDATE, 0, stream.stream_id, stream.unacked.to_bytes(4, "big")
                )
            )
            stream.unacked = 0

    def reset_stream(self, stream: Stream, code: ErrorCode) -> None:
        if self._streams.get(stream.stream_id) is not stream:
            return
        del self._streams[stream.stream_id]
        stream.local_closed = stream.remote_closed = True
        stream.pending.clear()
        stream.pending_bytes = 0
        stream.wake()
        self._write(frame(FrameType.RST_STREAM, 0, stream.stream_id, error_code(code)))
        if self._going_away and not self._streams:
            self._close()

    def _finish_local(self, stream: Stream) -> None:
        stream.local_closed = True
        stream.wake()
        self._maybe_forget(stream)

    def _maybe_forget(self, stream: Stream) -> None:
        if stream.local_closed and stream.remote_closed:
            if self._streams.get(stream.stream_id) is stream:
                del self._streams[stream.stream_id]
            if self._going_away and not self._streams:
                self._close()

    def go_away(self, code: ErrorCode = ErrorCode.NO_ERROR, reason: str = "") -> None:
        """Refuse new streams; with an error, close now, else once the open streams end."""
        if self.closed:
            return
        if code is not ErrorCode.NO_ERROR:
            logger.warning("closing a client connection: %s", reason)
        self._going_away = True
        payload = self._last_stream_id.to_bytes(4, "big") + error_code(code) + reason.encode()[:256]
        self._write(frame(FrameType.GOAWAY, 0, 0, payload))
        if code is not ErrorCode.NO_ERROR or not self._streams:
            self._close()

    def abort(self) -> None:
        """Close at once (the server is stopping and its grace ran out)."""
        if not self.closed and self.transport is not None:
            self._flush()
            self.transport.close()

    def _close(self) -> None:
        self._flush()
        if self.transport is not None:
            self.transport.close()

    def _write(self, *chunks: bytes) -> None:
        self._out.extend(chunks)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        out, self._out = self._out, []
        if out and self.transport is not None and not self.transport.is_closing():
            self.transport.writelines(out)
