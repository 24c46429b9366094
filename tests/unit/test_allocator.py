"""The explorer's malloc settings: memory one thread freed is used again by another."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="the setting is glibc's (elsewhere: none)"
)

# A follow in miniature: two threads that both live on (as the writer and the file
# collector do) each make buffers of a few hundred KB between small allocations that
# stay, then free the buffers; the second starts once the first has freed its own.
_CHILD = """
import json, sys, threading
if sys.argv[1] == "1":
    from klogtui.ui.allocator import share_one_arena
    share_one_arena()

def rss_mb():
    with open("/proc/self/status") as f:
        return next(int(x.split()[1]) for x in f if x.startswith("VmRSS:")) / 1024

kept = []
freed = [threading.Event(), threading.Event()]
end = threading.Event()

def churn(me):
    if me:
        freed[0].wait()
    big = []
    for i in range(300):
        big.append(b"x" * 300_000)  # touched, unlike bytes(n)
        kept.append(b"k" * (2_000 + i))  # not a constant: made here, after the buffer
    big.clear()
    freed[me].set()
    end.wait()  # alive, its arena its own

for i in range(40):  # glibc raises its mmap threshold to the buffers' size when one
    kept.append(b"x" * 300_000)  # is freed: from then on they come from the arenas
    kept.pop()
before = rss_mb()
threads = [threading.Thread(target=churn, args=(i,)) for i in range(2)]
for t in threads:
    t.start()
freed[1].wait()
print(json.dumps({"grown_mb": rss_mb() - before}))
end.set()
"""


def _grown_mb(setting: bool) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, "1" if setting else "0"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return float(json.loads(out.stdout)["grown_mb"])


def test_a_threads_freed_memory_is_used_by_the_next() -> None:
    # Each thread's buffers: 300 x 300 KB, ~86 MB; ~0.6 MB of small ones stay.
    assert _grown_mb(setting=True) < 120  # the second thread reused the first's
    # Without the setting each thread's arena keeps its own (the check can fail).
    assert _grown_mb(setting=False) > 150
