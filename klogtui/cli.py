"""Entry point: `klogtui`, `klogtui collect`, `klogtui query`.

Only argument parsing and dispatch live here. The Textual app is imported lazily so
`klogtui query` and `--help` start fast; errors are printed as one line, never as a
traceback.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from klogtui import __version__
from klogtui.cli_parsing import HelpFormatter, RawHelpFormatter, limit, seconds
from klogtui.errors import BrokenStoreError, KlogError, QueryError
from klogtui.remote.options import add_collectors_options

if TYPE_CHECKING:
    from klogtui.alerts.rules import RuleSet
    from klogtui.collect.runner import CollectOptions
    from klogtui.store import Retention

__all__ = ["build_parser", "main"]

_EPILOG = """\
commands:
  klogtui [options]            open the explorer (local node logs by default)
  klogtui collect [options]    run the collector headless (e.g. as a DaemonSet)
  klogtui query [QUERY]        search the store from a shell
  klogtui alerts [--check]     list the alert rules and their state, or check them

query language: ns=shop pod=checkout-* container!=istio-proxy stream=stderr
  level=error app=web "connection refused" timeout -healthz (a OR b) since:15m
"""


_BUILTIN_DEFAULTS: dict[str, object] = {"since": "1h", "max_streams": 50}

Mode = Literal["local", "remote", "demo"]

# Source options that only some modes use: (flag, argparse dest, modes that honour it).
_MODE_BOUND: tuple[tuple[str, str, frozenset[Mode]], ...] = (
    ("-l/--selector", "selector", frozenset({"remote"})),
    ("-A/--all-namespaces", "all_namespaces", frozenset({"remote"})),
    ("--context", "context", frozenset({"remote"})),
    ("--max-streams", "max_streams", frozenset({"remote"})),
    ("-n/--namespace", "namespaces", frozenset({"local", "remote"})),
    ("--since", "since", frozenset({"local", "remote"})),
    ("--log-dir", "log_dir", frozenset({"local"})),
    ("--node", "node", frozenset({"local"})),
)


def _add_source_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("sources")
    g.add_argument(
        "--log-dir",
        type=Path,
        metavar="DIR",
        help="kubelet log directory holding pods/ and/or containers/ (default /var/log); "
        "with --kubeconfig or --in-cluster, its pods' labels and workloads come from the API",
    )
    g.add_argument(
        "--node",
        metavar="NAME",
        help="the node those log files belong to (default $NODE_NAME, else the host name)",
    )
    g.add_argument(
        "--db",
        type=Path,
        metavar="FILE",
        help="store file (default: one per source profile under $XDG_DATA_HOME/klogtui)",
    )
    g.add_argument(
        "--demo",
        action="store_true",
        help="run a synthetic cluster writing kubelet-style files (works anywhere)",
    )
    r = p.add_argument_group("retention (also settable in the config file)")
    r.add_argument(
        "--retain",
        metavar="DURATION",
        help="drop lines older than this (e.g. 7d); default: keep everything",
    )
    r.add_argument(
        "--max-size",
        metavar="SIZE",
        help="keep the store under this size, oldest lines first (e.g. 2GB)",
    )
    k = p.add_argument_group("remote mode (through the Kubernetes API)")
    k.add_argument(
        "--kubeconfig",
        metavar="FILE",
        nargs="?",
        const="",
        help="kubeconfig file (default $KUBECONFIG or ~/.kube/config)",
    )
    k.add_argument("--context", metavar="C", help="kubeconfig context to use")
    k.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        metavar="NS",
        dest="namespaces",
        help="namespace to follow (repeatable)",
    )
    k.add_argument("-A", "--all-namespaces", action="store_true", help="follow every namespace")
    k.add_argument("-l", "--selector", metavar="SELECTOR", help="pod label selector")
    k.add_argument(
        "--since",
        metavar="DURATION",
        help="how far back to start (default 1h remotely; local files: everything)",
    )
    k.add_argument(
        "--max-streams",
        type=int,
        metavar="N",
        help="log streams open at once (default 50; more are time-sliced)",
    )
    k.add_argument(
        "--in-cluster",
        action="store_true",
        help="use the pod's service account (when running inside a cluster)",
    )
    a = p.add_argument_group("alerts (rules are [[alert]] tables in the config file)")
    a.add_argument(
        "--alertmanager",
        metavar="URL",
        help="send alerts to this Prometheus Alertmanager (e.g. http://127.0.0.1:9093)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="klogtui",
        description="Terminal log explorer for Kubernetes: every line kept, merged by time, "
        "searchable, live.",
        epilog=_EPILOG,
        formatter_class=RawHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"klogtui {__version__}")
    parser.add_argument(
        "--no-collect",
        action="store_true",
        help="browse the store given by --db without collecting into it (e.g. a copied store)",
    )
    _add_source_options(parser)
    add_collectors_options(parser, kubeconfig=False)
    sub = parser.add_subparsers(dest="command", metavar="{collect,query,alerts}")

    collect = sub.add_parser(
        "collect",
        formatter_class=HelpFormatter,
        help="run the collector headless",
        description="Collect logs into the store without the UI. Runs "
        "until SIGINT/SIGTERM, then flushes and exits 0.",
    )
    _add_source_options(collect)
    collect.add_argument(
        "--once", action="store_true", help="ingest everything present, then exit when caught up"
    )
    collect.add_argument(
        "--listen",
        metavar="[ADDR:]PORT",
        help="serve the read-only query API here (a bare port: loopback only; with "
        "--kubeconfig or --in-cluster every caller's token is checked)",
    )
    collect.add_argument(
        "--query-time-limit",
        metavar="SECONDS",
        type=seconds,
        help="how long one request to the query API may read the store before it is "
        "answered 503 (default: 10)",
    )
    collect.add_argument(
        "--progress",
        action="store_true",
        help="print backfill progress on stderr even when it is not a terminal",
    )

    query = sub.add_parser(
        "query",
        help="search the store",
        description="Print stored lines matching QUERY, oldest first.",
        epilog=_EPILOG,
        formatter_class=RawHelpFormatter,
    )
    query.add_argument(
        "query",
        nargs="*",
        metavar="QUERY",
        help="query text (quote it in the shell; words are joined with spaces; "
        "-word is NOT word); empty matches everything",
    )
    query.add_argument(
        "--db",
        type=Path,
        metavar="FILE",
        help="store file (default: the most recently written store)",
    )
    query.add_argument(
        "--limit",
        type=limit,
        default=1000,
        metavar="N",
        help="keep the newest N matches (default 1000; 0 = all)",
    )
    query.add_argument(
        "-o",
        "--output",
        choices=("text", "jsonl"),
        default="text",
        help="output format (default text)",
    )
    query.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="keep printing new matching lines as they are stored",
    )
    query.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour per source (default: when stdout is a terminal)",
    )
    add_collectors_options(query)
    alerts = sub.add_parser(
        "alerts",
        formatter_class=HelpFormatter,
        help="list the alert rules and their state",
        description="List the config file's alert rules with their state (inactive, "
        "pending, firing since), or check the rules with --check.",
    )
    alerts.add_argument(
        "--check",
        action="store_true",
        help="only check the rules: print what is wrong and exit 2 if anything is",
    )
    alerts.add_argument(
        "--db",
        type=Path,
        metavar="FILE",
        help="store whose alert state to show (default: the most recently written store)",
    )
    return parser


def _query_words_last(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """argv with `klogtui query`'s words moved after "--", options kept in front.

    `-healthz` is the query language's NOT; argparse would take it for an option (or
    for -h with an argument). A word that is none of the query command's options is
    query text, wherever it stands.
    """
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    query_parser: argparse.ArgumentParser = sub.choices["query"]
    takes_value = {
        name for name, action in parser._option_string_actions.items() if action.nargs != 0
    }
    for i, token in enumerate(argv):
        if token == "query" and (i == 0 or argv[i - 1] not in takes_value):
            break
    else:
        return argv
    options = query_parser._option_string_actions
    head, rest = argv[: i + 1], argv[i + 1 :]
    kept: list[str] = []
    words: list[str] = []
    j = 0
    while j < len(rest):
        token = rest[j]
        j += 1
        if token == "--":
            words += rest[j:]
            break
        name = token.split("=", 1)[0]
        if not token.startswith("-") or token == "-":
            words.append(token)
        elif name in options:
            kept.append(token)
            if options[name].nargs != 0 and "=" not in token and j < len(rest):
                kept.append(rest[j])  # its value, even one that starts with "-"
                j += 1
        elif token[:2] in options and options[token[:2]].nargs != 0:
            kept.append(token)  # a short option with its value attached: -ojsonl
        else:
            words.append(token)
    return head + kept + ["--", *words]


def _retention(args: argparse.Namespace) -> Retention | None:
    from klogtui.query.times import parse_duration_ns
    from klogtui.store import Retention, parse_size

    max_bytes = None
    if args.max_size:
        try:
            max_bytes = parse_size(args.max_size)
        except ValueError as e:
            raise KlogError(f"--max-size: {e}") from e
    max_age = parse_duration_ns(args.retain) if args.retain else None
    try:
        retention = Retention(max_age_ns=max_age, max_bytes=max_bytes)
    except ValueError as e:
        raise KlogError(f"--max-size: {e}") from e
    return retention if retention else None


def _parse_duration_s(text: str) -> int:
    from klogtui.query.times import parse_duration_ns

    return parse_duration_ns(text) // 1_000_000_000


def _collect_options(args: argparse.Namespace) -> CollectOptions:
    """Turn parsed arguments into collector options, choosing the store's profile."""
    from klogtui.collect.runner import CollectOptions, PodsApi
    from klogtui.store import default_db_path

    kube = None
    api = args.kubeconfig is not None or args.in_cluster
    # Beside --log-dir the API only tells the files' pods' labels and workloads, and
    # checks the query API's callers (--listen).
    pods_api = api and "log_dir" in args.given and not args.demo
    remote = api and not pods_api
    local = not (args.demo or remote)
    mode: Mode = "remote" if remote else "demo" if args.demo else "local"
    _refuse_what_cannot_apply(args.given - {"context"} if pods_api else args.given, mode)
    if pods_api:
        from klogtui.collect.kube.connect import resolve_context

        # A kubeconfig that cannot be read is refused before a store is created for it.
        resolve_context(args.kubeconfig or None, args.context, args.in_cluster)
    if remote:
        # The Kubernetes client takes a third of a local collector's start-up to import.
        from klogtui.collect.kube.collector import KubeOptions
        from klogtui.collect.kube.connect import resolve_context

        # The store is named after the cluster's context, so read it now: without
        # --context that is the kubeconfig's current one, and an unknown one is refused
        # before a store is created for nothing.
        context = resolve_context(args.kubeconfig or None, args.context, args.in_cluster)
        kube = KubeOptions(
            kubeconfig=args.kubeconfig or None,
            context=context,
            namespaces=list(args.namespaces),
            all_namespaces=args.all_namespaces,
            selector=args.selector,
            since_s=_parse_duration_s(args.since),
            max_streams=args.max_streams,
            in_cluster=args.in_cluster,
            # An exec plugin's login prompt is fine in `collect` run in a terminal, not
            # on the TUI's screen.
            may_interact=args.command == "collect" and sys.stdin.isatty(),
        )
    db = args.db
    if db is None:
        if args.demo and not getattr(args, "no_collect", False):
            # The demo's cluster is new each run; a store of an earlier run would show
            # its pods as gone. It is synthetic data, so start it afresh.
            db = default_db_path("demo")
            from klogtui.store.owner import collecting_pid

            # Unless another demo is running on it: then this one shows that one's store.
            if collecting_pid(db) is None:
                for suffix in ("", "-wal", "-shm"):
                    Path(str(db) + suffix).unlink(missing_ok=True)
        elif remote:
            db = default_db_path(f"kube-{kube.context if kube else 'default'}")
        else:
            db = default_db_path("local")
    return CollectOptions(
        log_dir=None if args.demo or remote else (args.log_dir or Path("/var/log")),
        db=db,
        demo=args.demo,
        once=getattr(args, "once", False),
        kube=kube,
        progress=getattr(args, "progress", False),
        retention=_retention(args),
        namespaces=tuple(args.namespaces) if local else (),
        # Local files are read whole unless --since is on the command line (the config
        # file's `since` is where remote streams start).
        since_s=_parse_duration_s(args.since) if local and "since" in args.given else None,
        alerts=_alert_rules(args),
        node=args.node,
        pods_api=PodsApi(args.kubeconfig or None, args.context, args.in_cluster)
        if pods_api
        else None,
    )


