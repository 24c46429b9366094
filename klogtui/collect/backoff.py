"""Retry delays after failures: doubling from a base up to a cap, with jitter.

The jitter keeps every delay between half and all of the nominal one: reconnecting
clients spread out, yet none retries almost at once (full jitter would allow ~0).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Backoff"]

_MAX_DOUBLINGS = 16  # keeps 2**n small; the cap is reached long before


@dataclass(slots=True)
class Backoff:
    """The failure count of one retrying loop and the delays it earns.

    Attributes:
        base_s: the delay after a first failure; it doubles with each further one.
        max_s: the longest delay.
        failures: failures since the last success.
        rand: source of jitter in [0, 1) (tests pin it).
    """

    base_s: float
    max_s: float
    failures: int = 0
    rand: Callable[[], float] = field(default=random.random, repr=False)

    def failed(self) -> float:
        """Count one more failure; return the seconds to wait before retrying."""
        self.failures += 1
        nominal = min(self.max_s, self.base_s * 2.0 ** min(self.failures - 1, _MAX_DOUBLINGS))
        return self._jittered(nominal)

    def first_delay(self) -> float:
        """The delay a first failure earns, without counting one (a pause, not a retry)."""
        return self._jittered(self.base_s)

    def at_least(self, failures: int) -> None:
        """Count at least this many failures (a fault not fixed in a second waits longer)."""
        self.failures = max(self.failures, failures)

    def reset(self) -> None:
        """A success: the next failure waits the base delay again."""
        self.failures = 0

    def _jittered(self, delay: float) -> float:
        return delay * (0.5 + self.rand() / 2)
