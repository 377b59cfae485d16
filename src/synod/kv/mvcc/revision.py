"""A revision: the store-wide ``main`` counter of a write, and ``sub``, the change's place in it.

Clients only see ``main`` (as create_revision / mod_revision); ``sub`` orders the changes one
transaction makes, so a key's history stays totally ordered.

A named tuple rather than a dataclass: the index compares, hashes and builds revisions on every
read and by the million when a store opens, and tuples do all three in C. Invariant (asserted
where revisions are made: the writer, and the loader, which checks input explicitly):
``main >= 1`` and ``0 <= sub <= SUB_MAX``.
"""

from __future__ import annotations

from typing import NamedTuple

SUB_MAX = (1 << 63) - 1  # above any sub-revision: Revision(main, SUB_MAX) bounds main from above


class Revision(NamedTuple):
    main: int
    sub: int = 0
