"""Delivery to Prometheus Alertmanager's v2 API, as Prometheus itself does it.

Every alert that fires is sent at once and again every `resend_ns` while it fires
(an Alertmanager that restarted has forgotten it); its endsAt lies a few resend
intervals ahead, so Alertmanager resolves it by itself if klogtui goes away for good.
A resolved alert is sent with its endsAt until Alertmanager has accepted it, and
for 15 minutes after it resolved. A failed POST is retried with growing back-off; the
failure is reported once, never raised. Alertmanager tells alerts apart by their
labels and keeps its own notification log, so sending the same alert again (after a
restart of either side) notifies nobody twice.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["Alertmanager", "Outgoing", "check_url"]

_NS = 1_000_000_000
_RESOLVED_KEPT_NS = 15 * 60 * _NS
_MIN_VALID_NS = 3 * 60 * _NS  # a firing alert's endsAt is at least this far ahead
_BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0)
_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Outgoing:
    """One alert as Alertmanager gets it.

    Attributes:
        rule: the rule's name (its key here).
        labels: labels, alertname included.
        annotations: annotations.
        starts_at: UTC ns it fired.
        ends_at: UTC ns it resolved, None while it fires.
        generator_url: where it comes from.
    """

    rule: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: int
    ends_at: int | None
    generator_url: str

    def as_json(self, now_ns: int, resend_ns: int) -> dict[str, object]:
        ends = self.ends_at
        if ends is None:
            ends = now_ns + max(4 * resend_ns, _MIN_VALID_NS)
        return {
            "labels": self.labels,
            "annotations": self.annotations,
            "startsAt": _rfc3339(self.starts_at),
            "endsAt": _rfc3339(ends),
            "generatorURL": self.generator_url,
        }


def _rfc3339(ns: int) -> str:
    dt = datetime.fromtimestamp(ns / _NS, UTC)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def check_url(url: str) -> str | None:
    """What is wrong with an Alertmanager URL (None: nothing)."""
    if not url.startswith(("http://", "https://")) or len(url.split("://", 1)[1]) == 0:
        return f"alertmanager: {url!r} is not an http:// or https:// URL"
    return None


class Alertmanager:
    """A sender thread holding the alerts to (re-)send to one Alertmanager.

    Args:
        url: Alertmanager's base URL (`http://host:9093`).
        resend_ns: how often firing alerts are sent again.
        on_error: told (where, message) once per kind of failure; retries go on.
        on_resolve_sent: told the rules whose resolve Alertmanager accepted.
        clock: UTC ns (tests step it).
    """

    def __init__(
        self,
        url: str,
        resend_ns: int,
        on_error: Callable[[str, str], None],
        on_resolve_sent: Callable[[list[str]], None],
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.endpoint = url.rstrip("/") + "/api/v2/alerts"
        self._resend_ns = resend_ns
        self._on_error = on_error
        self._on_resolve_sent = on_resolve_sent
        self._clock = clock
        self._alerts: dict[str, Outgoing] = {}
        self._accepted: set[str] = set()  # rules whose resolve Alertmanager accepted
        self._dirty = False
        self._cond = threading.Condition()
        self._stopping = False
        self._failures = 0
        self.sent = 0  # successful POSTs
        self._thread = threading.Thread(target=self._run, name="klogtui-alertmanager", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def update(self, alerts: list[Outgoing]) -> None:
        """Send these (new, fired or resolved) alerts now, and keep re-sending them."""
        if not alerts:
            return
        with self._cond:
            for a in alerts:
                self._alerts[a.rule] = a
                self._accepted.discard(a.rule)
            self._dirty = True
            self._cond.notify_all()

    def stop(self, timeout: float = 5.0) -> None:
        """One last try for what is unsent, then stop (unsent resolves stay in the
        store and go out on the next start)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        next_send = 0.0
        while True:
            with self._cond:
                while not self._stopping and not self._dirty:
                    wait = next_send - time.monotonic()
                    if wait <= 0:
                        break
                    self._cond.wait(wait)
                stopping = self._stopping
                self._dirty = False
                now = self._clock()
                # Resolved alerts go for 15 minutes, and until one send succeeded.
                for rule, a in list(self._alerts.items()):
                    old = a.ends_at is not None and now - a.ends_at > _RESOLVED_KEPT_NS
                    if old and rule in self._accepted:
                        del self._alerts[rule]
                batch = list(self._alerts.values())
            ok = not batch or self._post(batch, now)
            if ok:
                resolved = [a.rule for a in batch if a.ends_at is not None]
                with self._cond:
                    for a in batch:
                        if a.ends_at is not None and self._alerts.get(a.rule) is a:
                            self._accepted.add(a.rule)
                if resolved:
                    self._on_resolve_sent(resolved)
                next_send = time.monotonic() + self._resend_ns / _NS
            else:
                delay = _BACKOFF_S[min(self._failures - 1, len(_BACKOFF_S) - 1)]
                next_send = time.monotonic() + delay
            if stopping:
                return

    def _post(self, batch: list[Outgoing], now_ns: int) -> bool:
        body = json.dumps([a.as_json(now_ns, self._resend_ns) for a in batch]).encode()
        request = urllib.request.Request(
            self.endpoint, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
                response.read()
        except urllib.error.HTTPError as e:
            detail = e.read()[:200].decode("utf-8", "replace").strip()
            return self._failed(f"{self.endpoint}: HTTP {e.code} {detail}; retrying")
        except (urllib.error.URLError, OSError, ValueError) as e:
            reason = getattr(e, "reason", e)
            return self._failed(f"{self.endpoint}: cannot send alerts ({reason}); retrying")
        if self._failures:
            self._on_error("alertmanager", f"{self.endpoint}: reachable again; alerts sent")
        self._failures = 0
        self.sent += 1
        return True

    def _failed(self, message: str) -> bool:
        self._failures += 1
        if self._failures == 1:  # once per outage; the retries go on quietly
            self._on_error("alertmanager", message)
        return False
