"""One parsed query, shared by everything that shows or reads it.

The query bar parses what was typed once and hands this object on; the log pane,
the histogram, the sources tree, the facets and the export all take it, and a
reader keys its compiled SQL by the canonical text, so no one parses it again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from klogtui.query.ast import And, Node, Not, Or, Query, TimeBound
from klogtui.query.parser import parse

if TYPE_CHECKING:
    from klogtui.query.times import Zone

__all__ = ["EMPTY", "ParsedQuery"]


class ParsedQuery(NamedTuple):
    """A query that parses (a NamedTuple: `klogtui query` starts faster without the
    dataclasses module).

    Attributes:
        ast: the root node (None: the empty query, which matches every line).
        canonical: the AST as canonical text: the same for every way of writing it.
        typed: the text as the user wrote it (what the query bar shows, and what a
            compile error's column points into).
        zone: where since:/until: times written without a zone are: UTC, or local
            when the UI shows local times (see klogtui.query.times).
    """

    ast: Query
    canonical: str
    typed: str  # not compared: two ways of writing a query are the same query
    zone: Zone = "utc"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ParsedQuery):
            return NotImplemented
        return (self.ast, self.canonical, self.zone) == (other.ast, other.canonical, other.zone)

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        return hash((self.ast, self.canonical, self.zone))

    @classmethod
    def of(cls, text: str) -> ParsedQuery:
        """Parse `text`.

        Raises:
            QueryError: the text is not a valid query (its column says where).
        """
        ast = parse(text)
        return cls(ast, "" if ast is None else str(ast), text)

    def in_zone(self, zone: Zone) -> ParsedQuery:
        """This query with its zoneless times read in `zone`."""
        return self if zone == self.zone else self._replace(zone=zone)

    @property
    def has_time_bound(self) -> bool:
        """Whether the query has a since:/until: anywhere (its SQL depends on now)."""
        return self.ast is not None and _has_time_bound(self.ast)

    @property
    def is_empty(self) -> bool:
        return self.ast is None


def _has_time_bound(node: Node) -> bool:
    if isinstance(node, TimeBound):
        return True
    if isinstance(node, Not):
        return _has_time_bound(node.item)
    if isinstance(node, (And, Or)):
        return any(_has_time_bound(i) for i in node.items)
    return False


EMPTY = ParsedQuery(None, "", "")
