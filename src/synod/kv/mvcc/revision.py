"""A revision: the store-wide ``main`` counter of a write, and ``sub``, the change's place in it.

Clients only see ``main`` (as create_revision / mod_revision); ``sub`` orders the changes one
transaction makes, so a key's history stays totally ordered.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, order=True)
class Revision:
    main: int
    sub: int = 0

    def __post_init__(self) -> None:
        assert self.main >= 1, self
        assert self.sub >= 0, self
