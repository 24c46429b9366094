"""Random identifiers shaped like the cluster's: hex container ids and pod UIDs."""

from __future__ import annotations

import random

__all__ = ["random_hex", "random_uid"]


def random_hex(rng: random.Random, n: int) -> str:
    return f"{rng.getrandbits(4 * n):0{n}x}"


def random_uid(rng: random.Random) -> str:
    h = random_hex(rng, 32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
