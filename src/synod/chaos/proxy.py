"""A loopback fault proxy in front of each member's peer port: the runner's network.

Every member advertises its proxy's address as its peer URL and listens on a port only its
proxy knows, so every byte one member sends another crosses the destination's proxy. The proxy
learns who dialed from the connection's first bytes: Synod's HELLO frame names the dialer's
member id; etcd's peer requests carry an ``X-Server-From`` header with it. The runner then
decides per directed link (source id, destination):

- ``cut``: the link's connections are closed now, and new ones closed as soon as their dialer
  is known (a clean partition: the sender sees a dead connection, never corrupt bytes);
- ``delay_s``: every chunk forwarded on the link waits this long first (bytes stay in order).

Rules:
- a dialer that cannot be identified within ``IDENTIFY_BYTES_MAX`` bytes or
  ``IDENTIFY_SECONDS_MAX`` seconds is an unknown source, cut whenever any link to its
  destination is: etcd opens its peer connections through a pool of HTTP keep-alive
  connections, and one first used for a health probe (no ``X-Server-From``) may carry raft
  messages later, so it must not slip through a partition;
- every wait is bounded; ``close`` stops listening and closes every connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import struct
from dataclasses import dataclass, field

from synod.server.frames import HEADER_BYTES, MAGIC

IDENTIFY_BYTES_MAX = 16 * 1024
IDENTIFY_SECONDS_MAX = 2.0
CHUNK_BYTES = 64 * 1024
CONNECT_SECONDS_MAX = 2.0
UNKNOWN_SOURCE = -1

_ETCD_FROM = re.compile(rb"X-Server-From:\s*([0-9a-fA-F]+)", re.IGNORECASE)
_U64 = struct.Struct("<Q")


def identify(head: bytes) -> int | None:
    """The dialer's member id from a connection's first bytes; None while not known yet."""
    if head.startswith(MAGIC):
        if len(head) < HEADER_BYTES + _U64.size:
            return None
        source: int = _U64.unpack_from(head, HEADER_BYTES)[0]
        return source
    match = _ETCD_FROM.search(head)
    if match is not None:
        return int(match.group(1), 16)
    return None


@dataclass(slots=True)
class LinkRules:
    """What the network does now; shared by every proxy of one cluster."""

    cut: set[tuple[int, int]] = field(default_factory=set)
    """Directed links (source member id, destination member id) that carry nothing."""
    isolated: set[int] = field(default_factory=set)
    """Destinations cut off from every source, identified or not."""
    delay_s: dict[tuple[int, int], float] = field(default_factory=dict)

    def is_cut(self, source: int, destination: int) -> bool:
        if destination in self.isolated:
            return True
        if source == UNKNOWN_SOURCE:
            return any(cut_to == destination for _, cut_to in self.cut)
        return (source, destination) in self.cut

    def heal(self) -> None:
        self.cut.clear()
        self.isolated.clear()
        self.delay_s.clear()


@dataclass(eq=False, slots=True)
class _Connection:
    source: int
    writers: tuple[asyncio.StreamWriter, asyncio.StreamWriter]

    def close(self) -> None:
        for writer in self.writers:
            writer.close()


class PeerProxy:
    """Listens on ``port`` (127.0.0.1) and forwards to the member's real peer port."""

    def __init__(self, rules: LinkRules, port: int, target_port: int) -> None:
        self.rules = rules
        self.port = port
        self.target_port = target_port
        self.destination = UNKNOWN_SOURCE
        """The member id behind this proxy; set by the runner once known."""
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    def enforce(self) -> None:
        """Close the connections of every link that is cut now."""
        for connection in list(self._connections):
            if self.rules.is_cut(connection.source, self.destination):
                connection.close()
                self._connections.discard(connection)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.close()
        self._connections.clear()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=CONNECT_SECONDS_MAX)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), CONNECT_SECONDS_MAX)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.get_running_loop().create_task(self._serve(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head, source = await self._identify(reader)
        if not head or self.rules.is_cut(source, self.destination):
            writer.close()
            return
        try:
            async with asyncio.timeout(CONNECT_SECONDS_MAX):
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except (OSError, TimeoutError):
            writer.close()
            return
        connection = _Connection(source, (writer, up_writer))
        self._connections.add(connection)
        try:
            up_writer.write(head)
            await asyncio.gather(
                self._pump(reader, up_writer, source, toward_member=True),
                self._pump(up_reader, writer, source, toward_member=False),
            )
        finally:
            connection.close()
            self._connections.discard(connection)

    async def _identify(self, reader: asyncio.StreamReader) -> tuple[bytes, int]:
        head = b""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + IDENTIFY_SECONDS_MAX
        while len(head) < IDENTIFY_BYTES_MAX:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                async with asyncio.timeout(remaining):
                    data = await reader.read(IDENTIFY_BYTES_MAX - len(head))
            except TimeoutError:
                break
            if not data:
                return b"", UNKNOWN_SOURCE
            head += data
            source = identify(head)
            if source is not None:
                return head, source
        return head, UNKNOWN_SOURCE

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        dialer: int,
        *,
        toward_member: bool,
    ) -> None:
        """Copy one direction until either end closes or the link is cut.

        The link is looked up for every chunk, with the member's id as it is now: a
        connection may have been opened before the runner learned it."""
        try:
            while True:
                data = await reader.read(CHUNK_BYTES)
                link = (dialer, self.destination) if toward_member else (self.destination, dialer)
                if not data or self.rules.is_cut(*link):
                    break
                delay = self.rules.delay_s.get(link, 0.0)
                if delay > 0:
                    await asyncio.sleep(delay)
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
