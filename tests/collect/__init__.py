"""Collector tests: the file collector on real files with real inotify, the demo cluster,
and remote mode against the API double (tests/kube_double), in-process.
Run: `python -m pytest tests/collect`."""
