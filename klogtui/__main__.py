"""`python -m klogtui` and the `klogtui` command.

Ctrl-C while klogtui is still starting must not print a traceback, nor be lost (a
KeyboardInterrupt raised inside a __del__ is only printed, and the collector would
run on): until a command takes SIGINT over, it ends the process quietly with 130.
"""

# The C module, loaded with the interpreter: importing `signal` takes long enough
# (enum conversions) for a Ctrl-C to land in it.
import _signal  # type: ignore[import-not-found]
import os
from types import FrameType


def _stop_quietly(signum: int, frame: FrameType | None) -> None:
    os._exit(128 + signum)  # nothing read or written yet that could be lost


# At import, not in run(): a Ctrl-C that lands between this module's first line and
# run()'s would raise KeyboardInterrupt with a traceback through our code. (Both ways
# in, `python -m klogtui` and the `klogtui` script, import this module first.)
_signal.signal(_signal.SIGINT, _stop_quietly)

import gc  # noqa: E402
import sys  # noqa: E402


def run() -> int:
    """The `klogtui` command; returns the process exit code.

    SIGINT ends the process at once until a command takes it over: the collector
    with its own handler (it flushes first), `query -f` and the explorer by turning
    it back into KeyboardInterrupt.
    """
    # No garbage collection while klogtui starts: importing the command line's modules
    # and building its parser make objects that live as long as the process, and no
    # garbage (4-5 young collections, ~1 ms of each `klogtui query`). cli.main turns it
    # back on once the arguments are parsed.
    gc.disable()
    from klogtui.cli import main

    code = main()
    # Exiting: Python's finalization would collect garbage over every object the process
    # made (~6 ms of CPU of each `klogtui query`) only to free what exiting frees anyway.
    # Frozen objects are left out of collections; atexit handlers and stdio flushes still
    # run (klogtui keeps nothing that needs a collection to be closed: no __del__).
    gc.freeze()
    return code


if __name__ == "__main__":
    sys.exit(run())
