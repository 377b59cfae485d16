"""Request header blocks decoded with HPACK (RFC 7541), remembering the recent ones.

A gRPC client sends nearly the same header block for every call on a connection: once its
fields are in the decoder's dynamic table, each later block is a few index references, the
same bytes each time. Decoding such a block with ``hpack`` costs about 11 µs; looking it up
costs well under one. Rules:

- What a block decodes to depends only on its bytes and on the dynamic table it is decoded
  against (its entries and its size limit). An answer is reused only for the same bytes
  against an equal table.
- Only a block that left the table as it found it is remembered: one that inserts an entry or
  changes the size limit has an effect on the table that reusing its answer would skip.
- At most ``BLOCKS_MAX`` blocks are remembered per connection; when that many are, the memory
  starts over (a client whose blocks vary, say by a literal ``grpc-timeout``, gains nothing
  and loses little).
- A block that fails to decode is never remembered: it raises ``hpack.HPACKError`` each time.
"""

from __future__ import annotations

from typing import cast

import hpack

BLOCKS_MAX = 64

Headers = list[tuple[str, str]]
_TableState = tuple[tuple[tuple[bytes, bytes], ...], int]


class HeaderDecoder:
    """One connection's HPACK decoder, with the memory of blocks described above."""

    def __init__(self, max_header_list_size: int) -> None:
        self._decoder = hpack.Decoder(max_header_list_size=max_header_list_size)
        self._known: dict[tuple[bytes, _TableState], Headers] = {}
        self.reused = 0
        """Blocks answered from memory (for tests and profiling)."""

    def __len__(self) -> int:
        """Blocks remembered."""
        return len(self._known)

    def decode(self, block: bytes) -> Headers:
        before = self._table_state()
        known = self._known.get((block, before))
        if known is not None:
            self.reused += 1
            return list(known)
        headers = cast(Headers, self._decoder.decode(block))
        if self._left_as_found(before):
            if len(self._known) >= BLOCKS_MAX:
                self._known.clear()
            self._known[(block, before)] = list(headers)
        return headers

    def _left_as_found(self, before: _TableState) -> bool:
        return self._table_state() == before

    def _table_state(self) -> _TableState:
        table = self._decoder.header_table
        return tuple(table.dynamic_entries), table.maxsize
