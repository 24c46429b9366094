"""One line of state: follow/pause, ingest rate, lines stored, store size (or, over a
cluster's collectors, how many nodes answer), errors."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.widget import Widget

from klogtui.collect.base import StatsSnapshot
from klogtui.store.aggregates import StoreStats
from klogtui.ui.widgets.sources_tree import human_count

__all__ = ["StatusBar", "human_bytes"]


def human_bytes(n: int) -> str:
    """A size like 812 KiB or 1.4 GiB (rounded, so it reads the same between refreshes)."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit in ("B", "KiB") else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


class StatusBar(Widget):
    """The status line under the histogram. Feed it with the update_* methods."""

    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        background: $panel;
        color: $text;
    }
    StatusBar > .status-bar--follow {
        background: $success;
        color: $text;
        text-style: bold;
    }
    StatusBar > .status-bar--paused {
        background: $warning;
        color: $text;
        text-style: bold;
    }
    StatusBar > .status-bar--error {
        color: $error;
        text-style: bold;
    }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "status-bar--follow",
        "status-bar--paused",
        "status-bar--error",
    }

    def __init__(
        self,
        *,
        collecting: bool,
        nodes: int | None = None,
        id: str | None = None,  # noqa: A002
    ) -> None:
        super().__init__(id=id)
        self._collecting = collecting
        # Over a cluster's collectors: how many nodes have one (None: a store file).
        self._cluster_nodes = nodes
        self._follow = True
        self._new_lines = 0
        self._loading = False
        self._stats: StoreStats | None = None
        self._collector: StatsSnapshot | None = None
        self._caught_up = False
        self._history: float | None = None  # share of the older history loaded
        self._elsewhere: tuple[int, bool] | None = None  # (pid, still running)
        self._firing = 0  # alerts firing now
        self._missing: list[str] = []  # parts not read (collectors that do not answer)

    def update_view(self, follow: bool, new_lines: int, loading: bool) -> None:
        """The log pane's mode and how many lines arrived since it paused."""
        self._follow, self._new_lines, self._loading = follow, new_lines, loading
        self.refresh()

    def update_store(self, stats: StoreStats) -> None:
        """Lines stored and the store's size on disk."""
        self._stats = stats
        self.refresh()

    def update_collector(
        self, snapshot: StatsSnapshot | None, caught_up: bool, history: float | None = None
    ) -> None:
        """The collector's rate and errors (None when running without one), and the
        share of the older history loaded while it loads after the recent lines."""
        self._collector = snapshot
        self._caught_up = caught_up
        self._history = history
        self.refresh()

    def update_elsewhere(self, pid: int, running: bool) -> None:
        """Another process (pid, 0 if unknown) collects into the store this app shows."""
        self._elsewhere = (pid, running)
        self.refresh()

    def update_alerts(self, firing: int) -> None:
        """How many alerts fire now (klogtui.alerts)."""
        if firing != self._firing:
            self._firing = firing
            self.refresh()

    def update_missing(self, parts: list[str]) -> None:
        """What the results lack: `name: why` of each collector that does not answer."""
        if parts != self._missing:
            self._missing = parts
            self.refresh()

    @property
    def error_count(self) -> int:
        return len(self._collector.errors) if self._collector else 0

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        if self._follow:
            text.append(" FOLLOW ", self.get_component_rich_style("status-bar--follow"))
        else:
            text.append(" PAUSED ", self.get_component_rich_style("status-bar--paused"))
            if self._new_lines:
                more = "+" if self._new_lines >= 10_000 else ""
                text.append(f" {self._new_lines:,}{more} new (G follows)", "bold")
        if self._firing:
            text.append(
                f" {self._firing} ALERT{'S' if self._firing > 1 else ''} FIRING (a) ",
                self.get_component_rich_style("status-bar--paused"),
            )
        if self._missing:
            names = ", ".join(p.split(": ", 1)[0] for p in self._missing)
            text.append(f"  MISSING {names}", self.get_component_rich_style("status-bar--error"))
        if self._loading:
            text.append("  loading…", "italic")
        if self._stats is not None:
            text.append(f"  {human_count(self._stats.lines)} lines", "")
            text.append(f" · {self._stats.sources} sources", "")
            if self._cluster_nodes is None:
                text.append(f" · {human_bytes(self._stats.db_bytes)}", "")
        if self._cluster_nodes is not None:
            # Each part missing is one node whose collector does not answer.
            answering = max(0, self._cluster_nodes - len(self._missing))
            text.append(f" · {answering} of {self._cluster_nodes} nodes answering", "")
        elif self._elsewhere is not None:
            pid, running = self._elsewhere
            who = f"pid {pid}" if pid else "another process"
            if running:
                text.append(f" · collected by {who}", "")
            else:
                text.append(
                    f" · {who} stopped collecting",
                    self.get_component_rich_style("status-bar--error"),
                )
        elif not self._collecting:
            text.append(" · no collector", "dim")
        elif self._collector is not None:
            text.append(f" · {self._collector.lines_per_s:,.0f} lines/s", "")
            if self._history is not None:
                text.append(f" · loading history: {self._history:.0%}", "italic")
            elif not self._caught_up:
                text.append(" · catching up", "italic")
            if self._collector.errors:
                n = len(self._collector.errors)
                text.append(
                    f"  {n} collector error{'s' if n > 1 else ''} (e)",
                    self.get_component_rich_style("status-bar--error"),
                )
            if self._collector.notice:
                text.append(f" · {self._collector.notice}", "bold yellow")
        return text
