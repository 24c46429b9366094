"""The sources tree: namespaces > workloads > pods > containers, with line counts and state.

A pod whose owning workload is known (a Deployment, StatefulSet, DaemonSet, CronJob ...:
remote mode, files with API access, the demo) sits under it; a bare pod, or one whose
workload no collector told, sits right under its namespace.

A source whose stored lines have gaps (klogtui/gaps.py: lines that may be missing)
says how many, so incomplete coverage is seen where the source is.

Selecting a node rewrites the query's namespace/workload/pod/container terms (the query
bar stays the one source of truth); nodes the query does not select are dimmed.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from klogtui.errors import QueryError
from klogtui.model import Source
from klogtui.query.editing import with_field, without_field
from klogtui.query.parsed import ParsedQuery
from klogtui.store.compile import SourcePredicate, compile_source_predicate

__all__ = ["Selection", "SourcesTree", "human_count"]

ACTIVE_NS = 30 * 10**9  # a source that wrote within this long is shown as active
# What a group of containers is doing, from the newest instance of each.
GroupState = Literal["deleted", "stopped", "running"]

_GONE = ("deleted",)
_STOPPED = ("terminated", "completed", "deleted")

# The tree tests sources on the event loop: a query's regexes get this much in all
# (a runaway pattern then dims nothing; the log pane reports it from its worker).
_REGEX_BUDGET_S = 0.1

# kubectl's short names, shown after a workload's name.
_SHORT_KINDS = {
    "Deployment": "deploy",
    "StatefulSet": "sts",
    "DaemonSet": "ds",
    "ReplicaSet": "rs",
    "CronJob": "cronjob",
    "Job": "job",
}


def human_count(n: int) -> str:
    """A count in at most four characters: 999, 1.2k, 12k, 3.4M."""
    if n < 1000:
        return str(n)
    for unit, size in (("k", 10**3), ("M", 10**6), ("G", 10**9)):
        if n < size * 10:
            return f"{n / size:.1f}{unit}"
        if n < size * 1000:
            return f"{n // size}{unit}"
    return f"{n // 10**12}T"


@dataclass(frozen=True, slots=True)
class Selection:
    """What a tree node stands for; None fields are not constrained.

    workload and kind place a pod in the tree; the query names the workload only for
    the workload's own node (a pod says more).
    """

    namespace: str | None = None
    pod: str | None = None
    container: str | None = None
    workload: str | None = None
    kind: str | None = None

    def apply(self, query: ParsedQuery) -> ParsedQuery:
        """The query with its namespace/workload/pod/container terms set to this selection.

        Raises:
            QueryError: a value makes no valid condition.
        """
        text = query.canonical
        for key, value in (
            ("namespace", self.namespace),
            ("workload", None if self.pod else self.workload),
            ("pod", self.pod),
            ("container", self.container),
        ):
            text = with_field(text, key, value) if value else without_field(text, key)
        return ParsedQuery.of(text)


@dataclass(slots=True)
class _Group:
    """Aggregates over the sources under one node."""

    sources: list[Source] = field(default_factory=list)

    @property
    def lines(self) -> int:
        return sum(s.lines for s in self.sources)

    def active(self, now_ns: int) -> bool:
        return any(
            s.last_ts >= now_ns - ACTIVE_NS and s.state not in _STOPPED for s in self.sources
        )

    def restarts(self) -> int:
        return max((s.key.restart for s in self.sources), default=0)

    def state(self) -> GroupState:
        """deleted / stopped / running, from the newest instance of each container."""
        newest: dict[str, Source] = {}
        for s in self.sources:
            cur = newest.get(s.container)
            if cur is None or s.key.restart > cur.key.restart:
                newest[s.container] = s
        states = [s.state for s in newest.values()]
        if states and all(st in _GONE for st in states):
            return "deleted"
        if states and all(st in _STOPPED for st in states):
            return "stopped"
        return "running"


class SourcesTree(Tree[Selection]):
    """Every source ever stored (deleted pods too), grouped, with counts and activity.

    Args:
        now_ns: fixed "now" for the activity dots (None: the clock).
    """

    DEFAULT_CSS = """
    SourcesTree {
        background: $surface;
        scrollbar-size-vertical: 1;
        overflow-x: hidden;  /* labels are fitted to the width (render_label) */
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Filter by source", show=False),
        # Arrows open and close nodes (labels fit the width: nothing to scroll sideways).
        Binding("right", "open_node", "Open", show=False),
        Binding("left", "close_node", "Close", show=False),
    ]

    class Selected(Message):
        """A node was chosen: filter the query to it."""

        def __init__(self, selection: Selection) -> None:
            super().__init__()
            self.selection = selection

    def __init__(self, *, now_ns: int | None = None, id: str | None = None) -> None:  # noqa: A002
        # Characters after the name in each label; Tree's __init__ renders the root's.
        self._tails: dict[tuple[str, ...], int] = {}
        super().__init__(Text("all sources"), Selection(), id=id)
        self.auto_expand = False
        self.show_root = True
        self.guide_depth = 2
        self._now_ns = now_ns
        self._by_path: dict[tuple[str, ...], TreeNode[Selection]] = {}
        self._labels: dict[tuple[str, ...], Text] = {}
        self._sources: list[Source] = []
        self._gaps: dict[int, int] = {}
        self._pred: SourcePredicate | None = None

    def update_sources(self, sources: Iterable[Source], gaps: dict[int, int] | None = None) -> None:
        """Show these sources (all of them): new ones are added, counts refreshed.

        gaps: gap markers per source id (None: unchanged).
        """
        self._sources = list(sources)
        if gaps is not None:
            self._gaps = gaps
        self._redraw()

    def set_query(self, query: ParsedQuery) -> None:
        """Dim the nodes whose sources `query` does not select."""
        self.set_predicate(compile_source_predicate(query.ast, _REGEX_BUDGET_S))

    def set_predicate(self, pred: SourcePredicate | None) -> None:
        """Dim the nodes whose sources the query does not select (None: none dimmed)."""
        self._pred = pred
        self._redraw()

    def _redraw(self) -> None:
        now = time.time_ns() if self._now_ns is None else self._now_ns
        groups: dict[tuple[str, ...], _Group] = {(): _Group()}
        for s in self._sources:
            ns = (s.namespace,)
            # A bare pod is its own workload: no level of its own.
            owned = s.workload and s.workload_kind != "Pod"
            at = ns + (f"{s.workload_kind}/{s.workload}",) if owned else ns
            paths = [(), ns, at] if owned else [(), ns]
            paths += [(*at, s.pod), (*at, s.pod, s.container)]
            for path in paths:
                groups.setdefault(path, _Group()).sources.append(s)
        if not self.root.is_expanded:
            # Not on every redraw (each second while lines come in): expanding redraws
            # the whole tree and lays out the whole screen again, open or not.
            self.root.expand()
        for path in sorted(groups, key=lambda p: (len(p), p)):
            group = groups[path]
            label, tail = self._label(path, group, now)
            node = self._by_path.get(path)
            if node is None and path:
                node = self._add(path, label)
            elif node is None:
                node = self._by_path[()] = self.root
            if self._labels.get(path) != label:
                self._labels[path] = label
                self._tails[path] = tail
                node.set_label(label)

    def _add(self, path: tuple[str, ...], label: Text) -> TreeNode[Selection]:
        parent = self._by_path[path[:-1]]
        before = None
        for i, sibling in enumerate(parent.children):
            data = sibling.data
            name = _path(data)[-1] if data is not None else ""
            if _by_name(name) > _by_name(path[-1]):
                before = i
                break
        selection = _selection(path)
        if selection.container:
            node = parent.add_leaf(label, selection, before=before)
        else:
            # Namespaces and workloads open, pods closed: pods are what people scan for.
            node = parent.add(label, selection, before=before, expand=selection.pod is None)
        self._by_path[path] = node
        return node

    def _matches(self, group: _Group) -> bool:
        if self._pred is None:
            return True
        try:
            return any(self._pred(s) for s in group.sources)
        except QueryError:
            self._pred = None  # its regex ran out of time: dim nothing
            return True

    def _label(self, path: tuple[str, ...], group: _Group, now: int) -> tuple[Text, int]:
        """A node's label, and how many characters follow the name (counts, restarts)."""
        matches = self._matches(group)
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        if not path:
            text.append("all sources ")
            text.append(f"{human_count(group.lines)}", "dim")
            return text, 0
        state = group.state()
        if len(path) > 1:
            if state == "deleted":
                text.append("✕ ", "red")
            elif state == "stopped":
                text.append("■ ", "dim")
            elif group.active(now):
                text.append("● ", "green")
            else:
                text.append("○ ", "dim")
        name_style = "strike" if state == "deleted" else ""
        kind, slash, workload = path[-1].partition("/")
        text.append(workload if slash else path[-1], name_style)
        if slash:  # before the tail: on a narrow tree the kind gives way before the name
            text.append(f" {_SHORT_KINDS.get(kind, kind)}", "italic")
        name_end = len(text)
        text.append(f" {human_count(group.lines)}", "dim")
        restarts = group.restarts()
        if restarts and len(path) > 1:
            text.append(f" ↻{restarts}", "yellow")
        gaps = sum(self._gaps.get(s.id, 0) for s in group.sources)
        if gaps:
            text.append(f" ⚠{gaps} gap{'s' if gaps > 1 else ''}", "bold yellow")
        if not matches:
            text.stylize("dim")
        return text, len(text) - name_end

    def render_label(self, node: TreeNode[Selection], base_style: Style, style: Style) -> Text:
        # A long name gives way (ellipsis) so its count and restart marker stay in view.
        text = super().render_label(node, base_style, style)
        selection = node.data
        if selection is None:
            return text
        path = _path(selection)
        room = self.scrollable_content_region.width - len(path) * self.guide_depth
        tail = self._tails.get(path, 0)
        if room <= tail or text.cell_len <= room:
            return text  # not laid out yet, or it fits
        head = text[: len(text) - tail]
        head.truncate(room - tail, overflow="ellipsis")
        return head + text[len(text) - tail :]

    def action_open_node(self) -> None:
        """Open the cursor's node; on an open one (or a leaf), go to its first child."""
        node = self.cursor_node
        if node is None:
            return
        if node.allow_expand and not node.is_expanded:
            node.expand()
        elif node.children:
            self.move_cursor(node.children[0])

    def action_close_node(self) -> None:
        """Close the cursor's node; on a closed one (or a leaf), go to its parent."""
        node = self.cursor_node
        if node is None:
            return
        if node.allow_expand and node.is_expanded and node is not self.root:
            node.collapse()
        elif node.parent is not None:
            self.move_cursor(node.parent)

    def on_tree_node_selected(self, event: Tree.NodeSelected[Selection]) -> None:
        event.stop()
        if event.node.data is not None:
            self.post_message(self.Selected(event.node.data))

    def select_path(self, selection: Selection) -> None:
        """Move the cursor to the node for a selection, if it is in the tree."""
        node = self._by_path.get(_path(selection))
        if node is not None:
            self.move_cursor(node)


def _path(selection: Selection) -> tuple[str, ...]:
    """The node's place in the tree. A workload's part is "Kind/name": no pod's name has
    a "/", so a workload never meets a pod of the same name."""
    owner = f"{selection.kind}/{selection.workload}" if selection.workload else None
    parts = (selection.namespace, owner, selection.pod, selection.container)
    return tuple(p for p in parts if p)


def _by_name(part: str) -> tuple[str, str]:
    """Siblings in order of the names shown: a workload's name, then its kind."""
    kind, slash, workload = part.partition("/")
    return (workload, kind) if slash else (part, "")


def _selection(path: tuple[str, ...]) -> Selection:
    """The selection a tree path stands for (the inverse of `_path`)."""
    namespace, *rest = path
    kind = workload = None
    if rest and "/" in rest[0]:
        kind, workload = rest.pop(0).split("/", 1)
    pod, container = (rest + [None, None])[:2]
    return Selection(namespace, pod, container, workload, kind)
