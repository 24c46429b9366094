"""Unit tests: pure code and the store on a fresh SQLite file; no processes, threads or
collectors. The whole layer takes seconds: `python -m pytest -n0 tests/unit`."""
