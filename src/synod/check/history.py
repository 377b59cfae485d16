"""A client history: operations with an invocation time, a return time, an input and an output.

An operation whose outcome is unknown (the client timed out, the connection dropped) returns at
``math.inf``: it may take effect at any moment after its call, or never, and whatever output it
carries is ignored. The checker hands such operations to the model with ``UNKNOWN`` as their
output, so a model never has to guess which field to trust.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Final

from synod.core.errors import SynodError


class HistoryError(SynodError, ValueError):
    """A history that cannot be checked: unparsable text or impossible times."""


class _Unknown(enum.Enum):
    UNKNOWN = "unknown"

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = _Unknown.UNKNOWN
"""The output a model sees for an operation that never returned; it must accept it."""


@dataclass(frozen=True, slots=True)
class Operation:
    """One client call as the client saw it. Times share one clock; only their order matters."""

    client: int
    call: float
    """Invocation time."""
    ret: float
    """Return time; ``math.inf`` when the outcome is unknown."""
    input: Hashable
    """Model-specific, e.g. ``("write", 3)`` for a register."""
    output: Hashable
    """Model-specific; ignored when ``ret`` is infinite."""

    @property
    def unknown(self) -> bool:
        """True when the call never returned, so it may or may not have taken effect."""
        return self.ret == math.inf

    @property
    def effective_output(self) -> Hashable:
        """What the model is told the call returned: ``UNKNOWN`` when it never returned."""
        return UNKNOWN if self.unknown else self.output


def validate(operations: Sequence[Operation]) -> None:
    """Reject times no real history can have, with a message naming the operation.

    Checked explicitly rather than asserted: histories come from files and other programs.
    """
    for index, operation in enumerate(operations):
        if not math.isfinite(operation.call):
            raise HistoryError(f"operation {index} has a non-finite call time {operation.call}")
        if math.isnan(operation.ret) or operation.ret < operation.call:
            raise HistoryError(
                f"operation {index} returns at {operation.ret}, before its call at {operation.call}"
            )
