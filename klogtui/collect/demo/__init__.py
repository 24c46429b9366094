"""A synthetic cluster that writes kubelet-style log files, for `--demo` and tests.

`cluster.DemoCluster` lays out ``<root>/pods/<ns>_<pod>_<uid>/<container>/<n>.log`` and
``<root>/containers/*.log`` links exactly as kubelet does, and the normal file
collector tails them: the demo runs the real pipeline. It has four namespaces and a
dozen pods with sidecars; JSON, logfmt, klog and plain messages; stderr; multi-line
stack traces; ~20 KB lines split into 16 KiB CRI ``P`` fragments; one pod in Docker
json-file format and one with zoned (CRI-O style) timestamps; lines carrying Rich
markup and ANSI escapes (log text is data: the UI must show them inert); rotation of
big files (rename, the runtime still writing to the old file until it reopens, gzip
of older rotations via ``.tmp``, oldest removed); a CrashLoop pod restarting with
back-off (``1.log``, ``2.log`` …); a Job pod that completes; a pod deleted after a while.

Everything is deterministic given the seed and start time: lines come from a per-
container random process driven by the simulated clock, lifecycle events happen at
fixed simulated times, so ``step(600)`` and six hundred ``step(1)`` write the same files.

The parts: `messages` (what each container says: the line generators), `pods` (the
cast: which pods and containers, their rates and lifecycle roles), `ids` (random
uids and container ids) and `cluster` (the clock, the kubelet files, rotation and
the lifecycle events).
"""
