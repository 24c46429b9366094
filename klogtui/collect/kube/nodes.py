"""Nodes whose kubelet does not answer: their containers wait instead of taking slots.

When a node dies, the API server dials its kubelet for every log request until the
dial times out, then answers 500. Each such request holds a stream slot all that time;
with enough containers on the node they fill every slot and the rest of the cluster
stalls. So the first such failure marks the node down for a back-off period (doubling
while it stays down): its containers do not ask meanwhile, then one of them tries again
for all. The user is told which node and why, once per outage.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from klogtui.collect.backoff import Backoff
from klogtui.collect.base import CollectorStats

__all__ = ["NodeHealth", "kubelet_unreachable"]

# A 5xx whose message is the API server failing to reach the kubelet (port 10250).
_UNREACHABLE = ("dial tcp", ":10250", "no route to host", "i/o timeout", "connection refused")


def kubelet_unreachable(status: int, message: str) -> bool:
    """True if a log request's error answer says the node's kubelet cannot be reached."""
    return status >= 500 and any(s in message for s in _UNREACHABLE)


@dataclass(slots=True)
class _Down:
    backoff: Backoff
    until: float  # monotonic time the next try may start
    why: str
    probing_since: float = 0.0  # a container is trying (0: none)


class NodeHealth:
    """Which nodes are down, until when, and who tries them next. Thread-safe.

    Args:
        stats: where outages are reported (one error per node and outage).
        backoff_s: the first wait after a node is found down; doubles per failed try.
        backoff_max_s: the longest wait.
        on_up: told the node name when a try succeeds (to wake its containers).
    """

    def __init__(
        self,
        stats: CollectorStats,
        backoff_s: float,
        backoff_max_s: float,
        on_up: Callable[[str], None],
    ) -> None:
        self._stats = stats
        self._base = backoff_s
        self._max = backoff_max_s
        self._on_up = on_up
        self._lock = threading.Lock()
        self._down: dict[str, _Down] = {}

    def wait_s(self, node: str) -> float:
        """Seconds a container of `node` should wait before asking (0: ask now).

        Once the back-off is over, the first caller gets 0 and is the node's probe; the
        others keep waiting until it has an answer.
        """
        with self._lock:
            down = self._down.get(node)
            if down is None:
                return 0.0
            now = time.monotonic()
            if now < down.until:
                return down.until - now
            if down.probing_since and now - down.probing_since < self._max:
                return min(1.0, self._base)
            down.probing_since = now
            return 0.0

    def failed(self, node: str, took_s: float, message: str) -> float:
        """A log request for a pod of `node` failed as a dead kubelet does; returns the
        seconds its container should wait."""
        with self._lock:
            now = time.monotonic()
            down = self._down.get(node)
            if down is not None and now < down.until:
                return down.until - now  # one of the tries already under way when it fell
            first = down is None
            if down is None:
                # No jitter: one container probes for all, there is no herd to spread.
                backoff = Backoff(self._base, self._max, rand=lambda: 1.0)
                down = self._down[node] = _Down(backoff, 0.0, "")
            wait = down.backoff.failed()
            down.until = now + wait
            down.probing_since = 0.0
            down.why = message
        if first:
            self._report(node, took_s, message, wait)
        return wait

    def _report(self, node: str, took_s: float, message: str, wait: float) -> None:
        self._stats.error(
            f"node {node}",
            f"the kubelet on node {node} does not answer (log requests for its pods fail "
            f"after {took_s:.0f} s: {message}); its containers wait {wait:.0f} s, then one "
            f"tries again (up to {self._max:.0f} s apart while it stays down); what they "
            "write meanwhile is read then, or marked as a gap",
        )

    def answered(self, node: str) -> None:
        """A log request for a pod of `node` was answered: the node is up."""
        with self._lock:
            was_down = self._down.pop(node, None) is not None
        if was_down:
            self._stats.forget_errors(f"node {node}")
            self._on_up(node)

    def down(self) -> dict[str, str]:
        """The nodes now down, with why."""
        with self._lock:
            return {node: d.why for node, d in self._down.items()}
