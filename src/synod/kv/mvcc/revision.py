"""A revision: the store-wide ``main`` counter of a write, and ``sub``, the change's place in it.

Clients only see ``main`` (as create_revision / mod_revision); ``sub`` orders the changes one
transaction makes, so a key's history stays totally ordered.
"""

from __future__ import annotations

from dataclasses import dataclass

SUB_MAX = (1 << 63) - 1  # above any sub-revision: Revision(main, SUB_MAX) bounds main from above


@dataclass(frozen=True, slots=True, order=True)
class Revision:
    main: int
    sub: int = 0

    def __post_init__(self) -> None:
        assert self.main >= 1, self
        assert 0 <= self.sub <= SUB_MAX, self
