"""Small statistics shared by the linkage steps that judge a delivery from its own counts."""
from __future__ import annotations

import math

DELIVERY_CONFIDENCE_Z = 1.645  # one-sided 95 %


def share_lower_bound(k: int, n: int, z: float = DELIVERY_CONFIDENCE_Z) -> float:
    """Lower bound of the Wilson score interval of a share k / n (0 when n is 0): the share is
    at least this with the confidence of `z` (one-sided). Wilson's, not the normal
    approximation, because the shares judged here are near 0 on few pairs."""
    if n <= 0:
        return 0.0
    p = k / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - spread) / (1 + z * z / n))
