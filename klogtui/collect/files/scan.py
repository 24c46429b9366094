"""Discovery: the pod, container and ``containers/`` symlink directories of a kubelet log
dir, listed (after being watched, so nothing slips between) and reconciled with the
files tracked.

Layout read (FACTS.md): ``<log-dir>/pods/<ns>_<pod>_<uid>/<container>/<restart>.log``
with rotated siblings ``<restart>.log.<stamp>`` and ``.gz``, and ``<log-dir>/containers``
symlinks pointing into it. Every real file is tracked once, by (device, inode), however
many names lead to it; a directory once, by its real path.
"""

from __future__ import annotations

import os
import stat
import zlib
from collections.abc import Collection
from pathlib import Path

from klogtui.collect.base import CollectorStats
from klogtui.collect.files.fds import Descriptors
from klogtui.collect.files.identity import Identity, read_head
from klogtui.collect.files.lifecycle import FileLifecycle
from klogtui.collect.files.sources import Sources
from klogtui.collect.files.tracked import ContainerDir, LogFile, Tracked
from klogtui.collect.files.watch import (
    CONTAINER_DIR_MASK,
    FILE_MASK,
    LINKS_MASK,
    OUT_OF_FDS,
    POD_DIR_MASK,
    Watches,
)
from klogtui.paths import PodLogPath, parse_container_link_name, parse_pod_log_path

__all__ = ["Scanner"]


