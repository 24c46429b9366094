"""The query text the collectors are sent (klogtui.remote.query_text): its time bounds
mean on every node, whatever its clock and zone, what they mean in the explorer."""

from __future__ import annotations

from klogtui.query.parsed import ParsedQuery
from klogtui.query.times import Zone
from klogtui.remote.query_text import node_query_text
from klogtui.store.compile import compile_query

NOW = 1_795_000_000_000_000_000  # 2026-11-18T11:06:40Z
LATER = NOW + 3_600_000_000_000  # a node whose clock is an hour ahead


def _bounds(query: ParsedQuery, now_ns: int) -> tuple[int | None, int | None, str]:
    """The lines the query bounds, as a store compiles it (nested bounds are in `where`)."""
    cq = compile_query(query.ast, [], now_ns, query.typed, query.zone)
    return cq.min_id, cq.max_id, cq.where


def test_durations_and_zoneless_times_are_sent_as_the_instants_meant_here() -> None:
    for text in ("since:15m until:5m", "since:10:30 ns=shop", "-until:2026-11-18T09:00 x"):
        zones: tuple[Zone, ...] = ("utc", "local")
        for zone in zones:
            query = ParsedQuery.of(text).in_zone(zone)
            sent = ParsedQuery.of(node_query_text(query, NOW))  # read as a node reads it
            assert _bounds(sent, LATER) == _bounds(query, NOW), (text, zone)


def test_a_query_without_time_bounds_is_sent_as_typed() -> None:
    query = ParsedQuery.of("ns=shop  error")
    assert node_query_text(query, NOW) == "ns=shop  error"
