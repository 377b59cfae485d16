"""Frame I/O on one asyncio stream, shared by the dialing and the accepting side.

Rules: ``read_frame`` checks the header (magic, version, type, length limit) before it reads
the payload, so an absurd length never allocates, and the CRC32C before it hands the payload
out. It raises FrameError for bad bytes, asyncio.IncompleteReadError at end of stream and
OSError for a broken socket: nothing else.
"""

from __future__ import annotations

import asyncio

from synod.server.frames import HEADER_BYTES, Header, check_payload, decode_header


async def read_frame(reader: asyncio.StreamReader, payload_bytes_max: int) -> tuple[Header, bytes]:
    header = decode_header(await reader.readexactly(HEADER_BYTES), payload_bytes_max)
    payload = await reader.readexactly(header.length)
    check_payload(header, payload)
    return header, payload


async def close_writer(writer: asyncio.StreamWriter, timeout_ms: int) -> None:
    """Close the stream, waiting at most ``timeout_ms`` for buffered bytes to leave, then
    abort it (a peer that stopped reading must not hold a shutdown up)."""
    writer.close()
    try:
        async with asyncio.timeout(timeout_ms / 1000):
            await writer.wait_closed()
    except TimeoutError:
        writer.transport.abort()
    except OSError:
        pass
