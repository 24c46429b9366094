"""The log endpoint: the kubelet's choice of instance, its query options, follow and faults.

Like the kubelet, it reads only the current log file: lines rotated away are not
served to a new request. An open follow stream survives a rotation as the cluster's
`rotation_mode` says (kubelet 1.29+ follows into the new file; older ones stopped).
A pod on a dead node answers 500 after the dial timeout, as the API server does.
"""

from __future__ import annotations

import time

from tests.kube_double.cluster import LogConn
from tests.kube_double.responder import Responder, status
from tests.kube_double.times import NS, format_ts, parse_ts

__all__ = ["LogEndpoint"]


class LogEndpoint(Responder):
    """``GET /api/v1/namespaces/{ns}/pods/{pod}/log``."""

    def _log(self, ns: str, name: str, query: dict[str, list[str]]) -> None:
        cluster = self.server.cluster
        if self._forbidden(ns, "pods/log", "get"):
            return

        def flag(key: str) -> bool:
            return query.get(key, ["false"])[0] in ("true", "1")

        follow, previous, timestamps = flag("follow"), flag("previous"), flag("timestamps")
        with cluster.cond:
            pod = cluster.pods.get((ns, name))
            if pod is None:
                self._json(404, status(404, "NotFound", f'pods "{name}" not found'))
                return
            cname = query.get("container", [""])[0]
            if not cname:
                if len(pod.containers) != 1:
                    names = " ".join(pod.containers)
                    self._json(
                        400,
                        status(
                            400,
                            "BadRequest",
                            "a container name must be "
                            f"specified for pod {name}, choose one of: "
                            f"[{names}]",
                        ),
                    )
                    return
                cname = next(iter(pod.containers))
            c = pod.containers.get(cname)
            if c is None:
                self._json(
                    400,
                    status(400, "BadRequest", f"container {cname} is not valid for pod {name}"),
                )
                return
            inst = c.previous() if previous else c.current()
            if inst is None:
                msg = (
                    f'previous terminated container "{cname}" in pod "{name}" not found'
                    if previous
                    else f'container "{cname}" in pod "{name}" is waiting to start: '
                    f"{c.waiting_reason}"
                )
                self._json(400, status(400, "BadRequest", msg))
                return
            dead_for = cluster.dead_nodes.get(pod.node)
            if dead_for is not None:
                node = pod.node
        if dead_for is not None:
            time.sleep(dead_for)  # the API server dials the kubelet until it gives up
            self._json(
                500,
                status(
                    500,
                    "InternalError",
                    f'Get "https://{node}:10250/containerLogs/{ns}/{name}/{cname}": '
                    f"dial tcp {node}:10250: i/o timeout",
                ),
            )
            return
        with cluster.cond:
            since_ns: int | None = None
            if "sinceTime" in query:
                try:
                    # The kubelet gets sinceTime as a metav1.Time: whole seconds.
                    since_ns = parse_ts(query["sinceTime"][0]) // NS * NS
                except ValueError:
                    self._json(400, status(400, "BadRequest", "invalid sinceTime"))
                    return
            elif "sinceSeconds" in query:
                since_ns = time.time_ns() - int(query["sinceSeconds"][0]) * NS
            pos = max(inst.base, inst.file_start)
            file_gen = inst.rotations
            if "tailLines" in query:
                pos = max(inst.base, inst.end - int(query["tailLines"][0]))
            limit = int(query.get("limitBytes", ["0"])[0] or 0)
            conn = LogConn(ns, name, cname, inst)
            cluster.log_conns.append(conn)
            follow = follow and inst.running
        sent = 0
        try:
            self._start_stream("text/plain")
            while True:
                with cluster.cond:
                    while True:
                        if conn.silent or cluster.stopped:
                            # A dead peer: say nothing until the client gives up.
                            if cluster.stopped or self._client_gone():
                                self._abort()
                                return
                            inst.cond.wait(0.2)
                            continue
                        if pos < inst.base:
                            pos = inst.base  # rotated away while we were behind
                        if inst.rotations != file_gen and cluster.rotation_mode != "follow":
                            # An older kubelet: what is left of the old file, then stop.
                            end = inst.file_start
                            if pos < end:
                                break
                            if cluster.rotation_mode == "end":
                                self._end_stream()
                                return
                            conn.silent = True
                            continue
                        if pos < inst.end or not follow or not inst.running:
                            break
                        if not inst.cond.wait(1.0) and self._client_gone():
                            self._abort()
                            return
                    end = inst.end
                    if inst.rotations != file_gen and cluster.rotation_mode != "follow":
                        end = min(end, inst.file_start)
                    lines = inst.lines[pos - inst.base : end - inst.base]
                    pos = end
                    running = inst.running
                    broken = conn.break_mid_line
                    cut = conn.cut_after
                out: list[bytes] = []
                for ts, text in lines:
                    if since_ns is not None and ts < since_ns:
                        continue
                    line = (format_ts(ts).encode() + b" " + text if timestamps else text) + b"\n"
                    if broken:
                        half = max(1, len(line) // 2)
                        self._chunk(b"".join(out) + line[:half])
                        self._abort()
                        return
                    out.append(line)
                data = b"".join(out)
                if cut is not None:
                    if data and len(data) >= cut:
                        if cut:  # (an empty chunk would end the body cleanly)
                            self._chunk(data[:cut])
                        self._abort()
                        return
                    with cluster.cond:
                        conn.cut_after = cut - len(data)
                if limit and sent + len(data) >= limit:
                    self._chunk(data[: limit - sent])
                    self._end_stream()
                    return
                sent += len(data)
                if data:
                    self._chunk(data)
                    conn.lines_sent += len(out)
                if not follow or not running:
                    self._end_stream()
                    return
        finally:
            with cluster.cond:
                cluster.log_conns.remove(conn)
                cluster.log_served.append((name, cname, query, conn.lines_sent))
