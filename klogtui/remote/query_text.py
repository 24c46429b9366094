"""The query text the nodes are sent: the query as typed, its time bounds resolved here.

A node reads `since:10:30` in its own notion of "today" and zone and `since:15m` back
from its own clock; the explorer's zone (`z`, ParsedQuery.zone) never reaches it. So
every since:/until: is rewritten to the absolute UTC instant it means here, against one
`now`, and all nodes bound the same lines as a local store would.
"""

from __future__ import annotations

from klogtui.query.ast import And, Node, Not, Or, TimeBound
from klogtui.query.parsed import ParsedQuery
from klogtui.query.times import Zone, time_ns
from klogtui.text import format_ts

__all__ = ["node_query_text"]


def node_query_text(query: ParsedQuery, now_ns: int) -> str:
    """The text to send for `query` (as typed when it has no time bound)."""
    if query.ast is None or not query.has_time_bound:
        return query.typed
    return str(_resolved(query.ast, now_ns, query.zone))


def _resolved(node: Node, now_ns: int, zone: Zone) -> Node:
    if isinstance(node, TimeBound):
        return TimeBound(node.kind, format_ts(time_ns(node.text, now_ns, zone)))
    if isinstance(node, Not):
        return Not(_resolved(node.item, now_ns, zone))
    if isinstance(node, And):
        return And(tuple(_resolved(i, now_ns, zone) for i in node.items))
    if isinstance(node, Or):
        return Or(tuple(_resolved(i, now_ns, zone) for i in node.items))
    return node
