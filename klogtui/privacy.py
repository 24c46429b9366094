"""Files and directories that hold log text are private to the user: logs carry secrets.

Modes are set explicitly (mkdir/open modes are filtered by the umask, and under
`umask 000` they would be 0777/0666). A directory we did not create is the user's
business, but one others can write to is worth a warning: they could replace or
delete the store.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TextIO

__all__ = ["check_store_dir", "make_private_dirs", "open_private"]

_PRIVATE_DIR = 0o700
_PRIVATE_FILE = 0o600


def make_private_dirs(directory: Path) -> None:
    """Create directory and every missing parent as 0700 (XDG asks the same of data dirs).

    Raises:
        OSError: a directory cannot be created.
    """
    missing: list[Path] = []
    for d in (directory, *directory.parents):
        if d.exists():
            break
        missing.append(d)
    for d in reversed(missing):
        try:
            d.mkdir(mode=_PRIVATE_DIR)
        except FileExistsError:
            continue  # made by someone else meanwhile: theirs, left as it is
        os.chmod(d, _PRIVATE_DIR)


def check_store_dir(db: Path, data_dir: Path) -> str | None:
    """Make klogtui's own data directory private again, or warn about a shared one.

    Returns:
        What to tell the user, or None when the directory is fine (or missing).
    """
    directory = db.parent
    try:
        mode = stat.S_IMODE(directory.stat().st_mode)
    except OSError:
        return None  # not there yet: it will be created private
    if directory == data_dir:
        if not mode & 0o077:
            return None
        try:
            os.chmod(directory, _PRIVATE_DIR)
        except OSError as e:
            return (
                f"warning: {directory} is open to other users ({mode:04o}) and cannot "
                f"be made private: {e.strerror}"
            )
        return f"{directory} was open to other users ({mode:04o}); made it private (0700)"
    # Sticky directories like /tmp: others cannot rename or delete our files there.
    if mode & 0o022 and not mode & stat.S_ISVTX:
        return (
            f"warning: {directory} is writable by other users ({mode:04o}); they can "
            f"replace or delete the store (chmod go-w '{directory}')"
        )
    return None


def open_private(path: Path) -> TextIO:
    """Open path for writing text, truncated, readable and writable by the user only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _PRIVATE_FILE)
    try:
        os.fchmod(fd, _PRIVATE_FILE)  # an existing file keeps its mode otherwise
        return os.fdopen(fd, "w", encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise
