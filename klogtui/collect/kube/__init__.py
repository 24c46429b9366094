"""Remote mode: container logs read through the Kubernetes API (`collector.KubeCollector`)."""

__all__: list[str] = []
