"""One rule's alert state and how it moves: inactive -> pending -> firing -> inactive.

As in Prometheus: the condition holding starts `pending`; once it has held for the
rule's `for`, the alert fires (at once when `for` is 0); when it stops holding, a
firing alert is resolved and a pending one drops back. `holds=None` means the engine
cannot tell yet (an `absent` rule before it has watched a whole window): nothing moves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["AlertState", "Phase", "Transition", "advance"]

Phase = Literal["inactive", "pending", "firing"]
Transition = Literal["pending", "fired", "resolved", "cleared"]


@dataclass
class AlertState:
    """What the store keeps per rule (table `alerts`).

    Attributes:
        rule: the rule's name.
        phase: inactive, pending or firing.
        active_since: UTC ns the condition started to hold (pending and firing).
        fired_at: UTC ns it fired (Alertmanager's startsAt); kept after it resolves.
        resolved_at: UTC ns it last resolved (0: never).
        resolve_sent: Alertmanager has accepted the last resolve.
        query: the rule's query when it fired (what the TUI runs for it).
        line_id: the newest matching line when it fired (0: none, as for absent).
        labels: labels sent with it (fixed when it fires: Alertmanager tells alerts
            apart by their labels).
        annotations: annotations sent with it.
    """

    rule: str
    phase: Phase = "inactive"
    active_since: int = 0
    fired_at: int = 0
    resolved_at: int = 0
    resolve_sent: bool = True
    query: str = ""
    line_id: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


def advance(state: AlertState, holds: bool | None, for_ns: int, now_ns: int) -> Transition | None:
    """Move `state` for one evaluation at now_ns; return what happened, if anything."""
    if holds is None:
        return None
    if not holds:
        if state.phase == "firing":
            state.phase = "inactive"
            state.resolved_at = now_ns
            state.resolve_sent = False
            return "resolved"
        if state.phase == "pending":
            state.phase = "inactive"
            return "cleared"
        return None
    if state.phase == "inactive":
        state.phase = "pending"
        state.active_since = now_ns
        if for_ns > 0:
            return "pending"
    if state.phase == "pending" and now_ns - state.active_since >= for_ns:
        state.phase = "firing"
        state.fired_at = now_ns
        return "fired"
    return None
