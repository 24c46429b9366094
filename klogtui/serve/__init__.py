"""The collector's read-only HTTP query API (`klogtui collect --listen`): lines, tail,
facets, histogram, sources, health and Prometheus metrics, each caller answered only
with the namespaces whose logs it may read."""
