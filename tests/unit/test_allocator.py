"""The explorer's malloc settings: big buffers freed while small ones live on go back."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="the settings are glibc's (elsewhere: none)"
)

# A follow in miniature: buffers of a few hundred KB made and freed, in between small
# allocations that stay (what the collector's batches and the app's caches do).
_CHILD = """
import json, sys
if sys.argv[1] == "1":
    from klogtui.ui.allocator import give_back_freed_memory
    give_back_freed_memory()

def rss_mb():
    with open("/proc/self/status") as f:
        return next(int(x.split()[1]) for x in f if x.startswith("VmRSS:")) / 1024

kept, big = [], []
for i in range(40):  # warm up: the default threshold rises to the buffers' size
    big.append(b"x" * 300_000)
    big.pop()
before = rss_mb()
for i in range(300):
    big.append(b"x" * 300_000)  # touched, unlike bytes(n)
    kept.append(b"k" * (2_000 + i))  # not a constant: made here, after the buffer
big.clear()
print(json.dumps({"grown_mb": rss_mb() - before}))
"""


def _grown_mb(settings: bool) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, "1" if settings else "0"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return float(json.loads(out.stdout)["grown_mb"])


def test_big_buffers_freed_between_small_ones_that_stay_are_given_back() -> None:
    # 300 buffers of 300 KB: ~86 MB while they live, ~0.6 MB of small ones stay.
    assert _grown_mb(settings=True) < 10
    # Without the settings glibc keeps the freed space (the check can fail).
    assert _grown_mb(settings=False) > 50
