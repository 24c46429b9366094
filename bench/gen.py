"""Deterministic kubelet-style log trees for the benchmarks.

`generate(lines, seed)` writes ``<dir>/pods/<ns>_<pod>_<uid>/<container>/0.log`` files in
CRI format (containerd's RFC 3339 timestamps with trailing zeros trimmed, ``Z`` zone),
stdout and stderr mixed, messages in JSON, logfmt, plain and klog form with levels,
about 180 bytes a line on average, spread over three hours. The same (lines, seed)
always gives the same bytes, and the tree is cached under ``bench/data/``.

What the search benchmarks look for is planted at known rates, and the manifest
records the exact counts:

- COMMON_WORD in about 30% of lines, RARE_WORD in one line per 100,000 (at least
  one), PHRASE in about 0.5%;
- METADATA_QUERY (``ns=payments pod=checkout-*``) selects about 2% of lines.

None of the three texts occurs anywhere else, not even inside a longer word, so
``grep -c``, lnav's filter and the store's full-text search count the same lines.

Run it alone: ``python bench/gen.py --lines 1000000 [--seed 1]`` prints the directory.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = [
    "COMMON_WORD",
    "DATA_DIR",
    "Dataset",
    "LogFile",
    "METADATA_QUERY",
    "PHRASE",
    "RARE_WORD",
    "generate",
]

DATA_DIR = Path(__file__).resolve().parent / "data"
COMMON_WORD = "upstream"
RARE_WORD = "xylophone"
PHRASE = "connection refused"
METADATA_QUERY = "ns=payments pod=checkout-*"
METADATA_NS = "payments"
METADATA_POD_PREFIX = "checkout-"

# Bump when the output changes, so cached trees of an older generator are rebuilt.
_VERSION = 2
# 2025-06-01T08:00:00Z: in the past, so lines written live are always newer.
_T0_NS = 1_748_764_800 * 1_000_000_000
_SPAN_NS = 3 * 3600 * 1_000_000_000
_POOL = 2000  # distinct message shapes per container; each line adds a unique id
_COMMON_SHARE = 0.30
_PHRASE_SHARE = 0.005
_RARE_EVERY = 100_000
_CHUNK_LINES = 65_536


@dataclass(frozen=True, slots=True)
class LogFile:
    """One generated container log file."""

    path: Path
    namespace: str
    pod: str
    container: str
    lines: int


@dataclass(frozen=True, slots=True)
class Dataset:
    """A generated tree and what is planted in it.

    Attributes:
        root: the log directory (holds ``pods/``), what ``--log-dir`` takes.
        lines: lines written in total.
        seed: the seed it was made from.
        bytes: bytes written in total.
        files: every file written.
        counts: lines matching each benchmark query: "common", "rare", "phrase",
            "metadata".
    """

    root: Path
    lines: int
    seed: int
    bytes: int
    files: tuple[LogFile, ...]
    counts: dict[str, int]

    def paths(self) -> list[Path]:
        """Every log file, in a stable order."""
        return [f.path for f in self.files]

    def metadata_paths(self) -> list[Path]:
        """The files METADATA_QUERY selects (what a user would hand lnav or grep)."""
        return [f.path for f in self.files if _is_metadata(f.namespace, f.pod)]


def _is_metadata(namespace: str, pod: str) -> bool:
    return namespace == METADATA_NS and pod.startswith(METADATA_POD_PREFIX)


# --------------------------------------------------------------------------- workloads

# (namespace, workload, replicas, [(container, format, weight per replica)])
# Weights are relative line volumes. payments/checkout-* sums to 2% of the total.
_WORKLOADS: list[tuple[str, str, int, list[tuple[str, str, float]]]] = [
    ("payments", "checkout", 2, [("app", "json", 0.6), ("istio-proxy", "envoy", 0.4)]),
    ("payments", "payment-gateway", 3, [("app", "json", 2.0), ("istio-proxy", "envoy", 1.0)]),
    ("payments", "ledger", 2, [("app", "logfmt", 1.5)]),
    ("shop", "web", 4, [("nginx", "nginx", 3.0), ("app", "plain", 1.5)]),
    ("shop", "cart", 3, [("app", "json", 2.0)]),
    ("shop", "catalog", 3, [("app", "logfmt", 1.8)]),
    ("shop", "search", 2, [("app", "json", 2.5)]),
    ("auth", "auth-api", 3, [("app", "json", 1.6)]),
    ("auth", "keycloak", 1, [("keycloak", "plain", 2.0)]),
    ("kube-system", "coredns", 2, [("coredns", "plain", 1.0)]),
    ("kube-system", "kube-proxy", 3, [("kube-proxy", "klog", 0.5)]),
    ("kube-system", "etcd", 1, [("etcd", "json", 1.5)]),
    ("kube-system", "kube-apiserver", 1, [("kube-apiserver", "klog", 4.0)]),
    ("kube-system", "kube-controller-manager", 1, [("kube-controller-manager", "klog", 2.0)]),
    ("kube-system", "kube-scheduler", 1, [("kube-scheduler", "klog", 0.8)]),
    ("monitoring", "prometheus", 1, [("prometheus", "logfmt", 1.2)]),
    ("monitoring", "grafana", 1, [("grafana", "logfmt", 0.8)]),
    ("monitoring", "node-exporter", 3, [("node-exporter", "logfmt", 0.3)]),
    ("monitoring", "alertmanager", 1, [("alertmanager", "logfmt", 0.4)]),
    ("logging", "fluent-bit", 3, [("fluent-bit", "plain", 0.9)]),
    ("ingress-nginx", "ingress-nginx-controller", 2, [("controller", "nginx", 3.5)]),
    ("data", "postgres", 1, [("postgres", "plain", 1.5)]),
    ("data", "redis", 1, [("redis", "plain", 0.6)]),
    ("data", "kafka", 3, [("kafka", "plain", 1.4)]),
    ("ml", "trainer", 1, [("trainer", "plain", 1.0)]),
]

# --------------------------------------------------------------------------- messages

_WORDS = (
    "order invoice customer session token account profile basket item shipment refund "
    "tenant region shard replica lease snapshot segment partition offset consumer producer "
    "topic schema migration index query cursor batch worker job task queue retry backoff "
    "deadline quota limit window bucket metric probe sidecar mesh route gateway listener "
    "cluster node volume secret configmap endpoint service deployment rollout"
).split()
_PATHS = [
    "/api/v1/orders",
    "/api/v1/cart",
    "/api/v2/payments",
    "/healthz",
    "/readyz",
    "/api/v1/catalog/items",
    "/api/v1/users/me",
    "/metrics",
    "/api/v1/search",
    "/login",
    "/static/app.js",
    "/api/v1/invoices",
    "/graphql",
]
_METHODS = ["GET", "GET", "GET", "POST", "PUT", "DELETE", "PATCH"]
_STATUS = [200] * 14 + [201, 204, 301, 304, 400, 401, 403, 404, 409, 429, 500, 502, 503]
_AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64)",
    "curl/8.4.0",
    "kube-probe/1.29",
    "Go-http-client/1.1",
    "python-requests/2.31.0",
    "okhttp/4.12.0",
]
_GO_FILES = [
    "reflector.go:325",
    "controller.go:118",
    "leaderelection.go:248",
    "round_trippers.go:553",
    "shared_informer.go:311",
    "event.go:307",
    "httplog.go:132",
    "proxier.go:796",
    "server.go:204",
    "cache.go:89",
]
_LEVEL_WEIGHTS = [("info", 80), ("debug", 8), ("warn", 8), ("error", 4)]


def _pick_level(rng: random.Random) -> str:
    r = rng.random() * 100
    for name, w in _LEVEL_WEIGHTS:
        if r < w:
            return name
        r -= w
    return "info"


def _ip(rng: random.Random) -> str:
    return f"10.{rng.randrange(0, 8)}.{rng.randrange(0, 256)}.{rng.randrange(1, 255)}"


def _words(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(lo, hi)))


def _text(rng: random.Random, kind: str) -> str:
    """The human part of a message: plain, mentioning COMMON_WORD, or PHRASE."""
    if kind == "phrase":
        return rng.choice(
            [
                f"dial tcp {_ip(rng)}:5432: connect: {PHRASE}",
                f"failed to reach {rng.choice(_WORDS)} service: {PHRASE} "
                f"(attempt {rng.randint(1, 5)})",
                f"grpc: error while dialing: {PHRASE} to {_ip(rng)}:9090",
            ]
        )
    if kind == "common":
        return rng.choice(
            [
                f"forwarded {rng.choice(_WORDS)} request to {COMMON_WORD} {_ip(rng)}:8080",
                f"{COMMON_WORD} responded in {rng.randint(1, 900)}ms for {rng.choice(_WORDS)}",
                f"selected {COMMON_WORD} {rng.choice(_WORDS)}-{rng.randint(0, 9)} by least-request",
                f"retrying {rng.choice(_WORDS)} against next {COMMON_WORD} "
                f"after {rng.randint(5, 500)}ms",
            ]
        )
    return rng.choice(
        [
            f"processed {rng.choice(_WORDS)} {_words(rng, 1, 6)}",
            f"{rng.choice(_WORDS)} {rng.choice(['created', 'updated', 'deleted', 'synced'])} "
            f"in {rng.randint(1, 2000)}ms",
            f"cache {rng.choice(['hit', 'miss'])} for {rng.choice(_WORDS)} key {_words(rng, 1, 3)}",
            f"starting {rng.choice(_WORDS)} {rng.choice(_WORDS)} with {rng.randint(1, 64)} workers",
            f"{_words(rng, 3, 12)}",
        ]
    )


# A pool entry: the message split around its unique-id slot, the CRI stream word, and
# whether it holds the common word / the phrase. klog entries also carry a level letter
# and a source file for the header, which holds the line's own time.
Entry = tuple[str, str, str, bool, bool, str]


def _entry(rng: random.Random, fmt: str, kind: str) -> Entry:
    level = "error" if kind == "phrase" else _pick_level(rng)
    text = _text(rng, kind)
    stream = "stderr" if level in ("warn", "error") and rng.random() < 0.7 else "stdout"
    common, phrase = kind == "common", kind == "phrase"
    klog = ""
    if fmt == "json":
        method, path, status = rng.choice(_METHODS), rng.choice(_PATHS), rng.choice(_STATUS)
        head = (
            f'{{"level":"{level}","logger":"{rng.choice(_WORDS)}","msg":"{text}",'
            f'"method":"{method}","path":"{path}","status":{status},'
            f'"duration_ms":{rng.randint(1, 3000) / 10},"request_id":"'
        )
        tail = '"}'
    elif fmt == "logfmt":
        head = (
            f"level={level} caller={rng.choice(_GO_FILES)} component={rng.choice(_WORDS)} "
            f'msg="{text}" trace_id='
        )
        tail = f" duration={rng.randint(1, 5000)}ms"
        stream = "stderr"
    elif fmt == "klog":
        klog = {"info": "I", "debug": "I", "warn": "W", "error": "E"}[level]
        head = f"{rng.choice(_GO_FILES)}] {text} uid="
        tail = ""
        stream = "stderr"
    elif fmt in ("envoy", "nginx"):
        # Access logs: the text goes in a trailing field so the shapes stay realistic.
        method, path, status = rng.choice(_METHODS), rng.choice(_PATHS), rng.choice(_STATUS)
        if fmt == "envoy":
            head = (
                f'[{level}] "{method} {path} HTTP/1.1" {status} - {rng.randint(0, 4096)} '
                f'{rng.randint(0, 65536)} {rng.randint(1, 900)} "{_ip(rng)}" '
                f'"{rng.choice(_AGENTS)}" "'
            )
            tail = f'" "{rng.choice(_WORDS)}.svc.cluster.local" note="{text}"'
        else:
            head = (
                f'{_ip(rng)} - - "{method} {path} HTTP/1.1" {status} {rng.randint(0, 65536)} '
                f'"-" "{rng.choice(_AGENTS)}" {rng.randint(100, 2000)} '
                f"{rng.randint(1, 900) / 1000} [{rng.choice(_WORDS)}] req="
            )
            tail = f" {text}"
        stream = "stderr" if level in ("warn", "error") else "stdout"
    else:  # plain
        head = f"{level.upper()} [{rng.choice(_WORDS)}] {text} (req "
        tail = ")"
    return head, tail, stream, common, phrase, klog


def _pool(rng: random.Random, fmt: str) -> list[Entry]:
    n_common = round(_POOL * _COMMON_SHARE)
    n_phrase = max(1, round(_POOL * _PHRASE_SHARE))
    kinds = ["common"] * n_common + ["phrase"] * n_phrase
    kinds += ["plain"] * (_POOL - len(kinds))
    pool = [_entry(rng, fmt, k) for k in kinds]
    for head, tail, _, common, phrase, _ in pool:
        text = head + tail
        # The planted texts must occur exactly where the flags say, or counts lie.
        assert (COMMON_WORD in text) == common, text
        assert (PHRASE in text) == phrase, text
        assert RARE_WORD not in text, text
    return pool


# --------------------------------------------------------------------------- writing


def _file_specs(rng: random.Random) -> list[tuple[str, str, str, str, str, float]]:
    """(namespace, pod, uid, container, format, weight) for every file."""
    specs = []
    for ns, workload, replicas, containers in _WORKLOADS:
        rs = "".join(rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(9))
        for _ in range(replicas):
            pod = f"{workload}-{rs}-" + "".join(
                rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5)
            )
            uid = "-".join(f"{rng.getrandbits(b * 4):0{b}x}" for b in (8, 4, 4, 4, 12))
            for container, fmt, weight in containers:
                specs.append((ns, pod, uid, container, fmt, weight))
    return specs


def _split(total: int, specs: list[tuple[str, str, str, str, str, float]]) -> list[int]:
    """Lines per file: the checkout pods get exactly 2%, the rest by weight."""
    meta = [i for i, s in enumerate(specs) if _is_metadata(s[0], s[1])]
    rest = [i for i in range(len(specs)) if i not in meta]
    counts = [0] * len(specs)
    for group, share in ((meta, 0.02), (rest, 0.98)):
        budget = round(total * share) if group is meta else total - sum(counts)
        weights = sum(specs[i][5] for i in group)
        for i in group:
            counts[i] = int(budget * specs[i][5] / weights)
        counts[max(group, key=lambda i: specs[i][5])] += budget - sum(counts[i] for i in group)
    return counts


def _second_prefixes(secs: int) -> tuple[str, str]:
    """("2026-11-28T00:00:01", "1128 00:00:01") for a second since the epoch."""
    d = datetime.fromtimestamp(secs, UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S"), d.strftime("%m%d %H:%M:%S")


def _write_file(
    path: Path, n: int, pool: list[Entry], rng: random.Random, rare_at: set[int], salt: int
) -> tuple[int, int, int, int]:
    """Write n lines; returns (bytes, common, phrase, rare) counts."""
    step = _SPAN_NS / max(n, 1)
    start = _T0_NS + rng.randrange(0, max(1, int(step)))
    jitter = max(1, int(step / 2))
    nbytes = common = phrase = rare = 0
    picks = rng.choices(range(len(pool)), k=n)
    randrange = rng.randrange
    cur_sec = -1
    cri_sec = klog_sec = ""
    with open(path, "wb", buffering=1 << 20) as out:
        for lo in range(0, n, _CHUNK_LINES):
            buf: list[str] = []
            append = buf.append
            for i in range(lo, min(n, lo + _CHUNK_LINES)):
                ts = start + int(i * step) + randrange(jitter)
                sec, nanos = divmod(ts, 1_000_000_000)
                if sec != cur_sec:
                    cur_sec = sec
                    cri_sec, klog_sec = _second_prefixes(sec)
                frac = f"{nanos:09d}".rstrip("0")
                head, tail, stream, c, p, klog = pool[picks[i]]
                rid = "%012x" % ((i * 0x9E3779B1 + salt) & 0xFFFFFFFFFFFF)
                if i in rare_at:
                    rid = f"{RARE_WORD}-{rid}"
                    rare += 1
                if klog:
                    head = f"{klog}{klog_sec}.{nanos // 1000:06d}       1 {head}"
                if frac:
                    append(f"{cri_sec}.{frac}Z {stream} F {head}{rid}{tail}\n")
                else:
                    append(f"{cri_sec}Z {stream} F {head}{rid}{tail}\n")
                common += c
                phrase += p
            data = "".join(buf).encode()
            nbytes += len(data)
            out.write(data)
    return nbytes, common, phrase, rare


def _tree_dir(lines: int, seed: int) -> Path:
    return DATA_DIR / f"logs-{lines}-s{seed}"


def _load(root: Path) -> Dataset | None:
    try:
        m = json.loads((root / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    if m.get("version") != _VERSION:
        return None
    files = tuple(
        LogFile(root / f["path"], f["namespace"], f["pod"], f["container"], f["lines"])
        for f in m["files"]
    )
    return Dataset(root, m["lines"], m["seed"], m["bytes"], files, m["counts"])


def generate(
    lines: int,
    seed: int = 1,
    data_dir: Path | None = None,
    log: Callable[[str], None] | None = None,
) -> Dataset:
    """The tree for (lines, seed), written unless a complete one is cached.

    Args:
        lines: total lines to write.
        seed: seed of every random choice.
        data_dir: where trees are cached (default bench/data).
        log: told what is happening (e.g. print).

    Returns:
        The dataset, with its planted counts.
    """
    root = (data_dir or DATA_DIR) / _tree_dir(lines, seed).name
    cached = _load(root)
    if cached is not None:
        return cached
    if root.exists():
        shutil.rmtree(root)
    started = time.perf_counter()
    rng = random.Random(seed)
    specs = _file_specs(rng)
    split = _split(lines, specs)
    n_rare = max(1, lines // _RARE_EVERY)
    # Rare lines at evenly spaced global positions, mapped to (file, index).
    rare_global = sorted(
        {(k * lines) // n_rare + rng.randrange(max(1, lines // n_rare)) for k in range(n_rare)}
    )
    files: list[LogFile] = []
    total_bytes = 0
    counts = {"common": 0, "rare": 0, "phrase": 0, "metadata": 0}
    pools: dict[str, list[Entry]] = {}
    offset = 0
    for (ns, pod, uid, container, fmt, _), n in zip(specs, split, strict=True):
        if fmt not in pools:
            pools[fmt] = _pool(random.Random(f"{seed}-{fmt}"), fmt)
        rare_at = {g - offset for g in rare_global if offset <= g < offset + n}
        offset += n
        rel = Path("pods") / f"{ns}_{pod}_{uid}" / container / "0.log"
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        nbytes, c, p, r = _write_file(
            path, n, pools[fmt], random.Random(f"{seed}-{rel}"), rare_at, rng.getrandbits(48)
        )
        total_bytes += nbytes
        counts["common"] += c
        counts["phrase"] += p
        counts["rare"] += r
        if _is_metadata(ns, pod):
            counts["metadata"] += n
        files.append(LogFile(path, ns, pod, container, n))
    manifest = {
        "version": _VERSION,
        "lines": lines,
        "seed": seed,
        "bytes": total_bytes,
        "counts": counts,
        "files": [
            {
                "path": str(f.path.relative_to(root)),
                "namespace": f.namespace,
                "pod": f.pod,
                "container": f.container,
                "lines": f.lines,
            }
            for f in files
        ],
    }
    # Written last: a tree without its manifest is incomplete and gets rebuilt.
    (root / "manifest.json").write_text(json.dumps(manifest, indent=1))
    if log:
        log(
            f"generated {lines:,} lines ({total_bytes / 1e6:.0f} MB, {len(files)} files) "
            f"in {time.perf_counter() - started:.1f} s: {root}"
        )
    return Dataset(root, lines, seed, total_bytes, tuple(files), counts)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lines", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    ds = generate(args.lines, args.seed, log=print)
    print(ds.root)
    print(json.dumps(ds.counts))


if __name__ == "__main__":
    main()
