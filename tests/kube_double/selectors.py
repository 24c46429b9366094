"""Label selectors as the API server reads them (=, ==, !=, in, notin, exists, !exists),
and the pod field selectors it supports (spec.nodeName, metadata.name and
metadata.namespace with =, == and !=)."""

from __future__ import annotations

import re

__all__ = [
    "FieldRequirement",
    "Requirement",
    "field_matches",
    "matches",
    "parse_field_selector",
    "parse_selector",
]

Requirement = tuple[str, str, set[str]]  # (key, op, values)
FieldRequirement = tuple[tuple[str, str], bool, str]  # (path in the pod's JSON, equal, value)
_POD_FIELDS = {
    "spec.nodeName": ("spec", "nodeName"),
    "metadata.name": ("metadata", "name"),
    "metadata.namespace": ("metadata", "namespace"),
}


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


def parse_field_selector(text: str) -> list[FieldRequirement]:
    """Parse a pod field selector; ValueError (the API server's 400) if malformed or
    naming a field it does not index for pods."""
    reqs: list[FieldRequirement] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        m = re.fullmatch(r"([\w.]+)\s*(==|=|!=)\s*([^,]*)", part)
        if m is None:
            raise ValueError(f"invalid selector: {part!r}")
        if m[1] not in _POD_FIELDS:
            raise ValueError(
                f'"{m[1]}" is not a known field selector: only "{", ".join(_POD_FIELDS)}"'
            )
        reqs.append((_POD_FIELDS[m[1]], m[2] != "!=", m[3].strip()))
    return reqs


def field_matches(reqs: list[FieldRequirement], pod: dict[str, object]) -> bool:
    """Whether a pod's JSON object meets every field requirement."""
    for (part, name), equal, value in reqs:
        section = pod.get(part)
        actual = section.get(name) if isinstance(section, dict) else None
        if (str(actual or "") == value) != equal:
            return False
    return True