class Scanner:
    """Finds container directories and their log files; tracks, opens and watches them.

    Args:
        log_dir: the directory holding ``pods/`` and/or ``containers/``.
        stats: reports what cannot be listed, read or followed.
        tracked: the files tracked, and the work listings add to.
        watches: watches directories before they are listed.
        fds: opens files and lists directories despite a shortage of descriptors.
        sources: the container instances' keys and states.
        identity: names each new file's content stream.
        lifecycle: releases files no name leads to any more.
        namespaces: only these namespaces' pods (empty: all).
        since_ns: rotated files last written before it are not tracked at all.
    """

    def __init__(
        self,
        log_dir: Path,
        stats: CollectorStats,
        tracked: Tracked,
        watches: Watches,
        fds: Descriptors,
        sources: Sources,
        identity: Identity,
        lifecycle: FileLifecycle,
        namespaces: Collection[str],
        since_ns: int,
    ) -> None:
        self.stats = stats
        self._tracked = tracked
        self._watches = watches
        self._fds = fds
        self._sources = sources
        self._identity = identity
        self._lifecycle = lifecycle
        self._namespaces = frozenset(namespaces)
        self._since_ns = since_ns
        self.pods_path = str(log_dir / "pods")
        self._links_path = str(log_dir / "containers")
        self.pod_dirs: dict[str, int | None] = {}
        self._links_wd: int | None = None
        self.dirs: dict[str, ContainerDir] = {}

    def scan_all(self) -> None:
        """(Re)list everything. Watches come before listings: nothing slips between."""
        if self.pod_dirs.get(self.pods_path) is None and os.path.isdir(self.pods_path):
            self.pod_dirs[self.pods_path] = self._watches.watch(
                self.pods_path, POD_DIR_MASK, "pods", self.pods_path
            )
        if self._links_wd is None and os.path.isdir(self._links_path):
            self._links_wd = self._watches.watch(self._links_path, LINKS_MASK, "links", None)
        try:
            listed = {
                os.path.join(self.pods_path, n)
                for n in self._fds.with_fds(lambda: os.listdir(self.pods_path))
            }
        except OSError as e:
            self._fds.retry_later(e)
            listed = set()
        for pod in sorted(listed | (self.pod_dirs.keys() - {self.pods_path})):
            self.scan_pod(pod)
        self.scan_links()
        for d in list(self.dirs.values()):
            self.scan_dir(d)

    def _excluded(self, namespace: str) -> bool:
        return bool(self._namespaces) and namespace not in self._namespaces

    def scan_pod(self, pod: str) -> None:
        """A pod directory appeared, changed or vanished."""
        if self._excluded(os.path.basename(pod).split("_", 1)[0]):
            return  # ``<ns>_<pod>_<uid>`` of a namespace not asked for: not even watched
        if self.pod_dirs.get(pod) is None and os.path.isdir(pod):
            # New, or its watch was refused before: (try to) watch it, then list it.
            self.pod_dirs[pod] = self._watches.watch(pod, POD_DIR_MASK, "pod", pod)
        try:
            names = set(self._fds.with_fds(lambda: os.listdir(pod)))
        except OSError as e:
            if self._fds.retry_later(e):
                return  # it is there: only we cannot look
            if pod in self.pod_dirs:
                self._watches.unwatch(self.pod_dirs.pop(pod))
            names = set()
            if isinstance(e, (FileNotFoundError, NotADirectoryError)):
                self._sources.pod_gone(pod)
        for name in sorted(names):
            path = os.path.join(pod, name)
            if os.path.isdir(path):
                self._add_dir(path)
        for d in [d for d in self.dirs.values() if d.pod_path == pod]:
            if os.path.basename(d.path) not in names:
                self.scan_dir(d)

    def _add_dir(self, path: str) -> ContainerDir:
        # Known by its real path (two names may lead to it); named by the path found,
        # since only that has the pods/<ns>_<pod>_<uid>/<container> shape to parse.
        real = os.path.realpath(path)
        d = self.dirs.get(real)
        if d is None:
            d = self.dirs[real] = ContainerDir(path, real)
            d.wd = self._watches.watch(path, CONTAINER_DIR_MASK, "cdir", d)
            self.scan_dir(d)
        elif not self._watched(d):
            self._rewatch(d)
        return d

    def _watched(self, d: ContainerDir) -> bool:
        return self._watches.is_watching(d.wd, d)

    def _rewatch(self, d: ContainerDir) -> None:
        """Its watch was refused (out of watches) or dropped by the kernel: try again."""
        d.wd = self._watches.watch(d.path, CONTAINER_DIR_MASK, "cdir", d)
        if d.wd is not None:
            self._tracked.rescan.add(d)  # what changed before the watch: list it once more

    def unwatched_dirs(self) -> list[ContainerDir]:
        return [d for d in self.dirs.values() if not self._watched(d)]

    def poll_unwatched(self) -> None:
        """Stand in for the events of directories without a watch: list them again and
        look for growth in their files, so a pod that comes and goes between two full
        rescans is still read."""
        if not self._watches.available or (
            self.pod_dirs.get(self.pods_path) is None and os.path.isdir(self.pods_path)
        ):
            self.scan_all()
            dirs = list(self.dirs.values())
        else:
            for pod, wd in list(self.pod_dirs.items()):
                if wd is None:
                    self.scan_pod(pod)
            if self._links_wd is None:
                self.scan_links()
            dirs = self.unwatched_dirs()
            for d in dirs:
                self._rewatch(d)
                self.scan_dir(d)
        for d in dirs:
            self._tracked.to_read.update(f for f in d.by_name.values() if f.fd is not None)

    def poll_sizes(self) -> None:
        """Catch writes whose inotify event never came (some file systems drop them),
        and targets of broken links that appeared since."""
        if self._tracked.dangling:
            self._tracked.rescan.update(d for d in self._tracked.dangling if not d.gone)
            self._tracked.dangling.clear()
        for f in self._tracked.files.values():
            if f.fd is None or f.failed:
                continue
            try:
                size = os.fstat(f.fd).st_size
            except OSError:
                continue
            if f.stream is None or size != f.size_seen:
                self._tracked.to_read.add(f)

    def count_polled(self) -> int:
        """How many directories are listed on a timer for want of a watch."""
        return len(self.unwatched_dirs()) + sum(
            1 for pod, wd in self.pod_dirs.items() if wd is None and pod != self.pods_path
        )

    def scan_links(self) -> None:
        """containers/ symlinks: container ids for the sources, and container
        directories outside our pods/ (a file reached twice is still read once)."""
        try:
            names = sorted(self._fds.with_fds(lambda: os.listdir(self._links_path)))
        except OSError as e:
            self._fds.retry_later(e)
            return
        for name in names:
            link = parse_container_link_name(name)
            if link is None:
                continue
            path = os.path.join(self._links_path, name)
            try:
                target = os.path.normpath(os.path.join(self._links_path, os.readlink(path)))
            except OSError:
                continue  # vanished, or not a symlink: nothing to follow
            info = parse_pod_log_path(target)
            if info is None:
                target = os.path.realpath(path)
                info = parse_pod_log_path(target)
            if info is None:
                self.stats.error(path, "symlink does not lead to a kubelet pod log; skipped")
                continue
            if self._excluded(info.namespace):
                continue
            if not os.path.exists(target):
                continue
            self._add_dir(os.path.dirname(target))
            self._sources.note_container_id(self._sources.key(info), link.container_id)

    def scan_dir(self, d: ContainerDir) -> None:
        """List a container directory and reconcile its files with those tracked."""
        try:
            names: list[str] | None = sorted(self._fds.with_fds(lambda: os.listdir(d.path)))
        except (FileNotFoundError, NotADirectoryError):
            names = None
        except OSError as e:
            if not self._fds.retry_later(e):
                self.stats.error(d.path, f"cannot list: {e.strerror}")
            return
        present: dict[str, LogFile] = {}
        for name in names or ():
            if name.endswith(".tmp"):
                continue  # kubelet's gzip in progress: it becomes .gz by a rename
            info = parse_pod_log_path(os.path.join(d.path, name))
            if info is None:
                continue
            f = self._track(d, name, info)
            if f is not None:
                present[name] = f
        kept = set(present.values())
        for f in list(d.by_name.values()):
            if f not in kept:
                self._lifecycle.gone(f)
        d.by_name = present
        if names is None:
            self._dir_gone(d)
            return
        d.max_restart = max((f.info.restart for f in kept), default=d.max_restart)
        for f in kept:
            key = self._sources.key(f.info)
            d.keys.add(key)
            self._sources.note_state(
                key, "running" if f.info.restart >= d.max_restart else "terminated"
            )

    def _dir_gone(self, d: ContainerDir) -> None:
        d.gone = True
        if self.dirs.get(d.real) is d:
            del self.dirs[d.real]
        self._watches.unwatch(d.wd)
        for key in sorted(d.keys, key=str):
            self._sources.note_state(key, "deleted")

    def _track(self, d: ContainerDir, name: str, info: PodLogPath) -> LogFile | None:
        """The tracked file behind d/name, tracking it first if it is new."""
        path = os.path.join(d.path, name)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            if os.path.islink(path):
                # Docker rotates the json log a pods/ link leads to by renaming it: no
                # event of ours says when the new target appears, so look again.
                self._tracked.dangling.add(d)
            return None
        except OSError as e:
            self.stats.error(path, f"cannot read: {e.strerror}; skipped")
            return None
        if not stat.S_ISREG(st.st_mode):
            self.stats.error(path, "not a regular file; skipped")
            return None
        if (
            st.st_mtime_ns < self._since_ns
            and (info.compressed or info.rotated_stamp is not None)
            and (st.st_dev, st.st_ino) not in self._tracked.files
        ):
            return None  # rotated before --since: every line in it is older
        f = self._tracked.files.get((st.st_dev, st.st_ino))
        if f is not None and not self._still_same(f, path):
            # The inode number was freed and given to a new file: the old one is gone.
            self._lifecycle.gone(f)
            f = None
        if f is None:
            f = LogFile((st.st_dev, st.st_ino), d, name, info)
            if not self._open(f, path):
                return None
            self._tracked.files[f.ident] = f
            self._tracked.to_read.add(f)
            return f
        f.cdir, f.name, f.info = d, name, info
        if f.failed and (st.st_size, st.st_mtime_ns) != f.signature:
            f.failed = False  # it changed (chmod, rewritten): try again
            self.stats.forget_errors(path)
        if f.stream is None or (f.fd is None and not f.compressed and st.st_size != f.size_seen):
            f.note_growth()
            self._tracked.to_read.add(f)
        return f

    def _still_same(self, f: LogFile, path: str) -> bool:
        """Whether a tracked file is the one now at its inode number (not a reuse)."""
        if f.fd is not None:
            return os.fstat(f.fd).st_nlink > 0  # ours was deleted if it has no name left
        if f.head is None:
            return True
        head = f.head
        try:
            if f.compressed:
                return self._fds.with_fds(lambda: read_head(path, True)) == head
            with self._fds.with_fds(lambda: open(path, "rb")) as fh:
                # Its first bytes, as reads check them: a head can also be the whole
                # unterminated content of a finished file (see _identify).
                return fh.read(len(head)) == head
        except OSError as e:
            # Out of descriptors: say it is, the next scan looks again. Tracked anew
            # otherwise: harmless, its content decides.
            return e.errno in OUT_OF_FDS
        except (EOFError, zlib.error):
            return False

    def _open(self, f: LogFile, path: str) -> bool:
        if f.compressed:
            self._identity.identify(f)
            return True
        try:
            fd = self._fds.with_fds(lambda: os.open(path, os.O_RDONLY | os.O_CLOEXEC))
        except FileNotFoundError:
            return False
        except OSError as e:
            if not self._fds.retry_later(e):
                self.stats.error(path, f"cannot open: {e.strerror}; skipped")
            return False
        fst = os.fstat(fd)
        if (fst.st_dev, fst.st_ino) != f.ident:
            os.close(fd)  # replaced between stat and open: the next rescan finds the new one
            self._tracked.rescan.add(f.cdir)
            return False
        f.fd = fd
        self._fds.fd_opened()
        if os.path.islink(path):
            # The directory's watch misses writes to a symlink's target: watch the target.
            f.watch = self._watches.watch(path, FILE_MASK, "file", f)
        self._identity.identify(f)
        return True
