"""Label selectors as the API server reads them (=, ==, !=, in, notin, exists, !exists)."""

from __future__ import annotations

import re

__all__ = ["Requirement", "matches", "parse_selector"]

Requirement = tuple[str, str, set[str]]  # (key, op, values)


def parse_selector(text: str) -> list[Requirement]:
    """Parse a label selector into (key, op, values); ValueError if malformed."""
    reqs: list[Requirement] = []
    for part in re.split(r",(?![^(]*\))", text.strip()) if text.strip() else []:
        part = part.strip()
        m = re.fullmatch(r"([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)", part)
        if m:
            reqs.append((m[1], m[2], {v.strip() for v in m[3].split(",") if v.strip()}))
            continue
        m = re.fullmatch(r"([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)", part)
        if m:
            reqs.append((m[1], "!=" if m[2] == "!=" else "=", {m[3]}))
            continue
        m = re.fullmatch(r"(!?)([\w./-]+)", part)
        if m:
            reqs.append((m[2], "!exists" if m[1] else "exists", set()))
            continue
        raise ValueError(f"unable to parse requirement: {part!r}")
    return reqs


def matches(reqs: list[Requirement], labels: dict[str, str]) -> bool:
    """Whether labels meet every requirement (an empty selector matches all)."""
    for key, op, values in reqs:
        v = labels.get(key)
        if op == "=" and v not in values:
            return False
        if op == "!=" and v in values:
            return False
        if op == "in" and v not in values:
            return False
        if op == "notin" and v in values:
            return False
        if op == "exists" and v is None:
            return False
        if op == "!exists" and v is not None:
            return False
    return True