def _alert_rules(args: argparse.Namespace) -> RuleSet:
    """The config file's alert rules; --alertmanager (or the file's key) says where to."""
    from dataclasses import replace

    from klogtui.alerts.alertmanager import check_url
    from klogtui.alerts.rules import load_rules
    from klogtui.config import config_path

    url = getattr(args, "alertmanager", None)
    if url is not None and (problem := check_url(url)) is not None:
        raise KlogError(problem)
    return replace(load_rules(config_path()), alertmanager=url)


def _refuse_what_cannot_apply(given: set[str], mode: Mode) -> None:
    """A source option the chosen mode cannot honour is an error, never silently ignored.

    Raises:
        KlogError: naming the first such option and what to use instead.
    """
    for flag, dest, modes in _MODE_BOUND:
        if dest not in given or mode in modes:
            continue
        if dest == "selector" and mode == "local":
            raise KlogError(
                "-l/--selector needs pod labels, which local log files do not carry: "
                "use -n NAMESPACE, or --kubeconfig to read the cluster's API"
            )
        if mode == "demo":
            raise KlogError(f"{flag} does not apply to --demo (it writes its own cluster)")
        if mode == "remote":
            raise KlogError(f"{flag} applies to local log files only, not with --kubeconfig")
        raise KlogError(
            f"{flag} applies to remote mode only (--kubeconfig); local log files are "
            "narrowed with -n NAMESPACE and --since"
        )


