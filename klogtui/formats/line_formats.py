"""The two kubelet log line formats: CRI (``<time> <stream> <tags> <content>``) and
Docker json-file (``{"log": ..., "stream": ..., "time": ...}``), one line at a time.
"""

from __future__ import annotations

import json

from klogtui.formats.codes import STDERR, STDOUT
from klogtui.formats.timestamps import parse_timestamp

__all__ = ["parse_cri", "parse_docker"]

_STREAM_CODES = {b"stdout": STDOUT, b"stderr": STDERR}


def parse_cri(raw: bytes) -> tuple[int, int, bool, bytes] | None:
    """(ts, stream, partial, content) of a CRI line, or None if it is not one."""
    parts = raw.split(b" ", 3)
    if len(parts) != 4:
        return None
    ts_b, stream_b, tags, content = parts
    stream = _STREAM_CODES.get(stream_b, 0)
    if not stream:
        return None
    try:
        ts = parse_timestamp(ts_b)
    except ValueError:
        return None
    # Kubelet: partial iff the first ":"-separated tag is "P"; anything else is full.
    return ts, stream, tags.split(b":", 1)[0] == b"P", content


def parse_docker(raw: bytes) -> tuple[int, int, bool, bytes] | None:
    """(ts, stream, partial, content) of a Docker json-file record, or None."""
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    log = obj.get("log")
    stream_s = obj.get("stream")
    time_s = obj.get("time")
    if not isinstance(log, str) or not isinstance(time_s, str):
        return None
    if stream_s == "stdout":
        stream = STDOUT
    elif stream_s == "stderr":
        stream = STDERR
    else:
        return None
    try:
        ts = parse_timestamp(time_s)
    except ValueError:
        return None
    # Docker splits long lines into records; all but the last lack the "\n".
    partial = not log.endswith("\n")
    if not partial:
        log = log[:-1]
    # surrogatepass: a lone "\ud800" escape in the JSON must not make us drop the line.
    return ts, stream, partial, log.encode("utf-8", "surrogatepass")
