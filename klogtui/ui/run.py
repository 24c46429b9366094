"""Running the explorer in a terminal: open the store, start the collector, run the app,
and end cleanly on `q`, SIGTERM or a closed terminal (SIGHUP), the collector flushed."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from typing import TYPE_CHECKING

from klogtui.store import Store
from klogtui.ui.allocator import share_one_arena

if TYPE_CHECKING:
    from klogtui.collect.runner import CollectOptions, Running
    from klogtui.remote.reader import RemoteSource
    from klogtui.store.writer import CommitInfo
    from klogtui.ui.app import KlogApp

__all__ = ["run_app", "run_in_terminal", "run_remote_app"]

_HANG_UP_GRACE_S = 5.0  # after SIGHUP, for Textual to restore and exit on its own


def run_app(opts: CollectOptions, *, collect: bool = True) -> int:
    """Open the store of `opts`, start its collector (unless collect=False), run the UI.

    Returns:
        The exit code. The collector is stopped (and flushed) after the UI closes.
    """
    from klogtui.collect.runner import start_collection
    from klogtui.store.owner import CollectingElsewhere
    from klogtui.store.schema import ReadOnlyStoreError

    share_one_arena()  # before the collector's and the UI's threads start
    notices: list[str] = []
    try:
        # The integrity check of a big store takes up to a second: it runs on the
        # writer's thread, before its first write, while the first screen is read.
        store = Store.open(opts.db, readonly=not collect, check=False)
    except ReadOnlyStoreError as e:
        # Still worth showing: what it holds can be read.
        store = Store.open(opts.db, readonly=True)
        collect = False
        notices.append(f"{e}. Showing it without collecting.")
    # The collector starts before Textual and the app are imported (~0.3 s of a CPU):
    # with a fresh store it reads the newest lines of every container meanwhile. Commits
    # before the app runs need no telling: it reads the store when it mounts.
    apps: list[KlogApp] = []

    def committed(info: CommitInfo) -> None:
        for app in apps:
            app.committed(info)

    collection: Running | None = None
    collected_by: int | None = None
    if collect:
        try:
            collection = start_collection(opts, store, on_commit=committed)
        except CollectingElsewhere as e:
            # A second collector would store every line twice: show the store live as
            # the other process fills it (the tick follows its commits).
            collected_by = e.pid
    try:
        from klogtui.ui.app import KlogApp

        app = KlogApp(store, collection=collection)
    except BaseException:
        if collection is not None:
            collection.stop()
        raise
    app.notices = notices
    app.collected_by = collected_by
    apps.append(app)
    return run_in_terminal(app)


def run_remote_app(source: RemoteSource) -> int:
    """Run the explorer over a cluster's collectors (`klogtui --collectors`)."""
    from klogtui.ui.app import KlogApp

    app = KlogApp(source)
    try:
        return run_in_terminal(app)
    finally:
        source.close()


def run_in_terminal(app: KlogApp) -> int:
    """Run the app until `q`, SIGTERM or a closed terminal; its collector, if any, is
    stopped (and flushed) after the UI closes."""
    ended = threading.Event()

    def leave_if_stuck() -> None:
        if ended.wait(_HANG_UP_GRACE_S):
            return
        # Textual's shutdown can wait for ever on its output thread once the terminal is
        # gone (seen: the app outlived its closed tmux, collecting and holding the store).
        # Nothing is left to restore on a closed terminal: flush the collector, leave.
        if app.collection is not None:
            app.collection.stop()
        os._exit(128 + signal.SIGHUP)

    def hang_up() -> None:
        app.exit()
        threading.Thread(target=leave_if_stuck, name="klogtui-hang-up", daemon=True).start()

    async def run() -> int | None:
        # `kill` (SIGTERM) or a closed terminal (SIGHUP) ends the app as `q` does, so the
        # terminal gets back its main screen, echo and no mouse reporting, and the
        # collector below still flushes.
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, app.exit)
        loop.add_signal_handler(signal.SIGHUP, hang_up)
        return await app.run_async()

    try:
        result = asyncio.run(run())
    finally:
        ended.set()
        if app.collection is not None:
            app.collection.stop()
    return 0 if result is None else result