def _ctrl_c_interrupts() -> None:
    """From here on Ctrl-C raises KeyboardInterrupt (`klogtui` starts with it ending
    the process at once, see __main__.py)."""
    import signal  # not at start: `klogtui query` does without it
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _tell_about_store_dir(db: Path) -> None:
    """Make our data directory private again, or warn about a shared one (once, on stderr)."""
    from klogtui.privacy import check_store_dir
    from klogtui.store import default_db_path

    message = check_store_dir(db, default_db_path("local").parent)
    if message:
        print(f"klogtui: {message}", file=sys.stderr)


@contextmanager
def _importing() -> Iterator[None]:
    """No garbage collection while a one-shot command's modules load.

    Importing makes tens of thousands of objects that live as long as the process, and
    no garbage: collecting the young generation every 700 of them took ~2.5 ms of each
    `klogtui query` process and freed nothing.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def main(argv: Sequence[str] | None = None) -> int:
    """Run klogtui; returns the process exit code."""
    try:
        try:
            return _main(argv)
        except BrokenStoreError as e:
            from klogtui.damaged_store import answer_damage

            return answer_damage(e, lambda: _main(argv))
    except KeyboardInterrupt:  # while parsing arguments or answering the recovery offer
        return 130


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        from klogtui.config import load_defaults

        defaults = _BUILTIN_DEFAULTS | load_defaults()
    except KlogError as e:
        print(f"klogtui: {e}", file=sys.stderr)
        return 1
    args = parser.parse_args(
        _query_words_last(parser, list(sys.argv[1:] if argv is None else argv))
    )
    gc.enable()  # off while klogtui started (__main__.py)
    # What the command line set, before the config file's defaults fill the rest in.
    args.given = {d for _, d, _ in _MODE_BOUND if getattr(args, d, None) not in (None, False, [])}
    # Command line first, then the config file, then our own defaults.
    for dest, value in defaults.items():
        if getattr(args, dest, None) is None:
            setattr(args, dest, value)
    try:
        if args.command == "query":
            args.query = " ".join(args.query)
            if args.collectors:
                with _importing():
                    from klogtui.remote.command import run_remote_query

                return run_remote_query(args)
            with _importing():
                from klogtui.query_cmd import run_query

            return run_query(args)
        if args.command == "alerts":
            with _importing():
                from klogtui.alerts.command import run_alerts

            return run_alerts(args)
        if args.command is None and args.collectors:
            from klogtui.remote.command import open_collectors
            from klogtui.remote.reader import open_cluster
            from klogtui.ui.run import run_remote_app

            _ctrl_c_interrupts()
            return run_remote_app(open_cluster(*open_collectors(args), args.collectors_namespace))
        opts = _collect_options(args)
        # Ingest allocates millions of short-lived rows; collecting the young generation
        # every 700 of them cost ~5% of `collect --once` throughput for nothing freed.
        gc.set_threshold(100_000, 50, 100)
        if opts.log_dir is not None and not getattr(args, "no_collect", False):
            from klogtui.collect.files.collector import check_log_dir

            check_log_dir(opts.log_dir)  # before a store is created for nothing
        _tell_about_store_dir(opts.db)
        if args.command == "collect":
            from klogtui.collect.runner import run_collect

            if args.listen is None:
                return run_collect(opts)
            from klogtui.serve.access import query_api

            api = query_api(
                args.listen,
                opts.db,
                args.kubeconfig,
                args.context,
                args.in_cluster,
                args.query_time_limit,
            )
            return run_collect(opts, api)
        from klogtui.ui.run import run_app

        _ctrl_c_interrupts()
        return run_app(opts, collect=not args.no_collect)
    except QueryError as e:
        print(f"klogtui: bad query: {e.message}\n  {e.query}\n  {' ' * e.column}^", file=sys.stderr)
        return 2
    except BrokenStoreError:
        raise  # main() offers to recover it
    except KlogError as e:
        print(f"klogtui: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly, as cat does.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as e:
        # Whatever the specific checks missed (permissions, a file where a directory
        # should be): one line, not a traceback.
        where = f"{e.filename}: " if e.filename else ""
        print(f"klogtui: {where}{e.strerror or e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
